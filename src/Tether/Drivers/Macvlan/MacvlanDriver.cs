using Tether.Engine;
using Tether.Linux;
using Tether.State;

namespace Tether.Drivers.Macvlan;

/// <summary>
/// The <c>macvlan</c> driver: each endpoint is a macvlan child of the network's parent interface, created directly in the
/// sandbox, with its own (random) MAC and a leased address. The gateway is a router on the parent's segment, outside
/// Tether: no address on the host, no NAT, no published ports. The host cannot reach its own macvlan children through the
/// parent (the kernel does not pass traffic between a parent and its macvlans). Options: <c>parent</c> (required,
/// <c>IFACE</c> or <c>IFACE.VLAN</c>, see <see cref="ParentLink"/>) and <c>macvlan_mode</c>: bridge (default), private,
/// vepa or passthru (enum macvlan_mode, linux/if_link.h).
/// </summary>
public sealed class MacvlanDriver(HostKernel host) : INetworkDriver
{
    const string ModeKey = "macvlan_mode";

    public string Name => "macvlan";
    public DriverCapabilities Capabilities => DriverCapabilities.Ipam | DriverCapabilities.UserNetworks;
    public IReadOnlyList<KernelFeature> KernelFeatures { get; } = [KernelFeature.Macvlan];

    /// <summary>The mode named by <c>-o macvlan_mode=</c> (bridge when absent); throws naming a bad value.</summary>
    public static MacvlanMode Mode(NetworkRecord n) => n.Options.GetValueOrDefault(ModeKey) switch
    {
        null or "bridge" => MacvlanMode.Bridge,
        "private" => MacvlanMode.Private,
        "vepa" => MacvlanMode.Vepa,
        "passthru" => MacvlanMode.Passthru,
        var other => throw new TetherException($"invalid macvlan_mode \"{other}\" (use bridge, private, vepa or passthru)"),
    };

    public NetworkRecord Prepare(NetworkRecord network, IReadOnlyList<NetworkRecord> existing)
    {
        foreach (var key in network.Options.Keys)
            if (key != ParentLink.OptionKey && key != ModeKey)
                throw new TetherException($"unknown option \"{key}\" for driver macvlan (known: parent, macvlan_mode)");
        Mode(network);
        if (!Linux.KernelFeatures.Has(KernelFeature.Macvlan))
            throw new TetherException(Linux.KernelFeatures.Info(KernelFeature.Macvlan).MissingMessage);
        var parent = ParentLink.Check(host, network);
        parent.CheckShared(network, existing, n => n.Driver == Name && Mode(n) == MacvlanMode.Passthru);
        var mtu = host.Netlink.FindLink(parent.Name)?.Mtu ?? host.Netlink.FindLink(parent.Base)!.Mtu;
        return network with { Mtu = mtu };
    }

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
            try { host.Netlink.CreateMacvlan(ep.IfName, parent.Index, Mode(network), ns); }
            catch (NetlinkException e) when (e.Errno == Libc.EOPNOTSUPP)
            {
                throw new TetherException(Linux.KernelFeatures.Info(KernelFeature.Macvlan).MissingMessage);
            }
            catch (NetlinkException e) when (e.Errno == Libc.EINVAL && Mode(network) == MacvlanMode.Passthru)
            {
                throw new TetherException($"macvlan_mode passthru allows one macvlan on parent {parent.Name}, which has one already (network {network.Name}): {e.Message}");
            }
        }
        undo.Add($"macvlan {ep.IfName} in {ep.Sandbox.Name}", () => SandboxSide.DeleteLink(host, ep.Sandbox.NsPath, ep.IfName));
        return new EndpointLinks(SandboxSide.Configure(host, ep), null);
    }

    public void DeleteEndpoint(NetworkRecord network, SandboxRecord sandbox, EndpointRecord endpoint, IReadOnlyList<PortBindingRecord> ports, bool namespaceGoing)
    {
        // Deleted now even when the namespace goes: the parent counts its children (passthru allows one), and a child
        // left to die with the namespace would still count for a while.
        SandboxSide.DeleteLink(host, sandbox.NsPath, endpoint.IfName);
    }
}
