using System.Buffers.Binary;

namespace Tether.Linux;

/// <summary>A kernel facility a driver needs (a link kind, or nf_tables).</summary>
public enum KernelFeature { Bridge, Veth, Macvlan, Ipvlan, Vlan8021Q, Vxlan, NfTables }

/// <summary>
/// How a <see cref="KernelFeature"/> is named: <paramref name="Name"/> as <c>tether info</c> prints it, the rtnetlink link kind
/// (IFLA_INFO_KIND) that stands for it (null for nf_tables), the kernel module that provides it (Kconfig symbol in
/// parentheses in <paramref name="Description"/>), and a description for error messages.
/// </summary>
public sealed record KernelFeatureInfo(KernelFeature Feature, string Name, string? LinkKind, string Module, string Description)
{
    /// <summary>The one-line error for a host whose kernel lacks this feature, e.g.
    /// "kernel lacks ipvlan support (module ipvlan, CONFIG_IPVLAN)".</summary>
    public string MissingMessage => $"kernel lacks {Description}";
}

/// <summary>
/// Which kernel features this host has, found out without changing anything the host can see: on a namespace worker thread
/// that makes a throwaway network namespace of its own (unshare(CLONE_NEWNET)), one RTM_NEWLINK per link kind with no other
/// attributes (EOPNOTSUPP: the kernel has no such kind, even after trying to load its module; anything else, such as
/// EINVAL for a kind that needs a parent link: it has it) and one nf_tables GETTABLE dump on a NETLINK_NETFILTER socket.
/// The namespace, and whatever the probe made in it, disappears when the worker goes back to the process's namespace. Needs CAP_SYS_ADMIN (else every answer
/// is "unknown").
/// </summary>
public static class KernelFeatures
{
    /// <summary>Every feature Tether knows, in the order <c>tether info</c> prints them.</summary>
    public static IReadOnlyList<KernelFeatureInfo> All { get; } =
    [
        new(KernelFeature.Bridge, "bridge", "bridge", "bridge", "Linux bridge support (module bridge, CONFIG_BRIDGE)"),
        new(KernelFeature.Veth, "veth", "veth", "veth", "veth pair support (module veth, CONFIG_VETH)"),
        new(KernelFeature.Macvlan, "macvlan", "macvlan", "macvlan", "macvlan support (module macvlan, CONFIG_MACVLAN)"),
        new(KernelFeature.Ipvlan, "ipvlan", "ipvlan", "ipvlan", "ipvlan support (module ipvlan, CONFIG_IPVLAN)"),
        new(KernelFeature.Vlan8021Q, "8021q", "vlan", "8021q", "802.1Q VLAN support (module 8021q, CONFIG_VLAN_8021Q)"),
        new(KernelFeature.Vxlan, "vxlan", "vxlan", "vxlan", "VXLAN support (module vxlan, CONFIG_VXLAN)"),
        new(KernelFeature.NfTables, "nf_tables", null, "nf_tables", "nftables support (module nf_tables, CONFIG_NF_TABLES)"),
    ];

    /// <summary>The description of one feature.</summary>
    public static KernelFeatureInfo Info(KernelFeature feature) => All.First(i => i.Feature == feature);

    /// <summary>Probes the given features (all when null) in one throwaway namespace: true present, false missing, null when
    /// the probe could not run (no privilege to make a namespace).</summary>
    public static IReadOnlyDictionary<KernelFeature, bool?> Probe(IEnumerable<KernelFeature>? features = null)
    {
        var wanted = (features ?? All.Select(i => i.Feature)).Distinct().ToList();
        return NetNs.OnWorker(() =>
        {
            var result = new Dictionary<KernelFeature, bool?>();
            if (Libc.unshare(Libc.CLONE_NEWNET) != 0)
            {
                foreach (var f in wanted) result[f] = null;
                return result;
            }
            using var nl = RtNetlink.Open();
            foreach (var f in wanted)
                result[f] = Info(f).LinkKind is { } kind ? nl.TryCreateLinkKind(kind) != Libc.EOPNOTSUPP : HasNfTables();
            return result;
        });
    }

    /// <summary>Whether the kernel has <paramref name="feature"/>; a probe that could not run counts as present (the real
    /// operation then reports what the kernel says).</summary>
    public static bool Has(KernelFeature feature) => Probe([feature])[feature] != false;

    // nfnetlink (linux/netfilter/nfnetlink.h, nf_tables.h): NETLINK_NETFILTER = 12, NFNL_SUBSYS_NFTABLES = 10, NFT_MSG_GETTABLE = 1.
    const int NETLINK_NETFILTER = 12;
    const ushort NftMsgGetTable = (10 << 8) | 1;

    static bool HasNfTables()
    {
        try
        {
            using var s = NetlinkSocket.Open(NETLINK_NETFILTER);
            s.Dump(new NetlinkMessage(NftMsgGetTable, Nl.NLM_F_REQUEST, new NfGenMsg(Af.AF_UNSPEC)), (in NlMsgHdr _, ReadOnlySpan<byte> _, out int v) =>
            {
                v = 0;
                return false;
            }, "list nf_tables tables");
            return true;
        }
        catch (NetlinkException) { return false; }
    }

    /// <summary>struct nfgenmsg (linux/netfilter/nfnetlink.h): u8 family, u8 version (NFNETLINK_V0), be16 resource id.</summary>
    readonly record struct NfGenMsg(byte Family) : INetlinkStruct
    {
        public int WireSize => 4;
        public void Write(Span<byte> d)
        {
            d[0] = Family;
            d[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(d[2..], 0);
        }
    }
}
