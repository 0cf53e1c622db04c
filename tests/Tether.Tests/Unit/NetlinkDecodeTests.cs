using System.Net;
using System.Net.NetworkInformation;
using Tether.Linux;

namespace Tether.Tests.Unit;

/// <summary>Decoding kernel replies captured from a real kernel (see <see cref="NetlinkCaptures"/>).</summary>
public class NetlinkDecodeTests
{
    static List<T> DecodeAll<T>(string hex, NetlinkDecoder<T> decoder)
    {
        var bytes = Convert.FromHexString(hex);
        var list = new List<T>();
        var reader = new MessageReader(bytes);
        while (reader.MoveNext())
            if (decoder(reader.Header, reader.Payload, out var v)) list.Add(v);
        return list;
    }

    [Fact]
    public void Bridge_link_decodes()
    {
        var link = Assert.Single(DecodeAll<Link>(NetlinkCaptures.BridgeLink, RtNetlink.DecodeLink));
        Assert.Equal(4, link.Index);
        Assert.Equal("tb0", link.Name);
        Assert.Equal("bridge", link.Kind);
        Assert.Equal(1400, link.Mtu);
        Assert.Equal(PhysicalAddress.Parse("E2-87-F3-FA-86-A0"), link.Mac);
        Assert.Equal(0, link.MasterIndex);
        Assert.False(link.IsUp);
    }

    [Fact]
    public void Veth_link_decodes_with_master()
    {
        var link = Assert.Single(DecodeAll<Link>(NetlinkCaptures.VethLink, RtNetlink.DecodeLink));
        // IFLA_LINK of a veth is its peer's index (here 2, like its master by chance of the capture).
        Assert.Equal(new Link(3, "ve0", "veth", 1400, PhysicalAddress.Parse("3E-E5-76-01-9B-C4"), 2, false, ParentIndex: 2), link);
    }

    [Fact]
    public void Link_message_header_and_attribute_tree_read_back()
    {
        var bytes = Convert.FromHexString(NetlinkCaptures.BridgeLink);
        var reader = new MessageReader(bytes);
        Assert.True(reader.MoveNext());
        Assert.Equal(Rtnl.RTM_NEWLINK, reader.Header.Type);
        Assert.Equal(bytes.Length, reader.Header.Length);
        Assert.Equal(0x6b0c4364u, reader.Header.Seq);
        var ifi = IfInfoMsg.Read(reader.Payload);
        Assert.Equal(1, ifi.DeviceType); // ARPHRD_ETHER
        var attrs = RtAttr.Parse(reader.Payload[IfInfoMsg.Size..]);
        var linkinfo = attrs.Single(a => (a.Type & Nl.NLA_TYPE_MASK) == Ifla.IFLA_LINKINFO).ParseNested();
        Assert.Equal("bridge\0\0"u8.ToArray()[..7], linkinfo.Single(a => a.Type == Ifla.IFLA_INFO_KIND).Value.ToArray());
        // The bridge's IFLA_INFO_DATA holds IFLA_BR_* values: IFLA_BR_STP_STATE (5) is 0, IFLA_BR_HELLO_TIME (2) 200 cs.
        var data = linkinfo.Single(a => a.Type == Ifla.IFLA_INFO_DATA).ParseNested();
        Assert.Equal(200u, BitConverter.ToUInt32(data.Single(a => a.Type == 2).Value.Span));
        Assert.Equal(0u, BitConverter.ToUInt32(data.Single(a => a.Type == 5).Value.Span));
        Assert.False(reader.MoveNext());
    }

    [Fact]
    public void Address_dump_decodes_both_families()
    {
        var addrs = DecodeAll<Address>(NetlinkCaptures.AddressDump, RtNetlink.DecodeAddress);
        Assert.Equal([new Address(2, IPAddress.Parse("10.1.2.3"), 24), new Address(2, IPAddress.Parse("fd00:1::5"), 64)], addrs);
    }

    [Fact]
    public void IPv4_route_dump_decodes()
    {
        var routes = DecodeAll<Route>(NetlinkCaptures.Route4Dump, RtNetlink.DecodeMainRoute);
        Assert.Equal(
        [
            new Route(null, IPAddress.Parse("10.1.2.1"), 2),
            new Route(IPNetwork.Parse("10.1.2.0/24"), null, 2, IPAddress.Parse("10.1.2.3")),
            new Route(IPNetwork.Parse("10.8.0.0/16"), null, 2),
        ], routes);
    }

    [Fact]
    public void IPv6_route_dump_decodes()
    {
        var routes = DecodeAll<Route>(NetlinkCaptures.Route6Dump, RtNetlink.DecodeMainRoute);
        Assert.Equal(
        [
            new Route(IPNetwork.Parse("fd00:1::/64"), null, 2),
            new Route(IPNetwork.Parse("fd00:2::/48"), IPAddress.Parse("fd00:1::1"), 2),
        ], routes);
    }

    [Fact]
    public void Neighbour_dump_decodes_with_states()
    {
        var all = DecodeAll<Neighbour>(NetlinkCaptures.NeighbourDump, RtNetlink.DecodeNeighbour);
        Assert.Equal(6, all.Count);
        Assert.Equal(new Neighbour(4, IPAddress.Parse("10.1.2.9"), PhysicalAddress.Parse("02-00-00-00-00-09"), NeighbourState.Permanent), all[0]);
        Assert.Equal(new Neighbour(4, IPAddress.Parse("224.0.0.22"), PhysicalAddress.Parse("01-00-5E-00-00-16"), NeighbourState.NoArp), all[1]);
        Assert.Equal(new Neighbour(4, IPAddress.Parse("fd00:1::9"), PhysicalAddress.Parse("02-00-00-00-00-0A"), NeighbourState.Permanent), all[4]);
        Assert.Equal(4, all.Count(n => n.State == NeighbourState.NoArp));
    }

    [Fact]
    public void Fdb_dump_decodes()
    {
        var all = DecodeAll<FdbEntry>(NetlinkCaptures.FdbDump, RtNetlink.DecodeFdb);
        Assert.Equal(
        [
            new FdbEntry(8, PhysicalAddress.Parse("02-00-00-00-00-0B"), IPAddress.Parse("10.0.0.3"), true),
            new FdbEntry(8, PhysicalAddress.Parse("00-00-00-00-00-00"), IPAddress.Parse("10.0.0.2"), true),
        ], all);
        Assert.Empty(DecodeAll<Neighbour>(NetlinkCaptures.FdbDump, RtNetlink.DecodeNeighbour));
        Assert.Empty(DecodeAll<FdbEntry>(NetlinkCaptures.NeighbourDump, RtNetlink.DecodeFdb));
    }

    [Fact]
    public void Decoders_skip_messages_of_other_types()
    {
        Assert.Empty(DecodeAll<Link>(NetlinkCaptures.AddressDump, RtNetlink.DecodeLink));
        Assert.Empty(DecodeAll<Route>(NetlinkCaptures.BridgeLink, RtNetlink.DecodeMainRoute));
        Assert.Empty(DecodeAll<Address>(NetlinkCaptures.Route4Dump, RtNetlink.DecodeAddress));
    }

    static NlMsgErr ReadError(string hex)
    {
        var reader = new MessageReader(Convert.FromHexString(hex));
        Assert.True(reader.MoveNext());
        Assert.Equal(Nl.NLMSG_ERROR, reader.Header.Type);
        return NlMsgErr.Read(reader.Header, reader.Payload);
    }

    [Fact]
    public void Error_with_echoed_request_decodes()
    {
        var e = ReadError(NetlinkCaptures.ErrorNoDevice);
        Assert.Equal(-19, e.Error);
        Assert.Equal(Rtnl.RTM_NEWLINK, e.Request.Type);
        Assert.Equal(32, e.Request.Length);
        Assert.Null(e.ExtAckMessage);
    }

    [Fact]
    public void Capped_ack_decodes()
    {
        var e = ReadError(NetlinkCaptures.CappedAck);
        Assert.Equal(0, e.Error);
        Assert.Equal(0x6b0c4254u, e.Request.Seq);
        Assert.Equal(64, e.Request.Length);
    }

    [Fact]
    public void Extended_ack_message_decodes_and_reaches_the_exception()
    {
        var e = ReadError(NetlinkCaptures.ErrorWithExtAck);
        Assert.Equal(-22, e.Error);
        Assert.Equal("mtu less than device minimum", e.ExtAckMessage);
        var ex = NetlinkException.For("set mtu of link 4 to 50", -e.Error, e.ExtAckMessage);
        Assert.Equal(22, ex.Errno);
        Assert.Equal("set mtu of link 4 to 50: Invalid argument (mtu less than device minimum)", ex.Message);
    }

    [Fact]
    public void Truncated_message_is_rejected()
    {
        var bytes = Convert.FromHexString(NetlinkCaptures.BridgeLink)[..100];
        Assert.Throws<NetlinkException>(() =>
        {
            var r = new MessageReader(bytes);
            r.MoveNext();
        });
    }

    [Theory]
    [InlineData("eth0")]
    [InlineData("tb-1a2b3c4d5e6f")]
    [InlineData("a")]
    [InlineData("vlan.100")]
    public void Valid_interface_names_pass(string name) => InterfaceName.Validate(name);

    [Theory]
    [InlineData("averyveryverylongname", "interface name \"averyveryverylongname\" is longer than 15 bytes")]
    [InlineData("", "interface name is empty")]
    [InlineData("a/b", "interface name \"a/b\" contains '/'")]
    [InlineData("a:b", "interface name \"a:b\" contains ':'")]
    [InlineData("a b", "interface name \"a b\" contains whitespace")]
    [InlineData(".", "interface name \".\" is not allowed")]
    [InlineData("..", "interface name \"..\" is not allowed")]
    [InlineData("ééééééééé", "interface name \"ééééééééé\" is longer than 15 bytes")]
    public void Invalid_interface_names_are_rejected(string name, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => InterfaceName.Validate(name));
        Assert.StartsWith(message, e.Message);
        Assert.False(InterfaceName.IsValid(name));
    }

    [Theory]
    [InlineData("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward")]
    [InlineData("net.ipv4.conf.tether0.route_localnet", "/proc/sys/net/ipv4/conf/tether0/route_localnet")]
    [InlineData("net.ipv4.conf.eth0/100.forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding")]
    [InlineData("net/ipv4/conf/eth0.100/forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding")]
    public void Sysctl_keys_map_to_proc_sys(string key, string path) => Assert.Equal(path, Sysctl.PathOf(key));

    [Theory]
    [InlineData("net..ipv4")]
    [InlineData("net/../../etc")]
    [InlineData("")]
    public void Bad_sysctl_keys_are_rejected(string key) => Assert.ThrowsAny<ArgumentException>(() => Sysctl.PathOf(key));
}
