using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Tether.Ipam;

/// <summary>
/// Address arithmetic on <see cref="UInt128"/> so one code path serves IPv4 (32 bits, the low bits of the value)
/// and IPv6 (128 bits). Values are the address read as a big-endian (network order) unsigned integer.
/// </summary>
internal static class AddressMath
{
    /// <summary>Address width in bits: 32 for IPv4, 128 for IPv6.</summary>
    public static int Bits(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => 32,
        AddressFamily.InterNetworkV6 => 128,
        _ => throw new IpamException($"unsupported address family {family}"),
    };

    public static UInt128 ToUInt128(IPAddress ip)
    {
        Span<byte> b = stackalloc byte[16];
        if (!ip.TryWriteBytes(b, out int written))
            throw new IpamException($"cannot read address {ip}");
        return written == 4 ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt128BigEndian(b);
    }

    public static IPAddress FromUInt128(UInt128 value, AddressFamily family)
    {
        if (family == AddressFamily.InterNetwork)
        {
            Span<byte> b4 = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b4, (uint)value);
            return new IPAddress(b4);
        }
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(b, value);
        return new IPAddress(b);
    }

    /// <summary>Mask of the host part for a prefix length: the low (bits - prefix) bits set.</summary>
    public static UInt128 HostMask(int prefixLength, AddressFamily family)
    {
        int hostBits = Bits(family) - prefixLength;
        return hostBits >= 128 ? UInt128.MaxValue : (UInt128.One << hostBits) - UInt128.One;
    }

    /// <summary>First and last address of a network, as integers.</summary>
    public static (UInt128 First, UInt128 Last) Bounds(IPNetwork net)
    {
        var family = net.BaseAddress.AddressFamily;
        var mask = HostMask(net.PrefixLength, family);
        var first = ToUInt128(net.BaseAddress) & ~mask;
        return (first, first | mask);
    }
}
