using System.Net;
using Tether.Engine;

namespace Tether.Dns;

/// <summary>
/// The names the embedded DNS server answers, built from the store: on every network except the default
/// <c>bridge</c> (which, as in Docker, has no name resolution), each endpoint is known by its sandbox's name and its
/// <c>--alias</c> aliases. A sandbox sees the names of the networks it is attached to, and only those. Names compare
/// case-insensitively (RFC 4343) without the trailing dot. Kept up to date one sandbox at a time (<see cref="Add"/>,
/// <see cref="Remove"/>: O(its endpoints), not O(every sandbox)); lookups and changes are serialized by a lock, and a
/// lookup returns a copy. Thread-safe.
/// </summary>
public sealed class NameTable
{
    /// <summary>Per network: name -> addresses (in endpoint order), and address -> the sandbox name (PTR).</summary>
    sealed record NetworkNames(Dictionary<string, List<IPAddress>> Forward, Dictionary<IPAddress, string> Reverse);

    readonly Lock gate = new();
    readonly Dictionary<string, NetworkNames> networks = new();   // network id -> its names
    readonly Dictionary<string, string[]> sandboxNetworks = new();   // sandbox id -> ids of its DNS-enabled networks
    readonly Dictionary<string, SandboxDetails> served = new();

    /// <summary>An empty table.</summary>
    public NameTable() { }

    /// <summary>Builds the table from a store snapshot (<see cref="TetherEngine.Topology"/>).</summary>
    public NameTable(IReadOnlyList<SandboxDetails> topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        foreach (var d in topology) Add(d);
    }

    /// <summary>Sandboxes (by id) that are attached to at least one network with name resolution: each gets a listener.
    /// A snapshot.</summary>
    public IReadOnlyDictionary<string, SandboxDetails> Served { get { lock (gate) return new Dictionary<string, SandboxDetails>(served); } }

    /// <summary>Adds the names of <paramref name="d"/>'s endpoints (replacing what a sandbox of the same id had). Returns
    /// whether it is served (attached to a network with name resolution).</summary>
    public bool Add(SandboxDetails d)
    {
        ArgumentNullException.ThrowIfNull(d);
        lock (gate)
        {
            RemoveLocked(d.Sandbox.Id);
            List<string>? nets = null;
            foreach (var e in d.Endpoints)
            {
                if (!HasNameResolution(e.Network)) continue;
                nets ??= [];
                if (!nets.Contains(e.Network.Id)) nets.Add(e.Network.Id);
                if (!IPAddress.TryParse(e.Endpoint.Ip, out var ip)) continue;
                if (!networks.TryGetValue(e.Network.Id, out var n))
                    networks[e.Network.Id] = n = new NetworkNames(new(StringComparer.OrdinalIgnoreCase), new());
                AddName(n.Forward, d.Sandbox.Name, ip);
                foreach (var alias in e.Endpoint.Aliases)
                    if (!string.Equals(alias, d.Sandbox.Name, StringComparison.OrdinalIgnoreCase)) AddName(n.Forward, alias, ip);
                n.Reverse[ip] = d.Sandbox.Name;
            }
            if (nets is null) return false;
            served[d.Sandbox.Id] = d;
            sandboxNetworks[d.Sandbox.Id] = [.. nets];
            return true;
        }
    }

    /// <summary>Removes the names the sandbox <paramref name="sandboxId"/> brought (nothing when it has none).</summary>
    public void Remove(string sandboxId)
    {
        lock (gate) RemoveLocked(sandboxId);
    }

    void RemoveLocked(string sandboxId)
    {
        if (!served.Remove(sandboxId, out var d)) return;
        sandboxNetworks.Remove(sandboxId);
        foreach (var e in d.Endpoints)
        {
            if (!HasNameResolution(e.Network) || !IPAddress.TryParse(e.Endpoint.Ip, out var ip) || !networks.TryGetValue(e.Network.Id, out var n)) continue;
            RemoveName(n.Forward, d.Sandbox.Name, ip);
            foreach (var alias in e.Endpoint.Aliases) RemoveName(n.Forward, alias, ip);
            if (n.Reverse.TryGetValue(ip, out var owner) && owner == d.Sandbox.Name) n.Reverse.Remove(ip);
            if (n.Forward.Count == 0 && n.Reverse.Count == 0) networks.Remove(e.Network.Id);
        }
    }

    /// <summary>Adds <paramref name="ip"/> under <paramref name="name"/> once (an alias given twice, in any case, counts once).</summary>
    static void AddName(Dictionary<string, List<IPAddress>> names, string name, IPAddress ip)
    {
        if (!names.TryGetValue(name, out var list)) names[name] = list = [];
        if (!list.Contains(ip)) list.Add(ip);
    }

    static void RemoveName(Dictionary<string, List<IPAddress>> names, string name, IPAddress ip)
    {
        if (!names.TryGetValue(name, out var list)) return;
        list.Remove(ip);
        if (list.Count == 0) names.Remove(name);
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
        if (name.EndsWith('.')) name = name[..^1];
        lock (gate)
        {
            if (!sandboxNetworks.TryGetValue(askerId, out var nets)) return null;
            List<IPAddress>? found = null;
            foreach (var id in nets)
            {
                if (!networks.TryGetValue(id, out var n) || !n.Forward.TryGetValue(name, out var addresses)) continue;
                found ??= new List<IPAddress>(addresses.Count);
                foreach (var a in addresses) if (!found.Contains(a)) found.Add(a);
            }
            return found;
        }
    }

    /// <summary>The sandbox name of <paramref name="address"/> on a network shared with <paramref name="askerId"/> (PTR), or null.</summary>
    public string? Reverse(string askerId, IPAddress address)
    {
        lock (gate)
        {
            if (!sandboxNetworks.TryGetValue(askerId, out var nets)) return null;
            foreach (var id in nets)
                if (networks.TryGetValue(id, out var n) && n.Reverse.TryGetValue(address, out var name)) return name;
            return null;
        }
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
