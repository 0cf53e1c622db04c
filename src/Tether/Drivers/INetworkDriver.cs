using System.Net;
using Tether.Engine;
using Tether.Firewall;
using Tether.Linux;
using Tether.State;

namespace Tether.Drivers;

/// <summary>What a driver needs from the host to make endpoint kernel objects: the sandbox's namespace path.</summary>
/// <param name="Sandbox">The sandbox being wired.</param>
/// <param name="IfName">Interface name inside the sandbox, e.g. "eth0".</param>
/// <param name="HostIfName">Name for a host-side link, if the driver makes one (fits IFNAMSIZ).</param>
/// <param name="Address">The endpoint's leased address and the subnet's prefix length.</param>
/// <param name="Ports">Port bindings to publish for this endpoint.</param>
public sealed record EndpointSpec(SandboxRecord Sandbox, string IfName, string HostIfName, System.Net.IPAddress Address, int PrefixLength,
    IReadOnlyList<PortBindingRecord> Ports);

/// <summary>What a driver made for an endpoint: the sandbox-side interface's MAC ("aa:bb:..", lower case) and the name of the
/// host-side link it made, or null when it made none (macvlan, ipvlan).</summary>
public sealed record EndpointLinks(string Mac, string? HostIfName);

/// <summary>What a driver does and needs, so the engine treats every driver alike.</summary>
[Flags]
public enum DriverCapabilities
{
    None = 0,
    /// <summary>Networks have subnets and endpoints lease addresses from them (IPAM).</summary>
    Ipam = 1,
    /// <summary>Endpoints may publish ports (<c>-p</c>).</summary>
    PortBindings = 2,
    /// <summary>The gateway address sits on a host link Tether makes (a bridge); without it the gateway is outside Tether.</summary>
    GatewayOnHost = 4,
    /// <summary>A sandbox on a network of this driver is on no other network, and has no endpoint on it (host, null).</summary>
    Exclusive = 8,
    /// <summary>The sandbox is the network namespace Tether runs in (host); Tether changes nothing in it.</summary>
    HostNamespace = 16,
    /// <summary><c>network create -d NAME</c> makes networks (false for host and null: one predefined network each).</summary>
    UserNetworks = 32,
    /// <summary><c>--internal</c> is meaningful (no route out of the network).</summary>
    Internal = 64,
}

/// <summary>
/// One network driver (Docker CNM's driver): makes a network's kernel objects and wires endpoints into sandboxes.
/// Drivers use only the Linux and Firewall layers. Every Create* registers the inverse of each kernel step in the
/// <see cref="UndoLog"/>; every Delete* is idempotent (what is already gone counts as removed) and keeps going
/// after an error, throwing one exception naming every failure at the end. Adding a driver: a folder
/// <c>Drivers/NAME/</c> with a class implementing this interface, and one line in <see cref="DriverRegistry"/>.
/// </summary>
public interface INetworkDriver
{
    /// <summary>The name used with <c>network create -d NAME</c>.</summary>
    string Name { get; }

    /// <summary>What the driver does; the engine reads only these flags, never the driver's name.</summary>
    DriverCapabilities Capabilities { get; }

    /// <summary>Kernel features the driver's networks always need (shown by <c>tether info</c>); options may need more
    /// (e.g. 8021q for a macvlan parent <c>IFACE.VLAN</c>).</summary>
    IReadOnlyList<KernelFeature> KernelFeatures { get; }

    /// <summary>Validates the driver options of a network about to be created and returns the record with the
    /// driver's fields filled in (e.g. bridge name, MTU). Throws <see cref="TetherException"/> on bad options.
    /// Changes nothing.</summary>
    NetworkRecord Prepare(NetworkRecord network, IReadOnlyList<NetworkRecord> existing);

    /// <summary>Makes the network's kernel objects (e.g. the bridge, its gateway address, firewall sets).</summary>
    void CreateNetwork(NetworkRecord network, UndoLog undo);

    /// <summary>Removes the network's kernel objects; <paramref name="remaining"/> are the other networks (objects shared
    /// with them, such as a VLAN sub-interface, stay).</summary>
    void DeleteNetwork(NetworkRecord network, IReadOnlyList<NetworkRecord> remaining);

    /// <summary><c>reconcile</c>: remakes the network's kernel objects that went missing behind Tether's back; returns one
    /// line per repair.</summary>
    IReadOnlyList<string> Repair(NetworkRecord network, UndoLog undo) => [];

    /// <summary>Makes the endpoint's links (named <see cref="EndpointSpec.IfName"/> in the sandbox, up, with its address)
    /// and publishes its ports.</summary>
    EndpointLinks CreateEndpoint(NetworkRecord network, EndpointSpec endpoint, UndoLog undo);

    /// <summary>Removes the endpoint's links and published ports. <paramref name="namespaceGoing"/>: the caller deletes
    /// the sandbox's namespace right after, so links that die with it (a veth pair whose peer is inside) may be left
    /// to the kernel, which frees them with the namespace asynchronously instead of one synchronous, RCU-bound
    /// link deletion each (tens of ms). Links deleted through <see cref="HostKernel.DeleteLink"/> may still be going when
    /// this returns (<see cref="HostKernel.DeferLinkDeletions"/>).</summary>
    void DeleteEndpoint(NetworkRecord network, SandboxRecord sandbox, EndpointRecord endpoint, IReadOnlyList<PortBindingRecord> ports, bool namespaceGoing);

    /// <summary>The sandbox's default route through this network's endpoint (link <paramref name="linkIndex"/> inside the
    /// sandbox): via the subnet's gateway unless the driver routes otherwise (ipvlan l3: through the device).</summary>
    Route DefaultRoute(NetworkRecord network, int linkIndex) => new(null, IPAddress.Parse(network.Subnets[0].Gateway), linkIndex);

    /// <summary>The firewall's view of a network (empty: the driver needs no firewall sets).</summary>
    IReadOnlyList<FirewallNetwork> FirewallNetworks(NetworkRecord network) => [];

    /// <summary>The firewall's view of an endpoint's port bindings (only for drivers with <see cref="DriverCapabilities.PortBindings"/>).</summary>
    IReadOnlyList<PortMapping> Mappings(NetworkRecord network, IPAddress address, IEnumerable<PortBindingRecord> ports) => [];
}
