using Tether.Engine;
using Tether.Linux;
using Tether.State;

namespace Tether.Drivers.Host;

/// <summary>
/// The <c>host</c> driver of the predefined network <c>host</c>: a sandbox on it is the network namespace Tether runs in
/// (bind-mounted at the sandbox's path), with no endpoint, no address lease and no published ports; Tether changes nothing
/// in that namespace, and removing the sandbox only unmounts its path. Such a sandbox is on no other network.
/// </summary>
public sealed class HostDriver : INetworkDriver
{
    public string Name => "host";
    public DriverCapabilities Capabilities => DriverCapabilities.Exclusive | DriverCapabilities.HostNamespace;
    public IReadOnlyList<KernelFeature> KernelFeatures { get; } = [];

    public NetworkRecord Prepare(NetworkRecord network, IReadOnlyList<NetworkRecord> existing) =>
        throw new TetherException("only one instance of \"host\" network is allowed");

    public void CreateNetwork(NetworkRecord network, UndoLog undo) { }

    public void DeleteNetwork(NetworkRecord network, IReadOnlyList<NetworkRecord> remaining) { }

    public EndpointLinks CreateEndpoint(NetworkRecord network, EndpointSpec endpoint, UndoLog undo) =>
        throw new TetherException("the host network has no endpoints");

    public void DeleteEndpoint(NetworkRecord network, SandboxRecord sandbox, EndpointRecord endpoint, IReadOnlyList<PortBindingRecord> ports, bool namespaceGoing) { }
}
