using Tether.Engine;
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

/// <summary>
/// One network driver (Docker CNM's driver): makes a network's kernel objects and wires endpoints into sandboxes.
/// Drivers use only the Linux and Firewall layers. Every Create* registers the inverse of each kernel step in the
/// <see cref="UndoLog"/>; every Delete* is idempotent (what is already gone counts as removed) and keeps going
/// after an error, throwing one exception naming every failure at the end.
/// </summary>
public interface INetworkDriver
{
    /// <summary>The name used with <c>network create -d NAME</c>.</summary>
    string Name { get; }

    /// <summary>Validates the driver options of a network about to be created and returns the record with the
    /// driver's fields filled in (e.g. bridge name, MTU). Throws <see cref="TetherException"/> on bad options.</summary>
    NetworkRecord Prepare(NetworkRecord network, IReadOnlyList<NetworkRecord> existing);

    /// <summary>Makes the network's kernel objects (e.g. the bridge, its gateway address, firewall sets).</summary>
    void CreateNetwork(NetworkRecord network, UndoLog undo);

    /// <summary>Removes the network's kernel objects.</summary>
    void DeleteNetwork(NetworkRecord network);

    /// <summary>Makes the endpoint's links and publishes its ports; returns the MAC address of the sandbox-side interface.</summary>
    string CreateEndpoint(NetworkRecord network, EndpointSpec endpoint, UndoLog undo);

    /// <summary>Removes the endpoint's links and published ports. <paramref name="namespaceGoing"/>: the caller deletes
    /// the sandbox's namespace right after, so links that die with it (a veth pair whose peer is inside) may be left
    /// to the kernel, which frees them with the namespace asynchronously instead of one synchronous, RCU-bound
    /// link deletion each (tens of ms).</summary>
    void DeleteEndpoint(NetworkRecord network, EndpointRecord endpoint, IReadOnlyList<PortBindingRecord> ports, bool namespaceGoing);
}
