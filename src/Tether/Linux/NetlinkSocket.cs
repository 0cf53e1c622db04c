using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Tether.Linux;

/// <summary>Owns a socket file descriptor; closes it once when released.</summary>
internal sealed class SocketHandle : SafeHandle
{
    public SocketHandle(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);
    public override bool IsInvalid => handle == -1;
    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}

/// <summary>Decodes one reply message of a request or dump; returns false to skip the message.</summary>
internal delegate bool NetlinkDecoder<T>(in NlMsgHdr header, ReadOnlySpan<byte> payload, out T value);

/// <summary>
/// An AF_NETLINK socket for one protocol (NETLINK_ROUTE here), bound to the network namespace of the thread that made it.
/// One request at a time (a lock), so it can be shared by threads. Requests get increasing sequence numbers; replies
/// that are not from the kernel or carry another sequence number (leftovers of an abandoned request) are skipped.
/// </summary>
internal sealed unsafe class NetlinkSocket : IDisposable
{
    const int ReceiveBufferSize = 64 * 1024;
    const int MaxDumpAttempts = 10;

    readonly SocketHandle handle;
    readonly Lock sync = new();
    byte[] sendBuffer = new byte[4096];
    // Uninitialized: the kernel writes before we read, and zeroing 64 KiB would fault in every page up front.
    readonly byte[] receiveBuffer = GC.AllocateUninitializedArray<byte>(ReceiveBufferSize);
    uint seq;

    /// <summary>Port id the kernel assigned at bind (nl_pid).</summary>
    public uint PortId { get; }

    NetlinkSocket(SocketHandle handle, uint portId, uint firstSeq)
    {
        this.handle = handle;
        PortId = portId;
        seq = firstSeq;
    }

    /// <summary>socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, protocol), extended acks on, capped acks, bind to a kernel-chosen port.</summary>
    public static NetlinkSocket Open(int protocol = Nl.NETLINK_ROUTE)
    {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, protocol);
        if (fd < 0) throw NetlinkException.For("open netlink socket", Marshal.GetLastPInvokeError());
        var h = new SocketHandle(fd);
        try
        {
            int one = 1;
            // Best effort: older kernels lack these; errors still arrive without them.
            Libc.setsockopt(fd, Nl.SOL_NETLINK, Nl.NETLINK_EXT_ACK, &one, sizeof(int));
            Libc.setsockopt(fd, Nl.SOL_NETLINK, Nl.NETLINK_CAP_ACK, &one, sizeof(int));
            int rcvbuf = 1024 * 1024;
            Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &rcvbuf, sizeof(int));
            // struct timeval { long tv_sec; long tv_usec; }: a reply the kernel never sends becomes an error, not a hang.
            long* tv = stackalloc long[2] { 60, 0 };
            Libc.setsockopt(fd, Libc.SOL_SOCKET, SO_RCVTIMEO, tv, 16);

            byte* addr = stackalloc byte[SockAddrNlSize];
            WriteSockAddr(addr, 0);
            if (Libc.bind(fd, addr, SockAddrNlSize) != 0) throw NetlinkException.For("bind netlink socket", Marshal.GetLastPInvokeError());
            int len = SockAddrNlSize;
            if (Libc.getsockname(fd, addr, &len) != 0) throw NetlinkException.For("read netlink socket address", Marshal.GetLastPInvokeError());
            uint port = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(addr + 4, 4));
            return new NetlinkSocket(h, port, (uint)Environment.TickCount);
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    const int SO_RCVTIMEO = 20; // asm-generic/socket.h (SO_RCVTIMEO_OLD)

    // struct sockaddr_nl (linux/netlink.h): u16 family, u16 pad, u32 pid, u32 groups.
    const int SockAddrNlSize = 12;

    static void WriteSockAddr(byte* p, uint pid)
    {
        var s = new Span<byte>(p, SockAddrNlSize);
        s.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(s, Libc.AF_NETLINK);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], pid);
    }

    /// <summary>
    /// Sends <paramref name="request"/> (NLM_F_ACK is added) and waits for its ack. Returns 0 on success or the errno if it is
    /// <paramref name="tolerated1"/> or <paramref name="tolerated2"/>; any other error throws a <see cref="NetlinkException"/>
    /// naming <paramref name="operation"/>.
    /// </summary>
    public int Execute(NetlinkMessage request, string operation, int tolerated1 = 0, int tolerated2 = 0)
    {
        lock (sync)
        {
            uint s = Send(request, Nl.NLM_F_ACK, operation);
            while (true)
            {
                int n = Receive(operation);
                if (TryReadAck(receiveBuffer.AsSpan(0, n), s, PortId, out var err))
                {
                    int errno = -err.Error;
                    if (errno == 0 || errno == tolerated1 || errno == tolerated2) return errno;
                    throw NetlinkException.For(operation, errno, err.ExtAckMessage);
                }
            }
        }
    }

    /// <summary>Finds the NLMSG_ERROR (ack or error) for request <paramref name="seq"/> in one datagram; other messages are skipped.</summary>
    internal static bool TryReadAck(ReadOnlySpan<byte> datagram, uint seq, uint port, out NlMsgErr ack)
    {
        var reader = new MessageReader(datagram);
        while (reader.MoveNext())
        {
            var h = reader.Header;
            if (h.Seq != seq || h.Pid != port || h.Type != Nl.NLMSG_ERROR) continue;
            ack = NlMsgErr.Read(h, reader.Payload);
            return true;
        }
        ack = default;
        return false;
    }

    /// <summary>
    /// Sends a non-dump GET and decodes its one reply. Returns false when the kernel answers with <paramref name="notFound"/>
    /// (e.g. ENODEV); other errors throw.
    /// </summary>
    public bool Get<T>(NetlinkMessage request, NetlinkDecoder<T> decode, string operation, int notFound, out T value)
    {
        lock (sync)
        {
            uint s = Send(request, 0, operation);
            while (true)
            {
                int n = Receive(operation);
                var reader = new MessageReader(receiveBuffer.AsSpan(0, n));
                while (reader.MoveNext())
                {
                    var h = reader.Header;
                    if (h.Seq != s || h.Pid != PortId) continue;
                    if (h.Type == Nl.NLMSG_ERROR)
                    {
                        var err = NlMsgErr.Read(h, reader.Payload);
                        int errno = -err.Error;
                        if (errno == 0) continue; // an ack (not asked for): keep waiting for the reply
                        if (errno == notFound) { value = default!; return false; }
                        throw NetlinkException.For(operation, errno, err.ExtAckMessage);
                    }
                    if (decode(h, reader.Payload, out value)) return true;
                }
            }
        }
    }

    /// <summary>How many dumps were restarted because the kernel flagged NLM_F_DUMP_INTR (diagnostics and tests).</summary>
    public int DumpRestarts { get; private set; }

    /// <summary>
    /// Sends a dump request (NLM_F_DUMP is added) and decodes every reply until NLMSG_DONE. When the kernel marks a part
    /// NLM_F_DUMP_INTR (the table changed during the dump) the whole dump is repeated, up to 10 times.
    /// </summary>
    public List<T> Dump<T>(NetlinkMessage request, NetlinkDecoder<T> decode, string operation)
    {
        lock (sync)
        {
            var results = new List<T>();
            for (int attempt = 1; ; attempt++)
            {
                results.Clear();
                var state = new DumpState();
                uint s = Send(request, Nl.NLM_F_DUMP, operation);
                while (!state.Done)
                {
                    int n = Receive(operation);
                    ReadDumpPart(receiveBuffer.AsSpan(0, n), s, PortId, decode, results, ref state, operation);
                }
                if (!state.Interrupted) return results;
                DumpRestarts++;
                if (attempt == MaxDumpAttempts)
                    throw NetlinkException.For($"{operation} (interrupted {MaxDumpAttempts} times by concurrent changes)", Libc.EINTR);
            }
        }
    }

    internal struct DumpState
    {
        public bool Done, Interrupted;
    }

    /// <summary>
    /// Reads one datagram of a dump for request <paramref name="seq"/>: decodes its messages into <paramref name="results"/>,
    /// notes NLM_F_DUMP_INTR, stops at NLMSG_DONE, throws on an error. Messages of other requests are skipped.
    /// </summary>
    internal static void ReadDumpPart<T>(ReadOnlySpan<byte> datagram, uint seq, uint port, NetlinkDecoder<T> decode, List<T> results,
        ref DumpState state, string operation)
    {
        var reader = new MessageReader(datagram);
        while (reader.MoveNext())
        {
            var h = reader.Header;
            if (h.Seq != seq || h.Pid != port) continue;
            if ((h.Flags & Nl.NLM_F_DUMP_INTR) != 0) state.Interrupted = true;
            switch (h.Type)
            {
                case Nl.NLMSG_DONE:
                    // NLMSG_DONE carries an int: 0, or a negative errno when the dump failed part way.
                    int status = reader.Payload.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(reader.Payload) : 0;
                    if (status < 0) throw NetlinkException.For(operation, -status);
                    state.Done = true;
                    return;
                case Nl.NLMSG_ERROR:
                    var err = NlMsgErr.Read(h, reader.Payload);
                    if (err.Error != 0) throw NetlinkException.For(operation, -err.Error, err.ExtAckMessage);
                    state.Done = true;
                    return;
                case Nl.NLMSG_NOOP or Nl.NLMSG_OVERRUN:
                    continue;
                default:
                    if (decode(h, reader.Payload, out var v)) results.Add(v);
                    continue;
            }
        }
    }

    uint Send(NetlinkMessage request, ushort extraFlags, string operation)
    {
        uint s = unchecked(++seq);
        if (s == 0) s = unchecked(++seq);
        int len = request.Length;
        if (sendBuffer.Length < len) sendBuffer = new byte[Math.Max(len, sendBuffer.Length * 2)];
        request.Write(sendBuffer, s, 0, (ushort)(Nl.NLM_F_REQUEST | extraFlags));
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            byte* addr = stackalloc byte[SockAddrNlSize];
            WriteSockAddr(addr, 0);
            fixed (byte* p = sendBuffer)
            {
                while (true)
                {
                    nint r = Libc.sendto(fd, p, (nuint)len, 0, addr, SockAddrNlSize);
                    if (r >= 0) break;
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR) continue;
                    throw NetlinkException.For(operation, errno);
                }
            }
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
        return s;
    }

    /// <summary>Receives one datagram from the kernel into the receive buffer; returns its length.</summary>
    int Receive(string operation)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            byte* addr = stackalloc byte[SockAddrNlSize];
            fixed (byte* p = receiveBuffer)
            {
                while (true)
                {
                    int addrLen = SockAddrNlSize;
                    nint r = Libc.recvfrom(fd, p, (nuint)receiveBuffer.Length, Libc.MSG_TRUNC, addr, &addrLen);
                    if (r < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == Libc.EINTR) continue;
                        if (errno == Libc.EAGAIN) throw new NetlinkException(errno, $"{operation}: no reply from the kernel within 60 s");
                        throw NetlinkException.For(operation, errno);
                    }
                    // Only the kernel (port 0) speaks to us; ignore anything else.
                    if (BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(addr + 4, 4)) != 0) continue;
                    if (r > receiveBuffer.Length)
                        throw new NetlinkException(Libc.EMSGSIZE, $"{operation}: kernel reply of {r} bytes is larger than the {receiveBuffer.Length}-byte buffer");
                    return (int)r;
                }
            }
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    public void Dispose() => handle.Dispose();
}
