using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
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
public sealed record CniAddRequest(CniKey Key, string NetNs, string TetherNetwork, NetworkCreateRequest? Inline, string? Ip, string? Mac,
    IReadOnlyList<string> Aliases, IReadOnlyList<PortBinding> Ports);

/// <summary>One CNI attachment as the kernel and the store have it: what a CNI result reports.</summary>
/// <param name="BridgeMac">MAC of the network's bridge ("" when the driver has none).</param>
/// <param name="HostIfMac">MAC of the host end of the veth pair ("" when there is none).</param>
public sealed record CniAttachment(CniKey Key, SandboxRecord Sandbox, NetworkRecord Network, EndpointRecord Endpoint,
    IReadOnlyList<PortBindingRecord> Ports, string BridgeMac, string HostIfMac);

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
        if (store.FindCniAttachment(req.Key.Network, req.Key.ContainerId, req.Key.IfName) is { } oldId && store.FindSandbox(oldId) is { } old)
        {
            if (old.NsPath == req.NetNs && NetNs.Exists(old.NsPath))
                throw new TetherException($"container {req.Key.ContainerId} already has interface {req.Key.IfName} on network {req.Key.Network}");
            RemoveCniSandboxLocked(old);
        }
        return UndoLog.Run(undo =>
        {
            var n = store.FindNetwork(req.TetherNetwork);
            if (n is null)
            {
                if (req.Inline is null) throw new TetherException($"network {req.TetherNetwork} not found");
                n = CreateNetworkLocked(req.Inline);
                var made = n;
                undo.Add($"network {made.Name}", () => DriverOf(made).DeleteNetwork(made, store.Networks().Where(x => x.Id != made.Id).ToList()));
            }
            else if (req.Inline?.Subnet is { } wanted && !n.Subnets.Any(x => IPNetwork.Parse(x.Subnet).Equals(Cidr.ParseSubnet(wanted))))
                throw new TetherException($"network {n.Name} exists with subnet {string.Join(", ", n.Subnets.Select(x => x.Subnet))}, not {wanted}");
            var id = NewId();
            var name = CniSandboxName(req.Key, id);
            var s = new SandboxRecord(id, name, req.NetNs, DateTime.UtcNow, null);
            store.InsertSandbox(s);
            store.InsertCniAttachment(s.Id, req.Key.Network, req.Key.ContainerId, req.Key.IfName);
            var e = Attach(s, n, new AttachRequest(n.Name, req.Ip, req.Aliases, req.Ports), undo, new EndpointOptions(req.Key.IfName, req.Mac, true));
            return DescribeCni(req.Key, s, n, e);
        });
    });

    /// <summary>CNI DEL: removes the attachment's links (not the namespace), published ports and lease. Idempotent: an
    /// unknown key, or a namespace already gone, is success. Returns whether anything was removed.</summary>
    public bool CniDel(CniKey key) => Write(() =>
    {
        store.EnsureCniSchema();
        if (store.FindCniAttachment(key.Network, key.ContainerId, key.IfName) is not { } id || store.FindSandbox(id) is not { } s) return false;
        RemoveCniSandboxLocked(s);
        return true;
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
    /// host end of the veth pair on the network's bridge outside.</summary>
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

    /// <summary>Sets the MAC of the sandbox-side interface (down, set, up: not every driver's link takes a live change).</summary>
    string SetEndpointMac(SandboxRecord s, string ifName, string mac)
    {
        PhysicalAddress parsed;
        try { parsed = PhysicalAddress.Parse(mac.Replace(':', '-').ToUpperInvariant()); }
        catch (FormatException) { throw new TetherException($"invalid MAC address \"{mac}\""); }
        var bytes = parsed.GetAddressBytes();
        if (bytes.Length != 6) throw new TetherException($"invalid MAC address \"{mac}\": 6 bytes expected");
        if ((bytes[0] & 1) != 0) throw new TetherException($"invalid MAC address \"{mac}\": a multicast address cannot be an interface's");
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
