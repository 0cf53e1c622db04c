using System.Net;
using System.Net.NetworkInformation;
using Tether.Linux;

namespace Tether.Tests.Unit;

/// <summary>
/// Requests Tether builds, compared byte for byte with what iproute2 6.1 sent for the same command (captured with
/// <c>strace -e write=all ip ...</c> inside a lab namespace; the sequence number is the one ip used).
/// </summary>
public class NetlinkEncodeTests
{
    static string Hex(NetlinkMessage m, uint seq) => Convert.ToHexStringLower(m.ToBytes(seq));

    [Fact]
    public void CreateBridge_matches_ip_link_add_type_bridge()
    {
        // ip link add tb0 mtu 1400 type bridge
        Assert.Equal("400000001000050654420c6b00000000" + "00000000000000000000000000000000"
                     + "0800040078050000" + "0800030074623000" + "100012000a000100627269646765" + "0000",
            Hex(Requests.CreateBridge("tb0", 1400), 0x6b0c4254));
    }

    [Fact]
    public void CreateVeth_matches_ip_link_add_type_veth_peer_netns()
    {
        // ip link add ve0 mtu 1400 type veth peer name ve1 mtu 1400 netns NS   (ip opened NS as fd 4)
        Assert.Equal("6c0000001000050633430c6b000000000000000000000000000000000000000008000400780500000800030076653000"
                     + "3c0012000800010076657468300002002c00010000000000000000000000000000000000080004007805000008001c00"
                     + "040000000800030076653100",
            Hex(Requests.CreateVeth("ve0", 1400, "ve1", 4), 0x6b0c4333));
    }

    [Fact]
    public void SetFlags_matches_ip_link_set_up_and_down()
    {
        Assert.Equal("200000001000050033430c6b0000000000000000020000000100000001000000", Hex(Requests.SetFlags(2, up: true), 0x6b0c4333));
        Assert.Equal("200000001000050034430c6b0000000000000000020000000000000001000000", Hex(Requests.SetFlags(2, up: false), 0x6b0c4334));
    }

    [Fact]
    public void SetMaster_matches_ip_link_set_master_and_nomaster()
    {
        Assert.Equal("280000001000050035430c6b000000000000000003000000000000000000000008000a0002000000", Hex(Requests.SetMaster(3, 2), 0x6b0c4335));
        Assert.Equal("280000001000050036430c6b000000000000000003000000000000000000000008000a0000000000", Hex(Requests.SetMaster(3, 0), 0x6b0c4336));
    }

    [Fact]
    public void SetMtu_SetMac_SetName_match_ip_link_set()
    {
        Assert.Equal("280000001000050037430c6b00000000000000000200000000000000000000000800040014050000", Hex(Requests.SetMtu(2, 1300), 0x6b0c4337));
        Assert.Equal("2c0000001000050039430c6b00000000000000000200000000000000000000000a0001000242ac1100020000",
            Hex(Requests.SetMac(2, PhysicalAddress.Parse("02-42-AC-11-00-02")), 0x6b0c4339));
        Assert.Equal("280000001000050038430c6b00000000000000000200000000000000000000000800030074623100", Hex(Requests.SetName(2, "tb1"), 0x6b0c4338));
    }

    [Fact]
    public void SetHairpin_matches_bridge_link_set_hairpin_on()
    {
        // RTM_SETLINK, AF_BRIDGE, IFLA_PROTINFO|NLA_F_NESTED { IFLA_BRPORT_MODE u8 1 }
        Assert.Equal("2c000000130005003a430c6b00000000070000000300000000000000000000000c000c800500040001000000",
            Hex(Requests.SetHairpin(3, true), 0x6b0c433a));
    }

    [Fact]
    public void GetLink_by_name_matches_ip_link_show_dev()
    {
        Assert.Equal("300000001200010040430c6b000000000000000000000000000000000000000008001d00090000000800030074623000",
            Hex(Requests.GetLink("tb0"), 0x6b0c4340));
    }

    [Fact]
    public void DeleteLink_by_name_is_RTM_DELLINK_with_IFLA_IFNAME()
    {
        // ip resolves the name to an index first; Tether lets the kernel look the name up (one round trip less).
        // Layout: nlmsghdr(40, RTM_DELLINK=17, REQUEST|ACK) + zero ifinfomsg + IFLA_IFNAME "tb0\0".
        Assert.Equal("28000000110005004d430c6b00000000" + "00000000000000000000000000000000" + "0800030074623000",
            Hex(Requests.DeleteLink("tb0"), 0x6b0c434d));
    }

    [Fact]
    public void AddAddress_v4_matches_ip_addr_add_brd_plus()
    {
        Assert.Equal("300000001400050640430c6b000000000218000002000000080002000a010203080001000a010203080004000a0102ff",
            Hex(Requests.AddAddress(2, IPAddress.Parse("10.1.2.3"), 24), 0x6b0c4340));
    }

    [Fact]
    public void AddAddress_v6_matches_ip_addr_add()
    {
        Assert.Equal("400000001400050640430c6b000000000a4000000200000014000200fd00000100000000000000000000000514000100fd000001000000000000000000000005",
            Hex(Requests.AddAddress(2, IPAddress.Parse("fd00:1::5"), 64), 0x6b0c4340));
    }

    [Fact]
    public void DeleteAddress_matches_ip_addr_del()
    {
        Assert.Equal("280000001500050042430c6b000000000210000002000000080002000a070001080001000a070001",
            Hex(Requests.DeleteAddress(2, IPAddress.Parse("10.7.0.1"), 16), 0x6b0c4342));
    }

    [Fact]
    public void AddRoute_matches_ip_route_add_variants()
    {
        // ip route add 10.9.0.0/16 src 10.1.2.3 via 10.1.2.1 dev <2>
        Assert.Equal("3c0000001800050643430c6b0000000002100000fe03000100000000080001000a090000080007000a010203080005000a0102010800040002000000",
            Hex(Requests.AddRoute(new Route(IPNetwork.Parse("10.9.0.0/16"), IPAddress.Parse("10.1.2.1"), 2, IPAddress.Parse("10.1.2.3"))), 0x6b0c4343));
        // ip route add 10.8.0.0/16 dev <2>   (scope link)
        Assert.Equal("2c0000001800050644430c6b0000000002100000fe03fd0100000000080001000a0800000800040002000000",
            Hex(Requests.AddRoute(new Route(IPNetwork.Parse("10.8.0.0/16"), null, 2)), 0x6b0c4344));
        // ip route add default via 10.1.2.1
        Assert.Equal("240000001800050644430c6b0000000002000000fe03000100000000080005000a010201",
            Hex(Requests.AddRoute(new Route(null, IPAddress.Parse("10.1.2.1"), null)), 0x6b0c4344));
        // ip -6 route add fd00:2::/48 via fd00:1::1 dev <2>
        Assert.Equal("4c0000001800050645430c6b000000000a300000fe0300010000000014000100fd00000200000000000000000000000014000500fd0000010000000000000000000000010800040002000000",
            Hex(Requests.AddRoute(new Route(IPNetwork.Parse("fd00:2::/48"), IPAddress.Parse("fd00:1::1"), 2)), 0x6b0c4345));
    }

    [Fact]
    public void DeleteRoute_matches_ip_route_del()
    {
        Assert.Equal("3c0000001900050046430c6b0000000002100000fe00ff0000000000080001000a090000080007000a010203080005000a0102010800040002000000",
            Hex(Requests.DeleteRoute(new Route(IPNetwork.Parse("10.9.0.0/16"), IPAddress.Parse("10.1.2.1"), 2, IPAddress.Parse("10.1.2.3"))), 0x6b0c4346));
    }

    [Fact]
    public void CreateMacvlan_matches_ip_link_add_type_macvlan()
    {
        // ip link add mv0 link <3> type macvlan mode bridge
        Assert.Equal("4c00000010000506d1440c6b00000000000000000000000000000000000000000800050003000000080003006d763000"
                     + "1c0012000b0001006d6163766c616e000c0002000800010004000000",
            Hex(Requests.CreateMacvlan("mv0", 3, MacvlanMode.Bridge), 0x6b0c44d1));
    }

    [Fact]
    public void CreateIpvlan_matches_ip_link_add_type_ipvlan()
    {
        // ip link add iv0 link <3> type ipvlan mode l2
        Assert.Equal("5400000010000506d1440c6b000000000000000000000000000000000000000008000500030000000800030069763000"
                     + "240012000a0001006970766c616e00001400020006000100000000000600020000000000",
            Hex(Requests.CreateIpvlan("iv0", 3, IpvlanMode.L2), 0x6b0c44d1));
    }

    [Fact]
    public void CreateVxlan_matches_ip_link_add_type_vxlan()
    {
        // ip link add vx0 mtu 1450 type vxlan id 42 local 10.1.2.3 dev <4> dstport 4789 nolearning
        Assert.Equal("6c00000010000506d2440c6b000000000000000000000000000000000000000008000400aa05000008000300767830003c00"
                     + "12000900010076786c616e0000002c0002000800030004000000080001002a000000080004000a010203050007000000"
                     + "000006000f0012b50000",
            Hex(Requests.CreateVxlan("vx0", 1450, new VxlanOptions(42, 4789, IPAddress.Parse("10.1.2.3"), 4, Learning: false)), 0x6b0c44d2));
    }

    [Fact]
    public void SetNetNs_matches_ip_link_set_netns()
    {
        Assert.Equal("2800000010000500d2440c6b000000000000000007000000000000000000000008001c0004000000", Hex(Requests.SetNetNs(7, 4), 0x6b0c44d2));
    }

    [Fact]
    public void Neighbour_requests_match_ip_neigh()
    {
        // ip neigh replace 10.1.2.9 lladdr 02:00:00:00:00:09 dev <4> nud permanent
        Assert.Equal("300000001c000505d4440c6b00000000020000000400000080000000080001000a0102090a0002000200000000090000",
            Hex(Requests.SetNeighbour(4, IPAddress.Parse("10.1.2.9"), PhysicalAddress.Parse("02-00-00-00-00-09")), 0x6b0c44d4));
        Assert.Equal("3c0000001c000505d4440c6b000000000a000000040000008000000014000100fd0000010000000000000000000000090a00020002000000000a0000",
            Hex(Requests.SetNeighbour(4, IPAddress.Parse("fd00:1::9"), PhysicalAddress.Parse("02-00-00-00-00-0A")), 0x6b0c44d4));
        // ip neigh del 10.1.2.9 dev <4>
        Assert.Equal("240000001d000500d5440c6b00000000020000000400000080000000080001000a010209",
            Hex(Requests.DeleteNeighbour(4, IPAddress.Parse("10.1.2.9")), 0x6b0c44d5));
    }

    [Fact]
    public void Fdb_requests_match_bridge_fdb()
    {
        var zero = PhysicalAddress.Parse("00-00-00-00-00-00");
        var mac = PhysicalAddress.Parse("02-00-00-00-00-0B");
        // bridge fdb append 00:00:00:00:00:00 dev <8> dst 10.0.0.2 self permanent
        Assert.Equal("300000001c00050ce0440c6b000000000700000008000000c00002000a0002000000000000000000080001000a000002",
            Hex(Requests.Fdb(8, zero, IPAddress.Parse("10.0.0.2"), Requests.FdbOp.Append), 0x6b0c44e0));
        // bridge fdb replace 02:00:00:00:00:0b dev <8> dst 10.0.0.3 self permanent
        Assert.Equal("300000001c000505e0440c6b000000000700000008000000c00002000a00020002000000000b0000080001000a000003",
            Hex(Requests.Fdb(8, mac, IPAddress.Parse("10.0.0.3"), Requests.FdbOp.Replace), 0x6b0c44e0));
        // bridge fdb del 02:00:00:00:00:0b dev <8> dst 10.0.0.3 self
        Assert.Equal("300000001d000500e1440c6b000000000700000008000000c00002000a00020002000000000b0000080001000a000003",
            Hex(Requests.Fdb(8, mac, IPAddress.Parse("10.0.0.3"), Requests.FdbOp.Delete), 0x6b0c44e1));
        // bridge fdb show dev <8>
        Assert.Equal("1c0000001e000103e1440c6b00000000070000000800000000000000", Hex(Requests.ListFdb(8), 0x6b0c44e1));
    }

    [Fact]
    public void Route_without_destination_or_gateway_is_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Requests.AddRoute(new Route(null, null, 3)));
        Assert.Contains("address family", e.Message);
        Assert.Throws<ArgumentException>(() => Requests.AddRoute(new Route(IPNetwork.Parse("10.0.0.0/8"), IPAddress.Parse("fe80::1"), 3)));
    }

    [Theory]
    [InlineData("10.1.2.3", 24, "10.1.2.255")]
    [InlineData("172.17.0.1", 16, "172.17.255.255")]
    [InlineData("192.168.5.9", 30, "192.168.5.11")]
    [InlineData("10.0.0.1", 0, "255.255.255.255")]
    public void Broadcast_sets_every_host_bit(string ip, int prefix, string expected) =>
        Assert.Equal(IPAddress.Parse(expected), Requests.Broadcast(IPAddress.Parse(ip), prefix));

    [Fact]
    public void Nested_attributes_write_and_read_back_as_a_tree()
    {
        var tree = RtAttr.Nest(Ifla.IFLA_LINKINFO,
            RtAttr.String(Ifla.IFLA_INFO_KIND, "veth"),
            RtAttr.Nest(Ifla.IFLA_INFO_DATA,
                RtAttr.Nest(Veth.VETH_INFO_PEER, new IfInfoMsg(0, 0, 7, 0, 0), RtAttr.U8(Ifla.IFLA_BRPORT_MODE, 1), RtAttr.U16(99, 0xbeef))));
        var bytes = new byte[tree.AlignedLength];
        Assert.Equal(bytes.Length, tree.Write(bytes));
        Assert.Equal(0, bytes.Length % 4);

        var top = Assert.Single(RtAttr.Parse(bytes));
        Assert.Equal(Ifla.IFLA_LINKINFO, top.Type);
        var children = top.ParseNested();
        Assert.Equal(2, children.Count);
        Assert.Equal("veth\0"u8.ToArray(), children[0].Value.ToArray());
        var peer = Assert.Single(children[1].ParseNested());
        Assert.Equal(Veth.VETH_INFO_PEER, peer.Type);
        Assert.Equal(7, IfInfoMsg.Read(peer.Value.Span).Index);
        var peerAttrs = peer.ParseNested(IfInfoMsg.Size);
        Assert.Equal([(ushort)Ifla.IFLA_BRPORT_MODE, (ushort)99], peerAttrs.Select(a => a.Type));
        Assert.Equal(new byte[] { 1 }, peerAttrs[0].Value.ToArray());
        Assert.Equal(new byte[] { 0xef, 0xbe }, peerAttrs[1].Value.ToArray());
        // Padding after the 1-byte and 2-byte payloads is zero and counted only in the aligned length.
        Assert.Equal(5, peerAttrs[0].Length);
        Assert.Equal(8, peerAttrs[0].AlignedLength);
    }

    [Fact]
    public void Fixed_headers_read_back_what_they_write()
    {
        var structs = new INetlinkStruct[]
        {
            new NlMsgHdr(1234, Rtnl.RTM_NEWLINK, Nl.NLM_F_REQUEST | Nl.NLM_F_ACK, 0xdeadbeef, 42),
            new IfInfoMsg(Af.AF_BRIDGE, 1, 17, Iff.IFF_UP | Iff.IFF_LOWER_UP, Iff.IFF_UP),
            new IfAddrMsg(Af.AF_INET6, 64, 0x80, Rtnl.RT_SCOPE_LINK, 9),
            new RtMsg(Af.AF_INET, 24, 0, 0, Rtnl.RT_TABLE_MAIN, Rtnl.RTPROT_KERNEL, Rtnl.RT_SCOPE_LINK, Rtnl.RTN_UNICAST, 0x100),
        };
        foreach (var s in structs)
        {
            var b = new byte[s.WireSize];
            s.Write(b);
            INetlinkStruct back = s switch
            {
                NlMsgHdr => NlMsgHdr.Read(b),
                IfInfoMsg => IfInfoMsg.Read(b),
                IfAddrMsg => IfAddrMsg.Read(b),
                _ => RtMsg.Read(b),
            };
            Assert.Equal(s, back);
        }
    }
}
