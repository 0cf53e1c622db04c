using System.Net;
using Tether.Engine;

namespace Tether.Dns;

/// <summary>
/// The names the embedded DNS server answers, built from the store: on every network except the default
/// <c>bridge</c> (which, as in Docker, has no name resolution), each endpoint is known by its sandbox's name and its
/// <c>--alias</c> aliases. A sandbox sees the names of the networks it is attached to, and only those. Names compare
/// case-insensitively (RFC 4343) without the trailing dot. Immutable: the server swaps in a new table on every change.
/// </summary>
public sealed class NameTable
{
    /// <summary>An empty table (no sandbox has a listener).</summary>
    public static NameTable Empty { get; } = new([]);

    /// <summary>Per network id: name -> addresses (in endpoint order), and address -> the sandbox name (PTR).</summary>
    sealed record NetworkNames(Dictionary<string, IPAddress[]> Forward, Dictionary<IPAddress, string> Reverse);

    // Plain dictionaries, never changed after construction (so read lock-free): the table is rebuilt on every change of
    // the sandboxes, and FrozenDictionary's build cost was a tenth of tetherd's CPU per create at 400 sandboxes.
    readonly Dictionary<string, NetworkNames> networks;
    readonly Dictionary<string, string[]> sandboxNetworks;   // sandbox id -> ids of its DNS-enabled networks

    /// <summary>Sandboxes (by id) that are attached to at least one network with name resolution: each gets a listener.</summary>
    public IReadOnlyDictionary<string, SandboxDetails> Served { get; }

    /// <summary>Builds the table from a store snapshot (<see cref="TetherEngine.Topology"/>).</summary>
    public NameTable(IReadOnlyList<SandboxDetails> topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var forward = new Dictionary<string, Dictionary<string, List<IPAddress>>>();
        var reverse = new Dictionary<string, Dictionary<IPAddress, string>>();
        var served = new Dictionary<string, SandboxDetails>();
        var byNetwork = new Dictionary<string, string[]>();
        // Plain loops rather than LINQ: this runs over every sandbox on every change.
        foreach (var d in topology)
        {
            List<string>? nets = null;
            foreach (var e in d.Endpoints)
            {
                if (!HasNameResolution(e.Network)) continue;
                nets ??= [];
                if (!nets.Contains(e.Network.Id)) nets.Add(e.Network.Id);
                if (!IPAddress.TryParse(e.Endpoint.Ip, out var ip)) continue;
                if (!forward.TryGetValue(e.Network.Id, out var names)) forward[e.Network.Id] = names = new(StringComparer.OrdinalIgnoreCase);
                if (!reverse.TryGetValue(e.Network.Id, out var ptr)) reverse[e.Network.Id] = ptr = new();
                AddName(names, d.Sandbox.Name, ip);
                foreach (var alias in e.Endpoint.Aliases)
                    if (!string.Equals(alias, d.Sandbox.Name, StringComparison.OrdinalIgnoreCase)) AddName(names, alias, ip);
                ptr[ip] = d.Sandbox.Name;
            }
            if (nets is null) continue;
            served[d.Sandbox.Id] = d;
            byNetwork[d.Sandbox.Id] = [.. nets];
        }
        networks = forward.ToDictionary(kv => kv.Key, kv => new NetworkNames(
            kv.Value.ToDictionary(x => x.Key, x => x.Value.ToArray(), StringComparer.OrdinalIgnoreCase),
            reverse[kv.Key]));
        sandboxNetworks = byNetwork;
        Served = served;
    }

    /// <summary>Adds <paramref name="ip"/> under <paramref name="name"/> once (an alias given twice, in any case, counts once).</summary>
    static void AddName(Dictionary<string, List<IPAddress>> names, string name, IPAddress ip)
    {
        if (!names.TryGetValue(name, out var list)) names[name] = list = [];
        if (!list.Contains(ip)) list.Add(ip);
    }

    /// <summary>True for networks whose sandboxes resolve each other by name: every network but the default <c>bridge</c>.</summary>
    public static bool HasNameResolution(Tether.State.NetworkRecord n) => n.Name != TetherEngine.DefaultNetwork;

    /// <summary>
    /// The addresses <paramref name="name"/> (with or without the trailing dot) has for sandbox
    /// <paramref name="askerId"/>: those of every sandbox that shares a network with it and is called so, or holds the
    /// alias. Null when the name is not known there (the server forwards it). Each network's addresses keep endpoint order;
    /// the server rotates them per answer (round robin).
    /// </summary>
    public IReadOnlyList<IPAddress>? Lookup(string askerId, string name)
    {
        if (!sandboxNetworks.TryGetValue(askerId, out var nets)) return null;
        if (name.EndsWith('.')) name = name[..^1];
        List<IPAddress>? found = null;
        IPAddress[]? single = null;
        foreach (var id in nets)
        {
            if (!networks.TryGetValue(id, out var n) || !n.Forward.TryGetValue(name, out var addresses)) continue;
            if (single is null && found is null) { single = addresses; continue; }
            found ??= [.. single!];
            foreach (var a in addresses) if (!found.Contains(a)) found.Add(a);
        }
        return (IReadOnlyList<IPAddress>?)found ?? single;
    }

    /// <summary>The sandbox name of <paramref name="address"/> on a network shared with <paramref name="askerId"/> (PTR), or null.</summary>
    public string? Reverse(string askerId, IPAddress address)
    {
        if (!sandboxNetworks.TryGetValue(askerId, out var nets)) return null;
        foreach (var id in nets)
            if (networks.TryGetValue(id, out var n) && n.Reverse.TryGetValue(address, out var name)) return name;
        return null;
    }

    /// <summary>
    /// The address a reverse name stands for: "4.3.2.1.in-addr.arpa" -> 1.2.3.4 (RFC 1035 3.5), and the nibble form under
    /// ip6.arpa (RFC 3596 2.5). Null for anything else.
    /// </summary>
    public static IPAddress? ParseReverseName(string name)
    {
        if (name.EndsWith('.')) name = name[..^1];
        const string v4 = ".in-addr.arpa", v6 = ".ip6.arpa";
        if (name.EndsWith(v4, StringComparison.OrdinalIgnoreCase))
        {
            var parts = name[..^v4.Length].Split('.');
            if (parts.Length != 4) return null;
            var bytes = new byte[4];
            for (var i = 0; i < 4; i++)
                if (!byte.TryParse(parts[3 - i], System.Globalization.NumberStyles.None, null, out bytes[i]) || (parts[3 - i].Length > 1 && parts[3 - i][0] == '0')) return null;
            return new IPAddress(bytes);
        }
        if (name.EndsWith(v6, StringComparison.OrdinalIgnoreCase))
        {
            var nibbles = name[..^v6.Length].Split('.');
            if (nibbles.Length != 32) return null;
            var bytes = new byte[16];
            for (var i = 0; i < 32; i++)
            {
                if (nibbles[i].Length != 1 || !Uri.IsHexDigit(nibbles[i][0])) return null;
                var v = Convert.ToByte(nibbles[i], 16);
                var index = 15 - i / 2;
                bytes[index] |= (byte)(i % 2 == 0 ? v : v << 4);
            }
            return new IPAddress(bytes);
        }
        return null;
    }
}
