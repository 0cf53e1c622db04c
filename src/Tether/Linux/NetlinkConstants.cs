namespace Tether.Linux;

// Every netlink/rtnetlink constant Tether uses, grouped by the uapi header that defines it.
// Values are the kernel's ABI and never change; names are the kernel's, minus the prefix.

/// <summary>linux/netlink.h: message header flags and types, socket options.</summary>
internal static class Nl
{
    public const int NETLINK_ROUTE = 0;

    // Standard message types.
    public const ushort NLMSG_NOOP = 1, NLMSG_ERROR = 2, NLMSG_DONE = 3, NLMSG_OVERRUN = 4;

    // nlmsg_flags.
    public const ushort NLM_F_REQUEST = 0x01, NLM_F_MULTI = 0x02, NLM_F_ACK = 0x04, NLM_F_ECHO = 0x08,
        NLM_F_DUMP_INTR = 0x10, NLM_F_DUMP_FILTERED = 0x20;
    // Modifiers to GET requests.
    public const ushort NLM_F_ROOT = 0x100, NLM_F_MATCH = 0x200, NLM_F_ATOMIC = 0x400, NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
    // Modifiers to NEW requests.
    public const ushort NLM_F_REPLACE = 0x100, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400, NLM_F_APPEND = 0x800;
    // Flags on NLMSG_ERROR acks.
    public const ushort NLM_F_CAPPED = 0x100, NLM_F_ACK_TLVS = 0x200;

    // enum nlmsgerr_attrs (extended ack TLVs).
    public const ushort NLMSGERR_ATTR_MSG = 1, NLMSGERR_ATTR_OFFS = 2;

    // Socket options at SOL_NETLINK.
    public const int SOL_NETLINK = 270;
    public const int NETLINK_CAP_ACK = 10, NETLINK_EXT_ACK = 11, NETLINK_GET_STRICT_CHK = 12;

    // struct nlattr: nla_type flag bits.
    public const ushort NLA_F_NESTED = 0x8000, NLA_F_NET_BYTEORDER = 0x4000, NLA_TYPE_MASK = 0x3fff;

    /// <summary>NLMSG_ALIGNTO / NLA_ALIGNTO: messages and attributes are padded to 4 bytes.</summary>
    public const int ALIGNTO = 4;
    public static int Align(int len) => (len + ALIGNTO - 1) & ~(ALIGNTO - 1);
}

/// <summary>linux/rtnetlink.h: rtnetlink message types, route table/protocol/scope/type values, RTA_* and RTEXT_FILTER_*.</summary>
internal static class Rtnl
{
    public const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18, RTM_SETLINK = 19;
    public const ushort RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
    public const ushort RTM_NEWROUTE = 24, RTM_DELROUTE = 25, RTM_GETROUTE = 26;
    public const ushort RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29, RTM_GETNEIGH = 30;

    // enum rt_class_t
    public const byte RT_TABLE_UNSPEC = 0, RT_TABLE_MAIN = 254, RT_TABLE_LOCAL = 255;
    // rtm_protocol
    public const byte RTPROT_UNSPEC = 0, RTPROT_KERNEL = 2, RTPROT_BOOT = 3, RTPROT_STATIC = 4;
    // enum rt_scope_t
    public const byte RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253, RT_SCOPE_HOST = 254, RT_SCOPE_NOWHERE = 255;
    // rtm_type
    public const byte RTN_UNSPEC = 0, RTN_UNICAST = 1, RTN_LOCAL = 2, RTN_BROADCAST = 3, RTN_MULTICAST = 5;

    // enum rtattr_type_t
    public const ushort RTA_DST = 1, RTA_SRC = 2, RTA_IIF = 3, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_PRIORITY = 6,
        RTA_PREFSRC = 7, RTA_METRICS = 8, RTA_MULTIPATH = 9, RTA_TABLE = 15, RTA_PREF = 20;

    // IFLA_EXT_MASK filter bits.
    public const uint RTEXT_FILTER_VF = 1, RTEXT_FILTER_SKIP_STATS = 1 << 3;
}

/// <summary>linux/if_link.h: IFLA_* link attributes, IFLA_INFO_* (link info nest), IFLA_BRPORT_* (bridge port, in IFLA_PROTINFO).</summary>
internal static class Ifla
{
    public const ushort IFLA_ADDRESS = 1, IFLA_BROADCAST = 2, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINK = 5,
        IFLA_MASTER = 10, IFLA_PROTINFO = 12, IFLA_TXQLEN = 13, IFLA_OPERSTATE = 16, IFLA_LINKINFO = 18,
        IFLA_NET_NS_PID = 19, IFLA_IFALIAS = 20, IFLA_EXT_MASK = 29, IFLA_NET_NS_FD = 28, IFLA_ALT_IFNAME = 53;

    // enum IFLA_INFO_*
    public const ushort IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, IFLA_INFO_XSTATS = 3, IFLA_INFO_SLAVE_KIND = 4,
        IFLA_INFO_SLAVE_DATA = 5;

    // enum IFLA_BRPORT_* (nested in IFLA_PROTINFO for AF_BRIDGE, and in IFLA_INFO_SLAVE_DATA)
    public const ushort IFLA_BRPORT_STATE = 1, IFLA_BRPORT_PRIORITY = 2, IFLA_BRPORT_COST = 3, IFLA_BRPORT_MODE = 4,
        IFLA_BRPORT_GUARD = 5, IFLA_BRPORT_PROTECT = 6, IFLA_BRPORT_FAST_LEAVE = 7, IFLA_BRPORT_LEARNING = 8,
        IFLA_BRPORT_UNICAST_FLOOD = 9;
}

/// <summary>linux/if_link.h: attributes in IFLA_INFO_DATA for macvlan, ipvlan and vxlan links, and their modes.</summary>
internal static class IflaKind
{
    // enum IFLA_MACVLAN_*, enum macvlan_mode
    public const ushort IFLA_MACVLAN_MODE = 1;
    // enum IFLA_IPVLAN_*, enum ipvlan_mode
    public const ushort IFLA_IPVLAN_MODE = 1, IFLA_IPVLAN_FLAGS = 2;
    // IPVLAN_F_* (value of IFLA_IPVLAN_FLAGS; 0 is bridge)
    public const ushort IPVLAN_F_PRIVATE = 0x01, IPVLAN_F_VEPA = 0x02;
    // enum IFLA_VLAN_* (802.1Q sub-interfaces, link kind "vlan")
    public const ushort IFLA_VLAN_ID = 1;
    // enum IFLA_VXLAN_*
    public const ushort IFLA_VXLAN_ID = 1, IFLA_VXLAN_GROUP = 2, IFLA_VXLAN_LINK = 3, IFLA_VXLAN_LOCAL = 4, IFLA_VXLAN_TTL = 5,
        IFLA_VXLAN_TOS = 6, IFLA_VXLAN_LEARNING = 7, IFLA_VXLAN_PORT = 15, IFLA_VXLAN_GROUP6 = 16, IFLA_VXLAN_LOCAL6 = 17;
}

/// <summary>linux/neighbour.h: NDA_* attributes, NUD_* states and NTF_* flags of struct ndmsg.</summary>
internal static class Nd
{
    public const ushort NDA_DST = 1, NDA_LLADDR = 2, NDA_CACHEINFO = 3, NDA_PROBES = 4, NDA_VLAN = 5, NDA_PORT = 6,
        NDA_VNI = 7, NDA_IFINDEX = 8, NDA_MASTER = 9;
    public const ushort NUD_INCOMPLETE = 0x01, NUD_REACHABLE = 0x02, NUD_STALE = 0x04, NUD_DELAY = 0x08, NUD_PROBE = 0x10,
        NUD_FAILED = 0x20, NUD_NOARP = 0x40, NUD_PERMANENT = 0x80;
    public const byte NTF_USE = 0x01, NTF_SELF = 0x02, NTF_MASTER = 0x04, NTF_PROXY = 0x08, NTF_EXT_LEARNED = 0x10;
}

/// <summary>linux/if_bridge.h: bridge port modes (value of IFLA_BRPORT_MODE).</summary>
internal static class IfBridge
{
    public const byte BRIDGE_MODE_VEB = 0, BRIDGE_MODE_HAIRPIN = 1;
}

/// <summary>linux/veth.h: attributes in a veth's IFLA_INFO_DATA.</summary>
internal static class Veth
{
    public const ushort VETH_INFO_PEER = 1;
}

/// <summary>linux/if_addr.h: IFA_* address attributes and IFA_F_* flags.</summary>
internal static class Ifa
{
    public const ushort IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_LABEL = 3, IFA_BROADCAST = 4, IFA_ANYCAST = 5,
        IFA_CACHEINFO = 6, IFA_FLAGS = 8;
    public const uint IFA_F_SECONDARY = 0x01, IFA_F_NODAD = 0x02, IFA_F_PERMANENT = 0x80, IFA_F_NOPREFIXROUTE = 0x200;
}

/// <summary>linux/if.h: net_device_flags (ifi_flags).</summary>
internal static class Iff
{
    public const uint IFF_UP = 0x1, IFF_BROADCAST = 0x2, IFF_LOOPBACK = 0x8, IFF_RUNNING = 0x40, IFF_LOWER_UP = 0x10000;
    /// <summary>IFNAMSIZ: an interface name is at most 15 bytes plus the terminating NUL.</summary>
    public const int IFNAMSIZ = 16;
}

/// <summary>linux/socket.h (address families as used in rtnetlink family fields).</summary>
internal static class Af
{
    public const byte AF_UNSPEC = 0, AF_INET = 2, AF_BRIDGE = 7, AF_INET6 = 10;
}
