using System.Net;
using System.Net.Sockets;

namespace Tether.Ipam;

/// <summary>
/// The default address pools a network's subnet is carved from when the user gives none. Same layout as
/// Docker's defaults: 172.17.0.0/16 for the default network <c>bridge</c>, then 172.18.0.0/16 through
/// 172.31.0.0/16, then 192.168.0.0/16 carved into sixteen /20s. All are RFC 1918 private space.
/// There is no default IPv6 pool: IPv6 subnets must be given explicitly.
/// </summary>
public static class DefaultPools
{
    /// <summary>172.17.0.0/16, the subnet of the default network <c>bridge</c>.</summary>
    public static IPNetwork DefaultBridgeSubnet { get; } = new(IPAddress.Parse("172.17.0.0"), 16);

    /// <summary>
    /// Every candidate subnet, in the order <see cref="NextSubnet"/> tries them:
    /// 172.18.0.0/16 ... 172.31.0.0/16 (14), then 192.168.0.0/20, 192.168.16.0/20 ... 192.168.240.0/20 (16).
    /// </summary>
    public static IReadOnlyList<IPNetwork> Candidates { get; } = BuildCandidates();

    /// <summary>
    /// The first candidate (see <see cref="Candidates"/>) that overlaps nothing in <paramref name="taken"/>.
    /// </summary>
    /// <param name="taken">
    /// Everything a new subnet must not collide with: the subnets of existing networks AND the destinations of the
    /// host's routes (connected and static). The caller must leave out default routes (0.0.0.0/0, ::/0) — they
    /// overlap everything and would exhaust the pools. Subnets of another address family are ignored.
    /// </param>
    /// <exception cref="IpamException">
    /// <c>no available address pool: all default pools overlap existing networks or routes</c>.
    /// </exception>
    public static IPNetwork NextSubnet(IEnumerable<IPNetwork> taken)
    {
        ArgumentNullException.ThrowIfNull(taken);
        var v4 = new List<IPNetwork>();
        foreach (var t in taken)
        {
            if (t.BaseAddress.AddressFamily == AddressFamily.InterNetwork)
                v4.Add(t);
        }
        foreach (var candidate in Candidates)
        {
            bool free = true;
            foreach (var t in v4)
            {
                if (Cidr.Overlaps(candidate, t))
                {
                    free = false;
                    break;
                }
            }
            if (free)
                return candidate;
        }
        throw new IpamException("no available address pool: all default pools overlap existing networks or routes");
    }

    static IPNetwork[] BuildCandidates()
    {
        var list = new List<IPNetwork>(30);
        for (int b = 18; b <= 31; b++)
            list.Add(new IPNetwork(new IPAddress([172, (byte)b, 0, 0]), 16));
        for (int c = 0; c < 256; c += 16)
            list.Add(new IPNetwork(new IPAddress([192, 168, (byte)c, 0]), 20));
        return [.. list];
    }
}
