using System.Net;
using Tether.Firewall;

namespace Tether.Tests.Unit;

/// <summary>
/// FirewallState.Parse over JSON captured from nftables 1.0.6 (Golden/state-nft-1.0.6.json: renderfull-mixed.nft
/// then render-ipv6.nft applied in a lab, then <c>nft -j list ruleset inet</c>).
/// </summary>
public class RulesetStateTests
{
    static PortMapping P(string? hostIp, Protocol proto, int hostPort, string ip, int port, string bridge) =>
        new(hostIp == null ? null : IPAddress.Parse(hostIp), proto, hostPort, IPAddress.Parse(ip), port, bridge);

    [Fact]
    public void ParsesNetworksAndPortsFromCapturedJson()
    {
        var state = FirewallState.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "state-nft-1.0.6.json")));
        Assert.Equal(new HashSet<FirewallNetwork>
        {
            new("tb-net1", IPNetwork.Parse("172.30.0.0/16"), false),
            new("tb-net2", IPNetwork.Parse("10.89.0.0/24"), false),
            new("tb-int", IPNetwork.Parse("192.168.100.0/24"), true),
            new("tb-net1", IPNetwork.Parse("fd00:7e7::/64"), false),
        }, state.Networks.ToHashSet());
        Assert.Equal(new HashSet<PortMapping>
        {
            P(null, Protocol.Tcp, 8080, "172.30.0.2", 80, "tb-net1"),
            P(null, Protocol.Udp, 5353, "192.168.100.7", 53, "tb-int"),
            P("192.0.2.10", Protocol.Tcp, 8081, "10.89.0.2", 80, "tb-net2"),
            P(null, Protocol.Tcp, 8080, "fd00:7e7::2", 80, "tb-net1"),
            P("2001:db8::1", Protocol.Tcp, 9090, "fd00:7e7::2", 90, "tb-net1"),
        }, state.Ports.ToHashSet());
    }

    [Fact]
    public void NoTableMeansEmptyState()
    {
        var state = FirewallState.Parse("""{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}]}""");
        Assert.Empty(state.Networks);
        Assert.Empty(state.Ports);
    }

    [Fact]
    public void OtherTablesAreIgnoredAndGarbageIsReported()
    {
        var other = """{"nftables": [{"set": {"family": "inet", "name": "v4_bridge_subnets", "table": "filter", "type": "ipv4_addr", "handle": 1, "elem": ["10.0.0.1"]}}]}""";
        Assert.Empty(FirewallState.Parse(other).Networks);
        Assert.Throws<FirewallException>(() => FirewallState.Parse("not json"));
        Assert.Throws<FirewallException>(() => FirewallState.Parse("""{"nftables": [{"set": {"family": "inet", "table": "tether", "name": "v4_bridge_subnets", "elem": [{"concat": [{"weird": 1}, "tb0"]}]}}]}"""));
    }
}
