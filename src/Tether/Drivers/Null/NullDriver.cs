using Tether.Engine;
using Tether.Linux;
using Tether.State;

namespace Tether.Drivers.Null;

/// <summary>
/// The <c>null</c> driver of the predefined network <c>none</c>: a sandbox on it has its own namespace with only its
/// loopback, up, and is on no other network (docker's <c>--network none</c>).
/// </summary>
public sealed class NullDriver : INetworkDriver
{
    public string Name => "null";
    public DriverCapabilities Capabilities => DriverCapabilities.Exclusive;
    public IReadOnlyList<KernelFeature> KernelFeatures { get; } = [];

    public NetworkRecord Prepare(NetworkRecord network, IReadOnlyList<NetworkRecord> existing) =>
        throw new TetherException("only one instance of \"null\" network is allowed");

    public void CreateNetwork(NetworkRecord network, UndoLog undo) { }

    public void DeleteNetwork(NetworkRecord network, IReadOnlyList<NetworkRecord> remaining) { }

    public EndpointLinks CreateEndpoint(NetworkRecord network, EndpointSpec endpoint, UndoLog undo) =>
        throw new TetherException("the none network has no endpoints");

    public void DeleteEndpoint(NetworkRecord network, SandboxRecord sandbox, EndpointRecord endpoint, IReadOnlyList<PortBindingRecord> ports, bool namespaceGoing) { }
}
