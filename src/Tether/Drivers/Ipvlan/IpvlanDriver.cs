using System.Net;
using Tether.Engine;
using Tether.Linux;
using Tether.State;

namespace Tether.Drivers.Ipvlan;

/// <summary>
/// The <c>ipvlan</c> driver: each endpoint is an ipvlan child of the network's parent interface, created directly in the
/// sandbox; all children share the parent's MAC. Options: <c>parent</c> (required, <c>IFACE</c> or <c>IFACE.VLAN</c>, see
/// <see cref="ParentLink"/>), <c>ipvlan_mode</c>: l2 (default), l3 or l3s (enum ipvlan_mode, linux/if_link.h), and
/// <c>ipvlan_flag</c>: bridge (default), private or vepa (IPVLAN_F_*). In l2 mode the default route goes via the subnet's
/// gateway, a router outside Tether; in l3 and l3s modes the parent routes, so the default route goes through the device
/// with no gateway. Kernels without ipvlan (CONFIG_IPVLAN unset) are detected before anything is made.
/// </summary>
public sealed class IpvlanDriver(HostKernel host) : INetworkDriver
{
    const string ModeKey = "ipvlan_mode";
    const string FlagKey = "ipvlan_flag";

    public string Name => "ipvlan";
    public DriverCapabilities Capabilities => DriverCapabilities.Ipam | DriverCapabilities.UserNetworks;
    public IReadOnlyList<KernelFeature> KernelFeatures { get; } = [KernelFeature.Ipvlan];

    /// <summary>The mode named by <c>-o ipvlan_mode=</c> (l2 when absent); throws naming a bad value.</summary>
    public static IpvlanMode Mode(NetworkRecord n) => n.Options.GetValueOrDefault(ModeKey) switch
    {
        null or "l2" => IpvlanMode.L2,
        "l3" => IpvlanMode.L3,
        "l3s" => IpvlanMode.L3S,
        var other => throw new TetherException($"invalid ipvlan_mode \"{other}\" (use l2, l3 or l3s)"),
    };

    /// <summary>The flag named by <c>-o ipvlan_flag=</c> (bridge when absent); throws naming a bad value.</summary>
    public static IpvlanFlag Flag(NetworkRecord n) => n.Options.GetValueOrDefault(FlagKey) switch
    {
        null or "bridge" => IpvlanFlag.Bridge,
        "private" => IpvlanFlag.Private,
        "vepa" => IpvlanFlag.Vepa,
        var other => throw new TetherException($"invalid ipvlan_flag \"{other}\" (use bridge, private or vepa)"),
    };

    public NetworkRecord Prepare(NetworkRecord network, IReadOnlyList<NetworkRecord> existing)
    {
        foreach (var key in network.Options.Keys)
            if (key != ParentLink.OptionKey && key != ModeKey && key != FlagKey)
                throw new TetherException($"unknown option \"{key}\" for driver ipvlan (known: parent, ipvlan_mode, ipvlan_flag)");
        Mode(network);
        Flag(network);
        if (!Linux.KernelFeatures.Has(KernelFeature.Ipvlan))
            throw new TetherException(Linux.KernelFeatures.Info(KernelFeature.Ipvlan).MissingMessage);
        var parent = ParentLink.Check(host, network);
        parent.CheckShared(network, existing, _ => false);
        // The kernel keeps one mode and one flag per parent (the ipvlan "port"), and each new child sets them for all
        // children of that parent: a network with another mode or flag would silently switch its neighbours.
        foreach (var other in existing.Where(n => n.Driver == Name && n.Options.GetValueOrDefault(ParentLink.OptionKey) == parent.Name))
            if (Mode(other) != Mode(network) || Flag(other) != Flag(network))
                throw new TetherException($"parent {parent.Name} already carries ipvlan network {other.Name} in mode " +
                    $"{Describe(other)}; the kernel keeps one ipvlan mode and flag per parent, so {Describe(network)} cannot share it");
        var mtu = host.Netlink.FindLink(parent.Name)?.Mtu ?? host.Netlink.FindLink(parent.Base)!.Mtu;
        return network with { Mtu = mtu };
    }

    static string Describe(NetworkRecord n) => $"{Mode(n).ToString().ToLowerInvariant()} {Flag(n).ToString().ToLowerInvariant()}";

    public void CreateNetwork(NetworkRecord network, UndoLog undo) => ParentLink.Parse(network.Options[ParentLink.OptionKey]).Ensure(host, undo);

    public void DeleteNetwork(NetworkRecord network, IReadOnlyList<NetworkRecord> remaining) =>
        ParentLink.Parse(network.Options[ParentLink.OptionKey]).Release(host, remaining);

    public IReadOnlyList<string> Repair(NetworkRecord network, UndoLog undo) =>
        ParentLink.Parse(network.Options[ParentLink.OptionKey]).Ensure(host, undo) is { } done ? [$"{done} for network {network.Name}"] : [];

    public EndpointLinks CreateEndpoint(NetworkRecord network, EndpointSpec ep, UndoLog undo)
    {
        var parent = ParentLink.Parse(network.Options[ParentLink.OptionKey]).Find(host, network);
        // The peer of a veth tetherd is still deleting (a disconnect from a bridge network) may have this name there.
        host.AwaitLinkDeletions(ep.Sandbox.NsPath);
        using (var ns = NetNs.Open(ep.Sandbox.NsPath))
        {
            try { host.Netlink.CreateIpvlan(ep.IfName, parent.Index, Mode(network), Flag(network), ns); }
            catch (NetlinkException e) when (e.Errno == Libc.EOPNOTSUPP)
            {
                throw new TetherException($"{Linux.KernelFeatures.Info(KernelFeature.Ipvlan).MissingMessage} (or of ipvlan_mode {network.Options.GetValueOrDefault(ModeKey, "l2")}): {e.Message}");
            }
        }
        undo.Add($"ipvlan {ep.IfName} in {ep.Sandbox.Name}", () => SandboxSide.DeleteLink(host, ep.Sandbox.NsPath, ep.IfName));
        return new EndpointLinks(SandboxSide.Configure(host, ep), null);
    }

    public void DeleteEndpoint(NetworkRecord network, SandboxRecord sandbox, EndpointRecord endpoint, IReadOnlyList<PortBindingRecord> ports, bool namespaceGoing)
    {
        // Deleted now even when the namespace goes, so the parent's ipvlan port is released with the last child.
        SandboxSide.DeleteLink(host, sandbox.NsPath, endpoint.IfName);
    }

    /// <summary>l2: via the gateway; l3 and l3s: the parent routes, so through the device (<c>default dev ethN</c>).</summary>
    public Route DefaultRoute(NetworkRecord network, int linkIndex) => Mode(network) == IpvlanMode.L2
        ? new Route(null, IPAddress.Parse(network.Subnets[0].Gateway), linkIndex)
        : new Route(new IPNetwork(IPAddress.Parse(network.Subnets[0].Gateway).AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? IPAddress.Any : IPAddress.IPv6Any, 0), null, linkIndex);
}
