using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Tether.Linux;

/// <summary>A fixed-size struct that follows the netlink header (the "family header") or starts a nested attribute.</summary>
internal interface INetlinkStruct
{
    /// <summary>Size on the wire in bytes (already a multiple of 4).</summary>
    int WireSize { get; }
    /// <summary>Writes the struct in host byte order to the start of <paramref name="dest"/>.</summary>
    void Write(Span<byte> dest);
}

/// <summary>struct nlmsghdr (linux/netlink.h): 16 bytes, host byte order. <see cref="Length"/> includes the header.</summary>
internal readonly record struct NlMsgHdr(int Length, ushort Type, ushort Flags, uint Seq, uint Pid) : INetlinkStruct
{
    public const int Size = 16;
    public int WireSize => Size;

    public void Write(Span<byte> d)
    {
        BinaryPrimitives.WriteInt32LittleEndian(d, Length);
        BinaryPrimitives.WriteUInt16LittleEndian(d[4..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(d[6..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Seq);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Pid);
    }

    public static NlMsgHdr Read(ReadOnlySpan<byte> s) => new(
        BinaryPrimitives.ReadInt32LittleEndian(s), BinaryPrimitives.ReadUInt16LittleEndian(s[4..]),
        BinaryPrimitives.ReadUInt16LittleEndian(s[6..]), BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(s[12..]));
}

/// <summary>struct ifinfomsg (linux/rtnetlink.h): 16 bytes; family, device type (ARPHRD_*), index, IFF_* flags and change mask.</summary>
internal readonly record struct IfInfoMsg(byte Family, ushort DeviceType, int Index, uint Flags, uint Change) : INetlinkStruct
{
    public const int Size = 16;
    public int WireSize => Size;

    public void Write(Span<byte> d)
    {
        d[0] = Family;
        d[1] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(d[2..], DeviceType);
        BinaryPrimitives.WriteInt32LittleEndian(d[4..], Index);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Change);
    }

    public static IfInfoMsg Read(ReadOnlySpan<byte> s) => new(s[0], BinaryPrimitives.ReadUInt16LittleEndian(s[2..]),
        BinaryPrimitives.ReadInt32LittleEndian(s[4..]), BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(s[12..]));
}

/// <summary>struct ifaddrmsg (linux/if_addr.h): 8 bytes; family, prefix length, IFA_F_* flags (low 8 bits), scope, link index.</summary>
internal readonly record struct IfAddrMsg(byte Family, byte PrefixLength, byte Flags, byte Scope, int Index) : INetlinkStruct
{
    public const int Size = 8;
    public int WireSize => Size;

    public void Write(Span<byte> d)
    {
        d[0] = Family; d[1] = PrefixLength; d[2] = Flags; d[3] = Scope;
        BinaryPrimitives.WriteInt32LittleEndian(d[4..], Index);
    }

    public static IfAddrMsg Read(ReadOnlySpan<byte> s) => new(s[0], s[1], s[2], s[3], BinaryPrimitives.ReadInt32LittleEndian(s[4..]));
}

/// <summary>struct rtmsg (linux/rtnetlink.h): 12 bytes; family, destination/source prefix lengths, TOS, table, protocol, scope, type, RTM_F_* flags.</summary>
internal readonly record struct RtMsg(byte Family, byte DstLength, byte SrcLength, byte Tos, byte Table, byte Protocol,
    byte Scope, byte Type, uint Flags) : INetlinkStruct
{
    public const int Size = 12;
    public int WireSize => Size;

    public void Write(Span<byte> d)
    {
        d[0] = Family; d[1] = DstLength; d[2] = SrcLength; d[3] = Tos;
        d[4] = Table; d[5] = Protocol; d[6] = Scope; d[7] = Type;
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Flags);
    }

    public static RtMsg Read(ReadOnlySpan<byte> s) => new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
        BinaryPrimitives.ReadUInt32LittleEndian(s[8..]));
}

/// <summary>struct ndmsg (linux/neighbour.h): 12 bytes; family, link index, NUD_* state, NTF_* flags, type.</summary>
internal readonly record struct NdMsg(byte Family, int Index, ushort State, byte Flags, byte Type) : INetlinkStruct
{
    public const int Size = 12;
    public int WireSize => Size;

    public void Write(Span<byte> d)
    {
        d[0] = Family; d[1] = 0; d[2] = 0; d[3] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(d[4..], Index);
        BinaryPrimitives.WriteUInt16LittleEndian(d[8..], State);
        d[10] = Flags; d[11] = Type;
    }

    public static NdMsg Read(ReadOnlySpan<byte> s) => new(s[0], BinaryPrimitives.ReadInt32LittleEndian(s[4..]),
        BinaryPrimitives.ReadUInt16LittleEndian(s[8..]), s[10], s[11]);
}

/// <summary>
/// struct nlmsgerr (linux/netlink.h): the payload of NLMSG_ERROR. <see cref="Error"/> is 0 for an ack, else a negative errno.
/// <see cref="ExtAckMessage"/> is the kernel's NLMSGERR_ATTR_MSG text when the socket asked for extended acks.
/// </summary>
internal readonly record struct NlMsgErr(int Error, NlMsgHdr Request, string? ExtAckMessage)
{
    public static NlMsgErr Read(in NlMsgHdr header, ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 4 + NlMsgHdr.Size) throw new NetlinkException(Libc.EMSGSIZE, "truncated NLMSG_ERROR from the kernel");
        int error = BinaryPrimitives.ReadInt32LittleEndian(payload);
        var request = NlMsgHdr.Read(payload[4..]);
        string? message = null;
        if ((header.Flags & Nl.NLM_F_ACK_TLVS) != 0)
        {
            // With NLM_F_CAPPED only the request's header is echoed, otherwise the whole request.
            int tlvStart = 4 + ((header.Flags & Nl.NLM_F_CAPPED) != 0 ? NlMsgHdr.Size : Nl.Align(request.Length));
            if (tlvStart <= payload.Length)
                foreach (var a in new AttributeReader(payload[tlvStart..]))
                    if (a.Type == Nl.NLMSGERR_ATTR_MSG) message = a.AsString();
        }
        return new NlMsgErr(error, request, message);
    }
}

/// <summary>
/// One rtattr/nlattr (linux/netlink.h, linux/rtnetlink.h) as a tree node: a leaf carries a payload; a nest carries an optional
/// fixed struct (e.g. the ifinfomsg inside VETH_INFO_PEER) followed by child attributes. Layout: u16 length (header + payload,
/// unpadded), u16 type, payload, padding to 4 bytes.
/// </summary>
internal sealed class RtAttr
{
    public const int HeaderSize = 4;

    /// <summary>Attribute type, including the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits if set.</summary>
    public ushort Type { get; }
    /// <summary>Leaf payload (empty for nests).</summary>
    public ReadOnlyMemory<byte> Value { get; }
    /// <summary>The struct at the start of a nest's payload, if any.</summary>
    public INetlinkStruct? Struct { get; }
    /// <summary>Children of a nest (null for a leaf).</summary>
    public IReadOnlyList<RtAttr>? Children { get; }

    RtAttr(ushort type, ReadOnlyMemory<byte> value, INetlinkStruct? header, IReadOnlyList<RtAttr>? children)
    {
        Type = type; Value = value; Struct = header; Children = children;
    }

    /// <summary>Payload length without padding.</summary>
    public int PayloadLength
    {
        get
        {
            if (Children == null) return Value.Length;
            int n = Struct?.WireSize ?? 0;
            foreach (var c in Children) n += c.AlignedLength;
            return n;
        }
    }

    /// <summary>The value of the nla_len field: header plus unpadded payload.</summary>
    public int Length => HeaderSize + PayloadLength;
    /// <summary>Bytes taken on the wire including padding.</summary>
    public int AlignedLength => Nl.Align(Length);

    /// <summary>Writes this attribute (with padding, zeroed) to the start of <paramref name="dest"/>; returns the aligned length.</summary>
    public int Write(Span<byte> dest)
    {
        int len = Length;
        if (len > ushort.MaxValue) throw new ArgumentException($"attribute {Type & Nl.NLA_TYPE_MASK} is {len} bytes, more than a netlink attribute can hold");
        BinaryPrimitives.WriteUInt16LittleEndian(dest, (ushort)len);
        BinaryPrimitives.WriteUInt16LittleEndian(dest[2..], Type);
        int at = HeaderSize;
        if (Children == null)
        {
            Value.Span.CopyTo(dest[at..]);
            at += Value.Length;
        }
        else
        {
            if (Struct != null) { Struct.Write(dest[at..]); at += Struct.WireSize; }
            foreach (var c in Children) at += c.Write(dest[at..]);
        }
        int aligned = Nl.Align(at);
        dest[at..aligned].Clear();
        return aligned;
    }

    public static RtAttr Bytes(ushort type, ReadOnlySpan<byte> value) => new(type, value.ToArray(), null, null);
    public static RtAttr Flag(ushort type) => new(type, ReadOnlyMemory<byte>.Empty, null, null);
    public static RtAttr U8(ushort type, byte value) => new(type, new[] { value }, null, null);

    public static RtAttr U16(ushort type, ushort value)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        return new(type, b, null, null);
    }

    public static RtAttr U32(ushort type, uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return new(type, b, null, null);
    }

    public static RtAttr I32(ushort type, int value) => U32(type, unchecked((uint)value));

    /// <summary>A 16-bit value in network byte order (e.g. IFLA_VXLAN_PORT).</summary>
    public static RtAttr Be16(ushort type, ushort value)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, value);
        return new(type, b, null, null);
    }

    /// <summary>A NUL-terminated UTF-8 string (NLA_NUL_STRING / NLA_STRING as iproute2 sends them).</summary>
    public static RtAttr String(ushort type, string value)
    {
        var b = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, b);
        return new(type, b, null, null);
    }

    /// <summary>A UTF-8 string without terminating NUL (NLA_STRING as iproute2 sends IFLA_INFO_KIND).</summary>
    public static RtAttr Text(ushort type, string value) => new(type, Encoding.UTF8.GetBytes(value), null, null);

    /// <summary>An IPv4 (4 bytes) or IPv6 (16 bytes) address in network byte order.</summary>
    public static RtAttr Address(ushort type, IPAddress ip) => new(type, ip.GetAddressBytes(), null, null);

    public static RtAttr Nest(ushort type, params RtAttr[] children) => new(type, ReadOnlyMemory<byte>.Empty, null, children);

    public static RtAttr Nest(ushort type, INetlinkStruct header, params RtAttr[] children) =>
        new(type, ReadOnlyMemory<byte>.Empty, header, children);

    /// <summary>Reads a flat list of attributes from <paramref name="span"/> as leaves (payload copied); see <see cref="ParseNested"/>.</summary>
    public static List<RtAttr> Parse(ReadOnlySpan<byte> span)
    {
        var list = new List<RtAttr>();
        foreach (var a in new AttributeReader(span)) list.Add(new RtAttr(a.RawType, a.Payload.ToArray(), null, null));
        return list;
    }

    /// <summary>Reads this leaf's payload as nested attributes (after skipping <paramref name="skip"/> bytes of struct).</summary>
    public List<RtAttr> ParseNested(int skip = 0) => Parse(Value.Span[skip..]);

    public override string ToString() => Children == null
        ? $"attr {Type & Nl.NLA_TYPE_MASK} [{Convert.ToHexString(Value.Span)}]"
        : $"nest {Type & Nl.NLA_TYPE_MASK} {{ {string.Join(", ", Children)} }}";
}

/// <summary>One netlink message: header fields, a family header struct and attributes. Writes itself into bytes.</summary>
internal sealed class NetlinkMessage(ushort type, ushort flags, INetlinkStruct? header, params RtAttr[] attributes)
{
    public ushort Type { get; } = type;
    public ushort Flags { get; } = flags;
    public INetlinkStruct? Header { get; } = header;
    public IReadOnlyList<RtAttr> Attributes { get; } = attributes;

    /// <summary>Total length on the wire (the nlmsg_len value).</summary>
    public int Length
    {
        get
        {
            int n = NlMsgHdr.Size + (Header?.WireSize ?? 0);
            foreach (var a in Attributes) n += a.AlignedLength;
            return n;
        }
    }

    /// <summary>Writes the message with the given sequence number, port id and extra flags; returns its length.</summary>
    public int Write(Span<byte> dest, uint seq, uint pid = 0, ushort extraFlags = 0)
    {
        int len = Length;
        new NlMsgHdr(len, Type, (ushort)(Flags | extraFlags), seq, pid).Write(dest);
        int at = NlMsgHdr.Size;
        if (Header != null) { Header.Write(dest[at..]); at += Header.WireSize; }
        foreach (var a in Attributes) at += a.Write(dest[at..]);
        return at;
    }

    public byte[] ToBytes(uint seq, uint pid = 0)
    {
        var b = new byte[Length];
        Write(b, seq, pid);
        return b;
    }
}

/// <summary>One attribute seen by <see cref="AttributeReader"/>: type without flag bits, and payload without padding.</summary>
internal readonly ref struct AttributeView(ushort rawType, ReadOnlySpan<byte> payload)
{
    public ushort RawType { get; } = rawType;
    public ushort Type => (ushort)(RawType & Nl.NLA_TYPE_MASK);
    public ReadOnlySpan<byte> Payload { get; } = payload;

    public byte AsU8() => Payload[0];
    public ushort AsU16() => BinaryPrimitives.ReadUInt16LittleEndian(Payload);
    public uint AsU32() => BinaryPrimitives.ReadUInt32LittleEndian(Payload);
    public int AsI32() => BinaryPrimitives.ReadInt32LittleEndian(Payload);

    /// <summary>A string attribute, stopping at the first NUL.</summary>
    public string AsString()
    {
        int nul = Payload.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? Payload : Payload[..nul]);
    }

    public IPAddress AsAddress() => new(Payload);
    public AttributeReader Nested(int skip = 0) => new(Payload[skip..]);
}

/// <summary>Allocation-free iteration over a run of attributes; stops at the first malformed one.</summary>
internal ref struct AttributeReader(ReadOnlySpan<byte> span)
{
    ReadOnlySpan<byte> rest = span;
    AttributeView current;

    public readonly AttributeReader GetEnumerator() => this;
    public readonly AttributeView Current => current;

    public bool MoveNext()
    {
        if (rest.Length < RtAttr.HeaderSize) return false;
        int len = BinaryPrimitives.ReadUInt16LittleEndian(rest);
        if (len < RtAttr.HeaderSize || len > rest.Length) { rest = default; return false; }
        current = new AttributeView(BinaryPrimitives.ReadUInt16LittleEndian(rest[2..]), rest[RtAttr.HeaderSize..len]);
        int next = Math.Min(Nl.Align(len), rest.Length);
        rest = rest[next..];
        return true;
    }
}

/// <summary>Allocation-free iteration over the netlink messages in one received datagram.</summary>
internal ref struct MessageReader(ReadOnlySpan<byte> datagram)
{
    ReadOnlySpan<byte> rest = datagram;

    public NlMsgHdr Header { get; private set; }
    /// <summary>The current message's bytes after the 16-byte header.</summary>
    public ReadOnlySpan<byte> Payload { get; private set; }

    public bool MoveNext()
    {
        if (rest.Length < NlMsgHdr.Size) return false;
        var h = NlMsgHdr.Read(rest);
        if (h.Length < NlMsgHdr.Size || h.Length > rest.Length)
            throw new NetlinkException(Libc.EMSGSIZE, $"malformed netlink message from the kernel (length {h.Length}, {rest.Length} bytes left)");
        Header = h;
        Payload = rest[NlMsgHdr.Size..h.Length];
        rest = rest[Math.Min(Nl.Align(h.Length), rest.Length)..];
        return true;
    }
}
