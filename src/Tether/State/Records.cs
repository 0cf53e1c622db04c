namespace Tether.State;

/// <summary>One subnet of a network's IPAM config. Addresses are kept as text (IPv4 dotted quad or IPv6).</summary>
/// <param name="Subnet">CIDR, e.g. "172.18.0.0/16".</param>
/// <param name="Gateway">Gateway address inside <paramref name="Subnet"/>.</param>
/// <param name="IpRange">Optional sub-range endpoints are leased from (docker's --ip-range), CIDR.</param>
/// <param name="LastAllocated">The last address leased, so the next lease continues after it (no immediate reuse).</param>
public sealed record SubnetRecord(string Subnet, string Gateway, string? IpRange, string? LastAllocated);

/// <summary>A network: a named L2/L3 domain made by one driver.</summary>
/// <param name="Bridge">Name of the Linux bridge for the bridge driver, null for drivers without one.</param>
/// <param name="Mtu">MTU in bytes of the network's links.</param>
/// <param name="Options">Driver options as given with <c>-o key=value</c>.</param>
public sealed record NetworkRecord(
    string Id, string Name, string Driver, bool Internal, string? Bridge, int Mtu,
    IReadOnlyDictionary<string, string> Options, DateTime Created, IReadOnlyList<SubnetRecord> Subnets);

/// <summary>A sandbox: a network namespace bind-mounted at <paramref name="NsPath"/>.</summary>
/// <param name="Pid">PID of the process <c>tether run</c> started in it, if any.</param>
/// <param name="NetworkMode">Name of the predefined network whose driver owns the whole sandbox ("host": the namespace
/// Tether runs in; "none": only loopback), or null for a sandbox with its own namespace and endpoints.</param>
public sealed record SandboxRecord(string Id, string Name, string NsPath, DateTime Created, int? Pid, string? NetworkMode = null);

/// <summary>One attachment of a sandbox to a network. The address is the endpoint's lease in that network.</summary>
/// <param name="IfName">Interface name inside the sandbox (eth0, eth1, ... in connect order).</param>
/// <param name="HostIfName">Host side of the veth pair (null for drivers without one).</param>
/// <param name="Seq">Connect order of this endpoint within its sandbox; the lowest with a gateway holds the default route.</param>
public sealed record EndpointRecord(
    string Id, string NetworkId, string SandboxId, string IfName, string? HostIfName, string Mac,
    string Ip, int PrefixLength, IReadOnlyList<string> Aliases, int Seq);

/// <summary>A published port: <c>HostIp:HostPort/Protocol -> endpoint address:ContainerPort</c>.</summary>
/// <param name="HostIp">Host address, or "" for every host address (docker's 0.0.0.0).</param>
/// <param name="Protocol">"tcp" or "udp".</param>
public sealed record PortBindingRecord(string EndpointId, string HostIp, string Protocol, int HostPort, int ContainerPort);
