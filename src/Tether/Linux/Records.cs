using System.Net;
using System.Net.NetworkInformation;

namespace Tether.Linux;

/// <summary>
/// A network interface as <c>ip -d link show</c> reports it: kernel index, name, kind (IFLA_INFO_KIND such as "bridge" or
/// "veth"; null for physical devices and loopback), MTU in bytes, MAC (null when the device has none), index of its master
/// (bridge) or 0, and whether the administrative IFF_UP flag is set.
/// </summary>
public sealed record Link(int Index, string Name, string? Kind, int Mtu, PhysicalAddress? Mac, int MasterIndex, bool IsUp);

/// <summary>An IPv4 or IPv6 address on a link (<c>ip addr</c>): link index, address, prefix length in bits.</summary>
public sealed record Address(int LinkIndex, IPAddress Ip, int PrefixLength);

/// <summary>
/// A route in the main table (<c>ip route</c>). <paramref name="Destination"/> null means the default route
/// (0.0.0.0/0 or ::/0); <paramref name="Gateway"/> null means directly connected (scope link for IPv4);
/// <paramref name="OutLinkIndex"/> is the output link (<c>dev</c>); <paramref name="PreferredSource"/> is <c>src</c>.
/// At least one of Destination and Gateway must be set to tell the address family.
/// </summary>
public sealed record Route(IPNetwork? Destination, IPAddress? Gateway, int? OutLinkIndex, IPAddress? PreferredSource = null);
