using System.Net;
using Tether.Firewall;
using Tether.Tests.Support;

namespace Tether.Tests.Unit;

/// <summary>
/// Rendered rulesets compared with golden files in tests/Tether.Tests/Golden (copied to the output dir).
/// Regenerate with TETHER_UPDATE_GOLDEN=1 (writes the source tree), then review the diff.
/// </summary>
public class RulesetGoldenTests
{
    static readonly FirewallNetwork Net1 = new("tb-net1", IPNetwork.Parse("172.30.0.0/16"), Internal: false);
    static readonly FirewallNetwork Net2 = new("tb-net2", IPNetwork.Parse("10.89.0.0/24"), Internal: false);
    static readonly FirewallNetwork Internal = new("tb-int", IPNetwork.Parse("192.168.100.0/24"), Internal: true);
    static readonly FirewallNetwork Net1V6 = new("tb-net1", IPNetwork.Parse("fd00:7e7::/64"), Internal: false);

    static PortMapping Tcp(int host, string ip, int port, string bridge = "tb-net1", string? hostIp = null) =>
        new(hostIp == null ? null : IPAddress.Parse(hostIp), Protocol.Tcp, host, IPAddress.Parse(ip), port, bridge);

    public static TheoryData<string> Cases => new(GoldenCases.Keys);

    static readonly Dictionary<string, Func<string>> GoldenCases = new()
    {
        ["render-empty"] = () => Ruleset.Render(FirewallChange.Empty),
        ["render-one-network"] = () => Ruleset.Render(FirewallChange.Empty with { AddNetworks = [Net1] }),
        ["render-internal-network"] = () => Ruleset.Render(FirewallChange.Empty with { AddNetworks = [Internal] }),
        ["render-port-all-addresses"] = () => Ruleset.Render(FirewallChange.Empty with { AddPorts = [Tcp(8080, "172.30.0.2", 80)] }),
        ["render-port-host-ip"] = () => Ruleset.Render(FirewallChange.Empty with { AddPorts = [Tcp(8443, "172.30.0.2", 443, hostIp: "127.0.0.1")] }),
        ["render-port-udp"] = () => Ruleset.Render(FirewallChange.Empty with
        {
            AddPorts = [new PortMapping(null, Protocol.Udp, 5353, IPAddress.Parse("172.30.0.3"), 53, "tb-net1")],
        }),
        ["render-removal"] = () => Ruleset.Render(FirewallChange.Empty with
        {
            RemoveNetworks = [Internal],
            RemovePorts = [Tcp(8080, "172.30.0.2", 80), Tcp(8443, "172.30.0.2", 443, hostIp: "10.0.0.5")],
        }),
        ["render-mixed"] = () => Ruleset.Render(new FirewallChange(
            AddNetworks: [Net2, Internal],
            RemoveNetworks: [Net1],
            AddPorts: [Tcp(80, "10.89.0.2", 8080, "tb-net2"), Tcp(81, "10.89.0.3", 8080, "tb-net2", hostIp: "192.0.2.10")],
            RemovePorts: [Tcp(8080, "172.30.0.2", 80)])),
        ["render-ipv6"] = () => Ruleset.Render(FirewallChange.Empty with
        {
            AddNetworks = [Net1, Net1V6],
            AddPorts = [Tcp(8080, "172.30.0.2", 80), Tcp(8080, "fd00:7e7::2", 80), Tcp(9090, "fd00:7e7::2", 90, hostIp: "2001:db8::1")],
        }),
        ["renderfull-empty"] = () => Ruleset.RenderFull([], []),
        ["renderfull-mixed"] = () => Ruleset.RenderFull(
            [Net1, Net2, Internal],
            [Tcp(8080, "172.30.0.2", 80), Tcp(8081, "10.89.0.2", 80, "tb-net2", hostIp: "192.0.2.10"),
             new PortMapping(IPAddress.Any, Protocol.Udp, 5353, IPAddress.Parse("192.168.100.7"), 53, "tb-int")]),
        ["remove-all"] = Ruleset.RenderRemoveAll,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesGolden(string name)
    {
        var actual = GoldenCases[name]();
        var file = name + ".nft";
        if (Environment.GetEnvironmentVariable("TETHER_UPDATE_GOLDEN") == "1")
        {
            var src = Path.Combine(Paths.Root, "tests", "Tether.Tests", "Golden");
            Directory.CreateDirectory(src);
            File.WriteAllText(Path.Combine(src, file), actual);
            return;
        }
        var path = Path.Combine(AppContext.BaseDirectory, "Golden", file);
        Assert.True(File.Exists(path), $"golden file {path} missing: run with TETHER_UPDATE_GOLDEN=1");
        Assert.Equal(File.ReadAllText(path), actual);
    }
}
