using System.Net;
using System.Text.Json.Nodes;
using Tether.Firewall;
using Tether.Tests.Support;
using Xunit.Abstractions;

namespace Tether.Tests.Integration;

/// <summary>
/// Kernel state made by Tether.Firewall inside a lab namespace, checked with <c>nft</c> (text and -j) as the oracle.
/// Needs root.
/// </summary>
public class FirewallTests(ITestOutputHelper output)
{
    static readonly FirewallNetwork Net1 = new("tb-net1", IPNetwork.Parse("172.30.0.0/16"), false);
    static readonly FirewallNetwork Net2 = new("tb-net2", IPNetwork.Parse("10.89.0.0/24"), false);
    static readonly FirewallNetwork Int1 = new("tb-int", IPNetwork.Parse("192.168.100.0/24"), true);
    static readonly FirewallNetwork Net1V6 = new("tb-net1", IPNetwork.Parse("fd00:7e7::/64"), false);

    static PortMapping Tcp(int host, string ip, int port, string? hostIp = null, string bridge = "tb-net1") =>
        new(hostIp == null ? null : IPAddress.Parse(hostIp), Protocol.Tcp, host, IPAddress.Parse(ip), port, bridge);

    static readonly PortMapping P8080 = Tcp(8080, "172.30.0.2", 80);
    static readonly PortMapping P53 = new(IPAddress.Parse("10.0.0.1"), Protocol.Udp, 53, IPAddress.Parse("10.89.0.2"), 5353, "tb-net2");
    static readonly PortMapping P6 = Tcp(8080, "fd00:7e7::2", 80);

    static readonly FirewallChange Sample = FirewallChange.Empty with { AddNetworks = [Net1, Net2, Int1, Net1V6], AddPorts = [P8080, P53, P6] };

    [Fact]
    public void ApplyMakesTheTableSetsChainsAndElements()
    {
        using var fl = new FirewallLab("fw");
        Assert.False(fl.HasTable());
        fl.Apply(Sample);

        Assert.True(fl.HasTable());
        Assert.Equal(["tb-int", "tb-net1", "tb-net2"], fl.Elements("bridges"));
        Assert.Equal(["tb-net1", "tb-net2"], fl.Elements("external_bridges"));
        Assert.Equal(["tb-int . tb-int", "tb-net1 . tb-net1", "tb-net2 . tb-net2"], fl.Elements("same_bridge"));
        Assert.Equal(["10.89.0.0/24", "172.30.0.0/16"], fl.Elements("v4_external_subnets"));
        Assert.Equal(["10.89.0.0/24 . tb-net2", "172.30.0.0/16 . tb-net1", "192.168.100.0/24 . tb-int"], fl.Elements("v4_bridge_subnets"));
        Assert.Equal(["tcp . 8080 : 172.30.0.2 . 80"], fl.Elements("v4_ports"));
        Assert.Equal(["10.0.0.1 . udp . 53 : 10.89.0.2 . 5353"], fl.Elements("v4_host_ports"));
        Assert.Equal(["fd00:7e7::/64"], fl.Elements("v6_external_subnets"));
        Assert.Equal(["tcp . 8080 : fd00:7e7::2 . 80"], fl.Elements("v6_ports"));
        Assert.Empty(fl.Elements("v6_host_ports"));

        // Rule counts per chain match the rendered script, and forward starts with the jump to the user chain.
        var script = Ruleset.Render(Sample);
        foreach (var chain in Ruleset.OwnChains)
            Assert.Equal(script.Split('\n').Count(l => l.StartsWith($"add rule inet tether {chain} ")), fl.Rules(chain).Count);
        Assert.Equal("user", (string?)fl.Rules("forward")[0][0]!["jump"]!["target"]);
        Assert.Empty(fl.Rules("user"));

        // Base chains are hooked where the design says (nft -j shows hook, type and priority).
        var chains = fl.NftJson().Select(x => x!["chain"]).Where(c => c != null && (string?)c["table"] == "tether").ToDictionary(c => (string)c!["name"]!);
        Assert.Equal(("filter", "forward", 0), Hook(chains["forward"]!));
        Assert.Equal(("nat", "prerouting", -100), Hook(chains["prerouting"]!));
        Assert.Equal(("nat", "output", -100), Hook(chains["output"]!));
        Assert.Equal(("nat", "postrouting", 100), Hook(chains["postrouting"]!));
        Assert.Null(chains["user"]!["hook"]);

        // The library's own JSON listing agrees with the nft binary.
        Assert.Equal(fl.NftJson().Count, JsonNode.Parse(fl.ListJson())!["nftables"]!.AsArray().Count);

        static (string?, string?, int?) Hook(JsonNode c) => ((string?)c["type"], (string?)c["hook"], (int?)c["prio"]);
    }

    [Fact]
    public void ApplyingTheSameChangeTwiceIsIdempotent()
    {
        using var fl = new FirewallLab("fw");
        fl.Apply(Sample);
        var once = fl.NftText();
        fl.Apply(Sample);
        Assert.Equal(once, fl.NftText());
        fl.Apply(FirewallChange.Empty);
        Assert.Equal(once, fl.NftText());
        fl.Reconcile(Sample.AddNetworks, Sample.AddPorts);
        Assert.Equal(once, fl.NftText());
    }

    [Fact]
    public void RemovingAbsentElementsSucceeds()
    {
        using var fl = new FirewallLab("fw");
        var removeAll = FirewallChange.Empty with { RemoveNetworks = Sample.AddNetworks, RemovePorts = Sample.AddPorts };
        fl.Apply(removeAll); // on a lab without the table at all
        Assert.Empty(fl.Elements("bridges"));
        fl.Apply(FirewallChange.Empty with { AddNetworks = [Net2], AddPorts = [P53] });
        fl.Apply(removeAll with { RemoveNetworks = [Net1, Int1], RemovePorts = [P8080] }); // absent ones next to present ones
        Assert.Equal(["tb-net2"], fl.Elements("bridges"));
        Assert.Equal(["10.0.0.1 . udp . 53 : 10.89.0.2 . 5353"], fl.Elements("v4_host_ports"));
        fl.Apply(removeAll);
        fl.Apply(removeAll);
        foreach (var (name, _, _) in Ruleset.Sets) Assert.Empty(fl.Elements(name));
    }

    [Fact]
    public void RemovingAnElementThatIsPresentDeletesIt()
    {
        using var fl = new FirewallLab("fw");
        fl.Apply(Sample);
        fl.Apply(FirewallChange.Empty with { RemoveNetworks = [Net1, Net1V6], RemovePorts = [P8080, P6] });
        Assert.Equal(["tb-int", "tb-net2"], fl.Elements("bridges"));
        Assert.Equal(["tb-net2"], fl.Elements("external_bridges"));
        Assert.Equal(["10.89.0.0/24"], fl.Elements("v4_external_subnets"));
        Assert.Equal(["10.89.0.0/24 . tb-net2", "192.168.100.0/24 . tb-int"], fl.Elements("v4_bridge_subnets"));
        Assert.Empty(fl.Elements("v4_ports"));
        Assert.Empty(fl.Elements("v6_ports"));
        Assert.Empty(fl.Elements("v6_external_subnets"));
        // Re-pointing a binding: remove the old target and add the new one in one change.
        fl.Apply(FirewallChange.Empty with { RemovePorts = [P53], AddPorts = [P53 with { ContainerIp = IPAddress.Parse("10.89.0.9") }] });
        Assert.Equal(["10.0.0.1 . udp . 53 : 10.89.0.9 . 5353"], fl.Elements("v4_host_ports"));
    }

    [Fact]
    public void UserChainRulesSurviveApplyAndReconcile()
    {
        using var fl = new FirewallLab("fw");
        fl.Apply(Sample);
        fl.Lab.Exec("nft", "add", "rule", "inet", "tether", "user", "iifname", "tb-net1", "tcp", "dport", "22", "drop");
        fl.Lab.Exec("nft", "add", "rule", "inet", "tether", "user", "ip", "saddr", "203.0.113.0/24", "counter", "accept");
        var user = fl.Rules("user").Select(r => r.ToJsonString()).ToList();
        Assert.Equal(2, user.Count);

        fl.Apply(FirewallChange.Empty with { AddPorts = [Tcp(9000, "172.30.0.3", 90)] });
        Assert.Equal(user, fl.Rules("user").Select(r => r.ToJsonString()));
        fl.Reconcile([Net2], []);
        Assert.Equal(user, fl.Rules("user").Select(r => r.ToJsonString()));
        Assert.Equal(["tb-net2"], fl.Elements("bridges"));
        Assert.Equal("user", (string?)fl.Rules("forward")[0][0]!["jump"]!["target"]);
        // Only RemoveAll takes the admin's chain with it.
        fl.RemoveAll();
        Assert.False(fl.HasTable());
    }

    [Fact]
    public void AFailingChangeLeavesTheRulesetUnchanged()
    {
        using var fl = new FirewallLab("fw");
        fl.Apply(Sample);
        var before = fl.NftText();

        // Two targets for one key in one batch: the kernel rejects the batch; the new network must not appear.
        var conflicting = FirewallChange.Empty with
        {
            AddNetworks = [new FirewallNetwork("tb-new", IPNetwork.Parse("10.77.0.0/24"), false)],
            RemovePorts = [P53],
            AddPorts = [Tcp(7000, "172.30.0.2", 70), Tcp(7000, "172.30.0.3", 70)],
        };
        var e = Assert.Throws<FirewallException>(() => fl.Apply(conflicting));
        Assert.StartsWith("nft: ", e.Summary);
        Assert.DoesNotContain('\n', e.Summary);
        Assert.NotEmpty(e.Details);
        Assert.Equal(before, fl.NftText());

        // A key already bound to another target: same.
        e = Assert.Throws<FirewallException>(() => fl.Apply(FirewallChange.Empty with { AddNetworks = conflicting.AddNetworks, AddPorts = [P8080 with { ContainerPort = 81 }] }));
        Assert.Contains("File exists", e.Message);
        Assert.Equal(before, fl.NftText());

        // A syntax error anywhere in a script: nothing before it is applied either.
        e = Assert.Throws<FirewallException>(() => fl.Run(Ruleset.RenderRemoveAll() + "add rule inet tether forward this is not nft\n"));
        Assert.Contains("syntax error", e.Summary);
        Assert.Equal(before, fl.NftText());
    }

    [Fact]
    public void ReconcileRepairsDrift()
    {
        using var fl = new FirewallLab("fw");
        fl.Apply(Sample);
        var expected = fl.NftText();
        // Drift: a stray element, a missing element and a deleted Tether rule.
        fl.Lab.Exec("nft", "add", "element", "inet", "tether", "v4_ports", "{ tcp . 1234 : 10.9.9.9 . 1 }");
        fl.Lab.Exec("nft", "delete", "element", "inet", "tether", "bridges", "{ \"tb-int\" }");
        var handle = (int)fl.NftJson().Select(x => x!["rule"]).First(r => r != null && (string?)r["chain"] == "forward")!["handle"]!;
        fl.Lab.Exec("nft", "delete", "rule", "inet", "tether", "forward", "handle", handle.ToString());
        Assert.NotEqual(expected, fl.NftText());

        fl.Reconcile(Sample.AddNetworks, Sample.AddPorts);
        Assert.Equal(expected, fl.NftText());
    }

    [Fact]
    public void ThousandsOfElementsKeepTheRuleCountFlat()
    {
        using var fl = new FirewallLab("fw");
        fl.Apply(FirewallChange.Empty with { AddNetworks = [Net1], AddPorts = [P8080] });
        var rules = Ruleset.OwnChains.ToDictionary(c => c, c => fl.Rules(c).Count);

        var networks = Enumerable.Range(0, 300).Select(i => new FirewallNetwork($"tbs{i}", new IPNetwork(IPAddress.Parse($"10.{100 + i / 256}.{i % 256}.0"), 24), i % 5 == 0)).ToList();
        var ports = Enumerable.Range(20000, 3000).Select(p => Tcp(p, $"10.100.{p % 256}.2", 80, bridge: $"tbs{p % 256}")).ToList();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        fl.Apply(FirewallChange.Empty with { AddNetworks = networks, AddPorts = ports });
        var applyMs = sw.ElapsedMilliseconds;
        output.WriteLine($"apply of 3000 ports + 300 networks: {applyMs} ms");

        Assert.Equal(3001, fl.Elements("v4_ports").Count);
        Assert.Equal(301, fl.Elements("bridges").Count);
        Assert.Equal(241, fl.Elements("external_bridges").Count);
        Assert.Equal(rules, Ruleset.OwnChains.ToDictionary(c => c, c => fl.Rules(c).Count));

        fl.Apply(FirewallChange.Empty with { RemovePorts = ports.Take(1500).ToList(), RemoveNetworks = networks.Take(100).ToList() });
        Assert.Equal(1501, fl.Elements("v4_ports").Count);
        Assert.Equal(201, fl.Elements("bridges").Count);
        // Generous bound: one batch with ~4000 elements is far below a second on any sane machine.
        Assert.True(applyMs < 10_000, $"applying 3000 ports and 300 networks took {applyMs} ms");
    }

    [Fact]
    public void ReadReturnsWhatWasApplied()
    {
        using var fl = new FirewallLab("fw");
        Assert.Equal(FirewallState.Empty.Networks, fl.Read().Networks);
        fl.Apply(Sample);
        var state = fl.Read();
        Assert.Equal(Sample.AddNetworks.ToHashSet(), state.Networks.ToHashSet());
        Assert.Equal(Sample.AddPorts.ToHashSet(), state.Ports.ToHashSet());
        // Reconciling to what was read changes nothing.
        var text = fl.NftText();
        fl.Reconcile(state.Networks, state.Ports);
        Assert.Equal(text, fl.NftText());
    }

    [Fact]
    public void RemoveAllDeletesTheTableAndSucceedsWhenAbsent()
    {
        using var fl = new FirewallLab("fw");
        fl.RemoveAll();
        fl.Apply(Sample);
        Assert.True(fl.HasTable());
        fl.RemoveAll();
        Assert.False(fl.HasTable());
        fl.RemoveAll();
        Assert.Equal("", fl.NftText().Trim());
    }

    [Fact]
    public void ListJsonReportsErrors()
    {
        using var fl = new FirewallLab("fw");
        var e = Assert.Throws<FirewallException>(() => fl.ListJson("list table inet does-not-exist"));
        Assert.Contains("No such file or directory", e.Message);
        fl.Apply(FirewallChange.Empty);
        var table = JsonNode.Parse(fl.ListJson("list table inet tether"))!["nftables"]!.AsArray();
        Assert.Contains(table, x => x!["chain"] is JsonNode c && (string?)c["name"] == "user");
        // JSON output is per call: a plain Run afterwards prints text, not JSON.
        Assert.DoesNotContain("{\"nftables\"", fl.Run("list chain inet tether user"));
        Assert.Contains("chain user", fl.Run("list chain inet tether user"));
    }

    [Fact]
    public void AContextStaysInTheNamespaceItWasCreatedIn()
    {
        using var a = new FirewallLab("fwa");
        using var b = new Lab("fwb");
        using var other = new NsThread(b.NsPath);
        // The context was made on a thread inside lab a; running it from a thread inside lab b still changes lab a.
        using var ctxInA = NsThread.RunIn(a.Lab.NsPath, () => new Nftables());
        other.Run(() => ctxInA.Run(Ruleset.Render(FirewallChange.Empty)));
        Assert.True(a.HasTable());
        Assert.Equal("", b.Exec("nft", "list", "ruleset").Trim());
        NsThread.RunIn(a.Lab.NsPath, () => { ctxInA.Dispose(); return 0; });
    }
}
