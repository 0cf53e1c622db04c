using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Tether.Linux;

/// <summary>
/// An rtnetlink (NETLINK_ROUTE) client for one network namespace: links, addresses and routes, the work of <c>ip link</c>,
/// <c>ip addr</c>, <c>ip route</c> and <c>bridge link</c>. One socket, opened once and reused; every method may be called
/// from any thread (requests are serialised). Kernel refusals throw <see cref="NetlinkException"/> naming the operation and
/// object; removing something already gone returns false instead. Invalid interface names throw <see cref="ArgumentException"/>
/// before anything is sent.
/// </summary>
public sealed class RtNetlink : IDisposable
{
    readonly NetlinkSocket socket;
    static readonly NetlinkDecoder<Link> LinkDecoder = DecodeLink;
    static readonly NetlinkDecoder<Address> AddressDecoder = DecodeAddress;
    static readonly NetlinkDecoder<Route> RouteDecoder = DecodeMainRoute;
    static readonly NetlinkDecoder<Neighbour> NeighbourDecoder = DecodeNeighbour;
    static readonly NetlinkDecoder<FdbEntry> FdbDecoder = DecodeFdb;

    RtNetlink(NetlinkSocket socket) => this.socket = socket;

    /// <summary>Opens a socket in the calling thread's network namespace.</summary>
    public static RtNetlink Open() => new(NetlinkSocket.Open());

    /// <summary>
    /// Opens a socket inside the namespace at <paramref name="nsPath"/> (made on a dedicated thread via <see cref="NetNs.Run{T}"/>).
    /// The socket stays bound to that namespace and can be used from any thread (<c>ip -n NS ...</c>).
    /// </summary>
    public static RtNetlink OpenIn(string nsPath) => new(NetNs.Run(nsPath, () => NetlinkSocket.Open()));

    // ---- links ----

    /// <summary>All links (<c>ip -d link show</c>).</summary>
    public IReadOnlyList<Link> ListLinks() => socket.Dump(Requests.ListLinks(), LinkDecoder, "list links");

    /// <summary>The link called <paramref name="name"/>, or null (<c>ip link show dev NAME</c>).</summary>
    public Link? FindLink(string name)
    {
        InterfaceName.Validate(name);
        return socket.Get(Requests.GetLink(name), LinkDecoder, $"find link \"{name}\"", Libc.ENODEV, out var link) ? link : null;
    }

    /// <summary>The link with index <paramref name="index"/>, or null (<c>ip link show</c> by index).</summary>
    public Link? FindLink(int index)
    {
        if (index <= 0) throw new ArgumentOutOfRangeException(nameof(index), index, "link index must be positive");
        return socket.Get(Requests.GetLink(index), LinkDecoder, $"find link {index}", Libc.ENODEV, out var link) ? link : null;
    }

    /// <summary>Creates a bridge (<c>ip link add NAME mtu MTU type bridge</c>), down; returns it as read back. EEXIST if the name is taken.</summary>
    public Link CreateBridge(string name, int mtu)
    {
        InterfaceName.Validate(name);
        CheckMtu(mtu);
        socket.Execute(Requests.CreateBridge(name, mtu), $"create bridge \"{name}\"");
        return ReadBack(name, "bridge");
    }

    /// <summary>
    /// Creates a veth pair (<c>ip link add NAME mtu MTU type veth peer name PEER mtu MTU netns NS</c>): the peer is made directly
    /// in the namespace of <paramref name="peerNetNs"/> (an fd from <see cref="NetNs.Open"/>, sent as IFLA_NET_NS_FD inside
    /// VETH_INFO_PEER). Both ends are down. Returns the end in this namespace.
    /// </summary>
    public Link CreateVeth(string name, int mtu, string peerName, SafeHandle peerNetNs)
    {
        InterfaceName.Validate(name);
        InterfaceName.Validate(peerName);
        CheckMtu(mtu);
        ArgumentNullException.ThrowIfNull(peerNetNs);
        bool added = false;
        try
        {
            peerNetNs.DangerousAddRef(ref added);
            int fd = (int)peerNetNs.DangerousGetHandle();
            socket.Execute(Requests.CreateVeth(name, mtu, peerName, fd), $"create veth \"{name}\" (peer \"{peerName}\")");
        }
        finally
        {
            if (added) peerNetNs.DangerousRelease();
        }
        return ReadBack(name, "veth");
    }

    /// <summary>
    /// Creates a macvlan on top of <paramref name="parentIndex"/> (<c>ip link add NAME link PARENT type macvlan mode MODE</c>), down.
    /// Move it into a sandbox with <see cref="SetNetNs"/>.
    /// </summary>
    public Link CreateMacvlan(string name, int parentIndex, MacvlanMode mode)
    {
        InterfaceName.Validate(name);
        socket.Execute(Requests.CreateMacvlan(name, parentIndex, mode), $"create macvlan \"{name}\" on link {parentIndex}");
        return ReadBack(name, "macvlan");
    }

    /// <summary>Creates an ipvlan on top of <paramref name="parentIndex"/> (<c>ip link add NAME link PARENT type ipvlan mode MODE</c>), down.</summary>
    public Link CreateIpvlan(string name, int parentIndex, IpvlanMode mode)
    {
        InterfaceName.Validate(name);
        socket.Execute(Requests.CreateIpvlan(name, parentIndex, mode), $"create ipvlan \"{name}\" on link {parentIndex}");
        return ReadBack(name, "ipvlan");
    }

    /// <summary>
    /// Creates a macvlan on top of <paramref name="parentIndex"/> (a link of this handle's namespace) directly inside the namespace
    /// of <paramref name="netns"/> (<c>ip link add NAME link PARENT netns NS type macvlan mode MODE</c>, IFLA_NET_NS_FD), down,
    /// with a random MAC. The name only has to be free in that namespace. Read it back through a handle opened there.
    /// </summary>
    public void CreateMacvlan(string name, int parentIndex, MacvlanMode mode, SafeHandle netns)
    {
        InterfaceName.Validate(name);
        WithFd(netns, fd => socket.Execute(Requests.CreateMacvlan(name, parentIndex, mode, fd), $"create macvlan \"{name}\" on link {parentIndex}"));
    }

    /// <summary>
    /// Creates an ipvlan on top of <paramref name="parentIndex"/> directly inside the namespace of <paramref name="netns"/>
    /// (<c>ip link add NAME link PARENT netns NS type ipvlan mode MODE FLAG</c>), down. A kernel without the ipvlan driver
    /// answers EOPNOTSUPP (<see cref="NetlinkException.Errno"/> 95), which <c>ip</c> prints as "Unknown device type".
    /// </summary>
    public void CreateIpvlan(string name, int parentIndex, IpvlanMode mode, IpvlanFlag flag, SafeHandle netns)
    {
        InterfaceName.Validate(name);
        WithFd(netns, fd => socket.Execute(Requests.CreateIpvlan(name, parentIndex, mode, flag, fd), $"create ipvlan \"{name}\" on link {parentIndex}"));
    }

    /// <summary>
    /// Creates an 802.1Q sub-interface of <paramref name="parentIndex"/> (<c>ip link add link PARENT name NAME type vlan id ID</c>),
    /// down. <paramref name="vlanId"/> is 1..4094 (IEEE 802.1Q: 0 and 4095 are reserved). A kernel without 8021q answers EOPNOTSUPP.
    /// </summary>
    public Link CreateVlan(string name, int parentIndex, int vlanId)
    {
        InterfaceName.Validate(name);
        if (vlanId is < 1 or > 4094) throw new ArgumentOutOfRangeException(nameof(vlanId), vlanId, "VLAN id must be 1..4094");
        socket.Execute(Requests.CreateVlan(name, parentIndex, vlanId), $"create vlan \"{name}\" (id {vlanId}) on link {parentIndex}");
        return ReadBack(name, "vlan");
    }

    /// <summary>
    /// Sends a request to create a link of kind <paramref name="kind"/> with no other attributes and returns the errno of the
    /// kernel's answer (0 when it made the link). EOPNOTSUPP (95) means the kernel has no driver for that kind; any other
    /// answer (e.g. EINVAL for a kind that needs a parent) means it has one. Use only in a throwaway namespace: kinds that
    /// need nothing more (bridge, veth) are really created.
    /// </summary>
    public int TryCreateLinkKind(string kind)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        try { socket.Execute(Requests.CreateKind(kind), $"create link of kind {kind}"); return 0; }
        catch (NetlinkException e) { return e.Errno; }
    }

    static void WithFd(SafeHandle handle, Action<int> action)
    {
        ArgumentNullException.ThrowIfNull(handle);
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            action((int)handle.DangerousGetHandle());
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>
    /// Creates a VXLAN link (<c>ip link add NAME mtu MTU type vxlan id VNI [local IP] [dev PARENT] dstport PORT [nolearning]</c>), down.
    /// </summary>
    public Link CreateVxlan(string name, int mtu, VxlanOptions options)
    {
        InterfaceName.Validate(name);
        CheckMtu(mtu);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Vni > 0xffffff) throw new ArgumentOutOfRangeException(nameof(options), options.Vni, "VNI must fit in 24 bits");
        if (options.Port is < 1 or > 65535) throw new ArgumentOutOfRangeException(nameof(options), options.Port, "UDP port must be 1..65535");
        socket.Execute(Requests.CreateVxlan(name, mtu, options), $"create vxlan \"{name}\" (vni {options.Vni})");
        return ReadBack(name, "vxlan");
    }

    /// <summary>
    /// Moves a link into the namespace of <paramref name="netns"/> (<c>ip link set dev X netns NS</c>); it keeps its name and
    /// gets a new index there, and is no longer visible through this handle.
    /// </summary>
    public void SetNetNs(int index, SafeHandle netns)
    {
        ArgumentNullException.ThrowIfNull(netns);
        bool added = false;
        try
        {
            netns.DangerousAddRef(ref added);
            socket.Execute(Requests.SetNetNs(index, (int)netns.DangerousGetHandle()), $"move link {index} to another network namespace");
        }
        finally
        {
            if (added) netns.DangerousRelease();
        }
    }

    /// <summary>Enslaves a link to a bridge (<c>ip link set dev X master BR</c>); <paramref name="masterIndex"/> 0 releases it (<c>nomaster</c>).</summary>
    public void SetMaster(int index, int masterIndex) =>
        socket.Execute(Requests.SetMaster(index, masterIndex), masterIndex == 0 ? $"release link {index} from its master" : $"set master of link {index} to {masterIndex}");

    /// <summary>Sets IFF_UP (<c>ip link set dev X up</c>).</summary>
    public void SetUp(int index) => socket.Execute(Requests.SetFlags(index, up: true), $"set link {index} up");

    /// <summary>Clears IFF_UP (<c>ip link set dev X down</c>).</summary>
    public void SetDown(int index) => socket.Execute(Requests.SetFlags(index, up: false), $"set link {index} down");

    /// <summary>Sets the MTU in bytes (<c>ip link set dev X mtu N</c>).</summary>
    public void SetMtu(int index, int mtu)
    {
        CheckMtu(mtu);
        socket.Execute(Requests.SetMtu(index, mtu), $"set mtu of link {index} to {mtu}");
    }

    /// <summary>Sets the hardware address (<c>ip link set dev X address MAC</c>).</summary>
    public void SetMac(int index, PhysicalAddress mac)
    {
        ArgumentNullException.ThrowIfNull(mac);
        socket.Execute(Requests.SetMac(index, mac), $"set address of link {index} to {Format(mac)}");
    }

    /// <summary>Sets the link's alias, a free-text note (<c>ip link set dev X alias TEXT</c>, IFLA_IFALIAS, at most 255 bytes).</summary>
    public void SetAlias(int index, string alias)
    {
        ArgumentNullException.ThrowIfNull(alias);
        if (System.Text.Encoding.UTF8.GetByteCount(alias) > 255) throw new ArgumentException("a link alias is at most 255 bytes (IFALIASZ - 1)", nameof(alias));
        socket.Execute(Requests.SetAlias(index, alias), $"set alias of link {index}");
    }

    /// <summary>Renames a link, which must be down (<c>ip link set dev X name NEW</c>).</summary>
    public void SetName(int index, string name)
    {
        InterfaceName.Validate(name);
        socket.Execute(Requests.SetName(index, name), $"rename link {index} to \"{name}\"");
    }

    /// <summary>
    /// Turns hairpin mode of a bridge port on or off (<c>bridge link set dev X hairpin on|off</c>): RTM_SETLINK, family AF_BRIDGE,
    /// IFLA_PROTINFO { IFLA_BRPORT_MODE }. The link must be enslaved to a bridge.
    /// </summary>
    public void SetHairpin(int index, bool on) =>
        socket.Execute(Requests.SetHairpin(index, on), $"set hairpin {(on ? "on" : "off")} on link {index}");

    /// <summary>Deletes a link (<c>ip link del NAME</c>); a veth takes its peer with it. False if there was none (ENODEV).</summary>
    public bool DeleteLink(string name)
    {
        InterfaceName.Validate(name);
        return socket.Execute(Requests.DeleteLink(name), $"delete link \"{name}\"", Libc.ENODEV) == 0;
    }

    // ---- addresses ----

    /// <summary>
    /// Adds an address (<c>ip addr add IP/PREFIX brd + dev X</c> for IPv4, <c>ip addr add IP/PREFIX dev X</c> for IPv6). IPv4 sets
    /// IFA_LOCAL, IFA_ADDRESS and the broadcast address (none for /31 and /32). EEXIST if it is already there.
    /// </summary>
    public void AddAddress(int index, IPAddress ip, int prefixLength)
    {
        CheckPrefix(ip, prefixLength);
        socket.Execute(Requests.AddAddress(index, ip, prefixLength), $"add address {ip}/{prefixLength} to link {index}");
    }

    /// <summary>Removes an address (<c>ip addr del IP/PREFIX dev X</c>). False if it was not there (EADDRNOTAVAIL).</summary>
    public bool DeleteAddress(int index, IPAddress ip, int prefixLength)
    {
        CheckPrefix(ip, prefixLength);
        return socket.Execute(Requests.DeleteAddress(index, ip, prefixLength), $"delete address {ip}/{prefixLength} from link {index}",
            Libc.EADDRNOTAVAIL) == 0;
    }

    /// <summary>IPv4 and IPv6 addresses, of one link or all (<c>ip addr show [dev X]</c>).</summary>
    public IReadOnlyList<Address> ListAddresses(int? index = null)
    {
        var all = socket.Dump(Requests.ListAddresses(), AddressDecoder, "list addresses");
        if (index is int i) all.RemoveAll(a => a.LinkIndex != i);
        return all;
    }

    // ---- routes ----

    /// <summary>
    /// Adds a route to the main table (<c>ip route add DEST|default [src SRC] [via GW] [dev X]</c>), protocol boot, scope link
    /// when IPv4 without gateway, else universe. EEXIST if the same route exists.
    /// </summary>
    public void AddRoute(Route route) => socket.Execute(Requests.AddRoute(route), $"add route {Describe(route)}");

    /// <summary>Deletes a route from the main table (<c>ip route del ...</c>). False if there was none (ESRCH).</summary>
    public bool DeleteRoute(Route route) =>
        socket.Execute(Requests.DeleteRoute(route), $"delete route {Describe(route)}", Libc.ESRCH) == 0;

    /// <summary>
    /// Unicast routes of the main table for one family (<c>ip -4 route show</c> / <c>ip -6 route show</c>). A multipath route
    /// (RTA_MULTIPATH) appears with neither gateway nor output link.
    /// </summary>
    public IReadOnlyList<Route> ListRoutes(AddressFamily family)
    {
        byte af = family switch
        {
            AddressFamily.InterNetwork => Af.AF_INET,
            AddressFamily.InterNetworkV6 => Af.AF_INET6,
            _ => throw new ArgumentException($"address family {family} has no routes here; use InterNetwork or InterNetworkV6", nameof(family)),
        };
        return socket.Dump(Requests.ListRoutes(af), RouteDecoder, $"list {(af == Af.AF_INET ? "IPv4" : "IPv6")} routes");
    }


    // ---- neighbours and FDB ----

    /// <summary>
    /// Creates or replaces a permanent neighbour entry (<c>ip neigh replace IP lladdr MAC dev X nud permanent</c>), IPv4 (ARP) or
    /// IPv6 (NDP).
    /// </summary>
    public void SetNeighbour(int index, IPAddress ip, PhysicalAddress mac)
    {
        ArgumentNullException.ThrowIfNull(ip);
        ArgumentNullException.ThrowIfNull(mac);
        socket.Execute(Requests.SetNeighbour(index, ip, mac), $"set neighbour {ip} lladdr {Format(mac)} on link {index}");
    }

    /// <summary>Deletes a neighbour entry (<c>ip neigh del IP dev X</c>). False if there was none (ENOENT).</summary>
    public bool DeleteNeighbour(int index, IPAddress ip)
    {
        ArgumentNullException.ThrowIfNull(ip);
        return socket.Execute(Requests.DeleteNeighbour(index, ip), $"delete neighbour {ip} on link {index}", Libc.ENOENT) == 0;
    }

    /// <summary>IPv4 and IPv6 neighbour entries, of one link or all (<c>ip neigh show [dev X]</c>).</summary>
    public IReadOnlyList<Neighbour> ListNeighbours(int? index = null)
    {
        var all = socket.Dump(Requests.ListNeighbours(), NeighbourDecoder, "list neighbours");
        if (index is int i) all.RemoveAll(n => n.LinkIndex != i);
        return all;
    }

    /// <summary>
    /// Adds a permanent FDB entry on the device itself, next to any others for the same MAC
    /// (<c>bridge fdb append MAC dev X dst IP self permanent</c>); with MAC 00:00:00:00:00:00 this adds a VXLAN flood destination.
    /// </summary>
    public void AppendFdb(int index, PhysicalAddress mac, IPAddress destination)
    {
        ArgumentNullException.ThrowIfNull(mac);
        ArgumentNullException.ThrowIfNull(destination);
        socket.Execute(Requests.Fdb(index, mac, destination, Requests.FdbOp.Append), $"append fdb {Format(mac)} dst {destination} on link {index}");
    }

    /// <summary>Creates or replaces a permanent FDB entry on the device (<c>bridge fdb replace MAC dev X dst IP self permanent</c>).</summary>
    public void SetFdb(int index, PhysicalAddress mac, IPAddress destination)
    {
        ArgumentNullException.ThrowIfNull(mac);
        ArgumentNullException.ThrowIfNull(destination);
        socket.Execute(Requests.Fdb(index, mac, destination, Requests.FdbOp.Replace), $"set fdb {Format(mac)} dst {destination} on link {index}");
    }

    /// <summary>
    /// Deletes an FDB entry of the device (<c>bridge fdb del MAC dev X [dst IP] self</c>): one destination, or all of the MAC's
    /// when <paramref name="destination"/> is null. False if the MAC had no entry (ENOENT); note that vxlan answers success for
    /// a destination missing from an existing MAC entry.
    /// </summary>
    public bool DeleteFdb(int index, PhysicalAddress mac, IPAddress? destination = null)
    {
        ArgumentNullException.ThrowIfNull(mac);
        return socket.Execute(Requests.Fdb(index, mac, destination, Requests.FdbOp.Delete),
            $"delete fdb {Format(mac)}{(destination == null ? "" : $" dst {destination}")} on link {index}", Libc.ENOENT) == 0;
    }

    /// <summary>The device's own FDB entries (<c>bridge fdb show dev X</c>, entries flagged self).</summary>
    public IReadOnlyList<FdbEntry> ListFdb(int index)
    {
        var all = socket.Dump(Requests.ListFdb(index), FdbDecoder, $"list fdb of link {index}");
        all.RemoveAll(f => f.LinkIndex != index);
        return all;
    }

    /// <summary>How many dumps were restarted because the kernel reported NLM_F_DUMP_INTR.</summary>
    internal int DumpRestarts => socket.DumpRestarts;

    /// <summary>Closes the socket; later calls throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => socket.Dispose();

    // ---- helpers ----

    internal static string Format(PhysicalAddress mac) => string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2")));

    Link ReadBack(string name, string kind) =>
        FindLink(name) ?? throw new NetlinkException(Libc.ENODEV, $"create {kind} \"{name}\": the link vanished right after it was made");

    static void CheckMtu(int mtu)
    {
        if (mtu < 68 || mtu > 65535 * 4) throw new ArgumentOutOfRangeException(nameof(mtu), mtu, "MTU must be between 68 and 262140 bytes");
    }

    static void CheckPrefix(IPAddress ip, int prefixLength)
    {
        ArgumentNullException.ThrowIfNull(ip);
        int max = ip.AddressFamily == AddressFamily.InterNetwork ? 32 : ip.AddressFamily == AddressFamily.InterNetworkV6 ? 128
            : throw new ArgumentException($"{ip} is neither IPv4 nor IPv6", nameof(ip));
        if (prefixLength < 0 || prefixLength > max)
            throw new ArgumentOutOfRangeException(nameof(prefixLength), prefixLength, $"prefix length for {ip} must be 0..{max}");
    }

    internal static string Describe(Route r)
    {
        var parts = new List<string> { r.Destination?.ToString() ?? "default" };
        if (r.PreferredSource != null) parts.Add($"src {r.PreferredSource}");
        if (r.Gateway != null) parts.Add($"via {r.Gateway}");
        if (r.OutLinkIndex != null) parts.Add($"dev {r.OutLinkIndex}");
        return string.Join(' ', parts);
    }

    // ---- decoders (kernel replies -> records) ----

    /// <summary>Decodes RTM_NEWLINK: ifinfomsg then IFLA_* attributes.</summary>
    internal static bool DecodeLink(in NlMsgHdr h, ReadOnlySpan<byte> payload, out Link link)
    {
        link = null!;
        if (h.Type != Rtnl.RTM_NEWLINK || payload.Length < IfInfoMsg.Size) return false;
        var ifi = IfInfoMsg.Read(payload);
        string name = "";
        string? kind = null;
        int mtu = 0, master = 0, parent = 0;
        int? vlanId = null;
        string? alias = null;
        PhysicalAddress? mac = null;
        foreach (var a in new AttributeReader(payload[IfInfoMsg.Size..]))
        {
            switch (a.Type)
            {
                case Ifla.IFLA_IFNAME: name = a.AsString(); break;
                case Ifla.IFLA_MTU: mtu = a.AsI32(); break;
                case Ifla.IFLA_MASTER: master = a.AsI32(); break;
                case Ifla.IFLA_LINK: parent = a.AsI32(); break;
                case Ifla.IFLA_IFALIAS: alias = a.AsString(); break;
                case Ifla.IFLA_ADDRESS: if (a.Payload.Length > 0) mac = new PhysicalAddress(a.Payload.ToArray()); break;
                case Ifla.IFLA_LINKINFO:
                    foreach (var i in a.Nested())
                    {
                        if (i.Type == Ifla.IFLA_INFO_KIND) kind = i.AsString();
                        else if (i.Type == Ifla.IFLA_INFO_DATA && kind == "vlan")
                            foreach (var d in i.Nested())
                                if (d.Type == IflaKind.IFLA_VLAN_ID) vlanId = d.AsU16();
                    }
                    break;
            }
        }
        link = new Link(ifi.Index, name, kind, mtu, mac, master, (ifi.Flags & Iff.IFF_UP) != 0, parent, vlanId, alias);
        return true;
    }

    /// <summary>Decodes RTM_NEWADDR: ifaddrmsg then IFA_* attributes (IFA_LOCAL wins over IFA_ADDRESS, which is the peer on point-to-point links).</summary>
    internal static bool DecodeAddress(in NlMsgHdr h, ReadOnlySpan<byte> payload, out Address address)
    {
        address = null!;
        if (h.Type != Rtnl.RTM_NEWADDR || payload.Length < IfAddrMsg.Size) return false;
        var ifa = IfAddrMsg.Read(payload);
        if (ifa.Family != Af.AF_INET && ifa.Family != Af.AF_INET6) return false;
        IPAddress? local = null, addr = null;
        foreach (var a in new AttributeReader(payload[IfAddrMsg.Size..]))
        {
            if (a.Type == Ifa.IFA_LOCAL) local = a.AsAddress();
            else if (a.Type == Ifa.IFA_ADDRESS) addr = a.AsAddress();
        }
        var ip = local ?? addr;
        if (ip == null) return false;
        address = new Address(ifa.Index, ip, ifa.PrefixLength);
        return true;
    }

    /// <summary>Decodes RTM_NEWNEIGH of family AF_INET / AF_INET6: ndmsg then NDA_DST, NDA_LLADDR.</summary>
    internal static bool DecodeNeighbour(in NlMsgHdr h, ReadOnlySpan<byte> payload, out Neighbour neighbour)
    {
        neighbour = null!;
        if (h.Type != Rtnl.RTM_NEWNEIGH || payload.Length < NdMsg.Size) return false;
        var nd = NdMsg.Read(payload);
        if (nd.Family != Af.AF_INET && nd.Family != Af.AF_INET6) return false;
        IPAddress? ip = null;
        PhysicalAddress? mac = null;
        foreach (var a in new AttributeReader(payload[NdMsg.Size..]))
        {
            if (a.Type == Nd.NDA_DST) ip = a.AsAddress();
            else if (a.Type == Nd.NDA_LLADDR && a.Payload.Length > 0) mac = new PhysicalAddress(a.Payload.ToArray());
        }
        if (ip == null) return false;
        neighbour = new Neighbour(nd.Index, ip, mac, (NeighbourState)nd.State);
        return true;
    }

    /// <summary>Decodes RTM_NEWNEIGH of family AF_BRIDGE (an FDB entry), keeping entries flagged NTF_SELF.</summary>
    internal static bool DecodeFdb(in NlMsgHdr h, ReadOnlySpan<byte> payload, out FdbEntry entry)
    {
        entry = null!;
        if (h.Type != Rtnl.RTM_NEWNEIGH || payload.Length < NdMsg.Size) return false;
        var nd = NdMsg.Read(payload);
        if (nd.Family != Af.AF_BRIDGE || (nd.Flags & Nd.NTF_SELF) == 0) return false;
        IPAddress? dst = null;
        PhysicalAddress? mac = null;
        foreach (var a in new AttributeReader(payload[NdMsg.Size..]))
        {
            if (a.Type == Nd.NDA_DST) dst = a.AsAddress();
            else if (a.Type == Nd.NDA_LLADDR) mac = new PhysicalAddress(a.Payload.ToArray());
        }
        if (mac == null) return false;
        entry = new FdbEntry(nd.Index, mac, dst, (nd.State & Nd.NUD_PERMANENT) != 0);
        return true;
    }

    /// <summary>Decodes RTM_NEWROUTE, keeping unicast routes of the main table only.</summary>
    internal static bool DecodeMainRoute(in NlMsgHdr h, ReadOnlySpan<byte> payload, out Route route)
    {
        route = null!;
        if (h.Type != Rtnl.RTM_NEWROUTE || payload.Length < RtMsg.Size) return false;
        var rtm = RtMsg.Read(payload);
        if (rtm.Type != Rtnl.RTN_UNICAST || (rtm.Family != Af.AF_INET && rtm.Family != Af.AF_INET6)) return false;
        uint table = rtm.Table;
        IPAddress? dst = null, gw = null, src = null;
        int? oif = null;
        foreach (var a in new AttributeReader(payload[RtMsg.Size..]))
        {
            switch (a.Type)
            {
                case Rtnl.RTA_TABLE: table = a.AsU32(); break;
                case Rtnl.RTA_DST: dst = a.AsAddress(); break;
                case Rtnl.RTA_GATEWAY: gw = a.AsAddress(); break;
                case Rtnl.RTA_PREFSRC: src = a.AsAddress(); break;
                case Rtnl.RTA_OIF: oif = a.AsI32(); break;
            }
        }
        if (table != Rtnl.RT_TABLE_MAIN) return false;
        IPNetwork? destination = rtm.DstLength == 0 && dst == null ? null
            : new IPNetwork(dst ?? (rtm.Family == Af.AF_INET ? IPAddress.Any : IPAddress.IPv6Any), rtm.DstLength);
        route = new Route(destination, gw, oif, src);
        return true;
    }
}

/// <summary>
/// The rtnetlink requests RtNetlink sends, as messages (one builder per <c>ip</c> command). Attribute order and flags follow
/// iproute2 so that the bytes match what <c>ip</c> sends (the unit tests compare them with captures).
/// </summary>
internal static class Requests
{
    const ushort Create = Nl.NLM_F_REQUEST | Nl.NLM_F_ACK | Nl.NLM_F_CREATE | Nl.NLM_F_EXCL;
    const ushort Change = Nl.NLM_F_REQUEST | Nl.NLM_F_ACK;
    const ushort Dump = Nl.NLM_F_REQUEST | Nl.NLM_F_DUMP;

    static IfInfoMsg Ifi(int index = 0, uint flags = 0, uint change = 0, byte family = Af.AF_UNSPEC) => new(family, 0, index, flags, change);

    static RtAttr ExtMask() => RtAttr.U32(Ifla.IFLA_EXT_MASK, Rtnl.RTEXT_FILTER_VF | Rtnl.RTEXT_FILTER_SKIP_STATS);

    /// <summary>ip link show: RTM_GETLINK dump, statistics skipped.</summary>
    public static NetlinkMessage ListLinks() => new(Rtnl.RTM_GETLINK, Dump, Ifi(), ExtMask());

    /// <summary>ip link show dev NAME.</summary>
    public static NetlinkMessage GetLink(string name) =>
        new(Rtnl.RTM_GETLINK, Nl.NLM_F_REQUEST, Ifi(), ExtMask(), RtAttr.String(Ifla.IFLA_IFNAME, name));

    /// <summary>ip link show by index.</summary>
    public static NetlinkMessage GetLink(int index) => new(Rtnl.RTM_GETLINK, Nl.NLM_F_REQUEST, Ifi(index), ExtMask());

    /// <summary>ip link add NAME mtu MTU type bridge.</summary>
    public static NetlinkMessage CreateBridge(string name, int mtu) => new(Rtnl.RTM_NEWLINK, Create, Ifi(),
        RtAttr.I32(Ifla.IFLA_MTU, mtu),
        RtAttr.String(Ifla.IFLA_IFNAME, name),
        RtAttr.Nest(Ifla.IFLA_LINKINFO, RtAttr.Text(Ifla.IFLA_INFO_KIND, "bridge")));

    /// <summary>ip link add NAME mtu MTU type veth peer name PEER mtu MTU netns FD.</summary>
    public static NetlinkMessage CreateVeth(string name, int mtu, string peerName, int peerNsFd) => new(Rtnl.RTM_NEWLINK, Create, Ifi(),
        RtAttr.I32(Ifla.IFLA_MTU, mtu),
        RtAttr.String(Ifla.IFLA_IFNAME, name),
        RtAttr.Nest(Ifla.IFLA_LINKINFO,
            RtAttr.Text(Ifla.IFLA_INFO_KIND, "veth"),
            RtAttr.Nest(Ifla.IFLA_INFO_DATA,
                RtAttr.Nest(Veth.VETH_INFO_PEER, Ifi(),
                    RtAttr.I32(Ifla.IFLA_MTU, mtu),
                    RtAttr.I32(Ifla.IFLA_NET_NS_FD, peerNsFd),
                    RtAttr.String(Ifla.IFLA_IFNAME, peerName)))));

    /// <summary>ip link add NAME link PARENT type macvlan mode MODE.</summary>
    public static NetlinkMessage CreateMacvlan(string name, int parentIndex, MacvlanMode mode) => new(Rtnl.RTM_NEWLINK, Create, Ifi(),
        RtAttr.I32(Ifla.IFLA_LINK, parentIndex),
        RtAttr.String(Ifla.IFLA_IFNAME, name),
        RtAttr.Nest(Ifla.IFLA_LINKINFO,
            RtAttr.Text(Ifla.IFLA_INFO_KIND, "macvlan"),
            RtAttr.Nest(Ifla.IFLA_INFO_DATA, RtAttr.U32(IflaKind.IFLA_MACVLAN_MODE, (uint)mode))));

    /// <summary>ip link add NAME link PARENT type ipvlan mode MODE.</summary>
    public static NetlinkMessage CreateIpvlan(string name, int parentIndex, IpvlanMode mode) => new(Rtnl.RTM_NEWLINK, Create, Ifi(),
        RtAttr.I32(Ifla.IFLA_LINK, parentIndex),
        RtAttr.String(Ifla.IFLA_IFNAME, name),
        RtAttr.Nest(Ifla.IFLA_LINKINFO,
            RtAttr.Text(Ifla.IFLA_INFO_KIND, "ipvlan"),
            RtAttr.Nest(Ifla.IFLA_INFO_DATA,
                RtAttr.U16(IflaKind.IFLA_IPVLAN_MODE, (ushort)mode),
                RtAttr.U16(IflaKind.IFLA_IPVLAN_FLAGS, 0))));

    /// <summary>ip link add NAME link PARENT netns FD type macvlan mode MODE.</summary>
    public static NetlinkMessage CreateMacvlan(string name, int parentIndex, MacvlanMode mode, int nsFd) => new(Rtnl.RTM_NEWLINK, Create, Ifi(),
        RtAttr.I32(Ifla.IFLA_LINK, parentIndex),
        RtAttr.String(Ifla.IFLA_IFNAME, name),
        RtAttr.I32(Ifla.IFLA_NET_NS_FD, nsFd),
        RtAttr.Nest(Ifla.IFLA_LINKINFO,
            RtAttr.Text(Ifla.IFLA_INFO_KIND, "macvlan"),
            RtAttr.Nest(Ifla.IFLA_INFO_DATA, RtAttr.U32(IflaKind.IFLA_MACVLAN_MODE, (uint)mode))));

    /// <summary>ip link add NAME link PARENT netns FD type ipvlan mode MODE bridge|private|vepa.</summary>
    public static NetlinkMessage CreateIpvlan(string name, int parentIndex, IpvlanMode mode, IpvlanFlag flag, int nsFd) => new(Rtnl.RTM_NEWLINK, Create, Ifi(),
        RtAttr.I32(Ifla.IFLA_LINK, parentIndex),
        RtAttr.String(Ifla.IFLA_IFNAME, name),
        RtAttr.I32(Ifla.IFLA_NET_NS_FD, nsFd),
        RtAttr.Nest(Ifla.IFLA_LINKINFO,
            RtAttr.Text(Ifla.IFLA_INFO_KIND, "ipvlan"),
            RtAttr.Nest(Ifla.IFLA_INFO_DATA,
                RtAttr.U16(IflaKind.IFLA_IPVLAN_MODE, (ushort)mode),
                RtAttr.U16(IflaKind.IFLA_IPVLAN_FLAGS, (ushort)flag))));

    /// <summary>ip link add link PARENT name NAME type vlan id ID.</summary>
    public static NetlinkMessage CreateVlan(string name, int parentIndex, int vlanId) => new(Rtnl.RTM_NEWLINK, Create, Ifi(),
        RtAttr.I32(Ifla.IFLA_LINK, parentIndex),
        RtAttr.String(Ifla.IFLA_IFNAME, name),
        RtAttr.Nest(Ifla.IFLA_LINKINFO,
            RtAttr.Text(Ifla.IFLA_INFO_KIND, "vlan"),
            RtAttr.Nest(Ifla.IFLA_INFO_DATA, RtAttr.U16(IflaKind.IFLA_VLAN_ID, (ushort)vlanId))));

    /// <summary>ip link add type KIND (no name, no parent): the kernel picks a name, or refuses; used to probe for a link kind.</summary>
    public static NetlinkMessage CreateKind(string kind) => new(Rtnl.RTM_NEWLINK, Create, Ifi(),
        RtAttr.Nest(Ifla.IFLA_LINKINFO, RtAttr.Text(Ifla.IFLA_INFO_KIND, kind)));

    /// <summary>ip link add NAME mtu MTU type vxlan id VNI [local IP] [dev PARENT] dstport PORT [no]learning.</summary>
    public static NetlinkMessage CreateVxlan(string name, int mtu, VxlanOptions o)
    {
        var data = new List<RtAttr>(5);
        if (o.ParentIndex is int parent) data.Add(RtAttr.I32(IflaKind.IFLA_VXLAN_LINK, parent));
        data.Add(RtAttr.U32(IflaKind.IFLA_VXLAN_ID, o.Vni));
        if (o.Local != null)
            data.Add(RtAttr.Address(o.Local.AddressFamily == AddressFamily.InterNetwork ? IflaKind.IFLA_VXLAN_LOCAL : IflaKind.IFLA_VXLAN_LOCAL6, o.Local));
        data.Add(RtAttr.U8(IflaKind.IFLA_VXLAN_LEARNING, o.Learning ? (byte)1 : (byte)0));
        data.Add(RtAttr.Be16(IflaKind.IFLA_VXLAN_PORT, (ushort)o.Port));
        return new(Rtnl.RTM_NEWLINK, Create, Ifi(),
            RtAttr.I32(Ifla.IFLA_MTU, mtu),
            RtAttr.String(Ifla.IFLA_IFNAME, name),
            RtAttr.Nest(Ifla.IFLA_LINKINFO,
                RtAttr.Text(Ifla.IFLA_INFO_KIND, "vxlan"),
                RtAttr.Nest(Ifla.IFLA_INFO_DATA, [.. data])));
    }

    /// <summary>ip link set dev X netns FD.</summary>
    public static NetlinkMessage SetNetNs(int index, int nsFd) =>
        new(Rtnl.RTM_NEWLINK, Change, Ifi(index), RtAttr.I32(Ifla.IFLA_NET_NS_FD, nsFd));

    /// <summary>ip neigh replace IP lladdr MAC dev X nud permanent.</summary>
    public static NetlinkMessage SetNeighbour(int index, IPAddress ip, PhysicalAddress mac) =>
        new(Rtnl.RTM_NEWNEIGH, Nl.NLM_F_REQUEST | Nl.NLM_F_ACK | Nl.NLM_F_CREATE | Nl.NLM_F_REPLACE,
            new NdMsg(Family(ip), index, Nd.NUD_PERMANENT, 0, 0),
            RtAttr.Address(Nd.NDA_DST, ip), RtAttr.Bytes(Nd.NDA_LLADDR, mac.GetAddressBytes()));

    /// <summary>ip neigh del IP dev X.</summary>
    public static NetlinkMessage DeleteNeighbour(int index, IPAddress ip) =>
        new(Rtnl.RTM_DELNEIGH, Change, new NdMsg(Family(ip), index, Nd.NUD_PERMANENT, 0, 0), RtAttr.Address(Nd.NDA_DST, ip));

    /// <summary>ip neigh show: RTM_GETNEIGH dump of both families.</summary>
    public static NetlinkMessage ListNeighbours() => new(Rtnl.RTM_GETNEIGH, Dump, new NdMsg(Af.AF_UNSPEC, 0, 0, 0, 0));

    public enum FdbOp { Append, Replace, Delete }

    /// <summary>bridge fdb append|replace|del MAC dev X [dst IP] self [permanent].</summary>
    public static NetlinkMessage Fdb(int index, PhysicalAddress mac, IPAddress? dst, FdbOp op)
    {
        ushort flags = op switch
        {
            FdbOp.Append => Nl.NLM_F_REQUEST | Nl.NLM_F_ACK | Nl.NLM_F_CREATE | Nl.NLM_F_APPEND,
            FdbOp.Replace => Nl.NLM_F_REQUEST | Nl.NLM_F_ACK | Nl.NLM_F_CREATE | Nl.NLM_F_REPLACE,
            _ => Change,
        };
        var nd = new NdMsg(Af.AF_BRIDGE, index, Nd.NUD_PERMANENT | Nd.NUD_NOARP, Nd.NTF_SELF, 0);
        var lladdr = RtAttr.Bytes(Nd.NDA_LLADDR, mac.GetAddressBytes());
        return dst == null
            ? new(op == FdbOp.Delete ? Rtnl.RTM_DELNEIGH : Rtnl.RTM_NEWNEIGH, flags, nd, lladdr)
            : new(op == FdbOp.Delete ? Rtnl.RTM_DELNEIGH : Rtnl.RTM_NEWNEIGH, flags, nd, lladdr, RtAttr.Address(Nd.NDA_DST, dst));
    }

    /// <summary>bridge fdb show dev X: RTM_GETNEIGH dump, family AF_BRIDGE, ifindex X.</summary>
    public static NetlinkMessage ListFdb(int index) => new(Rtnl.RTM_GETNEIGH, Dump, new NdMsg(Af.AF_BRIDGE, index, 0, 0, 0));

    /// <summary>ip link set dev X master BR (BR = 0: nomaster).</summary>
    public static NetlinkMessage SetMaster(int index, int masterIndex) =>
        new(Rtnl.RTM_NEWLINK, Change, Ifi(index), RtAttr.I32(Ifla.IFLA_MASTER, masterIndex));

    /// <summary>ip link set dev X up|down.</summary>
    public static NetlinkMessage SetFlags(int index, bool up) =>
        new(Rtnl.RTM_NEWLINK, Change, Ifi(index, up ? Iff.IFF_UP : 0, Iff.IFF_UP));

    /// <summary>ip link set dev X mtu N.</summary>
    public static NetlinkMessage SetMtu(int index, int mtu) => new(Rtnl.RTM_NEWLINK, Change, Ifi(index), RtAttr.I32(Ifla.IFLA_MTU, mtu));

    /// <summary>ip link set dev X address MAC.</summary>
    public static NetlinkMessage SetMac(int index, PhysicalAddress mac) =>
        new(Rtnl.RTM_NEWLINK, Change, Ifi(index), RtAttr.Bytes(Ifla.IFLA_ADDRESS, mac.GetAddressBytes()));

    /// <summary>ip link set dev X alias TEXT.</summary>
    public static NetlinkMessage SetAlias(int index, string alias) =>
        new(Rtnl.RTM_NEWLINK, Change, Ifi(index), RtAttr.String(Ifla.IFLA_IFALIAS, alias));

    /// <summary>ip link set dev X name NEW.</summary>
    public static NetlinkMessage SetName(int index, string name) =>
        new(Rtnl.RTM_NEWLINK, Change, Ifi(index), RtAttr.String(Ifla.IFLA_IFNAME, name));

    /// <summary>bridge link set dev X hairpin on|off.</summary>
    public static NetlinkMessage SetHairpin(int index, bool on) =>
        new(Rtnl.RTM_SETLINK, Change, Ifi(index, family: Af.AF_BRIDGE),
            RtAttr.Nest(Ifla.IFLA_PROTINFO | Nl.NLA_F_NESTED,
                RtAttr.U8(Ifla.IFLA_BRPORT_MODE, on ? IfBridge.BRIDGE_MODE_HAIRPIN : IfBridge.BRIDGE_MODE_VEB)));

    /// <summary>ip link del NAME.</summary>
    public static NetlinkMessage DeleteLink(string name) =>
        new(Rtnl.RTM_DELLINK, Change, Ifi(), RtAttr.String(Ifla.IFLA_IFNAME, name));

    static byte Family(IPAddress ip) => ip.AddressFamily == AddressFamily.InterNetwork ? Af.AF_INET : Af.AF_INET6;

    /// <summary>ip addr add IP/PREFIX [brd +] dev X.</summary>
    public static NetlinkMessage AddAddress(int index, IPAddress ip, int prefixLength)
    {
        var hdr = new IfAddrMsg(Family(ip), (byte)prefixLength, 0, Rtnl.RT_SCOPE_UNIVERSE, index);
        if (ip.AddressFamily == AddressFamily.InterNetwork && prefixLength < 31)
            return new(Rtnl.RTM_NEWADDR, Create, hdr,
                RtAttr.Address(Ifa.IFA_LOCAL, ip), RtAttr.Address(Ifa.IFA_ADDRESS, ip),
                RtAttr.Address(Ifa.IFA_BROADCAST, Broadcast(ip, prefixLength)));
        return new(Rtnl.RTM_NEWADDR, Create, hdr, RtAttr.Address(Ifa.IFA_LOCAL, ip), RtAttr.Address(Ifa.IFA_ADDRESS, ip));
    }

    /// <summary>ip addr del IP/PREFIX dev X.</summary>
    public static NetlinkMessage DeleteAddress(int index, IPAddress ip, int prefixLength) =>
        new(Rtnl.RTM_DELADDR, Change, new IfAddrMsg(Family(ip), (byte)prefixLength, 0, Rtnl.RT_SCOPE_UNIVERSE, index),
            RtAttr.Address(Ifa.IFA_LOCAL, ip), RtAttr.Address(Ifa.IFA_ADDRESS, ip));

    /// <summary>ip addr show: RTM_GETADDR dump of both families.</summary>
    public static NetlinkMessage ListAddresses() => new(Rtnl.RTM_GETADDR, Dump, new IfAddrMsg(Af.AF_UNSPEC, 0, 0, 0, 0));

    /// <summary>The IPv4 broadcast address of ip/prefix (all host bits set), as <c>brd +</c> computes it.</summary>
    internal static IPAddress Broadcast(IPAddress ip, int prefixLength)
    {
        Span<byte> b = stackalloc byte[4];
        ip.TryWriteBytes(b, out _);
        uint v = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b);
        uint hostMask = prefixLength == 0 ? uint.MaxValue : (1u << (32 - prefixLength)) - 1;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b, v | hostMask);
        return new IPAddress(b);
    }

    /// <summary>ip route add DEST|default [src SRC] [via GW] [dev X] (main table, protocol boot).</summary>
    public static NetlinkMessage AddRoute(Route r) => RouteMessage(r, add: true);

    /// <summary>ip route del DEST|default [src SRC] [via GW] [dev X].</summary>
    public static NetlinkMessage DeleteRoute(Route r) => RouteMessage(r, add: false);

    /// <summary>ip -4|-6 route show: RTM_GETROUTE dump of one family.</summary>
    public static NetlinkMessage ListRoutes(byte family) => new(Rtnl.RTM_GETROUTE, Dump, new RtMsg(family, 0, 0, 0, 0, 0, 0, 0, 0));

    static NetlinkMessage RouteMessage(Route r, bool add)
    {
        ArgumentNullException.ThrowIfNull(r);
        var af = r.Destination?.BaseAddress.AddressFamily ?? r.Gateway?.AddressFamily
            ?? throw new ArgumentException("a route needs a destination or a gateway to tell its address family (use 0.0.0.0/0 or ::/0 for a default route through a device)");
        if (af != AddressFamily.InterNetwork && af != AddressFamily.InterNetworkV6)
            throw new ArgumentException($"route {RtNetlink.Describe(r)}: address family {af} is not IPv4 or IPv6");
        foreach (var ip in new[] { r.Gateway, r.PreferredSource })
            if (ip != null && ip.AddressFamily != af)
                throw new ArgumentException($"route {RtNetlink.Describe(r)}: {ip} is not of the destination's address family");
        byte family = af == AddressFamily.InterNetwork ? Af.AF_INET : Af.AF_INET6;
        int dstLen = r.Destination?.PrefixLength ?? 0;
        byte scope = !add ? Rtnl.RT_SCOPE_NOWHERE
            : r.Gateway == null && family == Af.AF_INET ? Rtnl.RT_SCOPE_LINK : Rtnl.RT_SCOPE_UNIVERSE;
        var rtm = new RtMsg(family, (byte)dstLen, 0, 0, Rtnl.RT_TABLE_MAIN,
            add ? Rtnl.RTPROT_BOOT : Rtnl.RTPROT_UNSPEC, scope, add ? Rtnl.RTN_UNICAST : Rtnl.RTN_UNSPEC, 0);
        var attrs = new List<RtAttr>(4);
        if (dstLen > 0) attrs.Add(RtAttr.Address(Rtnl.RTA_DST, r.Destination!.Value.BaseAddress));
        if (r.PreferredSource != null) attrs.Add(RtAttr.Address(Rtnl.RTA_PREFSRC, r.PreferredSource));
        if (r.Gateway != null) attrs.Add(RtAttr.Address(Rtnl.RTA_GATEWAY, r.Gateway));
        if (r.OutLinkIndex is int oif) attrs.Add(RtAttr.I32(Rtnl.RTA_OIF, oif));
        return new(add ? Rtnl.RTM_NEWROUTE : Rtnl.RTM_DELROUTE, add ? Create : Change, rtm, [.. attrs]);
    }
}
