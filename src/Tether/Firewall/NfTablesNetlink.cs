using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Tether.Linux;

namespace Tether.Firewall;

/// <summary>
/// Adds and deletes elements of Tether's port maps (<c>v4_ports</c>, <c>v4_host_ports</c>, <c>v6_ports</c>,
/// <c>v6_host_ports</c> of table <c>inet tether</c>) with Tether's own nf_tables netlink batch on a NETLINK_NETFILTER
/// socket: no libnftables, no cache fetch. One <see cref="Apply"/> is one nfnetlink batch
/// (NFNL_MSG_BATCH_BEGIN, one NFT_MSG_NEWSETELEM / NFT_MSG_DELSETELEM per element, NFNL_MSG_BATCH_END), which the kernel
/// commits atomically: on any error nothing of it takes effect.
/// <para>The socket is bound to the network namespace of the thread that calls <see cref="Open"/>. Calls are serialised
/// with a lock. Needs CAP_NET_ADMIN in that namespace.</para>
/// <para>Wire format: linux/netfilter/nfnetlink.h (batch messages, struct nfgenmsg), linux/netfilter/nf_tables.h
/// (message types and attributes), linux/netfilter.h (NFPROTO_INET); checked against what nft 1.0.6 sends for
/// <c>nft add element inet tether v4_ports '{ tcp . 8080 : 172.18.0.2 . 80 }'</c>.</para>
/// </summary>
internal sealed unsafe class NfTablesNetlink : IDisposable
{
    /// <summary>linux/netlink.h: the netfilter netlink protocol.</summary>
    public const int NETLINK_NETFILTER = 12;

    /// <summary>linux/netfilter/nfnetlink.h: batch delimiters (NLMSG_MIN_TYPE and NLMSG_MIN_TYPE + 1).</summary>
    public const ushort NFNL_MSG_BATCH_BEGIN = 0x10, NFNL_MSG_BATCH_END = 0x11;
    /// <summary>linux/netfilter/nfnetlink.h: subsystem id of nf_tables (message type = subsystem &lt;&lt; 8 | message).</summary>
    public const byte NFNL_SUBSYS_NFTABLES = 10;
    /// <summary>linux/netfilter/nfnetlink.h: struct nfgenmsg version.</summary>
    public const byte NFNETLINK_V0 = 0;
    /// <summary>linux/netfilter.h: the inet (IPv4 + IPv6) table family.</summary>
    public const byte NFPROTO_INET = 1;

    /// <summary>linux/netfilter/nf_tables.h, enum nf_tables_msg_types.</summary>
    public const byte NFT_MSG_NEWSETELEM = 12, NFT_MSG_DELSETELEM = 14;

    /// <summary>linux/netfilter/nf_tables.h, enum nft_set_elem_list_attributes.</summary>
    public const ushort NFTA_SET_ELEM_LIST_TABLE = 1, NFTA_SET_ELEM_LIST_SET = 2, NFTA_SET_ELEM_LIST_ELEMENTS = 3;
    /// <summary>linux/netfilter/nf_tables.h, enum nft_list_attributes.</summary>
    public const ushort NFTA_LIST_ELEM = 1;
    /// <summary>linux/netfilter/nf_tables.h, enum nft_set_elem_attributes.</summary>
    public const ushort NFTA_SET_ELEM_KEY = 1, NFTA_SET_ELEM_DATA = 2;
    /// <summary>linux/netfilter/nf_tables.h, enum nft_data_attributes.</summary>
    public const ushort NFTA_DATA_VALUE = 1;

    /// <summary>netinet/in.h protocol numbers (the <c>inet_proto</c> values nft stores).</summary>
    const byte IPPROTO_TCP = 6, IPPROTO_UDP = 17;

    /// <summary>
    /// One element operation: add (NEWSETELEM with key and map value) or delete (DELSETELEM with the key only) in map
    /// <see cref="Set"/>. <see cref="Key"/> and <see cref="Value"/> are nft concatenations: every component padded to
    /// 4 bytes. <see cref="Text"/> is the key in nft syntax, for error messages.
    /// </summary>
    internal sealed record ElementOp(bool Delete, string Set, byte[] Key, byte[] Value, string Text)
    {
        public string Describe() => $"{(Delete ? "delete" : "add")} element {Set} {Text}";
    }

    readonly SocketHandle handle;
    readonly uint portId;
    readonly Lock sync = new();
    readonly byte[] receiveBuffer = GC.AllocateUninitializedArray<byte>(64 * 1024);
    uint seq;

    NfTablesNetlink(SocketHandle handle, uint portId)
    {
        this.handle = handle;
        this.portId = portId;
        seq = (uint)Environment.TickCount;
    }

    /// <summary>
    /// The element operations of a change's port bindings, in the order of <see cref="Ruleset.Render(FirewallChange)"/>:
    /// removals first, per map an add of each binding then a delete of each key (so removing an absent binding
    /// succeeds), then the additions. Duplicates within a list are dropped. Returns null when the change touches
    /// networks too (their sets are not handled here).
    /// </summary>
    /// <exception cref="ArgumentException">A bridge name, port, address, protocol or family is invalid.</exception>
    public static List<ElementOp>? PortOperations(FirewallChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (change.AddNetworks.Count > 0 || change.RemoveNetworks.Count > 0) return null;
        var removed = Collect(change.RemovePorts);
        var added = Collect(change.AddPorts);
        var ops = new List<ElementOp>();
        foreach (var (set, elements) in removed)
        {
            foreach (var e in elements) ops.Add(e);
            foreach (var e in elements) ops.Add(e with { Delete = true });
        }
        foreach (var (_, elements) in added) ops.AddRange(elements);
        return ops;
    }

    /// <summary>Add operations per map, maps in <see cref="Ruleset.Sets"/> order, keys deduplicated keeping the first.</summary>
    static List<(string Set, List<ElementOp> Elements)> Collect(IReadOnlyList<PortMapping> ports)
    {
        var bySet = new Dictionary<string, List<ElementOp>>();
        var seen = new HashSet<(string, string, string)>();
        foreach (var p in ports)
        {
            ArgumentNullException.ThrowIfNull(p);
            Ruleset.Quote(p.Bridge);
            var f = FamilyOf(p.ContainerIp, nameof(p.ContainerIp));
            var hostIp = p.HostIp;
            if (hostIp != null && (hostIp.Equals(IPAddress.Any) || hostIp.Equals(IPAddress.IPv6Any))) hostIp = null;
            if (hostIp != null && FamilyOf(hostIp, nameof(p.HostIp)) != f)
                throw new ArgumentException($"port binding {hostIp}:{p.HostPort} -> {p.ContainerIp}:{p.ContainerPort}: host and container addresses differ in family", nameof(ports));
            if (p.ContainerIp.Equals(IPAddress.Any) || p.ContainerIp.Equals(IPAddress.IPv6Any))
                throw new ArgumentException("container address must not be the unspecified address", nameof(ports));
            var (protoName, proto) = p.Protocol switch
            {
                Protocol.Tcp => ("tcp", IPPROTO_TCP),
                Protocol.Udp => ("udp", IPPROTO_UDP),
                _ => throw new ArgumentException($"unknown protocol {p.Protocol}", nameof(ports)),
            };
            int hostPort = CheckPort(p.HostPort), containerPort = CheckPort(p.ContainerPort);
            var value = Concat([Address(p.ContainerIp), Service(containerPort)]);
            string set, text;
            byte[] key;
            if (hostIp == null)
            {
                set = Ruleset.MapPorts(f);
                text = $"{protoName} . {hostPort}";
                key = Concat([[proto], Service(hostPort)]);
            }
            else
            {
                set = Ruleset.MapHostPorts(f);
                text = $"{hostIp} . {protoName} . {hostPort}";
                key = Concat([Address(hostIp), [proto], Service(hostPort)]);
            }
            if (!seen.Add((set, text, $"{p.ContainerIp} . {containerPort}"))) continue;
            if (!bySet.TryGetValue(set, out var list)) bySet[set] = list = [];
            list.Add(new ElementOp(false, set, key, value, text));
        }
        return Ruleset.Sets.Where(s => bySet.ContainsKey(s.Name)).Select(s => (s.Name, bySet[s.Name])).ToList();
    }

    static AddressFamily FamilyOf(IPAddress a, string what)
    {
        ArgumentNullException.ThrowIfNull(a, what);
        if (a.AddressFamily == AddressFamily.InterNetworkV6 && (a.ScopeId != 0 || a.IsIPv4MappedToIPv6))
            throw new ArgumentException($"{what} {a}: scoped and IPv4-mapped IPv6 addresses are not supported", what);
        if (a.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            throw new ArgumentException($"{what} {a}: not an IPv4 or IPv6 address", what);
        return a.AddressFamily;
    }

    static int CheckPort(int port) => port is >= 1 and <= 65535
        ? port
        : throw new ArgumentOutOfRangeException(nameof(port), port, "port must be 1-65535");

    /// <summary>nft <c>inet_service</c>: a 16-bit port in network byte order.</summary>
    static byte[] Service(int port)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)port);
        return b;
    }

    /// <summary><c>ipv4_addr</c> (4 bytes) or <c>ipv6_addr</c> (16 bytes), network byte order.</summary>
    static byte[] Address(IPAddress ip) => ip.GetAddressBytes();

    /// <summary>
    /// An nft concatenation as the kernel stores it: each component in its own 4-byte-aligned slot, zero padded
    /// (nf_tables.h: "concatenated ... registers", NFT_REG32_SIZE = 4).
    /// </summary>
    internal static byte[] Concat(IReadOnlyList<byte[]> components)
    {
        int n = 0;
        foreach (var c in components) n += Nl.Align(c.Length);
        var b = new byte[n];
        int at = 0;
        foreach (var c in components)
        {
            c.CopyTo(b, at);
            at += Nl.Align(c.Length);
        }
        return b;
    }

    /// <summary>struct nfgenmsg (linux/netfilter/nfnetlink.h): u8 family, u8 version, __be16 res_id.</summary>
    readonly record struct NfGenMsg(byte Family, ushort ResourceId) : INetlinkStruct
    {
        public int WireSize => 4;

        public void Write(Span<byte> d)
        {
            d[0] = Family;
            d[1] = NFNETLINK_V0;
            BinaryPrimitives.WriteUInt16BigEndian(d[2..], ResourceId);
        }
    }

    /// <summary>
    /// The whole batch for <paramref name="ops"/>: BATCH_BEGIN with sequence number <paramref name="firstSeq"/>, element
    /// message i with <paramref name="firstSeq"/> + 1 + i (flags NLM_F_REQUEST | NLM_F_ACK, plus NLM_F_CREATE for adds; no
    /// NLM_F_EXCL, so re-adding an identical element is not an error), BATCH_END last. Port id 0 (the kernel fills it in).
    /// </summary>
    internal static byte[] EncodeBatch(IReadOnlyList<ElementOp> ops, uint firstSeq)
    {
        var messages = new List<NetlinkMessage>(ops.Count + 2)
        {
            new(NFNL_MSG_BATCH_BEGIN, Nl.NLM_F_REQUEST, new NfGenMsg(0, NFNL_SUBSYS_NFTABLES)),
        };
        foreach (var op in ops) messages.Add(Encode(op));
        messages.Add(new(NFNL_MSG_BATCH_END, Nl.NLM_F_REQUEST, new NfGenMsg(0, NFNL_SUBSYS_NFTABLES)));
        int total = 0;
        foreach (var m in messages) total += Nl.Align(m.Length);
        var bytes = new byte[total];
        int at = 0;
        for (int i = 0; i < messages.Count; i++) at += Nl.Align(messages[i].Write(bytes.AsSpan(at), unchecked(firstSeq + (uint)i)));
        return bytes;
    }

    static NetlinkMessage Encode(ElementOp op)
    {
        var key = RtAttr.Nest(NFTA_SET_ELEM_KEY | Nl.NLA_F_NESTED, RtAttr.Bytes(NFTA_DATA_VALUE, op.Key));
        var element = op.Delete
            ? RtAttr.Nest(NFTA_LIST_ELEM | Nl.NLA_F_NESTED, key)
            : RtAttr.Nest(NFTA_LIST_ELEM | Nl.NLA_F_NESTED, key,
                RtAttr.Nest(NFTA_SET_ELEM_DATA | Nl.NLA_F_NESTED, RtAttr.Bytes(NFTA_DATA_VALUE, op.Value)));
        ushort type = (ushort)(NFNL_SUBSYS_NFTABLES << 8 | (op.Delete ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM));
        ushort flags = (ushort)(Nl.NLM_F_REQUEST | Nl.NLM_F_ACK | (op.Delete ? 0 : Nl.NLM_F_CREATE));
        return new NetlinkMessage(type, flags, new NfGenMsg(NFPROTO_INET, 0),
            RtAttr.String(NFTA_SET_ELEM_LIST_TABLE, Ruleset.TableName),
            RtAttr.String(NFTA_SET_ELEM_LIST_SET, op.Set),
            RtAttr.Nest(NFTA_SET_ELEM_LIST_ELEMENTS | Nl.NLA_F_NESTED, element));
    }

    /// <summary>Opens a NETLINK_NETFILTER socket in the calling thread's network namespace.</summary>
    /// <exception cref="FirewallException">The socket could not be opened or bound.</exception>
    public static NfTablesNetlink Open()
    {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0) throw SocketError("open NETLINK_NETFILTER socket", Marshal.GetLastPInvokeError());
        var h = new SocketHandle(fd);
        try
        {
            int one = 1;
            // Best effort: capped acks (only the request's header is echoed) and the kernel's error text.
            Libc.setsockopt(fd, Nl.SOL_NETLINK, Nl.NETLINK_CAP_ACK, &one, sizeof(int));
            Libc.setsockopt(fd, Nl.SOL_NETLINK, Nl.NETLINK_EXT_ACK, &one, sizeof(int));
            // Room for the batch and for one ack per element (SO_*BUFFORCE needs CAP_NET_ADMIN; fall back to the capped size).
            int size = 4 * 1024 * 1024;
            if (Libc.setsockopt(fd, Libc.SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(int)) != 0)
                Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &size, sizeof(int));
            if (Libc.setsockopt(fd, Libc.SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(int)) != 0)
                Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &size, sizeof(int));
            byte* addr = stackalloc byte[SockAddrNlSize];
            WriteSockAddr(addr);
            if (Libc.bind(fd, addr, SockAddrNlSize) != 0) throw SocketError("bind NETLINK_NETFILTER socket", Marshal.GetLastPInvokeError());
            int len = SockAddrNlSize;
            if (Libc.getsockname(fd, addr, &len) != 0) throw SocketError("read NETLINK_NETFILTER socket address", Marshal.GetLastPInvokeError());
            return new NfTablesNetlink(h, BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(addr + 4, 4)));
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    // asm-generic/socket.h
    const int SO_SNDBUFFORCE = 32, SO_RCVBUFFORCE = 33;
    // struct sockaddr_nl (linux/netlink.h): u16 family, u16 pad, u32 pid, u32 groups.
    const int SockAddrNlSize = 12;

    static void WriteSockAddr(byte* p)
    {
        var s = new Span<byte>(p, SockAddrNlSize);
        s.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(s, Libc.AF_NETLINK);
    }

    static FirewallException SocketError(string what, int errno) => new($"nft: {what}: {Libc.StrError(errno)}");

    /// <summary>
    /// Sends <paramref name="ops"/> as one atomic batch and checks every element's ack. The kernel processes a batch
    /// synchronously inside sendmsg, so every reply is queued when it returns; they are read without blocking.
    /// An empty list sends nothing.
    /// </summary>
    /// <exception cref="FirewallException">The kernel rejected the batch (nothing of it was applied); the summary names
    /// the first failing element, e.g. "nft: add element v4_ports tcp . 8080: File exists". Also thrown when a reply is
    /// missing or lost, in which case the outcome is unknown (re-applying the same change is safe).</exception>
    public void Apply(IReadOnlyList<ElementOp> ops)
    {
        ArgumentNullException.ThrowIfNull(ops);
        if (ops.Count == 0) return;
        lock (sync)
        {
            uint first = unchecked(seq + 1);
            seq = unchecked(seq + (uint)ops.Count + 2);
            var batch = EncodeBatch(ops, first);
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                int fd = (int)handle.DangerousGetHandle();
                Send(fd, batch);
                Collect(fd, ops, first);
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
        }
    }

    static void Send(int fd, byte[] batch)
    {
        byte* addr = stackalloc byte[SockAddrNlSize];
        WriteSockAddr(addr);
        fixed (byte* p = batch)
        {
            while (true)
            {
                nint r = Libc.sendto(fd, p, (nuint)batch.Length, 0, addr, SockAddrNlSize);
                if (r >= 0) return;
                int errno = Marshal.GetLastPInvokeError();
                if (errno != Libc.EINTR) throw SocketError($"send batch of {batch.Length} bytes", errno);
            }
        }
    }

    void Collect(int fd, IReadOnlyList<ElementOp> ops, uint first)
    {
        var acked = new bool[ops.Count];
        int pending = ops.Count;
        var errors = new List<string>();
        byte* addr = stackalloc byte[SockAddrNlSize];
        fixed (byte* p = receiveBuffer)
        {
            while (true)
            {
                int addrLen = SockAddrNlSize;
                nint r = Libc.recvfrom(fd, p, (nuint)receiveBuffer.Length, Libc.MSG_TRUNC | Libc.MSG_DONTWAIT, addr, &addrLen);
                if (r < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR) continue;
                    if (errno == Libc.EAGAIN) break;
                    // ENOBUFS: replies were dropped; the outcome is unknown.
                    throw SocketError("read batch replies", errno);
                }
                if (BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(addr + 4, 4)) != 0) continue;
                if (r > receiveBuffer.Length) throw SocketError("read batch replies", Libc.EMSGSIZE);
                var reader = new MessageReader(receiveBuffer.AsSpan(0, (int)r));
                while (reader.MoveNext())
                {
                    var h = reader.Header;
                    if (h.Pid != portId || h.Type != Nl.NLMSG_ERROR) continue;
                    var err = NlMsgErr.Read(h, reader.Payload);
                    long i = (long)unchecked(h.Seq - first) - 1; // element index, -1 = BATCH_BEGIN, ops.Count = BATCH_END
                    if (i < -1 || i > ops.Count) continue; // a leftover of an earlier batch
                    if (i >= 0 && i < ops.Count && !acked[i]) { acked[i] = true; pending--; }
                    if (err.Error == 0) continue;
                    string what = i >= 0 && i < ops.Count ? ops[(int)i].Describe() : "batch";
                    string text = Libc.StrError(-err.Error);
                    if (!string.IsNullOrEmpty(err.ExtAckMessage)) text += $" ({err.ExtAckMessage})";
                    errors.Add($"nft: {what}: {text}");
                }
            }
        }
        if (errors.Count > 0) throw new FirewallException(errors[0], errors.Count == 1 ? "" : string.Join("\n", errors));
        if (pending > 0) throw new FirewallException($"nft: {pending} of {ops.Count} element operations got no reply from the kernel");
    }

    public void Dispose()
    {
        lock (sync) handle.Dispose();
    }
}
