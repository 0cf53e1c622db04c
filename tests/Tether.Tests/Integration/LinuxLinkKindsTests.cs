using System.Net;
using System.Net.NetworkInformation;
using Tether.Linux;
using Tether.Tests.Support;
using static Tether.Tests.Integration.LinuxOracle;

namespace Tether.Tests.Integration;

/// <summary>macvlan, ipvlan and vxlan links, moving links between namespaces, neighbours and FDB entries, in a lab.</summary>
public class LinuxLinkKindsTests
{
    [Fact]
    public void Macvlan_is_created_on_a_parent_and_moved_into_a_sandbox()
    {
        using var lab = new Lab("lx");
        using var sandbox = new TempNetNs("sb");
        using var nl = RtNetlink.OpenIn(lab.NsPath);
        Link parent;
        using (var self = NetNs.Open(lab.NsPath)) parent = nl.CreateVeth("tmp0", 1500, "tmp1", self);

        var mv = nl.CreateMacvlan("tmv0", parent.Index, MacvlanMode.Bridge);
        Assert.Equal("macvlan", mv.Kind);
        var ip = Link(lab.NsPath, "tmv0")!;
        Assert.Equal("macvlan", (string?)ip["linkinfo"]!["info_kind"]);
        Assert.Equal("bridge", (string?)ip["linkinfo"]!["info_data"]!["mode"]);
        Assert.Equal("tmp0", (string?)ip["link"]);

        using (var fd = NetNs.Open(sandbox.Path)) nl.SetNetNs(mv.Index, fd);
        Assert.Null(nl.FindLink("tmv0"));
        Assert.Null(Link(lab.NsPath, "tmv0"));
        using var inside = RtNetlink.OpenIn(sandbox.Path);
        var moved = inside.FindLink("tmv0")!;
        Assert.Equal("macvlan", moved.Kind);
        Assert.Equal(mv.Mac, moved.Mac);
        Assert.NotNull(Link(sandbox.Path, "tmv0"));

        Assert.True(inside.DeleteLink("tmv0"));
        Assert.Null(Link(sandbox.Path, "tmv0"));
    }

    [Fact]
    public void Ipvlan_is_created_or_refused_by_name()
    {
        using var lab = new Lab("lx");
        using var nl = RtNetlink.OpenIn(lab.NsPath);
        Link parent;
        using (var self = NetNs.Open(lab.NsPath)) parent = nl.CreateVeth("tip0", 1500, "tip1", self);
        try
        {
            var iv = nl.CreateIpvlan("tiv0", parent.Index, IpvlanMode.L2);
            var ip = Link(lab.NsPath, "tiv0")!;
            Assert.Equal("ipvlan", (string?)ip["linkinfo"]!["info_kind"]);
            Assert.Equal(iv.Index, (int)ip["ifindex"]!);
        }
        catch (NetlinkException e) when (e.Errno == 95)
        {
            // This kernel has no ipvlan driver ("Unknown device type" is EOPNOTSUPP); the error must still say what failed.
            Assert.StartsWith($"create ipvlan \"tiv0\" on link {parent.Index}: Operation not supported", e.Message);
            Assert.Null(Link(lab.NsPath, "tiv0"));
        }
    }

    [Fact]
    public void Vxlan_with_fdb_entries()
    {
        using var lab = new Lab("lx");
        using var nl = RtNetlink.OpenIn(lab.NsPath);
        Link under;
        using (var self = NetNs.Open(lab.NsPath)) under = nl.CreateVeth("tux0", 1500, "tux1", self);
        nl.AddAddress(under.Index, IPAddress.Parse("10.50.0.1"), 24);

        var vx = nl.CreateVxlan("tvx0", 1450, new VxlanOptions(4242, 4789, IPAddress.Parse("10.50.0.1"), under.Index));
        Assert.Equal("vxlan", vx.Kind);
        Assert.Equal(1450, vx.Mtu);
        var data = Link(lab.NsPath, "tvx0")!["linkinfo"]!["info_data"]!;
        Assert.Equal(4242, (int)data["id"]!);
        Assert.Equal(4789, (int)data["port"]!);
        Assert.Equal("10.50.0.1", (string?)data["local"]);
        Assert.Equal("tux0", (string?)data["link"]);
        Assert.False((bool)data["learning"]!);

        var zero = PhysicalAddress.Parse("00-00-00-00-00-00");
        var mac = PhysicalAddress.Parse("02-00-00-00-00-0B");
        nl.AppendFdb(vx.Index, zero, IPAddress.Parse("10.50.0.2"));
        nl.AppendFdb(vx.Index, zero, IPAddress.Parse("10.50.0.3"));
        nl.SetFdb(vx.Index, mac, IPAddress.Parse("10.50.0.2"));
        nl.SetFdb(vx.Index, mac, IPAddress.Parse("10.50.0.3")); // replaces

        var shown = JsonArrayOf(lab.NsPath, "bridge", "-j", "fdb", "show", "dev", "tvx0")
            .Where(e => (string?)e!["dst"] != null)
            .Select(e => $"{(string?)e!["mac"]} {(string?)e!["dst"]}").Order().ToList();
        Assert.Equal(["00:00:00:00:00:00 10.50.0.2", "00:00:00:00:00:00 10.50.0.3", "02:00:00:00:00:0b 10.50.0.3"], shown);

        var mine = nl.ListFdb(vx.Index).Where(f => f.Destination != null).ToList();
        Assert.Equal(3, mine.Count);
        Assert.Contains(new FdbEntry(vx.Index, mac, IPAddress.Parse("10.50.0.3"), true), mine);
        Assert.Contains(new FdbEntry(vx.Index, zero, IPAddress.Parse("10.50.0.2"), true), mine);

        Assert.True(nl.DeleteFdb(vx.Index, mac));
        Assert.False(nl.DeleteFdb(vx.Index, mac));
        Assert.True(nl.DeleteFdb(vx.Index, zero, IPAddress.Parse("10.50.0.2")));
        var left = JsonArrayOf(lab.NsPath, "bridge", "-j", "fdb", "show", "dev", "tvx0")
            .Where(e => (string?)e!["dst"] != null).Select(e => (string?)e!["dst"]).ToList();
        Assert.Equal(["10.50.0.3"], left);
        // The kernel (vxlan) reports success for a destination the MAC's entry lacks, as long as the MAC has an entry.
        Assert.True(nl.DeleteFdb(vx.Index, zero, IPAddress.Parse("10.50.0.2")));
        Assert.True(nl.DeleteFdb(vx.Index, zero, IPAddress.Parse("10.50.0.3")));
        Assert.False(nl.DeleteFdb(vx.Index, zero, IPAddress.Parse("10.50.0.3")));
        Assert.DoesNotContain(nl.ListFdb(vx.Index), f => f.Destination != null);
    }

    [Fact]
    public void Neighbours_are_set_listed_and_deleted()
    {
        using var lab = new Lab("lx");
        using var nl = RtNetlink.OpenIn(lab.NsPath);
        var br = nl.CreateBridge("tnb0", 1500);
        nl.SetUp(br.Index);
        var mac1 = PhysicalAddress.Parse("02-00-00-00-00-09");
        var mac2 = PhysicalAddress.Parse("02-00-00-00-00-0A");

        nl.SetNeighbour(br.Index, IPAddress.Parse("10.60.0.9"), mac1);
        nl.SetNeighbour(br.Index, IPAddress.Parse("fd00:60::9"), mac1);
        nl.SetNeighbour(br.Index, IPAddress.Parse("10.60.0.9"), mac2); // replace

        var shown = Ip(lab.NsPath, "neigh", "show", "dev", "tnb0")
            .Select(n => $"{(string?)n!["dst"]} {(string?)n["lladdr"]} {string.Join(",", n["state"]!.AsArray().Select(s => (string?)s))}")
            .Order().ToList();
        Assert.Contains("10.60.0.9 02:00:00:00:00:0a PERMANENT", shown);
        Assert.Contains("fd00:60::9 02:00:00:00:00:09 PERMANENT", shown);

        var mine = nl.ListNeighbours(br.Index);
        Assert.Contains(new Neighbour(br.Index, IPAddress.Parse("10.60.0.9"), mac2, NeighbourState.Permanent), mine);
        Assert.Contains(new Neighbour(br.Index, IPAddress.Parse("fd00:60::9"), mac1, NeighbourState.Permanent), mine);
        Assert.All(mine, n => Assert.Equal(br.Index, n.LinkIndex));

        Assert.True(nl.DeleteNeighbour(br.Index, IPAddress.Parse("10.60.0.9")));
        Assert.False(nl.DeleteNeighbour(br.Index, IPAddress.Parse("10.60.0.9")));
        Assert.True(nl.DeleteNeighbour(br.Index, IPAddress.Parse("fd00:60::9")));
        Assert.DoesNotContain(Ip(lab.NsPath, "neigh", "show", "dev", "tnb0"),
            n => (string?)n!["dst"] is "10.60.0.9" or "fd00:60::9");
    }

    static System.Text.Json.Nodes.JsonArray JsonArrayOf(string nsPath, params string[] args) =>
        System.Text.Json.Nodes.JsonNode.Parse(InNs(nsPath, args))!.AsArray();
}
