using System.Net;
using Tether.Drivers;
using Tether.Drivers.Ipvlan;
using Tether.Drivers.Macvlan;
using Tether.Engine;
using Tether.Linux;
using Tether.State;

namespace Tether.Tests.Unit;

/// <summary>Option parsing and validation of the macvlan and ipvlan drivers, and the netlink requests they send.</summary>
public class DriverOptionTests
{
    static NetworkRecord Net(string driver, params (string Key, string Value)[] options) =>
        new("id", "n", driver, false, null, 1500, options.ToDictionary(o => o.Key, o => o.Value), DateTime.UtcNow,
            [new SubnetRecord("192.168.90.0/24", "192.168.90.1", null, null)]);

    [Theory]
    [InlineData("eth0", "eth0", "eth0", null)]
    [InlineData("eth0.10", "eth0.10", "eth0", 10)]
    [InlineData("enp3s0.4094", "enp3s0.4094", "enp3s0", 4094)]
    [InlineData("br.lan.1", "br.lan.1", "br.lan", 1)]
    public void Parent_parses_iface_and_iface_dot_vlan(string text, string name, string @base, int? vlan) =>
        Assert.Equal(new ParentLink(name, @base, vlan), ParentLink.Parse(text));

    [Theory]
    [InlineData("eth0.0", "eth0.0")]
    [InlineData("eth0.4095", "eth0.4095")]
    [InlineData("eth0.x", "eth0.x")]
    [InlineData("eth0.", "eth0.")]
    [InlineData("averyveryverylongname", "averyveryverylongname")]
    [InlineData("a/b", "a/b")]
    public void Bad_parents_are_refused_by_name(string text, string mention) =>
        Assert.Contains(mention, Assert.Throws<TetherException>(() => ParentLink.Parse(text)).Message);

    [Theory]
    [InlineData(null, MacvlanMode.Bridge)]
    [InlineData("bridge", MacvlanMode.Bridge)]
    [InlineData("private", MacvlanMode.Private)]
    [InlineData("vepa", MacvlanMode.Vepa)]
    [InlineData("passthru", MacvlanMode.Passthru)]
    public void Macvlan_modes(string? text, MacvlanMode mode) =>
        Assert.Equal(mode, MacvlanDriver.Mode(text is null ? Net("macvlan") : Net("macvlan", ("macvlan_mode", text))));

    [Fact]
    public void Bad_macvlan_mode_is_named() =>
        Assert.Contains("\"source\"", Assert.Throws<TetherException>(() => MacvlanDriver.Mode(Net("macvlan", ("macvlan_mode", "source")))).Message);

    [Theory]
    [InlineData(null, IpvlanMode.L2)]
    [InlineData("l2", IpvlanMode.L2)]
    [InlineData("l3", IpvlanMode.L3)]
    [InlineData("l3s", IpvlanMode.L3S)]
    public void Ipvlan_modes(string? text, IpvlanMode mode) =>
        Assert.Equal(mode, IpvlanDriver.Mode(text is null ? Net("ipvlan") : Net("ipvlan", ("ipvlan_mode", text))));

    [Theory]
    [InlineData(null, IpvlanFlag.Bridge)]
    [InlineData("bridge", IpvlanFlag.Bridge)]
    [InlineData("private", IpvlanFlag.Private)]
    [InlineData("vepa", IpvlanFlag.Vepa)]
    public void Ipvlan_flags(string? text, IpvlanFlag flag) =>
        Assert.Equal(flag, IpvlanDriver.Flag(text is null ? Net("ipvlan") : Net("ipvlan", ("ipvlan_flag", text))));

    [Fact]
    public void Bad_ipvlan_mode_and_flag_are_named()
    {
        Assert.Contains("\"L2\"", Assert.Throws<TetherException>(() => IpvlanDriver.Mode(Net("ipvlan", ("ipvlan_mode", "L2")))).Message);
        Assert.Contains("\"loose\"", Assert.Throws<TetherException>(() => IpvlanDriver.Flag(Net("ipvlan", ("ipvlan_flag", "loose")))).Message);
    }

    [Fact]
    public void Ipvlan_default_route_is_via_the_gateway_in_l2_and_through_the_device_in_l3()
    {
        var driver = new IpvlanDriver(null!);
        Assert.Equal(new Route(null, IPAddress.Parse("192.168.90.1"), 7), ((INetworkDriver)driver).DefaultRoute(Net("ipvlan"), 7));
        foreach (var mode in new[] { "l3", "l3s" })
            Assert.Equal(new Route(IPNetwork.Parse("0.0.0.0/0"), null, 7), ((INetworkDriver)driver).DefaultRoute(Net("ipvlan", ("ipvlan_mode", mode)), 7));
    }

    [Fact]
    public void Vlan_request_carries_kind_parent_and_id()
    {
        var attrs = RtAttr.Parse(Requests.CreateVlan("eth0.10", 3, 10).ToBytes(1).AsSpan(NlMsgHdr.Size + IfInfoMsg.Size));
        Assert.Equal(3, BitConverter.ToInt32(attrs.Single(a => a.Type == Ifla.IFLA_LINK).Value.Span));
        Assert.Equal("eth0.10\0"u8.ToArray(), attrs.Single(a => a.Type == Ifla.IFLA_IFNAME).Value.ToArray());
        var info = attrs.Single(a => (a.Type & Nl.NLA_TYPE_MASK) == Ifla.IFLA_LINKINFO).ParseNested();
        Assert.Equal("vlan", System.Text.Encoding.ASCII.GetString(info.Single(a => a.Type == Ifla.IFLA_INFO_KIND).Value.Span).TrimEnd('\0'));
        var data = info.Single(a => a.Type == Ifla.IFLA_INFO_DATA).ParseNested();
        Assert.Equal((ushort)10, BitConverter.ToUInt16(data.Single(a => a.Type == IflaKind.IFLA_VLAN_ID).Value.Span));
    }

    [Fact]
    public void Ipvlan_request_in_a_namespace_carries_mode_flag_and_netns_fd()
    {
        var attrs = RtAttr.Parse(Requests.CreateIpvlan("eth1", 4, IpvlanMode.L3, IpvlanFlag.Private, 9).ToBytes(1).AsSpan(NlMsgHdr.Size + IfInfoMsg.Size));
        Assert.Equal(9, BitConverter.ToInt32(attrs.Single(a => a.Type == Ifla.IFLA_NET_NS_FD).Value.Span));
        Assert.Equal(4, BitConverter.ToInt32(attrs.Single(a => a.Type == Ifla.IFLA_LINK).Value.Span));
        var data = attrs.Single(a => (a.Type & Nl.NLA_TYPE_MASK) == Ifla.IFLA_LINKINFO).ParseNested().Single(a => a.Type == Ifla.IFLA_INFO_DATA).ParseNested();
        Assert.Equal((ushort)IpvlanMode.L3, BitConverter.ToUInt16(data.Single(a => a.Type == IflaKind.IFLA_IPVLAN_MODE).Value.Span));
        Assert.Equal((ushort)1, BitConverter.ToUInt16(data.Single(a => a.Type == IflaKind.IFLA_IPVLAN_FLAGS).Value.Span));
    }

    [Fact]
    public void Missing_feature_messages_name_the_module()
    {
        Assert.Equal("kernel lacks ipvlan support (module ipvlan, CONFIG_IPVLAN)", KernelFeatures.Info(KernelFeature.Ipvlan).MissingMessage);
        Assert.StartsWith("kernel lacks 802.1Q VLAN support (module 8021q", KernelFeatures.Info(KernelFeature.Vlan8021Q).MissingMessage);
    }
}
