using System.Net;
using Tether.Firewall;

namespace Tether.Tests.Unit;

public class RulesetTests
{
    static PortMapping Port(int hostPort, string? hostIp = null, Protocol proto = Protocol.Tcp, string ip = "172.30.0.2", int port = 80, string bridge = "tb0") =>
        new(hostIp == null ? null : IPAddress.Parse(hostIp), proto, hostPort, IPAddress.Parse(ip), port, bridge);

    static FirewallNetwork Net(int i, bool intern = false) => new($"tb{i}", new IPNetwork(IPAddress.Parse($"10.{i / 250}.{i % 250}.0"), 24), intern);

    [Fact]
    public void RuleCountIsTheSameForOneAndTwoHundredPortsAndNetworks()
    {
        var one = Ruleset.Render(FirewallChange.Empty with { AddNetworks = [Net(1)], AddPorts = [Port(1000)] });
        var many = Ruleset.Render(FirewallChange.Empty with
        {
            AddNetworks = Enumerable.Range(1, 200).Select(i => Net(i, i % 3 == 0)).ToList(),
            AddPorts = Enumerable.Range(1000, 200).Select(p => Port(p, p % 2 == 0 ? "192.0.2.1" : null, p % 3 == 0 ? Protocol.Udp : Protocol.Tcp)).ToList(),
        });
        var full = Ruleset.RenderFull(Enumerable.Range(1, 200).Select(i => Net(i)), Enumerable.Range(1000, 200).Select(p => Port(p)));
        Assert.True(Ruleset.CountRules(one) > 10);
        Assert.Equal(Ruleset.CountRules(one), Ruleset.CountRules(many));
        Assert.Equal(Ruleset.CountRules(one), Ruleset.CountRules(full));
        Assert.Equal(Ruleset.CountRules(one), Ruleset.CountRules(Ruleset.Render(FirewallChange.Empty)));
        // The 200 ports are elements: the v4_ports and v4_host_ports additions hold all of them.
        Assert.Equal(200, many.Split('\n').Where(l => l.StartsWith("add element inet tether v4_") && l.Contains("_ports"))
            .Sum(l => l.Split(" : ").Length - 1));
    }

    [Fact]
    public void UserChainIsAddedButNeverFlushedOrDeleted()
    {
        foreach (var s in new[] { Ruleset.Render(FirewallChange.Empty), Ruleset.RenderFull([Net(1)], [Port(80)]) })
        {
            var lines = s.Split('\n');
            Assert.Contains("add chain inet tether user", lines);
            Assert.DoesNotContain(lines, l => l.Contains(" user") && !l.StartsWith('#') && l != "add chain inet tether user" && !l.EndsWith("jump user"));
            // The jump to the user chain is the first rule of forward.
            Assert.Equal("add rule inet tether forward jump user", lines.First(l => l.StartsWith("add rule inet tether forward")));
        }
    }

    [Fact]
    public void RemovalsAreAddThenDeleteAndComeBeforeAdditions()
    {
        var s = Ruleset.Render(FirewallChange.Empty with { RemovePorts = [Port(8080)], AddPorts = [Port(8080, ip: "172.30.0.9")] });
        var lines = s.Split('\n').Where(l => l.Contains(" element ") && !l.StartsWith('#')).ToList();
        Assert.Equal(
        [
            "add element inet tether v4_ports { tcp . 8080 : 172.30.0.2 . 80 }",
            "delete element inet tether v4_ports { tcp . 8080 }",
            "add element inet tether v4_ports { tcp . 8080 : 172.30.0.9 . 80 }",
        ], lines);
    }

    [Fact]
    public void RemovingAnInternalNetworkAlsoClearsTheExternalSets()
    {
        var s = Ruleset.Render(FirewallChange.Empty with { RemoveNetworks = [Net(1, intern: true)] });
        Assert.Contains("delete element inet tether external_bridges { \"tb1\" }", s);
        Assert.Contains("delete element inet tether v4_external_subnets { 10.0.1.0/24 }", s);
        var add = Ruleset.Render(FirewallChange.Empty with { AddNetworks = [Net(1, intern: true)] });
        Assert.DoesNotContain("external_bridges {", add.Split('\n').Where(l => l.Contains("element")).Aggregate("", (a, b) => a + b));
    }

    [Fact]
    public void UnspecifiedHostAddressMeansEveryAddress()
    {
        var a = Ruleset.Render(FirewallChange.Empty with { AddPorts = [Port(80, "0.0.0.0")] });
        var b = Ruleset.Render(FirewallChange.Empty with { AddPorts = [Port(80)] });
        Assert.Equal(b, a);
        var v6 = Ruleset.Render(FirewallChange.Empty with { AddPorts = [Port(80, "::", ip: "fd00::2")] });
        Assert.Contains("add element inet tether v6_ports { tcp . 80 : fd00::2 . 80 }", v6);
    }

    [Fact]
    public void DuplicatesAreRenderedOnce()
    {
        var s = Ruleset.Render(FirewallChange.Empty with { AddNetworks = [Net(1), Net(1)], AddPorts = [Port(80), Port(80)] });
        Assert.Contains("add element inet tether bridges { \"tb1\" }\n", s);
        Assert.Contains("add element inet tether v4_ports { tcp . 80 : 172.30.0.2 . 80 }\n", s);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a-name-longer-than-15")]
    [InlineData("br\" }; flush ruleset; #")]
    [InlineData("br 0")]
    [InlineData("br/0")]
    [InlineData("..")]
    public void InvalidBridgeNamesAreRejected(string name)
    {
        Assert.Throws<ArgumentException>(() => Ruleset.Render(FirewallChange.Empty with { AddNetworks = [new(name, IPNetwork.Parse("10.0.0.0/24"), false)] }));
        Assert.Throws<ArgumentException>(() => Ruleset.Render(FirewallChange.Empty with { RemovePorts = [Port(80, bridge: name)] }));
    }

    [Theory]
    [InlineData(0, 80)]
    [InlineData(80, 0)]
    [InlineData(65536, 80)]
    [InlineData(80, -1)]
    public void InvalidPortsAreRejected(int hostPort, int containerPort)
    {
        Assert.ThrowsAny<ArgumentException>(() => Ruleset.Render(FirewallChange.Empty with { AddPorts = [Port(hostPort, port: containerPort)] }));
        Assert.ThrowsAny<ArgumentException>(() => Ruleset.RenderFull([], [Port(hostPort, port: containerPort)]));
    }

    [Theory]
    [InlineData("192.0.2.1", "fd00::2")]
    [InlineData("2001:db8::1", "172.30.0.2")]
    [InlineData(null, "0.0.0.0")]
    [InlineData(null, "::ffff:172.30.0.2")]
    public void InvalidAddressesAreRejected(string? hostIp, string containerIp)
    {
        Assert.Throws<ArgumentException>(() => Ruleset.Render(FirewallChange.Empty with { AddPorts = [Port(80, hostIp, ip: containerIp)] }));
    }

    [Fact]
    public void ErrorTextIsSummarisedOnOneLine()
    {
        var details = "<cmdline>:3:40-49: Error: Could not process rule: File exists\nadd element inet tether v4_ports { tcp . 80 : 1.2.3.4 . 80 }\n                                       ^^^^^^^^^^\n";
        var e = Nftables.Error(details);
        Assert.Equal("nft: Could not process rule: File exists", e.Summary);
        Assert.StartsWith("nft: Could not process rule: File exists\n<cmdline>:3:40-49", e.Message);
        Assert.Equal(details.TrimEnd(), e.Details);
    }
}
