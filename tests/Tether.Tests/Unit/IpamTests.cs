using System.Diagnostics;
using System.Net;
using Tether.Ipam;

namespace Tether.Tests.Unit;

public class IpamCidrTests
{
    [Theory]
    [InlineData("10.0.0.0/24", "10.0.0.0", 24)]
    [InlineData("0.0.0.0/0", "0.0.0.0", 0)]
    [InlineData("10.0.0.7/32", "10.0.0.7", 32)]
    [InlineData("172.17.0.0/16", "172.17.0.0", 16)]
    [InlineData("fd00:1::/64", "fd00:1::", 64)]
    [InlineData("::/0", "::", 0)]
    [InlineData("2001:db8::1/128", "2001:db8::1", 128)]
    public void ParseSubnet_accepts_valid(string text, string address, int prefix)
    {
        var net = Cidr.ParseSubnet(text);
        Assert.Equal(IPAddress.Parse(address), net.BaseAddress);
        Assert.Equal(prefix, net.PrefixLength);
    }

    [Theory]
    [InlineData("10.0.0.300/24", "invalid subnet \"10.0.0.300/24\"")]
    [InlineData("10.0.0/24", "invalid subnet \"10.0.0/24\"")]
    [InlineData("10/8", "invalid subnet \"10/8\"")]
    [InlineData("/24", "invalid subnet \"/24\"")]
    [InlineData("[fd00::]/64", "invalid subnet \"[fd00::]/64\"")]
    [InlineData("10.0.0.0", "invalid subnet \"10.0.0.0\": expected address/prefix-length, e.g. 10.0.0.0/24")]
    [InlineData("10.0.0.0/", "invalid subnet \"10.0.0.0/\": prefix length \"\" is not a number")]
    [InlineData("10.0.0.0/x", "invalid subnet \"10.0.0.0/x\": prefix length \"x\" is not a number")]
    [InlineData("10.0.0.0/024", "invalid subnet \"10.0.0.0/024\": prefix length \"024\" is not a number")]
    [InlineData("10.0.0.0/+8", "invalid subnet \"10.0.0.0/+8\": prefix length \"+8\" is not a number")]
    [InlineData("10.0.0.0/24/1", "invalid subnet \"10.0.0.0/24/1\": prefix length \"24/1\" is not a number")]
    [InlineData("10.0.0.0/33", "invalid subnet \"10.0.0.0/33\": prefix length must be 0-32")]
    [InlineData("fd00::/129", "invalid subnet \"fd00::/129\": prefix length must be 0-128")]
    [InlineData("10.0.0.1/24", "invalid subnet 10.0.0.1/24: host bits are set (did you mean 10.0.0.0/24?)")]
    [InlineData("172.18.5.4/16", "invalid subnet 172.18.5.4/16: host bits are set (did you mean 172.18.0.0/16?)")]
    [InlineData("fd00::1/64", "invalid subnet fd00::1/64: host bits are set (did you mean fd00::/64?)")]
    [InlineData("1.2.3.4/0", "invalid subnet 1.2.3.4/0: host bits are set (did you mean 0.0.0.0/0?)")]
    public void ParseSubnet_rejects_with_one_clear_line(string text, string message)
    {
        var e = Assert.Throws<IpamException>(() => Cidr.ParseSubnet(text));
        Assert.Equal(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("10.0.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("255.255.255.255")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fe80::1")]
    [InlineData("2001:db8:0:0:0:0:0:1")]
    [InlineData("::ffff:10.0.0.1")]
    public void ParseAddress_accepts_canonical_forms(string text)
    {
        Assert.Equal(IPAddress.Parse(text), Cidr.ParseAddress(text));
    }

    [Theory]
    [InlineData("1")]
    [InlineData("1.2.3")]
    [InlineData("1.2")]
    [InlineData("1.2.3.4.5")]
    [InlineData("1.2.3.256")]
    [InlineData("01.2.3.4")]
    [InlineData("0x7f.0.0.1")]
    [InlineData("1.2.3.")]
    [InlineData(".1.2.3")]
    [InlineData("1..2.3")]
    [InlineData(" 1.2.3.4")]
    [InlineData("1.2.3.4 ")]
    [InlineData("")]
    [InlineData("-1.2.3.4")]
    [InlineData("fe80::1%eth0")]
    [InlineData("fe80::1%2")]
    [InlineData("[::1]")]
    [InlineData("[::1]:80")]
    [InlineData("::ffff:1.2.3")]
    [InlineData("::ffff:1.2.3.999")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("gggg::1")]
    [InlineData(":::")]
    [InlineData("host.example")]
    public void ParseAddress_rejects_shorthand_and_junk(string text)
    {
        var e = Assert.Throws<IpamException>(() => Cidr.ParseAddress(text));
        Assert.Equal($"invalid address \"{text}\"", e.Message);
    }

    [Fact]
    public void The_lenient_BCL_parser_accepts_what_ParseAddress_rejects()
    {
        // Guards the reason ParseAddress exists: if the BCL ever gets strict these still must be rejected by us.
        Assert.True(IPAddress.TryParse("1", out _));
        Assert.True(IPAddress.TryParse("1.2.3", out _));
        Assert.Throws<IpamException>(() => Cidr.ParseAddress("1"));
        Assert.Throws<IpamException>(() => Cidr.ParseAddress("1.2.3"));
    }

    [Theory]
    [InlineData("10.0.0.0/8", "10.1.0.0/16", true)]
    [InlineData("10.1.0.0/16", "10.0.0.0/8", true)]
    [InlineData("10.0.0.0/24", "10.0.0.0/24", true)]
    [InlineData("10.0.0.0/24", "10.0.1.0/24", false)]
    [InlineData("10.0.0.0/23", "10.0.1.0/24", true)]
    [InlineData("10.0.0.0/24", "10.0.0.255/32", true)]
    [InlineData("10.0.0.0/24", "10.0.1.0/32", false)]
    [InlineData("0.0.0.0/0", "192.168.0.0/16", true)]
    [InlineData("255.255.255.255/32", "255.255.255.0/24", true)]
    [InlineData("fd00::/64", "fd00::1/128", true)]
    [InlineData("fd00::/64", "fd00:0:0:1::/64", false)]
    [InlineData("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", true)]
    [InlineData("0.0.0.0/0", "::/0", false)]
    [InlineData("::ffff:10.0.0.0/120", "10.0.0.0/24", false)]
    public void Overlaps_is_symmetric_and_family_aware(string a, string b, bool expected)
    {
        var na = Cidr.ParseSubnet(a);
        var nb = Cidr.ParseSubnet(b);
        Assert.Equal(expected, Cidr.Overlaps(na, nb));
        Assert.Equal(expected, Cidr.Overlaps(nb, na));
    }

    [Theory]
    [InlineData("10.0.0.0/24", "10.0.0.0", true)]
    [InlineData("10.0.0.0/24", "10.0.0.255", true)]
    [InlineData("10.0.0.0/24", "10.0.1.0", false)]
    [InlineData("10.0.0.0/24", "9.255.255.255", false)]
    [InlineData("0.0.0.0/0", "255.255.255.255", true)]
    [InlineData("10.0.0.5/32", "10.0.0.5", true)]
    [InlineData("10.0.0.5/32", "10.0.0.6", false)]
    [InlineData("fd00::/64", "fd00::ffff:ffff:ffff:ffff", true)]
    [InlineData("fd00::/64", "fd00:0:0:1::", false)]
    [InlineData("10.0.0.0/24", "::ffff:10.0.0.1", false)]
    [InlineData("::/0", "10.0.0.1", false)]
    public void Contains_checks_bounds_and_family(string net, string ip, bool expected)
    {
        Assert.Equal(expected, Cidr.Contains(Cidr.ParseSubnet(net), IPAddress.Parse(ip)));
    }

    [Theory]
    [InlineData("10.0.0.0/24", true, "10.0.0.255")]
    [InlineData("10.0.0.0/30", true, "10.0.0.3")]
    [InlineData("10.0.0.0/31", false, null)]
    [InlineData("10.0.0.0/32", false, null)]
    [InlineData("fd00::/64", true, null)]
    [InlineData("fd00::/126", true, null)]
    [InlineData("fd00::/127", false, null)]
    [InlineData("fd00::/128", false, null)]
    public void Reserved_addresses_follow_RFC_3021_and_6164(string net, bool reservesFirst, string? broadcast)
    {
        var n = Cidr.ParseSubnet(net);
        Assert.Equal(reservesFirst, Cidr.ReservesNetworkAddress(n));
        Assert.Equal(broadcast is null ? null : IPAddress.Parse(broadcast), Cidr.BroadcastAddress(n));
    }
}

public class IpamDefaultPoolsTests
{
    static IPNetwork N(string s) => Cidr.ParseSubnet(s);

    [Fact]
    public void Default_bridge_subnet_is_172_17()
    {
        Assert.Equal(N("172.17.0.0/16"), DefaultPools.DefaultBridgeSubnet);
    }

    [Fact]
    public void Candidates_are_in_docker_order()
    {
        var expected = new List<string>();
        for (int b = 18; b <= 31; b++) expected.Add($"172.{b}.0.0/16");
        for (int c = 0; c < 256; c += 16) expected.Add($"192.168.{c}.0/20");
        Assert.Equal(expected, DefaultPools.Candidates.Select(n => n.ToString()));
    }

    [Fact]
    public void First_subnet_with_nothing_taken_is_172_18()
    {
        Assert.Equal(N("172.18.0.0/16"), DefaultPools.NextSubnet([]));
        Assert.Equal(N("172.18.0.0/16"), DefaultPools.NextSubnet([DefaultPools.DefaultBridgeSubnet]));
    }

    [Fact]
    public void Walks_the_pools_in_order_as_networks_are_made()
    {
        var taken = new List<IPNetwork> { DefaultPools.DefaultBridgeSubnet };
        var got = new List<string>();
        for (int i = 0; i < 30; i++)
        {
            var next = DefaultPools.NextSubnet(taken);
            got.Add(next.ToString());
            taken.Add(next);
        }
        Assert.Equal(DefaultPools.Candidates.Select(n => n.ToString()), got);
        var e = Assert.Throws<IpamException>(() => DefaultPools.NextSubnet(taken));
        Assert.Equal("no available address pool: all default pools overlap existing networks or routes", e.Message);
    }

    [Fact]
    public void A_host_route_inside_a_pool_skips_that_pool()
    {
        Assert.Equal(N("172.19.0.0/16"), DefaultPools.NextSubnet([N("172.18.5.0/24")]));
    }

    [Fact]
    public void A_host_route_covering_several_pools_skips_them_all()
    {
        // 172.16.0.0/12 is all of 172.16-31: the first free candidate is 192.168.0.0/20.
        Assert.Equal(N("192.168.0.0/20"), DefaultPools.NextSubnet([N("172.16.0.0/12")]));
        // A LAN on 192.168.0.0/24 plus all of 172.16/12 taken: skip the first /20 only.
        Assert.Equal(N("192.168.16.0/20"), DefaultPools.NextSubnet([N("172.16.0.0/12"), N("192.168.0.0/24")]));
    }

    [Fact]
    public void A_gap_left_by_a_removed_network_is_reused_first()
    {
        var taken = new[] { N("172.18.0.0/16"), N("172.20.0.0/16") };
        Assert.Equal(N("172.19.0.0/16"), DefaultPools.NextSubnet(taken));
    }

    [Fact]
    public void User_subnets_that_are_not_pools_still_block_overlapping_pools()
    {
        Assert.Equal(N("172.20.0.0/16"), DefaultPools.NextSubnet([N("172.18.0.0/15")]));
        Assert.Equal(N("172.18.0.0/16"), DefaultPools.NextSubnet([N("10.0.0.0/8"), N("172.17.0.0/16")]));
    }

    [Fact]
    public void IPv6_entries_are_ignored()
    {
        Assert.Equal(N("172.18.0.0/16"), DefaultPools.NextSubnet([N("::/0"), N("fd00::/8")]));
    }

    [Fact]
    public void A_default_route_if_not_filtered_by_the_caller_exhausts_the_pools()
    {
        // Documented contract: callers drop 0.0.0.0/0. This pins what happens if they do not.
        Assert.Throws<IpamException>(() => DefaultPools.NextSubnet([N("0.0.0.0/0")]));
    }
}

public class IpamSubnetConfigTests
{
    static IPNetwork N(string s) => Cidr.ParseSubnet(s);
    static IPAddress A(string s) => IPAddress.Parse(s);

    [Theory]
    [InlineData("10.0.0.0/24", "10.0.0.1")]
    [InlineData("172.17.0.0/16", "172.17.0.1")]
    [InlineData("10.0.0.0/30", "10.0.0.1")]
    [InlineData("10.0.0.0/31", "10.0.0.0")]
    [InlineData("10.0.0.7/32", "10.0.0.7")]
    [InlineData("fd00::/64", "fd00::1")]
    [InlineData("fd00::/127", "fd00::")]
    [InlineData("fd00::5/128", "fd00::5")]
    public void Default_gateway_is_the_first_usable_address(string subnet, string gateway)
    {
        var c = SubnetConfig.Create(N(subnet), null, null);
        Assert.Equal(A(gateway), c.Gateway);
        Assert.Equal(N(subnet), c.Subnet);
        Assert.Null(c.IpRange);
    }

    [Fact]
    public void Explicit_gateway_and_range_are_kept()
    {
        var c = SubnetConfig.Create(N("10.0.0.0/24"), A("10.0.0.254"), N("10.0.0.128/25"));
        Assert.Equal(new SubnetConfig(N("10.0.0.0/24"), A("10.0.0.254"), N("10.0.0.128/25")), c);
    }

    [Fact]
    public void Default_gateway_ignores_the_ip_range()
    {
        var c = SubnetConfig.Create(N("10.0.0.0/24"), null, N("10.0.0.128/25"));
        Assert.Equal(A("10.0.0.1"), c.Gateway);
    }

    [Theory]
    [InlineData("10.0.0.0/24", "10.1.0.1", "gateway 10.1.0.1 is not in subnet 10.0.0.0/24")]
    [InlineData("10.0.0.0/24", "10.0.0.0", "gateway 10.0.0.0 is the network address of subnet 10.0.0.0/24")]
    [InlineData("10.0.0.0/24", "10.0.0.255", "gateway 10.0.0.255 is the broadcast address of subnet 10.0.0.0/24")]
    [InlineData("10.0.0.0/24", "fd00::1", "gateway fd00::1 is not in subnet 10.0.0.0/24")]
    [InlineData("fd00::/64", "10.0.0.1", "gateway 10.0.0.1 is not in subnet fd00::/64")]
    [InlineData("fd00::/64", "fd00::", "gateway fd00:: is the network address of subnet fd00::/64")]
    [InlineData("10.0.0.4/32", "10.0.0.5", "gateway 10.0.0.5 is not in subnet 10.0.0.4/32")]
    public void Bad_gateways_are_named(string subnet, string gateway, string message)
    {
        var e = Assert.Throws<IpamException>(() => SubnetConfig.Create(N(subnet), A(gateway), null));
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData("10.0.0.0/31", "10.0.0.0")]
    [InlineData("10.0.0.0/31", "10.0.0.1")]
    [InlineData("fd00::/64", "fd00::ffff:ffff:ffff:ffff")] // IPv6 has no broadcast
    public void Point_to_point_and_IPv6_allow_edge_gateways(string subnet, string gateway)
    {
        Assert.Equal(A(gateway), SubnetConfig.Create(N(subnet), A(gateway), null).Gateway);
    }

    [Theory]
    [InlineData("10.0.0.0/24", "10.0.1.0/25", "ip range 10.0.1.0/25 is not in subnet 10.0.0.0/24")]
    [InlineData("10.0.0.0/24", "10.0.0.0/23", "ip range 10.0.0.0/23 is not in subnet 10.0.0.0/24")]
    [InlineData("10.0.0.0/24", "fd00::/120", "ip range fd00::/120 is not in subnet 10.0.0.0/24")]
    [InlineData("fd00::/64", "fd00:0:0:1::/80", "ip range fd00:0:0:1::/80 is not in subnet fd00::/64")]
    public void Bad_ip_ranges_are_named(string subnet, string range, string message)
    {
        var e = Assert.Throws<IpamException>(() => SubnetConfig.Create(N(subnet), null, N(range)));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Ip_range_equal_to_the_subnet_is_fine()
    {
        Assert.Equal(N("10.0.0.0/24"), SubnetConfig.Create(N("10.0.0.0/24"), null, N("10.0.0.0/24")).IpRange);
    }
}

public class IpamAllocatorTests
{
    static IPNetwork N(string s) => Cidr.ParseSubnet(s);
    static IPAddress A(string s) => IPAddress.Parse(s);
    static SubnetConfig C(string subnet, string? gw = null, string? range = null) =>
        SubnetConfig.Create(N(subnet), gw is null ? null : A(gw), range is null ? null : N(range));

    /// <summary>Leases like the engine would: a lease set plus the last address handed out.</summary>
    sealed class Leases(SubnetConfig config)
    {
        public readonly HashSet<IPAddress> InUse = [];
        public IPAddress? Last;
        public IPAddress Take()
        {
            var ip = AddressAllocator.Next(config, Last, InUse.Contains);
            Assert.True(InUse.Add(ip), $"{ip} handed out twice");
            Last = ip;
            return ip;
        }
        public void Release(string ip) => Assert.True(InUse.Remove(A(ip)));
    }

    [Fact]
    public void Sequential_leasing_skips_network_and_gateway()
    {
        var l = new Leases(C("10.0.0.0/24"));
        Assert.Equal(A("10.0.0.2"), l.Take());
        Assert.Equal(A("10.0.0.3"), l.Take());
        Assert.Equal(A("10.0.0.4"), l.Take());
    }

    [Fact]
    public void A_gateway_in_the_middle_is_skipped()
    {
        var l = new Leases(C("10.0.0.0/29", "10.0.0.3"));
        Assert.Equal(["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
            Enumerable.Range(0, 5).Select(_ => l.Take().ToString()));
        var e = Assert.Throws<IpamException>(() => l.Take());
        Assert.Equal("subnet 10.0.0.0/29 is full", e.Message);
    }

    [Fact]
    public void A_released_address_is_not_reused_until_the_range_wraps()
    {
        var l = new Leases(C("10.0.0.0/29")); // usable .2-.6 (gateway .1, broadcast .7)
        Assert.Equal(A("10.0.0.2"), l.Take());
        Assert.Equal(A("10.0.0.3"), l.Take());
        Assert.Equal(A("10.0.0.4"), l.Take());
        l.Release("10.0.0.3");
        Assert.Equal(A("10.0.0.5"), l.Take()); // not .3
        l.Release("10.0.0.2");
        Assert.Equal(A("10.0.0.6"), l.Take());
        Assert.Equal(A("10.0.0.2"), l.Take()); // wrapped: lowest free after the start
        Assert.Equal(A("10.0.0.3"), l.Take());
        Assert.Throws<IpamException>(() => l.Take());
    }

    [Fact]
    public void The_last_address_itself_is_the_final_candidate_after_a_wrap()
    {
        var c = C("10.0.0.0/29");
        // Everything but .4 is leased and .4 was the last handed out (then released): it comes back only now.
        var used = new HashSet<IPAddress> { A("10.0.0.2"), A("10.0.0.3"), A("10.0.0.5"), A("10.0.0.6") };
        Assert.Equal(A("10.0.0.4"), AddressAllocator.Next(c, A("10.0.0.4"), used.Contains));
    }

    [Fact]
    public void Last_at_the_end_of_the_range_wraps_to_the_start()
    {
        var c = C("10.0.0.0/24");
        Assert.Equal(A("10.0.0.2"), AddressAllocator.Next(c, A("10.0.0.254"), _ => false));
        Assert.Equal(A("10.0.0.2"), AddressAllocator.Next(c, A("10.0.0.255"), _ => false));
    }

    [Fact]
    public void Last_outside_the_range_or_of_another_family_starts_at_the_beginning()
    {
        var c = C("10.0.0.0/24", range: "10.0.0.128/25");
        Assert.Equal(A("10.0.0.128"), AddressAllocator.Next(c, A("10.0.0.5"), _ => false));
        Assert.Equal(A("10.0.0.128"), AddressAllocator.Next(c, A("192.168.0.1"), _ => false));
        Assert.Equal(A("10.0.0.128"), AddressAllocator.Next(c, A("fd00::1"), _ => false));
    }

    [Fact]
    public void Slash_30_has_one_lease_then_is_full()
    {
        // .0 network, .1 gateway, .2 usable, .3 broadcast.
        var l = new Leases(C("10.0.0.0/30"));
        Assert.Equal(A("10.0.0.2"), l.Take());
        var e = Assert.Throws<IpamException>(() => l.Take());
        Assert.Equal("subnet 10.0.0.0/30 is full", e.Message);
        Assert.Single(l.InUse);
    }

    [Fact]
    public void Slash_31_leases_the_one_address_besides_the_gateway()
    {
        var l = new Leases(C("10.0.0.0/31")); // gateway 10.0.0.0 by default (RFC 3021: no network/broadcast)
        Assert.Equal(A("10.0.0.1"), l.Take());
        Assert.Equal("subnet 10.0.0.0/31 is full", Assert.Throws<IpamException>(() => l.Take()).Message);

        var l2 = new Leases(C("10.0.0.0/31", "10.0.0.1"));
        Assert.Equal(A("10.0.0.0"), l2.Take());
    }

    [Fact]
    public void Slash_32_has_nothing_to_lease()
    {
        var c = C("10.0.0.7/32");
        Assert.Equal("subnet 10.0.0.7/32 is full",
            Assert.Throws<IpamException>(() => AddressAllocator.Next(c, null, _ => false)).Message);
    }

    [Fact]
    public void Ip_range_bounds_the_leases()
    {
        var l = new Leases(C("10.0.0.0/24", range: "10.0.0.252/30"));
        Assert.Equal(["10.0.0.252", "10.0.0.253", "10.0.0.254"],
            Enumerable.Range(0, 3).Select(_ => l.Take().ToString())); // .255 is the broadcast
        var e = Assert.Throws<IpamException>(() => l.Take());
        Assert.Equal("ip range 10.0.0.252/30 of subnet 10.0.0.0/24 is full", e.Message);
    }

    [Fact]
    public void Ip_range_at_the_start_skips_network_and_gateway_and_wraps_within_the_range()
    {
        var l = new Leases(C("10.0.0.0/24", range: "10.0.0.0/29"));
        Assert.Equal(A("10.0.0.2"), l.Take());
        Assert.Equal(A("10.0.0.3"), l.Take());
        l.Release("10.0.0.2");
        Assert.Equal(A("10.0.0.4"), l.Take());
        Assert.Equal(A("10.0.0.5"), l.Take());
        Assert.Equal(A("10.0.0.6"), l.Take());
        Assert.Equal(A("10.0.0.7"), l.Take()); // .7 is not the subnet broadcast, only the range's end
        Assert.Equal(A("10.0.0.2"), l.Take()); // wrapped inside the range, never to .8
    }

    [Fact]
    public void Static_leases_reported_by_inUse_are_skipped()
    {
        var c = C("10.0.0.0/24");
        var used = new HashSet<IPAddress> { A("10.0.0.2"), A("10.0.0.3"), A("10.0.0.5") };
        Assert.Equal(A("10.0.0.4"), AddressAllocator.Next(c, null, used.Contains));
        used.Add(A("10.0.0.4"));
        Assert.Equal(A("10.0.0.6"), AddressAllocator.Next(c, A("10.0.0.4"), used.Contains));
    }

    [Fact]
    public void Never_hands_out_network_broadcast_or_gateway_even_when_inUse_says_free()
    {
        var c = C("10.0.0.0/28", "10.0.0.9");
        var seen = new List<IPAddress>();
        var l = new Leases(c);
        for (int i = 0; i < 13; i++) seen.Add(l.Take());
        Assert.DoesNotContain(A("10.0.0.0"), seen);
        Assert.DoesNotContain(A("10.0.0.15"), seen);
        Assert.DoesNotContain(A("10.0.0.9"), seen);
        Assert.Equal(13, seen.Distinct().Count());
        Assert.Throws<IpamException>(() => l.Take());
    }

    [Fact]
    public void IPv6_leasing_has_no_broadcast()
    {
        var l = new Leases(C("fd00::/126")); // fd00:: reserved (anycast), fd00::1 gateway, ::2 and ::3 usable
        Assert.Equal(A("fd00::2"), l.Take());
        Assert.Equal(A("fd00::3"), l.Take()); // all-ones is an ordinary address in IPv6
        Assert.Equal("subnet fd00::/126 is full", Assert.Throws<IpamException>(() => l.Take()).Message);
    }

    [Fact]
    public void IPv6_slash_64_leases_sequentially_and_wraps_at_the_top()
    {
        var c = C("fd00:1::/64");
        Assert.Equal(A("fd00:1::2"), AddressAllocator.Next(c, null, _ => false));
        Assert.Equal(A("fd00:1::1:0"), AddressAllocator.Next(c, A("fd00:1::ffff"), _ => false));
        Assert.Equal(A("fd00:1::ffff:ffff:ffff:ffff"), AddressAllocator.Next(c, A("fd00:1::ffff:ffff:ffff:fffe"), _ => false));
        Assert.Equal(A("fd00:1::2"), AddressAllocator.Next(c, A("fd00:1::ffff:ffff:ffff:ffff"), _ => false));
    }

    [Fact]
    public void IPv6_slash_0_and_127_edges()
    {
        // ::/0: the arithmetic must not overflow at 2^128 - 1.
        var all = C("::/0");
        Assert.Equal(A("::2"), AddressAllocator.Next(all, A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), _ => false));
        var p2p = C("fd00::/127");
        Assert.Equal(A("fd00::1"), AddressAllocator.Next(p2p, null, _ => false));
    }

    [Fact]
    public void Slash_16_with_500_leases_costs_O_leases()
    {
        var c = C("10.10.0.0/16");
        var used = new HashSet<IPAddress>();
        for (int i = 2; i < 502; i++)
            used.Add(IPAddress.Parse($"10.10.{i / 256}.{i % 256}"));
        int calls = 0;
        bool InUse(IPAddress ip) { calls++; return used.Contains(ip); }

        var ip = AddressAllocator.Next(c, null, InUse);
        Assert.Equal(A("10.10.1.246"), ip); // 502 = 1*256 + 246
        Assert.True(calls <= used.Count + 1, $"{calls} inUse calls for {used.Count} leases");

        // Starting from the gateway, right before the block of 500 leases: still one call per lease.
        calls = 0;
        ip = AddressAllocator.Next(c, A("10.10.0.1"), InUse);
        Assert.Equal(A("10.10.1.246"), ip);
        Assert.True(calls <= used.Count + 1, $"{calls} inUse calls for {used.Count} leases");

        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 1000; i++) AddressAllocator.Next(c, null, used.Contains);
        sw.Stop();
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"1000 allocations took {sw.Elapsed}");
    }

    [Fact]
    public void Whole_slash_16_can_be_leased_and_then_is_full()
    {
        var l = new Leases(C("10.20.0.0/16"));
        for (int i = 0; i < 65536 - 3; i++) l.Take();
        Assert.Equal("subnet 10.20.0.0/16 is full", Assert.Throws<IpamException>(() => l.Take()).Message);
        l.Release("10.20.0.2");
        l.Release("10.20.128.0");
        Assert.Equal(A("10.20.0.2"), l.Take());
        Assert.Equal(A("10.20.128.0"), l.Take());
    }

    [Theory]
    [InlineData("10.0.0.2")]
    [InlineData("10.0.0.254")]
    [InlineData("10.0.0.7")]
    public void ValidateStatic_accepts_usable_addresses_even_outside_the_ip_range(string ip)
    {
        AddressAllocator.ValidateStatic(C("10.0.0.0/24", range: "10.0.0.128/25"), A(ip));
    }

    [Theory]
    [InlineData("10.0.1.5", "address 10.0.1.5 is not in subnet 10.0.0.0/24")]
    [InlineData("10.0.0.0", "address 10.0.0.0 is the network address of subnet 10.0.0.0/24")]
    [InlineData("10.0.0.255", "address 10.0.0.255 is the broadcast address of subnet 10.0.0.0/24")]
    [InlineData("10.0.0.1", "address 10.0.0.1 is the gateway of subnet 10.0.0.0/24")]
    [InlineData("fd00::5", "address fd00::5 is not in subnet 10.0.0.0/24")]
    public void ValidateStatic_names_the_bad_address(string ip, string message)
    {
        var e = Assert.Throws<IpamException>(() => AddressAllocator.ValidateStatic(C("10.0.0.0/24"), A(ip)));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void ValidateStatic_on_point_to_point_and_IPv6()
    {
        AddressAllocator.ValidateStatic(C("10.0.0.0/31"), A("10.0.0.1"));
        Assert.Equal("address 10.0.0.0 is the gateway of subnet 10.0.0.0/31",
            Assert.Throws<IpamException>(() => AddressAllocator.ValidateStatic(C("10.0.0.0/31"), A("10.0.0.0"))).Message);
        AddressAllocator.ValidateStatic(C("fd00::/64"), A("fd00::ffff:ffff:ffff:ffff"));
        Assert.Equal("address fd00:: is the network address of subnet fd00::/64",
            Assert.Throws<IpamException>(() => AddressAllocator.ValidateStatic(C("fd00::/64"), A("fd00::"))).Message);
    }
}
