using System.Net;

namespace Tether.Ipam;

/// <summary>
/// Picks addresses for endpoints from a <see cref="SubnetConfig"/>. Stateless: the caller owns the leases
/// (in the store) and passes the last address it handed out plus a lease lookup.
/// </summary>
public static class AddressAllocator
{
    /// <summary>
    /// The next free address, scanning sequentially from the address after <paramref name="last"/> to the end of
    /// the range (the ip range if set, else the subnet), then wrapping once to the start of the range and on up to
    /// <paramref name="last"/> itself. Skips the reserved network address, the IPv4 broadcast address, the gateway and
    /// every address for which <paramref name="inUse"/> is true. Because the scan starts after the last address
    /// handed out, a released address is not handed out again until the scan wraps past it.
    /// </summary>
    /// <param name="config">The subnet to lease from.</param>
    /// <param name="last">
    /// The address most recently handed out in this subnet; null, another family or an address outside the range
    /// means start at the beginning of the range.
    /// </param>
    /// <param name="inUse">True for addresses already leased (dynamic or static) in this subnet.</param>
    /// <remarks>
    /// Cost: one <paramref name="inUse"/> call per leased address met, plus at most three reserved skips, so
    /// O(leases) for a subnet that is not full; proving a range full costs one call per address in it.
    /// </remarks>
    /// <exception cref="IpamException"><c>subnet 10.0.0.0/30 is full</c>, or
    /// <c>ip range 10.0.0.128/30 of subnet 10.0.0.0/24 is full</c>.</exception>
    public static IPAddress Next(SubnetConfig config, IPAddress? last, Func<IPAddress, bool> inUse)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(inUse);
        var subnet = config.Subnet;
        var family = subnet.BaseAddress.AddressFamily;
        var range = config.IpRange ?? subnet;
        var (lo, hi) = AddressMath.Bounds(range);

        var (subnetFirst, subnetLast) = AddressMath.Bounds(subnet);
        bool reserveFirst = Cidr.ReservesNetworkAddress(subnet);
        bool reserveLast = Cidr.BroadcastAddress(subnet) is not null;
        bool hasGateway = config.Gateway.AddressFamily == family;
        var gateway = hasGateway ? AddressMath.ToUInt128(config.Gateway) : UInt128.Zero;

        UInt128 start = lo;
        if (last is not null && last.AddressFamily == family)
        {
            var l = AddressMath.ToUInt128(last);
            if (lo <= l && l <= hi)
                start = l == hi ? lo : l + UInt128.One;
        }

        var cur = start;
        do
        {
            bool reserved = (reserveFirst && cur == subnetFirst) || (reserveLast && cur == subnetLast)
                || (hasGateway && cur == gateway);
            if (!reserved)
            {
                var ip = AddressMath.FromUInt128(cur, family);
                if (!inUse(ip))
                    return ip;
            }
            cur = cur == hi ? lo : cur + UInt128.One;
        } while (cur != start);

        throw new IpamException(config.IpRange is { } r ? $"ip range {r} of subnet {subnet} is full" : $"subnet {subnet} is full");
    }

    /// <summary>
    /// Validates a static address (<c>--ip</c>): it must be in the subnet (anywhere, not only in the ip range) and
    /// be neither the reserved network address, the broadcast address nor the gateway. Whether it is already leased
    /// is for the caller to check.
    /// </summary>
    /// <exception cref="IpamException"><c>address 10.1.0.5 is not in subnet 10.0.0.0/24</c>,
    /// <c>address 10.0.0.0 is the network address of subnet 10.0.0.0/24</c>,
    /// <c>address 10.0.0.255 is the broadcast address of subnet 10.0.0.0/24</c>,
    /// <c>address 10.0.0.1 is the gateway of subnet 10.0.0.0/24</c>.</exception>
    public static void ValidateStatic(SubnetConfig config, IPAddress ip)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(ip);
        SubnetConfig.CheckUsable(config.Subnet, ip, "address");
        if (ip.Equals(config.Gateway))
            throw new IpamException($"address {ip} is the gateway of subnet {config.Subnet}");
    }
}
