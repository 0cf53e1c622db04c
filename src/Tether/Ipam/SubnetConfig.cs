using System.Net;

namespace Tether.Ipam;

/// <summary>
/// One subnet of a network as IPAM sees it: the subnet, its gateway (the address the bridge/host side holds)
/// and an optional <c>--ip-range</c>, a sub-prefix of the subnet that dynamic leases are taken from
/// (static addresses may be anywhere in the subnet).
/// Build it with <see cref="Create"/>, which validates; the positional constructor trusts its arguments
/// (use it only for values read back from the store that were validated when stored).
/// </summary>
/// <remarks>
/// Reserved addresses: the network address (IPv4) / Subnet-Router anycast address (IPv6) and the IPv4 broadcast
/// address, except in IPv4 /31 and /32 and IPv6 /127 and /128 where every address is usable (RFC 3021, RFC 6164);
/// see <see cref="Cidr.ReservesNetworkAddress"/> and <see cref="Cidr.BroadcastAddress"/>. So a /31 has two usable
/// addresses (gateway and one lease), and a /32 or /128 has one, which is the gateway, leaving nothing to lease.
/// </remarks>
public sealed record SubnetConfig(IPNetwork Subnet, IPAddress Gateway, IPNetwork? IpRange)
{
    /// <summary>
    /// Validates and builds a subnet config.
    /// </summary>
    /// <param name="subnet">The subnet; host bits zero (as from <see cref="Cidr.ParseSubnet"/>).</param>
    /// <param name="gateway">
    /// The gateway; null means the first usable address: network+1, or the network address itself in a /31, /32,
    /// /127 or /128 where it is not reserved.
    /// </param>
    /// <param name="ipRange">Optional range for dynamic leases; must lie inside <paramref name="subnet"/>.</param>
    /// <exception cref="IpamException">
    /// <c>gateway 10.1.0.1 is not in subnet 10.0.0.0/24</c>, <c>gateway 10.0.0.0 is the network address of subnet
    /// 10.0.0.0/24</c>, <c>gateway 10.0.0.255 is the broadcast address of subnet 10.0.0.0/24</c>,
    /// <c>ip range 10.1.0.0/25 is not in subnet 10.0.0.0/24</c>.
    /// </exception>
    public static SubnetConfig Create(IPNetwork subnet, IPAddress? gateway, IPNetwork? ipRange)
    {
        var (first, _) = AddressMath.Bounds(subnet);
        var family = subnet.BaseAddress.AddressFamily;
        AddressMath.Bits(family); // rejects families other than IPv4/IPv6
        // IPNetwork's constructor already rejects set host bits, so subnet.BaseAddress is the first address.

        if (gateway is null)
        {
            var gw = Cidr.ReservesNetworkAddress(subnet) ? first + UInt128.One : first;
            gateway = AddressMath.FromUInt128(gw, family);
        }
        else
        {
            CheckUsable(subnet, gateway, "gateway");
        }

        if (ipRange is { } range)
        {
            if (range.BaseAddress.AddressFamily != family || !Cidr.ContainsNetwork(subnet, range))
                throw new IpamException($"ip range {range} is not in subnet {subnet}");
        }
        return new SubnetConfig(subnet, gateway, ipRange);
    }

    /// <summary>
    /// Throws unless <paramref name="ip"/> is in <paramref name="subnet"/> and is neither its reserved network
    /// address nor its broadcast address. <paramref name="what"/> starts the message ("gateway", "address").
    /// </summary>
    internal static void CheckUsable(IPNetwork subnet, IPAddress ip, string what)
    {
        if (!Cidr.Contains(subnet, ip))
            throw new IpamException($"{what} {ip} is not in subnet {subnet}");
        var (first, _) = AddressMath.Bounds(subnet);
        if (Cidr.ReservesNetworkAddress(subnet) && AddressMath.ToUInt128(ip) == first)
            throw new IpamException($"{what} {ip} is the network address of subnet {subnet}");
        if (ip.Equals(Cidr.BroadcastAddress(subnet)))
            throw new IpamException($"{what} {ip} is the broadcast address of subnet {subnet}");
    }
}
