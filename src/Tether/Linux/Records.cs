using System.Net;
using System.Net.NetworkInformation;

namespace Tether.Linux;

/// <summary>
/// A network interface as <c>ip -d link show</c> reports it: kernel index, name, kind (IFLA_INFO_KIND such as "bridge" or
/// "veth"; null for physical devices and loopback), MTU in bytes, MAC (null when the device has none), index of its master
/// (bridge) or 0, and whether the administrative IFF_UP flag is set. <paramref name="ParentIndex"/> is IFLA_LINK (the lower
/// device of a macvlan, ipvlan or vlan, the peer of a veth; 0 when none) and <paramref name="VlanId"/> the 802.1Q VLAN id of a
/// link of kind "vlan" (IFLA_VLAN_ID), else null; <paramref name="Alias"/> is the link's IFLA_IFALIAS (<c>ip link set X alias
/// TEXT</c>), null when it has none.
/// </summary>
public sealed record Link(int Index, string Name, string? Kind, int Mtu, PhysicalAddress? Mac, int MasterIndex, bool IsUp,
    int ParentIndex = 0, int? VlanId = null, string? Alias = null);

/// <summary>An IPv4 or IPv6 address on a link (<c>ip addr</c>): link index, address, prefix length in bits.</summary>
public sealed record Address(int LinkIndex, IPAddress Ip, int PrefixLength);

/// <summary>
/// A route in the main table (<c>ip route</c>). <paramref name="Destination"/> null means the default route
/// (0.0.0.0/0 or ::/0); <paramref name="Gateway"/> null means directly connected (scope link for IPv4);
/// <paramref name="OutLinkIndex"/> is the output link (<c>dev</c>); <paramref name="PreferredSource"/> is <c>src</c>.
/// At least one of Destination and Gateway must be set to tell the address family.
/// </summary>
public sealed record Route(IPNetwork? Destination, IPAddress? Gateway, int? OutLinkIndex, IPAddress? PreferredSource = null);

/// <summary>macvlan modes (enum macvlan_mode, linux/if_link.h), as <c>ip link add ... type macvlan mode MODE</c>.</summary>
public enum MacvlanMode { Private = 1, Vepa = 2, Bridge = 4, Passthru = 8, Source = 16 }

/// <summary>ipvlan modes (enum ipvlan_mode, linux/if_link.h), as <c>ip link add ... type ipvlan mode l2|l3|l3s</c>.</summary>
public enum IpvlanMode { L2 = 0, L3 = 1, L3S = 2 }

/// <summary>ipvlan flags (IPVLAN_F_*, linux/if_link.h), as <c>ip link add ... type ipvlan mode M bridge|private|vepa</c>.</summary>
public enum IpvlanFlag { Bridge = 0, Private = 0x01, Vepa = 0x02 }

/// <summary>
/// Settings of a VXLAN link (<c>ip link add NAME type vxlan id VNI dstport PORT [local IP] [dev PARENT] [nolearning]</c>):
/// 24-bit VNI, UDP destination port, local underlay address, underlay link index, and whether the device learns remote MACs
/// (off: Tether writes FDB entries itself).
/// </summary>
public sealed record VxlanOptions(uint Vni, int Port = 4789, IPAddress? Local = null, int? ParentIndex = null, bool Learning = false);

/// <summary>Neighbour entry states (NUD_*, linux/neighbour.h).</summary>
[Flags]
public enum NeighbourState : ushort
{
    None = 0, Incomplete = 0x01, Reachable = 0x02, Stale = 0x04, Delay = 0x08, Probe = 0x10, Failed = 0x20, NoArp = 0x40, Permanent = 0x80,
}

/// <summary>An ARP / NDP entry (<c>ip neigh</c>): link index, IP, MAC (null while unresolved) and state.</summary>
public sealed record Neighbour(int LinkIndex, IPAddress Ip, PhysicalAddress? Mac, NeighbourState State);

/// <summary>
/// A forwarding-database entry of a device itself (<c>bridge fdb ... self</c>), e.g. a VXLAN's "MAC is behind remote VTEP":
/// link index, MAC, remote destination (null when none) and whether it is permanent.
/// </summary>
public sealed record FdbEntry(int LinkIndex, PhysicalAddress Mac, IPAddress? Destination, bool Permanent);
