using System.Net;

namespace Tether.Firewall;

/// <summary>Transport protocol of a port binding; rendered as nft's <c>inet_proto</c> names <c>tcp</c> / <c>udp</c>.</summary>
public enum Protocol { Tcp, Udp }

/// <summary>
/// One Tether network as the firewall sees it: the bridge its endpoints hang off and its subnet (one record per
/// subnet, IPv4 or IPv6). <paramref name="Internal"/> networks reach nothing outside their own bridge: no masquerade,
/// no forwarding to other interfaces (Docker's <c>--internal</c>).
/// </summary>
/// <param name="Bridge">Bridge interface name: 1-15 bytes (IFNAMSIZ - 1) of <c>[A-Za-z0-9_.-]</c>.</param>
/// <param name="Subnet">The network's subnet (base address with host bits clear).</param>
/// <param name="Internal">True for an internal network.</param>
public sealed record FirewallNetwork(string Bridge, IPNetwork Subnet, bool Internal);

/// <summary>
/// One published port (a port binding <c>hostIP:hostPort/proto -> containerIP:containerPort</c>). Ranges are expanded
/// by the caller into one mapping per port. The host and container addresses must be of the same family.
/// </summary>
/// <param name="HostIp">Host address to bind, or null (or 0.0.0.0 / ::) for every local address of that family.</param>
/// <param name="Protocol">tcp or udp.</param>
/// <param name="HostPort">1-65535.</param>
/// <param name="ContainerIp">Endpoint address the traffic is DNAT'ed to.</param>
/// <param name="ContainerPort">1-65535.</param>
/// <param name="Bridge">Bridge of the endpoint's network (validated; not part of the map key: the kernel routes the DNAT'ed packet).</param>
public sealed record PortMapping(IPAddress? HostIp, Protocol Protocol, int HostPort, IPAddress ContainerIp, int ContainerPort, string Bridge);

/// <summary>
/// A delta to apply to Tether's ruleset. Removals are applied before additions, so an element that is in both
/// lists ends up present (this is how a binding is re-pointed). Removing an element that is absent is not an error.
/// </summary>
public sealed record FirewallChange(
    IReadOnlyList<FirewallNetwork> AddNetworks,
    IReadOnlyList<FirewallNetwork> RemoveNetworks,
    IReadOnlyList<PortMapping> AddPorts,
    IReadOnlyList<PortMapping> RemovePorts)
{
    /// <summary>No change: applying it only (re)writes the base table, sets and chains.</summary>
    public static FirewallChange Empty { get; } = new([], [], [], []);
}

/// <summary>
/// An nftables batch failed (nothing of it was applied: batches are atomic), or the input could not be rendered.
/// <see cref="Exception.Message"/> is a one-line summary followed by nft's full error text.
/// </summary>
public sealed class FirewallException : Exception
{
    /// <summary>First error line reported by nft (without the location prefix), e.g. "Could not process rule: File exists".</summary>
    public string Summary { get; }
    /// <summary>nft's complete error output: every error with the offending script line and a caret marker.</summary>
    public string Details { get; }

    public FirewallException(string summary, string details)
        : base(details.Length == 0 ? summary : summary + "\n" + details)
    {
        Summary = summary;
        Details = details;
    }

    public FirewallException(string message) : this(message, "") { }
    public FirewallException() : this("nftables error") { }
    public FirewallException(string message, Exception inner) : base(message, inner) { Summary = message; Details = ""; }
}
