using System.Globalization;
using System.Net;
using Tether.Engine;
using Tether.Firewall;
using Tether.Linux;
using Tether.State;

namespace Tether.Drivers.Bridge;

/// <summary>
/// The <c>bridge</c> driver: one Linux bridge per network holding the gateway address, one veth pair per endpoint
/// (host end enslaved to the bridge, peer created directly in the sandbox), NAT and published ports in nftables.
/// Options: <c>bridge.name</c> (or docker's <c>com.docker.network.bridge.name</c>), <c>mtu</c> (or
/// <c>com.docker.network.driver.mtu</c>), in bytes, 68..65535 (IPv4 minimum MTU, RFC 791).
/// </summary>
public sealed class BridgeDriver(HostKernel host) : INetworkDriver
{
    /// <summary>Bridge of the default network <c>bridge</c>.</summary>
    public const string DefaultBridgeName = "tether0";
    static readonly string[] NameKeys = ["bridge.name", "com.docker.network.bridge.name"];
    static readonly string[] MtuKeys = ["mtu", "com.docker.network.driver.mtu"];

    public string Name => "bridge";
    public DriverCapabilities Capabilities => DriverCapabilities.Ipam | DriverCapabilities.PortBindings | DriverCapabilities.GatewayOnHost
                                              | DriverCapabilities.UserNetworks | DriverCapabilities.Internal;
    public IReadOnlyList<KernelFeature> KernelFeatures { get; } = [KernelFeature.Bridge, KernelFeature.Veth, KernelFeature.NfTables];

    public NetworkRecord Prepare(NetworkRecord network, IReadOnlyList<NetworkRecord> existing)
    {
        foreach (var key in network.Options.Keys)
            if (!NameKeys.Contains(key) && !MtuKeys.Contains(key))
                throw new TetherException($"unknown option \"{key}\" for driver bridge (known: bridge.name, mtu)");

        var bridge = Option(network, NameKeys)
                     ?? (network.Name == "bridge" ? DefaultBridgeName : "tb-" + network.Id[..12]);
        try { InterfaceName.Validate(bridge); }
        catch (ArgumentException e) { throw new TetherException($"invalid bridge name: {e.Message}"); }
        if (existing.Any(n => n.Bridge == bridge) || host.Netlink.FindLink(bridge) is not null)
            throw new TetherException($"bridge name \"{bridge}\" is already in use");

        var mtuText = Option(network, MtuKeys);
        int mtu;
        if (mtuText is null) mtu = host.DefaultRouteMtu();
        else if (!int.TryParse(mtuText, NumberStyles.None, CultureInfo.InvariantCulture, out mtu) || mtu < 68 || mtu > 65535)
            throw new TetherException($"invalid mtu \"{mtuText}\": must be a number from 68 to 65535");

        return network with { Bridge = bridge, Mtu = mtu };
    }

    public void CreateNetwork(NetworkRecord network, UndoLog undo)
    {
        var nl = host.Netlink;
        var bridge = nl.CreateBridge(network.Bridge!, network.Mtu);
        undo.Add($"bridge {bridge.Name}", () => nl.DeleteLink(bridge.Name));
        // A bridge whose address was never set takes the lowest MAC of its ports (net/bridge/br_stp_if.c,
        // br_stp_recalculate_bridge_id), so the gateway's MAC would change as endpoints come and go and cut off the
        // sandboxes whose neighbour entry holds the old one. Setting it (to the random one it was born with) pins it.
        if (bridge.Mac is { } mac) nl.SetMac(bridge.Index, mac);
        foreach (var s in network.Subnets)
        {
            var subnet = IPNetwork.Parse(s.Subnet);
            nl.AddAddress(bridge.Index, IPAddress.Parse(s.Gateway), subnet.PrefixLength);
        }
        nl.SetUp(bridge.Index);
        Sysctl.Write("net.ipv4.ip_forward", "1");
        // Lets host-originated connections to 127.0.0.1:PORT be DNATed out through the bridge.
        Sysctl.Write($"net.ipv4.conf.{bridge.Name}.route_localnet", "1");
        var fw = FirewallNetworksOf(network);
        host.Firewall.Apply(new FirewallChange(fw, [], [], []));
        undo.Add($"firewall sets of {bridge.Name}", () => host.Firewall.Apply(new FirewallChange([], fw, [], [])));
    }

    public void DeleteNetwork(NetworkRecord network, IReadOnlyList<NetworkRecord> remaining)
    {
        var errors = new List<string>();
        Try(errors, () => host.Firewall.Apply(new FirewallChange([], FirewallNetworksOf(network), [], [])));
        Try(errors, () => host.Netlink.DeleteLink(network.Bridge!));
        if (errors.Count > 0) throw new TetherException($"removing network {network.Name}: {string.Join("; ", errors)}");
    }

    public IReadOnlyList<string> Repair(NetworkRecord network, UndoLog undo)
    {
        if (host.Netlink.FindLink(network.Bridge!) is not null) return [];
        CreateNetwork(network, undo);
        return [$"recreated bridge {network.Bridge} of network {network.Name}"];
    }

    public EndpointLinks CreateEndpoint(NetworkRecord network, EndpointSpec ep, UndoLog undo)
    {
        var nl = host.Netlink;
        var bridge = nl.FindLink(network.Bridge!) ?? throw new TetherException($"bridge {network.Bridge} of network {network.Name} is missing; run tether reconcile");
        host.AwaitLinkDeletions(ep.Sandbox.NsPath);
        using (var ns = NetNs.Open(ep.Sandbox.NsPath))
        {
            var veth = nl.CreateVeth(ep.HostIfName, network.Mtu, ep.IfName, ns);
            undo.Add($"veth {ep.HostIfName}", () => nl.DeleteLink(ep.HostIfName));
            nl.SetMaster(veth.Index, bridge.Index);
            nl.SetHairpin(veth.Index, true);
            nl.SetUp(veth.Index);
        }
        var mac = SandboxSide.Configure(host, ep);
        if (ep.Ports.Count > 0)
        {
            var ports = MappingsOf(network, ep.Address, ep.Ports);
            host.Firewall.ApplyElements(new FirewallChange([], [], ports, []));
            undo.Add($"published ports of {ep.Sandbox.Name}", () => host.Firewall.ApplyElements(new FirewallChange([], [], [], ports)));
        }
        return new EndpointLinks(mac, ep.HostIfName);
    }

    public void DeleteEndpoint(NetworkRecord network, SandboxRecord sandbox, EndpointRecord endpoint, IReadOnlyList<PortBindingRecord> ports, bool namespaceGoing)
    {
        var errors = new List<string>();
        if (ports.Count > 0)
            Try(errors, () => host.Firewall.ApplyElements(new FirewallChange([], [], [], MappingsOf(network, IPAddress.Parse(endpoint.Ip), ports))));
        // The host end dies with its peer when the sandbox's namespace goes.
        if (endpoint.HostIfName is not null && !namespaceGoing) Try(errors, () => host.DeleteLink(endpoint.HostIfName, sandbox.NsPath));
        if (errors.Count > 0) throw new TetherException($"removing endpoint {endpoint.IfName}: {string.Join("; ", errors)}");
    }

    public IReadOnlyList<FirewallNetwork> FirewallNetworks(NetworkRecord network) => FirewallNetworksOf(network);

    public IReadOnlyList<PortMapping> Mappings(NetworkRecord network, IPAddress address, IEnumerable<PortBindingRecord> ports) =>
        MappingsOf(network, address, ports);

    /// <summary>The firewall's view of a network: its bridge and each subnet.</summary>
    public static IReadOnlyList<FirewallNetwork> FirewallNetworksOf(NetworkRecord n) =>
        n.Subnets.Select(s => new FirewallNetwork(n.Bridge!, IPNetwork.Parse(s.Subnet), n.Internal)).ToList();

    /// <summary>The firewall's view of an endpoint's port bindings.</summary>
    public static IReadOnlyList<PortMapping> MappingsOf(NetworkRecord n, IPAddress address, IEnumerable<PortBindingRecord> ports) =>
        ports.Select(p => new PortMapping(p.HostIp == "" ? null : IPAddress.Parse(p.HostIp),
            p.Protocol == "udp" ? Protocol.Udp : Protocol.Tcp, p.HostPort, address, p.ContainerPort, n.Bridge!)).ToList();

    static string? Option(NetworkRecord n, string[] keys) =>
        keys.Select(k => n.Options.GetValueOrDefault(k)).FirstOrDefault(v => v is not null);

    static void Try(List<string> errors, Action step)
    {
        try { step(); }
        catch (Exception e) { errors.Add(e.Message); }
    }
}
