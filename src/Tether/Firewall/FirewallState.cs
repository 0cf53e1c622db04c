using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Tether.Firewall;

/// <summary>
/// What Tether's table holds in the kernel, read back from <c>nft -j list table inet tether</c> (libnftables-json(5)).
/// Networks come from the <c>*_bridge_subnets</c> sets (Internal = bridge not in <c>external_bridges</c>); ports from
/// the <c>*_ports</c> / <c>*_host_ports</c> maps, with <see cref="PortMapping.Bridge"/> taken from the network whose
/// subnet holds the container address ("" when none does). Empty when the table does not exist.
/// </summary>
public sealed record FirewallState(IReadOnlyList<FirewallNetwork> Networks, IReadOnlyList<PortMapping> Ports)
{
    public static FirewallState Empty { get; } = new([], []);

    /// <summary>Parses the JSON of <c>list table inet tether</c> (or <c>list ruleset</c>).</summary>
    /// <exception cref="FirewallException">The JSON is not what libnftables 1.0.x prints for Tether's sets.</exception>
    public static FirewallState Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var sets = new Dictionary<string, List<JsonElement>>();
            foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
            {
                if (!item.TryGetProperty("set", out var set) && !item.TryGetProperty("map", out set)) continue;
                if (set.GetProperty("family").GetString() != Ruleset.TableFamily || set.GetProperty("table").GetString() != Ruleset.TableName) continue;
                var elems = set.TryGetProperty("elem", out var e) ? e.EnumerateArray().Select(x => x.Clone()).ToList() : [];
                sets[set.GetProperty("name").GetString()!] = elems;
            }
            List<JsonElement> Of(string name) => sets.TryGetValue(name, out var l) ? l : [];

            var external = Of(Ruleset.SetExternalBridges).Select(x => Unwrap(x).GetString()!).ToHashSet(StringComparer.Ordinal);
            var networks = new List<FirewallNetwork>();
            var ports = new List<PortMapping>();
            foreach (var f in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
                foreach (var e in Of(Ruleset.SetBridgeSubnets(f)))
                {
                    var parts = Concat(e);
                    var bridge = parts[1].GetString()!;
                    networks.Add(new FirewallNetwork(bridge, Subnet(parts[0], f), !external.Contains(bridge)));
                }
            foreach (var f in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
            {
                foreach (var e in Of(Ruleset.MapPorts(f)))
                {
                    var (key, value) = (Concat(e[0]), Concat(e[1]));
                    ports.Add(Port(null, key[0], key[1], value, networks));
                }
                foreach (var e in Of(Ruleset.MapHostPorts(f)))
                {
                    var (key, value) = (Concat(e[0]), Concat(e[1]));
                    ports.Add(Port(IPAddress.Parse(key[0].GetString()!), key[1], key[2], value, networks));
                }
            }
            return new FirewallState(networks, ports);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException or ArgumentException)
        {
            throw new FirewallException("unexpected nft JSON for table inet tether: " + e.Message, e);
        }
    }

    static PortMapping Port(IPAddress? hostIp, JsonElement proto, JsonElement hostPort, JsonElement[] value, List<FirewallNetwork> networks)
    {
        var protocol = proto.ValueKind == JsonValueKind.Number
            ? proto.GetInt32() switch { 6 => Protocol.Tcp, 17 => Protocol.Udp, var n => throw new FormatException($"protocol {n}") }
            : proto.GetString() switch { "tcp" => Protocol.Tcp, "udp" => Protocol.Udp, var n => throw new FormatException($"protocol {n}") };
        var containerIp = IPAddress.Parse(value[0].GetString()!);
        var bridge = networks.FirstOrDefault(n => n.Subnet.Contains(containerIp))?.Bridge ?? "";
        return new PortMapping(hostIp, protocol, hostPort.GetInt32(), containerIp, value[1].GetInt32(), bridge);
    }

    /// <summary>An element as its value: elements with statements are wrapped as {"elem": {"val": ...}}.</summary>
    static JsonElement Unwrap(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("elem", out var w) ? w.GetProperty("val") : e;

    static JsonElement[] Concat(JsonElement e)
    {
        e = Unwrap(e);
        return e.ValueKind == JsonValueKind.Object && e.TryGetProperty("concat", out var c) ? c.EnumerateArray().ToArray() : [e];
    }

    /// <summary>A subnet element: {"prefix": {"addr", "len"}}, or a bare address for a full-length prefix.</summary>
    static IPNetwork Subnet(JsonElement e, AddressFamily f)
    {
        if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("prefix", out var p))
            return new IPNetwork(IPAddress.Parse(p.GetProperty("addr").GetString()!), p.GetProperty("len").GetInt32());
        if (e.ValueKind == JsonValueKind.String)
            return new IPNetwork(IPAddress.Parse(e.GetString()!), f == AddressFamily.InterNetwork ? 32 : 128);
        throw new FormatException($"subnet element {e}");
    }
}
