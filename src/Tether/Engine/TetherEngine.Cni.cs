using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Tether.Dns;
using Tether.Drivers;
using Tether.Ipam;
using Tether.Linux;
using Tether.State;

namespace Tether.Engine;

/// <summary>How <see cref="TetherEngine"/> wires one endpoint when the caller (a CNI runtime) chooses its details.</summary>
/// <param name="IfName">Interface name inside the sandbox (CNI_IFNAME) instead of eth N.</param>
/// <param name="Mac">MAC address for the sandbox-side interface (runtimeConfig <c>mac</c>), "aa:bb:cc:dd:ee:ff".</param>
/// <param name="KeepExistingDefaultRoute">Leave a default route that the namespace already has (another network's).</param>
internal sealed record EndpointOptions(string? IfName, string? Mac, bool KeepExistingDefaultRoute);

/// <summary>The key of one CNI attachment (CNI spec 1.1.0, "Overview": network name, CNI_CONTAINERID, CNI_IFNAME).</summary>
public sealed record CniKey(string Network, string ContainerId, string IfName);

/// <summary>Request of a CNI ADD.</summary>
/// <param name="NetNs">CNI_NETNS: the runtime's namespace. Tether never deletes it, only the links it made in it.</param>
/// <param name="TetherNetwork">The Tether network to attach to.</param>
/// <param name="Inline">When the network does not exist yet: how to create it (a network defined in the CNI config).</param>
/// <param name="Ip">Requested address (runtimeConfig <c>ips</c>, CNI_ARGS <c>IP</c>, or the delegated IPAM plugin's), or null to lease one.</param>
/// <param name="Resolver">What the ADD's <c>dns</c> / runtimeConfig <c>dns</c> say, each part falling back to the host's
/// resolv.conf: the resolv.conf that <c>tether exec</c> gives processes in the sandbox (no embedded DNS listener runs in a
/// runtime's namespace). Null: the host's.</param>
public sealed record CniAddRequest(CniKey Key, string NetNs, string TetherNetwork, NetworkCreateRequest? Inline, string? Ip, string? Mac,
    IReadOnlyList<string> Aliases, IReadOnlyList<PortBinding> Ports, ResolvConf? Resolver = null);

/// <summary>Which input of a CNI request a <see cref="CniInputException"/> blames.</summary>
public enum CniInput
{
    /// <summary>The network configuration (its network definition, or the network it names).</summary>
    NetworkConfig,
    /// <summary>The requested address (runtimeConfig <c>ips</c>, <c>args</c>, CNI_ARGS <c>IP</c>, or a delegated IPAM plugin's).</summary>
    Address,
    /// <summary>The requested MAC (runtimeConfig <c>mac</c>, <c>args</c>, CNI_ARGS <c>MAC</c>).</summary>
    Mac,
}

/// <summary>A CNI request is invalid in itself (not refused because of what is in use): the front end reports it as
/// the spec's "invalid network config" (7) or "invalid environment" (4), depending on where the value came from.</summary>
public sealed class CniInputException(CniInput input, string message, Exception? inner = null) : Exception(message, inner)
{
    public CniInput Input { get; } = input;
}

/// <summary>One CNI attachment as the kernel and the store have it: what a CNI result reports.</summary>
/// <param name="BridgeMac">MAC of the network's bridge ("" when the driver has none).</param>
/// <param name="HostIfMac">MAC of the host end of the veth pair ("" when there is none).</param>
/// <param name="ReplacedSandboxId">The sandbox of a leftover attachment of the same key that the ADD removed first, if any.</param>
public sealed record CniAttachment(CniKey Key, SandboxRecord Sandbox, NetworkRecord Network, EndpointRecord Endpoint,
    IReadOnlyList<PortBindingRecord> Ports, string BridgeMac, string HostIfMac, string? ReplacedSandboxId = null);

public sealed partial class TetherEngine
{
    /// <summary>Whether the sandbox's namespace was given by a runtime (CNI_NETNS) rather than made by Tether under
    /// the run dir. Tether never deletes such a namespace, only its own links in it.</summary>
    public bool IsRuntimeNamespace(SandboxRecord s) =>
        !Path.GetFullPath(s.NsPath).StartsWith(Path.GetFullPath(Paths.NetnsDir) + "/", StringComparison.Ordinal);

    /// <summary>CNI ADD: a sandbox for the runtime's namespace with one endpoint on the network, created (with the
    /// network, for a network defined inline) in one store transaction; kernel steps are undone when a later one fails.
    /// A leftover attachment of the same key whose namespace is gone or different (a runtime that crashed before DEL)
    /// is removed first; one that is still in place is refused.</summary>
    public CniAttachment CniAdd(CniAddRequest req) => Write(() =>
    {
        store.EnsureCniSchema();
        if (!NetNs.Exists(req.NetNs)) throw new TetherException($"CNI_NETNS {req.NetNs} is not a network namespace");
        var mac = req.Mac is null ? null : ParseMac(req.Mac, m => new CniInputException(CniInput.Mac, m));
        string? replaced = null;
        if (store.FindCniAttachment(req.Key.Network, req.Key.ContainerId, req.Key.IfName) is { } oldId && store.FindSandbox(oldId) is { } old)
        {
            if (old.NsPath == req.NetNs && NetNs.Exists(old.NsPath))
                throw new TetherException($"container {req.Key.ContainerId} already has interface {req.Key.IfName} on network {req.Key.Network}");
            RemoveCniSandboxLocked(old);
            replaced = old.Id;
        }
        foreach (var alias in req.Aliases)
            if (!AliasRule.IsMatch(alias) || alias.Length > 253) throw new CniInputException(CniInput.NetworkConfig, $"runtimeConfig.aliases: invalid alias \"{alias}\"");
        var target = store.FindNetwork(req.TetherNetwork);
        if (req.Ports.Count > 0)
        {
            var isInternal = target?.Internal ?? req.Inline?.Internal ?? false;
            var driverName = target?.Driver ?? req.Inline?.Driver;
            if (isInternal || driverName is not null && drivers.TryGetValue(driverName, out var d) && !Has(d, DriverCapabilities.PortBindings))
                throw new CniInputException(CniInput.NetworkConfig, $"runtimeConfig.portMappings: network {target?.Name ?? req.TetherNetwork} {(isInternal ? "is internal" : $"(driver {driverName}) has no published ports")}: ports cannot be published on it");
        }
        return UndoLog.Run(undo =>
        {
            var n = target;
            if (n is null)
            {
                if (req.Inline is null) throw new CniInputException(CniInput.NetworkConfig, $"network {req.TetherNetwork} not found (create it with tether network create, or define it inline)");
                CheckInline(req.Inline);
                try { n = CreateNetworkLocked(req.Inline); }
                catch (Exception x) when (x is TetherException or IpamException or FormatException or ArgumentException)
                {
                    throw new CniInputException(CniInput.NetworkConfig, $"network {req.Inline.Name} defined by the config: {x.Message}", x);
                }
                var made = n;
                undo.Add($"network {made.Name}", () => DriverOf(made).DeleteNetwork(made, store.Networks().Where(x => x.Id != made.Id).ToList()));
            }
            else
            {
                CheckCniTarget(n);
                if (req.Inline is { } inline && InlineDifference(n, inline) is { } diff)
                    throw new CniInputException(CniInput.NetworkConfig, $"network {n.Name} exists with {diff}: the config defines it differently (remove the network, or give the config its settings)");
            }
            if (req.Ip is { } wanted)
            {
                var sub = n.Subnets[0];
                try
                {
                    var config = SubnetConfig.Create(IPNetwork.Parse(sub.Subnet), IPAddress.Parse(sub.Gateway), sub.IpRange is null ? null : IPNetwork.Parse(sub.IpRange));
                    AddressAllocator.ValidateStatic(config, Cidr.ParseAddress(wanted));
                }
                catch (Exception x) when (x is IpamException or FormatException or ArgumentException)
                {
                    throw new CniInputException(CniInput.Address, $"address {wanted} on network {n.Name}: {x.Message}", x);
                }
            }
            var id = NewId();
            var name = CniSandboxName(req.Key, id);
            var s = new SandboxRecord(id, name, req.NetNs, DateTime.UtcNow, null);
            store.InsertSandbox(s);
            store.InsertCniAttachment(s.Id, req.Key.Network, req.Key.ContainerId, req.Key.IfName);
            var e = Attach(s, n, new AttachRequest(n.Name, req.Ip, req.Aliases, req.Ports), undo, new EndpointOptions(req.Key.IfName, mac, true));
            var a = DescribeCni(req.Key, s, n, e) with { ReplacedSandboxId = replaced };
            WriteCniFiles(a, req.Resolver, undo);
            return a;
        });
    });

    /// <summary>Writes the sandbox's resolv.conf and hosts (as <c>create</c> does for its sandboxes), which <c>tether exec</c>
    /// bind-mounts for its process: resolv.conf names the ADD's resolver (each part the host's when the ADD has none),
    /// never the embedded server, which listens only in namespaces Tether made; hosts names the container's address
    /// with its host name (the container id's first 12 digits, as Podman's default) and the sandbox name.</summary>
    void WriteCniFiles(CniAttachment a, ResolvConf? resolver, UndoLog undo)
    {
        var host = ResolvConf.Read(ResolvConf.HostPath);
        var r = resolver ?? new ResolvConf([], [], []);
        var servers = r.Nameservers.Count > 0 ? r.Nameservers : host.Nameservers.Where(x => !IPAddress.IsLoopback(x)).ToList();
        var own = new ResolvConf(servers, r.Search.Count > 0 ? r.Search : host.Search, r.Options.Count > 0 ? r.Options : host.Options);
        var details = new SandboxDetails(a.Sandbox, [new EndpointDetails(a.Endpoint, a.Network, a.Ports)], []);
        var options = new DnsOptions([.. servers.Select(x => x.ToString())], [.. own.Search], [], a.Key.ContainerId[..Math.Min(12, a.Key.ContainerId.Length)]);
        undo.Add($"files of sandbox {a.Sandbox.Name}", () => SandboxFiles.Remove(Paths, a.Sandbox.Name));
        SandboxFiles.WriteOwnResolver(Paths, details, options, own);
    }

    /// <summary>A network a CNI attachment can use: one whose driver makes networks with their own interfaces, not the
    /// predefined host or none (a CNI ADD must give the container an interface).</summary>
    void CheckCniTarget(NetworkRecord n)
    {
        if (!Has(DriverOf(n), DriverCapabilities.UserNetworks))
            throw new CniInputException(CniInput.NetworkConfig, $"network {n.Name} is Tether's predefined {n.Name} network (driver {n.Driver}): a CNI attachment needs a network that gives the container an interface");
    }

    /// <summary>The checks of <c>network create</c> that need no kernel: name, driver, subnet, gateway, range. Throws
    /// <see cref="CniInputException"/> naming the bad setting.</summary>
    void CheckInline(NetworkCreateRequest req)
    {
        if (PredefinedNetworks.ContainsKey(req.Name))
            throw new CniInputException(CniInput.NetworkConfig, $"network name \"{req.Name}\" is Tether's predefined {req.Name} network: a CNI attachment needs a network that gives the container an interface");
        if (!drivers.TryGetValue(req.Driver, out var driver) || !Has(driver, DriverCapabilities.UserNetworks))
            throw new CniInputException(CniInput.NetworkConfig, $"driver \"{req.Driver}\" is not a driver for networks (available: {string.Join(", ", drivers.Values.Where(d => Has(d, DriverCapabilities.UserNetworks)).Select(d => d.Name).Order())})");
        try
        {
            CheckName("network", req.Name);
            if (req.Subnet is null)
            {
                if (req.Gateway is not null || req.IpRange is not null) throw new TetherException("ipam.gateway and ipam.rangeStart/rangeEnd need ipam.subnet");
                return;
            }
            var subnet = Cidr.ParseSubnet(req.Subnet);
            CheckUsable(subnet);
            SubnetConfig.Create(subnet, req.Gateway is null ? null : Cidr.ParseAddress(req.Gateway), req.IpRange is null ? null : Cidr.ParseSubnet(req.IpRange));
        }
        catch (Exception e) when (e is TetherException or IpamException or FormatException or ArgumentException)
        {
            throw new CniInputException(CniInput.NetworkConfig, $"network {req.Name} defined by the config: {e.Message}", e);
        }
    }

    /// <summary>The first setting in which the existing network <paramref name="n"/> differs from the inline definition
    /// <paramref name="req"/> ("driver macvlan", "option mtu=1400", ...), or null when they agree. A setting the config
    /// leaves out must have its default; a subnet the config leaves out is whatever the network got.</summary>
    static string? InlineDifference(NetworkRecord n, NetworkCreateRequest req)
    {
        if (n.Driver != req.Driver) return $"driver {n.Driver}, not {req.Driver}";
        if (n.Internal != req.Internal) return $"internal {(n.Internal ? "true" : "false")}, not {(req.Internal ? "true" : "false")}";
        foreach (var key in n.Options.Keys.Union(req.Options.Keys).Order(StringComparer.Ordinal))
        {
            var have = n.Options.GetValueOrDefault(key);
            var want = req.Options.GetValueOrDefault(key);
            if (have != want) return $"option {key}={have ?? "(unset)"}, not {want ?? "(unset)"}";
        }
        if (req.Subnet is null) return null;
        var sub = n.Subnets[0];
        IPNetwork wanted;
        try { wanted = Cidr.ParseSubnet(req.Subnet); }
        catch (Exception e) when (e is IpamException or FormatException or ArgumentException) { return $"subnet {sub.Subnet}, not {req.Subnet} ({e.Message})"; }
        if (!n.Subnets.Any(x => IPNetwork.Parse(x.Subnet).Equals(wanted)))
            return $"subnet {string.Join(", ", n.Subnets.Select(x => x.Subnet))}, not {req.Subnet}";
        SubnetConfig expected;
        try
        {
            expected = SubnetConfig.Create(wanted, req.Gateway is null ? null : Cidr.ParseAddress(req.Gateway), req.IpRange is null ? null : Cidr.ParseSubnet(req.IpRange));
        }
        catch (Exception e) when (e is IpamException or FormatException or ArgumentException) { return $"gateway {sub.Gateway} and range {sub.IpRange ?? "(whole subnet)"} ({e.Message})"; }
        if (!IPAddress.Parse(sub.Gateway).Equals(expected.Gateway)) return $"gateway {sub.Gateway}, not {expected.Gateway}";
        var range = sub.IpRange is null ? (IPNetwork?)null : IPNetwork.Parse(sub.IpRange);
        if (!Equals(range, expected.IpRange)) return $"range {sub.IpRange ?? "(whole subnet)"}, not {expected.IpRange?.ToString() ?? "(whole subnet)"}";
        return null;
    }

    /// <summary>CNI STATUS of the attachment target: null when an ADD could be served, else why not. A network defined
    /// inline and not made yet is checked as ADD would check it (<see cref="CniInputException"/> for a bad definition);
    /// an existing one must match its definition and have an address left to lease.</summary>
    public string? CniStatus(string network, NetworkCreateRequest? inline) => store.Read(() =>
    {
        var n = store.FindNetwork(network);
        if (n is null)
        {
            if (inline is null) return $"network {network} does not exist";
            CheckInline(inline);
            return null;
        }
        CheckCniTarget(n);
        if (inline is not null && InlineDifference(n, inline) is { } diff)
            throw new CniInputException(CniInput.NetworkConfig, $"network {n.Name} exists with {diff}: the config defines it differently");
        if (!Has(DriverOf(n), DriverCapabilities.Ipam) || n.Subnets.Count == 0) return null;
        var sub = n.Subnets[0];
        var config = SubnetConfig.Create(IPNetwork.Parse(sub.Subnet), IPAddress.Parse(sub.Gateway), sub.IpRange is null ? null : IPNetwork.Parse(sub.IpRange));
        var leases = store.Leases(n.Id);
        try { AddressAllocator.Next(config, null, a => leases.Contains(a.ToString())); }
        catch (IpamException e) { return $"network {n.Name} has no address left to lease: {e.Message}"; }
        return null;
    });

    /// <summary>CNI DEL: removes the attachment's links (not the namespace), published ports and lease. Idempotent: an
    /// unknown key, or a namespace already gone, is success. Returns the id of the sandbox removed, null when there was none.</summary>
    public string? CniDel(CniKey key) => Write(() =>
    {
        store.EnsureCniSchema();
        if (store.FindCniAttachment(key.Network, key.ContainerId, key.IfName) is not { } id || store.FindSandbox(id) is not { } s) return null;
        RemoveCniSandboxLocked(s);
        return s.Id;
    });

    /// <summary>The attachment of a key, or null.</summary>
    public CniAttachment? CniFind(CniKey key) => Write(() =>
    {
        store.EnsureCniSchema();
        if (store.FindCniAttachment(key.Network, key.ContainerId, key.IfName) is not { } id || store.FindSandbox(id) is not { } s) return null;
        var e = store.EndpointsOfSandbox(s.Id).FirstOrDefault();
        if (e is null) return null;
        return DescribeCni(key, s, store.Networks().First(n => n.Id == e.NetworkId), e);
    });

    /// <summary>CNI GC: removes every attachment of the CNI network <paramref name="cniNetwork"/> whose
    /// (container id, interface) is not in <paramref name="valid"/> (<c>cni.dev/valid-attachments</c>), with its links,
    /// lease and published ports, then rewrites the firewall from the store. Returns the keys removed.</summary>
    public IReadOnlyList<CniKey> CniGc(string cniNetwork, IReadOnlySet<(string ContainerId, string IfName)> valid) => Write(() =>
    {
        store.EnsureCniSchema();
        var removed = new List<CniKey>();
        foreach (var (sandboxId, cid, ifName) in store.CniAttachmentsOf(cniNetwork))
        {
            if (valid.Contains((cid, ifName))) continue;
            if (store.FindSandbox(sandboxId) is { } s) RemoveCniSandboxLocked(s);
            removed.Add(new CniKey(cniNetwork, cid, ifName));
        }
        ReconcileFirewallLocked();
        return removed;
    });

    /// <summary>CNI CHECK: compares the attachment with the kernel. Returns one line per difference (empty: all in place):
    /// the namespace, the interface (present, up, MAC), its address, the subnet route and a default route inside; the
    /// host end of the veth pair on the network's bridge outside; each published port in Tether's nftables port maps.</summary>
    public IReadOnlyList<string> CniCheck(CniAttachment a, string netNs)
    {
        var problems = new List<string>();
        if (a.Sandbox.NsPath != netNs) problems.Add($"attachment is in namespace {a.Sandbox.NsPath}, not {netNs}");
        if (!NetNs.Exists(netNs)) { problems.Add($"namespace {netNs} does not exist"); return problems; }
        var inside = host.Sandbox(netNs);
        var link = inside.FindLink(a.Endpoint.IfName);
        if (link is null) problems.Add($"interface {a.Endpoint.IfName} is missing in {netNs}");
        else
        {
            if (!link.IsUp) problems.Add($"interface {a.Endpoint.IfName} is down");
            var mac = link.Mac is null ? "" : RtNetlink.Format(link.Mac);
            if (!string.Equals(mac, a.Endpoint.Mac, StringComparison.OrdinalIgnoreCase)) problems.Add($"interface {a.Endpoint.IfName} has MAC {mac}, not {a.Endpoint.Mac}");
            var ip = IPAddress.Parse(a.Endpoint.Ip);
            if (!inside.ListAddresses(link.Index).Any(x => x.Ip.Equals(ip) && x.PrefixLength == a.Endpoint.PrefixLength))
                problems.Add($"address {a.Endpoint.Ip}/{a.Endpoint.PrefixLength} is missing on {a.Endpoint.IfName}");
            var family = ip.AddressFamily;
            var routes = inside.ListRoutes(family);
            var subnet = new IPNetwork(ip, a.Endpoint.PrefixLength).BaseAddress;
            if (!routes.Any(r => r.Destination is { } d && d.PrefixLength == a.Endpoint.PrefixLength && d.BaseAddress.Equals(subnet) && r.OutLinkIndex == link.Index))
                problems.Add($"route to {subnet}/{a.Endpoint.PrefixLength} via {a.Endpoint.IfName} is missing");
            if (!a.Network.Internal && !routes.Any(r => r.Destination is null))
                problems.Add($"default route is missing in {netNs}");
        }
        if (a.Endpoint.HostIfName is { } hostIf && a.Network.Bridge is { } bridgeName)
        {
            var bridge = host.Netlink.FindLink(bridgeName);
            var peer = host.Netlink.FindLink(hostIf);
            if (bridge is null) problems.Add($"bridge {bridgeName} of network {a.Network.Name} is missing");
            if (peer is null) problems.Add($"host interface {hostIf} is missing");
            else if (bridge is not null && peer.MasterIndex != bridge.Index) problems.Add($"host interface {hostIf} is not a port of bridge {bridgeName}");
        }
        // Published ports: each of the endpoint's mappings must be an element of Tether's port maps in nftables.
        var wanted = a.Ports.Count == 0 ? [] : DriverOf(a.Network).Mappings(a.Network, IPAddress.Parse(a.Endpoint.Ip), a.Ports);
        if (wanted.Count > 0)
        {
            var present = host.Firewall.Read().Ports.ToHashSet();
            foreach (var m in wanted.Where(m => !present.Contains(m)))
                problems.Add($"published port {m.HostIp?.ToString() ?? "0.0.0.0"}:{m.HostPort}/{m.Protocol.ToString().ToLowerInvariant()} -> {m.ContainerIp}:{m.ContainerPort} is missing from nftables");
        }
        return problems;
    }

    /// <summary>Removes a sandbox whose namespace belongs to a runtime: its endpoints' links (the host end of each veth
    /// pair, which takes the peer inside with it) and published ports, then its records. Links already gone count as removed.</summary>
    void RemoveCniSandboxLocked(SandboxRecord s)
    {
        var errors = new List<string>();
        foreach (var e in store.EndpointsOfSandbox(s.Id).Reverse())
        {
            var n = store.Networks().First(x => x.Id == e.NetworkId);
            try { DriverOf(n).DeleteEndpoint(n, s, e, store.PortBindingsOfEndpoint(e.Id), namespaceGoing: false); }
            catch (Exception ex) { errors.Add(ex.Message); }
        }
        if (errors.Count > 0) throw new TetherException($"removing sandbox {s.Name}: {string.Join("; ", errors)}");
        store.DeleteSandbox(s.Id);
        SandboxFiles.Remove(Paths, s.Name);
    }

    /// <summary>Part of <c>reconcile</c>: removes, as DEL would, every CNI attachment whose runtime namespace is gone (the
    /// runtime deleted it without a DEL): links left on the host, published ports, lease, records and files. A sandbox
    /// whose path still names a network namespace is left alone.</summary>
    IEnumerable<string> ReclaimOrphanedCniLocked()
    {
        var repairs = new List<string>();
        foreach (var s in store.Sandboxes().Where(IsRuntimeNamespace).ToList())
        {
            if (NetNs.Exists(s.NsPath)) continue;
            RemoveCniSandboxLocked(s);
            repairs.Add($"reclaimed CNI sandbox {s.Name}: its runtime namespace {s.NsPath} is gone");
        }
        return repairs;
    }

    CniAttachment DescribeCni(CniKey key, SandboxRecord s, NetworkRecord n, EndpointRecord e)
    {
        string MacOf(string? name) => name is not null && host.Netlink.FindLink(name)?.Mac is { } m ? RtNetlink.Format(m) : "";
        return new CniAttachment(key, s, n, e, store.PortBindingsOfEndpoint(e.Id), MacOf(n.Bridge), MacOf(e.HostIfName));
    }

    /// <summary>"cni-CONTAINERID12-IFNAME" when that is a free, valid sandbox name, otherwise "cni-" and the sandbox id's first 16 digits.</summary>
    string CniSandboxName(CniKey key, string id)
    {
        var name = $"cni-{key.ContainerId[..Math.Min(12, key.ContainerId.Length)]}-{key.IfName}";
        if (key.Network != key.IfName) name += "-" + key.Network;
        return NameRule.IsMatch(name) && name.Length <= 128 && store.FindSandbox(name) is null ? name : "cni-" + id[..16];
    }

    /// <summary>Parses "aa:bb:cc:dd:ee:ff" as the MAC of an interface (6 bytes, not multicast); <paramref name="error"/>
    /// makes the exception naming the bad value.</summary>
    static string ParseMac(string mac, Func<string, Exception> error)
    {
        PhysicalAddress parsed;
        try { parsed = PhysicalAddress.Parse(mac.Replace(':', '-').ToUpperInvariant()); }
        catch (FormatException) { throw error($"invalid MAC address \"{mac}\""); }
        var bytes = parsed.GetAddressBytes();
        if (bytes.Length != 6) throw error($"invalid MAC address \"{mac}\": 6 bytes expected");
        if ((bytes[0] & 1) != 0) throw error($"invalid MAC address \"{mac}\": a multicast address cannot be an interface's");
        return RtNetlink.Format(parsed);
    }

    /// <summary>Sets the MAC of the sandbox-side interface (down, set, up: not every driver's link takes a live change).</summary>
    string SetEndpointMac(SandboxRecord s, string ifName, string mac)
    {
        var parsed = PhysicalAddress.Parse(ParseMac(mac, m => new TetherException(m)).Replace(':', '-').ToUpperInvariant());
        var inside = host.Sandbox(s.NsPath);
        var link = inside.FindLink(ifName) ?? throw new TetherException($"interface {ifName} is missing in sandbox {s.Name}");
        inside.SetDown(link.Index);
        inside.SetMac(link.Index, parsed);
        inside.SetUp(link.Index);
        return RtNetlink.Format(parsed);
    }

    bool HasDefaultRoute(SandboxRecord s) =>
        host.Sandbox(s.NsPath).ListRoutes(AddressFamily.InterNetwork).Any(r => r.Destination is null);
}
