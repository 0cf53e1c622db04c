using System.Net;
using System.Net.Sockets;

namespace Tether.Ipam;

/// <summary>
/// Strict parsing and set tests for subnets (CIDR prefixes, RFC 4632 / RFC 4291 section 2.3) and addresses.
/// Works for IPv4 and IPv6 alike.
/// </summary>
public static class Cidr
{
    /// <summary>
    /// Parses <c>address/prefix-length</c>, e.g. <c>10.0.0.0/24</c> or <c>fd00:1::/64</c>.
    /// Strict: the address must pass <see cref="ParseAddress"/>, the prefix length is decimal without sign,
    /// spaces or leading zeros and at most 32 (IPv4) or 128 (IPv6), and the host bits must be zero.
    /// </summary>
    /// <exception cref="IpamException">
    /// <c>invalid subnet "10.0.0.300/24"</c>; <c>invalid subnet "10.0.0.0/33": prefix length must be 0-32</c>;
    /// <c>invalid subnet 10.0.0.1/24: host bits are set (did you mean 10.0.0.0/24?)</c>.
    /// </exception>
    public static IPNetwork ParseSubnet(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/');
        if (slash < 0)
            throw new IpamException($"invalid subnet \"{text}\": expected address/prefix-length, e.g. 10.0.0.0/24");
        var address = TryParseAddress(text.AsSpan(0, slash))
            ?? throw new IpamException($"invalid subnet \"{text}\"");
        int bits = AddressMath.Bits(address.AddressFamily);
        var prefixText = text.AsSpan(slash + 1);
        if (!TryParseDecimal(prefixText, out int prefix))
            throw new IpamException($"invalid subnet \"{text}\": prefix length \"{prefixText}\" is not a number");
        if (prefix > bits)
            throw new IpamException($"invalid subnet \"{text}\": prefix length must be 0-{bits}");

        var value = AddressMath.ToUInt128(address);
        var hostMask = AddressMath.HostMask(prefix, address.AddressFamily);
        if ((value & hostMask) != UInt128.Zero)
        {
            var fixedAddress = AddressMath.FromUInt128(value & ~hostMask, address.AddressFamily);
            throw new IpamException(
                $"invalid subnet {address}/{prefix}: host bits are set (did you mean {fixedAddress}/{prefix}?)");
        }
        return new IPNetwork(address, prefix);
    }

    /// <summary>
    /// Parses one IPv4 address in dotted-quad form (exactly four decimal octets 0-255, no leading zeros, which
    /// some parsers read as octal) or one IPv6 address in RFC 4291 section 2.2 text form (no brackets, no zone
    /// such as <c>%eth0</c>). Rejects the shorthand forms <see cref="IPAddress.TryParse(string?, out IPAddress?)"/>
    /// accepts, such as <c>1</c>, <c>1.2.3</c> or <c>0x7f.1</c>.
    /// </summary>
    /// <exception cref="IpamException"><c>invalid address "1.2.3"</c>.</exception>
    public static IPAddress ParseAddress(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseAddress(text) ?? throw new IpamException($"invalid address \"{text}\"");
    }

    /// <summary>Strict parse as in <see cref="ParseAddress"/>; null when <paramref name="text"/> is not an address.</summary>
    public static IPAddress? TryParseAddress(ReadOnlySpan<char> text)
    {
        if (text.Contains(':'))
            return TryParseV6(text);
        return TryParseV4(text, out uint v) ? AddressMath.FromUInt128(v, AddressFamily.InterNetwork) : null;
    }

    /// <summary>
    /// True when the two networks share at least one address (one contains the other's base address).
    /// Networks of different address families never overlap.
    /// </summary>
    public static bool Overlaps(IPNetwork a, IPNetwork b)
    {
        if (a.BaseAddress.AddressFamily != b.BaseAddress.AddressFamily)
            return false;
        var (aFirst, aLast) = AddressMath.Bounds(a);
        var (bFirst, bLast) = AddressMath.Bounds(b);
        return aFirst <= bLast && bFirst <= aLast;
    }

    /// <summary>True when <paramref name="ip"/> is inside <paramref name="net"/>; false across address families.</summary>
    public static bool Contains(IPNetwork net, IPAddress ip)
    {
        if (net.BaseAddress.AddressFamily != ip.AddressFamily)
            return false;
        var (first, last) = AddressMath.Bounds(net);
        var v = AddressMath.ToUInt128(ip);
        return first <= v && v <= last;
    }

    /// <summary>True when <paramref name="inner"/> lies entirely inside <paramref name="outer"/> (same family).</summary>
    public static bool ContainsNetwork(IPNetwork outer, IPNetwork inner) =>
        inner.PrefixLength >= outer.PrefixLength && Contains(outer, inner.BaseAddress);

    /// <summary>
    /// Whether the first address of <paramref name="net"/> is reserved (never a gateway or lease): the IPv4 network
    /// address, or the IPv6 Subnet-Router anycast address (RFC 4291 section 2.6.1). Not reserved in IPv4 /31
    /// (RFC 3021 point-to-point), /32, IPv6 /127 (RFC 6164) and /128, where every address is usable.
    /// </summary>
    public static bool ReservesNetworkAddress(IPNetwork net) =>
        AddressMath.Bits(net.BaseAddress.AddressFamily) - net.PrefixLength >= 2;

    /// <summary>
    /// The IPv4 directed broadcast address (all host bits set) when the subnet has one, i.e. prefix length 0-30;
    /// null for /31 (RFC 3021), /32 and every IPv6 subnet (IPv6 has no broadcast).
    /// </summary>
    public static IPAddress? BroadcastAddress(IPNetwork net)
    {
        if (net.BaseAddress.AddressFamily != AddressFamily.InterNetwork || net.PrefixLength > 30)
            return null;
        return AddressMath.FromUInt128(AddressMath.Bounds(net).Last, AddressFamily.InterNetwork);
    }

    static bool TryParseDecimal(ReadOnlySpan<char> s, out int value)
    {
        value = 0;
        if (s.Length == 0 || s.Length > 3 || (s.Length > 1 && s[0] == '0'))
            return false;
        foreach (char c in s)
        {
            if (c is < '0' or > '9')
                return false;
            value = value * 10 + (c - '0');
        }
        return true;
    }

    static bool TryParseV4(ReadOnlySpan<char> s, out uint value)
    {
        value = 0;
        int parts = 0;
        while (true)
        {
            int dot = s.IndexOf('.');
            var part = dot < 0 ? s : s[..dot];
            if (!TryParseDecimal(part, out int octet) || octet > 255)
                return false;
            value = (value << 8) | (uint)octet;
            parts++;
            if (dot < 0)
                break;
            if (parts == 4)
                return false;
            s = s[(dot + 1)..];
        }
        return parts == 4;
    }

    static IPAddress? TryParseV6(ReadOnlySpan<char> s)
    {
        foreach (char c in s)
        {
            if (!(char.IsAsciiHexDigit(c) || c == ':' || c == '.'))
                return null; // brackets, zones (%eth0), ports, spaces
        }
        int lastColon = s.LastIndexOf(':');
        var tail = s[(lastColon + 1)..];
        if (tail.Contains('.') && !TryParseV4(tail, out _))
            return null; // embedded IPv4 (::ffff:1.2.3.4) must itself be a full dotted quad
        if (!IPAddress.TryParse(s, out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6 || ip.ScopeId != 0)
            return null;
        return ip;
    }
}
