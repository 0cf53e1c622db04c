using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tether.Firewall;

/// <summary>
/// Tether's whole nftables ruleset as text (nft script syntax accepted by nftables 1.0.6, Debian 12).
/// Everything lives in one table, <c>inet tether</c>: filter and NAT base chains, plus sets and maps that hold the
/// per-network and per-port data, so the number of rules is constant however many networks and ports exist.
/// <para>Sets (family-independent): <c>bridges</c> (every Tether bridge), <c>external_bridges</c> (bridges of
/// non-internal networks), <c>same_bridge</c> (<c>ifname . ifname</c> pairs <c>"br" . "br"</c>, for traffic
/// bridged between two ports of one bridge, which crosses the forward hook when br_netfilter is loaded).</para>
/// <para>Per family (<c>v4_</c>, <c>v6_</c>): <c>*_external_subnets</c> (interval set of non-internal subnets: masquerade
/// sources), <c>*_bridge_subnets</c> (interval set <c>subnet . bridge</c>: hairpin detection), <c>*_ports</c>
/// (map <c>proto . host port : container address . container port</c>, binding on every local address) and
/// <c>*_host_ports</c> (map <c>host address . proto . host port : container address . container port</c>).</para>
/// <para>Chains: <c>user</c> (regular chain created once and never flushed: the host admin's rules, jumped to
/// first from <c>forward</c>), <c>forward</c> (filter, priority 0), <c>prerouting</c> (nat, -100 = dstnat),
/// <c>output</c> (nat, -100), <c>postrouting</c> (nat, 100 = srcnat), <c>port_bindings</c> (regular chain with the
/// DNAT lookups). Hook and priority names: nft(8), "CHAINS" and "NAT STATEMENTS".</para>
/// </summary>
public static class Ruleset
{
    /// <summary>Address family of Tether's table (nft(8) "ADDRESS FAMILIES"): one table for IPv4 and IPv6.</summary>
    public const string TableFamily = "inet";
    /// <summary>Name of Tether's table.</summary>
    public const string TableName = "tether";
    /// <summary>The chain left to the host admin: created if missing, never flushed or rewritten by Tether.</summary>
    public const string UserChain = "user";

    public const string SetBridges = "bridges";
    public const string SetExternalBridges = "external_bridges";
    public const string SetSameBridge = "same_bridge";

    /// <summary>Family prefix used in set and map names: "v4" or "v6".</summary>
    public static string FamilyPrefix(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => "v4",
        AddressFamily.InterNetworkV6 => "v6",
        _ => throw new ArgumentException($"unsupported address family {family}", nameof(family)),
    };

    public static string SetExternalSubnets(AddressFamily f) => FamilyPrefix(f) + "_external_subnets";
    public static string SetBridgeSubnets(AddressFamily f) => FamilyPrefix(f) + "_bridge_subnets";
    public static string MapPorts(AddressFamily f) => FamilyPrefix(f) + "_ports";
    public static string MapHostPorts(AddressFamily f) => FamilyPrefix(f) + "_host_ports";

    static readonly AddressFamily[] Families = [AddressFamily.InterNetwork, AddressFamily.InterNetworkV6];

    /// <summary>Every set and map of the table with its nft declaration body, in render order.</summary>
    public static IReadOnlyList<(string Name, string Kind, string Body)> Sets { get; } = BuildSets();

    /// <summary>Tether's own chains (flushed and rewritten on every render), in render order.</summary>
    public static IReadOnlyList<string> OwnChains { get; } = ["forward", "prerouting", "output", "postrouting", "port_bindings"];

    static List<(string, string, string)> BuildSets()
    {
        var l = new List<(string, string, string)>
        {
            (SetBridges, "set", "type ifname;"),
            (SetExternalBridges, "set", "type ifname;"),
            (SetSameBridge, "set", "type ifname . ifname;"),
        };
        foreach (var f in Families)
        {
            var addr = f == AddressFamily.InterNetwork ? "ipv4_addr" : "ipv6_addr";
            l.Add((SetExternalSubnets(f), "set", $"type {addr}; flags interval;"));
            l.Add((SetBridgeSubnets(f), "set", $"type {addr} . ifname; flags interval;"));
            l.Add((MapPorts(f), "map", $"type inet_proto . inet_service : {addr} . inet_service;"));
            l.Add((MapHostPorts(f), "map", $"type {addr} . inet_proto . inet_service : {addr} . inet_service;"));
        }
        return l;
    }

    /// <summary>
    /// The base ruleset plus the elements of <paramref name="change"/>: one atomic script.
    /// Bridge-level elements (<c>bridges</c>, <c>external_bridges</c>, <c>same_bridge</c>) are shared by every subnet record
    /// of one network: removing any record of a bridge removes them, so remove a network's records together. The base part is idempotent:
    /// it adds the table, sets, maps and the user chain if missing, then flushes and rewrites Tether's own chains
    /// (never the user chain). Removals come first, each as add-then-delete so an absent element is not an error;
    /// then additions. Adding an element that is present with the same value is not an error; adding a port key
    /// that is bound to a different target fails the whole batch ("File exists").
    /// </summary>
    /// <exception cref="ArgumentException">A bridge name, port, address or family is invalid.</exception>
    public static string Render(FirewallChange change) => Render(change, withBase: true);

    /// <summary>
    /// Only the element adds and deletes of <see cref="Render(FirewallChange)"/>, without the base: the cheap batch for
    /// changes that touch no chain (a sandbox's published ports). It fails when the table or a set is missing; the
    /// caller then falls back to the full <see cref="Render(FirewallChange)"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A bridge name, port, address or family is invalid.</exception>
    public static string RenderElements(FirewallChange change) => Render(change, withBase: false);

    static string Render(FirewallChange change, bool withBase)
    {
        ArgumentNullException.ThrowIfNull(change);
        var sb = new StringBuilder();
        if (withBase) AppendBase(sb);
        var removed = Collect(change.RemoveNetworks, change.RemovePorts, removal: true);
        var added = Collect(change.AddNetworks, change.AddPorts, removal: false);
        if (removed.Count > 0)
        {
            sb.Append("# removals: add then delete, so removing an absent element succeeds\n");
            foreach (var (set, elements) in removed)
            {
                AppendElements(sb, "add", set, elements.Select(e => e.Full));
                AppendElements(sb, "delete", set, elements.Select(e => e.Key));
            }
        }
        if (added.Count > 0)
        {
            sb.Append("# additions\n");
            foreach (var (set, elements) in added) AppendElements(sb, "add", set, elements.Select(e => e.Full));
        }
        return sb.ToString();
    }

    /// <summary>
    /// The base ruleset, then every Tether set and map flushed and refilled with exactly the given networks and
    /// ports: one atomic script that makes the kernel match the store (used by reconcile).
    /// </summary>
    /// <exception cref="ArgumentException">A bridge name, port, address or family is invalid.</exception>
    public static string RenderFull(IEnumerable<FirewallNetwork> networks, IEnumerable<PortMapping> ports)
    {
        ArgumentNullException.ThrowIfNull(networks);
        ArgumentNullException.ThrowIfNull(ports);
        var sb = new StringBuilder();
        AppendBase(sb);
        sb.Append("# reconcile: every set and map holds exactly the current networks and ports\n");
        foreach (var (name, kind, _) in Sets) sb.Append($"flush {kind} {TableFamily} {TableName} {name}\n");
        foreach (var (set, elements) in Collect(networks.ToList(), ports.ToList(), removal: false))
            AppendElements(sb, "add", set, elements.Select(e => e.Full));
        return sb.ToString();
    }

    /// <summary>
    /// Deletes Tether's table with everything in it, the user chain included. Succeeds when the table is absent.
    /// </summary>
    public static string RenderRemoveAll() =>
        $"add table {TableFamily} {TableName}\ndelete table {TableFamily} {TableName}\n";

    /// <summary>Counts the rules a script adds (lines starting with "add rule"): constant for any number of elements.</summary>
    public static int CountRules(string script) =>
        script.Split('\n').Count(l => l.StartsWith("add rule ", StringComparison.Ordinal));

    static void AppendBase(StringBuilder sb)
    {
        string T = $"{TableFamily} {TableName}";
        sb.Append("# Tether firewall (Tether.Firewall.Ruleset). Chain \"user\" is the host admin's: Tether never rewrites it.\n");
        sb.Append($"add table {T}\n");
        foreach (var (name, kind, body) in Sets) sb.Append($"add {kind} {T} {name} {{ {body} }}\n");
        sb.Append($"add chain {T} {UserChain}\n");
        sb.Append($"add chain {T} forward {{ type filter hook forward priority 0; policy accept; }}\n");
        sb.Append($"add chain {T} prerouting {{ type nat hook prerouting priority -100; policy accept; }}\n");
        sb.Append($"add chain {T} output {{ type nat hook output priority -100; policy accept; }}\n");
        sb.Append($"add chain {T} postrouting {{ type nat hook postrouting priority 100; policy accept; }}\n");
        sb.Append($"add chain {T} port_bindings\n");
        foreach (var c in OwnChains) sb.Append($"flush chain {T} {c}\n");

        void Rule(string chain, string rule) => sb.Append($"add rule {T} {chain} {rule}\n");
        // forward: the admin's chain first, then Tether's accepts, then isolation drops.
        Rule("forward", $"jump {UserChain}");
        Rule("forward", $"iifname @{SetBridges} ct state established,related accept");
        Rule("forward", $"oifname @{SetBridges} ct state established,related accept");
        Rule("forward", $"iifname . oifname @{SetSameBridge} accept");
        // Published ports: DNAT'ed connections into a bridge from outside Tether or from a non-internal network
        // (hairpin on an internal bridge is covered by same_bridge); internal networks reach nothing through them.
        Rule("forward", $"oifname @{SetBridges} ct status dnat iifname != @{SetBridges} accept");
        Rule("forward", $"oifname @{SetBridges} ct status dnat iifname @{SetExternalBridges} accept");
        Rule("forward", $"iifname @{SetExternalBridges} oifname != @{SetBridges} accept");
        Rule("forward", $"iifname @{SetBridges} drop");
        Rule("forward", $"oifname @{SetBridges} drop");
        // DNAT of published ports: packets to a local address, from outside (prerouting) or from the host (output).
        Rule("prerouting", "fib daddr type local jump port_bindings");
        Rule("output", "fib daddr type local jump port_bindings");
        Rule("port_bindings", $"meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @{MapHostPorts(AddressFamily.InterNetwork)}");
        Rule("port_bindings", $"meta nfproto ipv4 dnat ip to meta l4proto . th dport map @{MapPorts(AddressFamily.InterNetwork)}");
        Rule("port_bindings", $"meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @{MapHostPorts(AddressFamily.InterNetworkV6)}");
        Rule("port_bindings", $"meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @{MapPorts(AddressFamily.InterNetworkV6)}");
        // SNAT: non-internal subnets leaving through a non-Tether interface; hairpin (DNAT'ed back out the bridge of
        // its own subnet); DNAT'ed host connections from 127.0.0.0/8 (needs route_localnet on the bridge).
        Rule("postrouting", $"ip saddr @{SetExternalSubnets(AddressFamily.InterNetwork)} oifname != @{SetBridges} masquerade");
        Rule("postrouting", $"ct status dnat ip saddr . oifname @{SetBridgeSubnets(AddressFamily.InterNetwork)} masquerade");
        Rule("postrouting", $"ct status dnat oifname @{SetBridges} ip saddr 127.0.0.0/8 masquerade");
        Rule("postrouting", $"ip6 saddr @{SetExternalSubnets(AddressFamily.InterNetworkV6)} oifname != @{SetBridges} masquerade");
        Rule("postrouting", $"ct status dnat ip6 saddr . oifname @{SetBridgeSubnets(AddressFamily.InterNetworkV6)} masquerade");
    }

    /// <summary>One set element: <c>Full</c> as added (with the map value), <c>Key</c> as deleted.</summary>
    readonly record struct Element(string Key, string Full);

    /// <summary>Elements per set, in the order of <see cref="Sets"/>, each list deduplicated keeping first occurrence.</summary>
    static List<(string Set, List<Element> Elements)> Collect(IReadOnlyList<FirewallNetwork>? networks, IReadOnlyList<PortMapping>? ports, bool removal)
    {
        var bySet = new Dictionary<string, List<Element>>();
        var seen = new HashSet<(string, Element)>();
        void Add(string set, string key, string? value = null)
        {
            var e = new Element(key, value == null ? key : $"{key} : {value}");
            if (!seen.Add((set, e))) return;
            if (!bySet.TryGetValue(set, out var list)) bySet[set] = list = [];
            list.Add(e);
        }
        foreach (var n in networks ?? [])
        {
            ArgumentNullException.ThrowIfNull(n);
            var bridge = Quote(n.Bridge);
            var f = n.Subnet.BaseAddress.AddressFamily;
            var subnet = FormatSubnet(n.Subnet);
            Add(SetBridges, bridge);
            Add(SetSameBridge, $"{bridge} . {bridge}");
            Add(SetBridgeSubnets(f), $"{subnet} . {bridge}");
            // A removal clears the external sets whatever the Internal flag says (absent elements are harmless).
            if (!n.Internal || removal)
            {
                Add(SetExternalBridges, bridge);
                Add(SetExternalSubnets(f), subnet);
            }
        }
        foreach (var p in ports ?? [])
        {
            ArgumentNullException.ThrowIfNull(p);
            Quote(p.Bridge);
            var f = FamilyOf(p.ContainerIp, nameof(p.ContainerIp));
            var hostIp = p.HostIp;
            if (hostIp != null && (hostIp.Equals(IPAddress.Any) || hostIp.Equals(IPAddress.IPv6Any))) hostIp = null;
            if (hostIp != null && FamilyOf(hostIp, nameof(p.HostIp)) != f)
                throw new ArgumentException($"port binding {hostIp}:{p.HostPort} -> {p.ContainerIp}:{p.ContainerPort}: host and container addresses differ in family", nameof(ports));
            if (p.ContainerIp.Equals(IPAddress.Any) || p.ContainerIp.Equals(IPAddress.IPv6Any))
                throw new ArgumentException("container address must not be the unspecified address", nameof(ports));
            var proto = p.Protocol switch
            {
                Protocol.Tcp => "tcp",
                Protocol.Udp => "udp",
                _ => throw new ArgumentException($"unknown protocol {p.Protocol}", nameof(ports)),
            };
            var value = $"{p.ContainerIp} . {CheckPort(p.ContainerPort)}";
            if (hostIp == null) Add(MapPorts(f), $"{proto} . {CheckPort(p.HostPort)}", value);
            else Add(MapHostPorts(f), $"{hostIp} . {proto} . {CheckPort(p.HostPort)}", value);
        }
        return Sets.Where(s => bySet.ContainsKey(s.Name)).Select(s => (s.Name, bySet[s.Name])).ToList();
    }

    static void AppendElements(StringBuilder sb, string verb, string set, IEnumerable<string> elements) =>
        sb.Append($"{verb} element {TableFamily} {TableName} {set} {{ {string.Join(", ", elements)} }}\n");

    static AddressFamily FamilyOf(IPAddress a, string what)
    {
        ArgumentNullException.ThrowIfNull(a, what);
        if (a.AddressFamily == AddressFamily.InterNetworkV6 && (a.ScopeId != 0 || a.IsIPv4MappedToIPv6))
            throw new ArgumentException($"{what} {a}: scoped and IPv4-mapped IPv6 addresses are not supported", what);
        if (a.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            throw new ArgumentException($"{what} {a}: not an IPv4 or IPv6 address", what);
        return a.AddressFamily;
    }

    static string FormatSubnet(IPNetwork n)
    {
        FamilyOf(n.BaseAddress, "subnet");
        return n.ToString();
    }

    static int CheckPort(int port) => port is >= 1 and <= 65535
        ? port
        : throw new ArgumentOutOfRangeException(nameof(port), port, "port must be 1-65535");

    /// <summary>
    /// Validates an interface name (1-15 bytes, IFNAMSIZ from linux/if.h minus the NUL; letters, digits, '_', '.', '-')
    /// and returns it as an nft string literal. The strict alphabet keeps names from ever changing the script's syntax.
    /// </summary>
    internal static string Quote(string ifname)
    {
        if (string.IsNullOrEmpty(ifname) || ifname.Length > 15 || ifname is "." or ".." ||
            !ifname.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '.' or '-'))
            throw new ArgumentException($"invalid bridge name \"{ifname}\": 1-15 characters of [A-Za-z0-9_.-]", nameof(ifname));
        return $"\"{ifname}\"";
    }
}
