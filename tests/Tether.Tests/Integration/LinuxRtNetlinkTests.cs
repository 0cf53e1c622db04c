using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Tether.Linux;
using Tether.Tests.Support;
using static Tether.Tests.Integration.LinuxOracle;

namespace Tether.Tests.Integration;

/// <summary>
/// RtNetlink against the real kernel, inside a lab namespace (the socket is opened there with OpenIn; nothing runs in the
/// root namespace). iproute2's JSON output is the oracle.
/// </summary>
public class LinuxRtNetlinkTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Bridge_is_created_found_listed_and_deleted()
    {
        using var lab = new Lab("lx");
        using var nl = RtNetlink.OpenIn(lab.NsPath);

        var br = nl.CreateBridge("tbr0", 1450);
        Assert.Equal("tbr0", br.Name);
        Assert.Equal("bridge", br.Kind);
        Assert.Equal(1450, br.Mtu);
        Assert.False(br.IsUp);
        Assert.Equal(0, br.MasterIndex);

        var ip = Link(lab.NsPath, "tbr0")!;
        Assert.Equal(br.Index, (int)ip["ifindex"]!);
        Assert.Equal(1450, (int)ip["mtu"]!);
        Assert.Equal("bridge", (string?)ip["linkinfo"]!["info_kind"]);
        Assert.Equal((string?)ip["address"], string.Join(':', br.Mac!.GetAddressBytes().Select(b => b.ToString("x2"))));
        Assert.False(HasFlag(ip, "UP"));

        Assert.Equal(br, nl.FindLink("tbr0"));
        Assert.Equal(br, nl.FindLink(br.Index));
        var all = nl.ListLinks();
        Assert.Contains(br, all);
        var lo = all.Single(l => l.Name == "lo");
        Assert.True(lo.IsUp);
        Assert.Null(lo.Kind);
        Assert.Equal(Ip(lab.NsPath, "link", "show").Select(l => (int)l!["ifindex"]!).Order(), all.Select(l => l.Index).Order());

        Assert.True(nl.DeleteLink("tbr0"));
        Assert.Null(Link(lab.NsPath, "tbr0"));
        Assert.Null(nl.FindLink("tbr0"));
        Assert.Null(nl.FindLink(br.Index));
        Assert.False(nl.DeleteLink("tbr0"));
    }

    [Fact]
    public void Errors_name_the_operation_and_carry_errno()
    {
        using var lab = new Lab("lx");
        using var nl = RtNetlink.OpenIn(lab.NsPath);
        nl.CreateBridge("tb-1a2b", 1500);

        var dup = Assert.Throws<NetlinkException>(() => nl.CreateBridge("tb-1a2b", 1500));
        Assert.Equal(17, dup.Errno);
        Assert.Equal("create bridge \"tb-1a2b\": File exists", dup.Message);

        var longName = Assert.Throws<ArgumentException>(() => nl.CreateBridge("averyveryverylongname", 1500));
        Assert.StartsWith("interface name \"averyveryverylongname\" is longer than 15 bytes", longName.Message);
        Assert.Null(Link(lab.NsPath, "averyveryverylon"));

        var noDev = Assert.Throws<NetlinkException>(() => nl.AddAddress(9999, IPAddress.Parse("10.0.0.1"), 24));
        Assert.Equal(19, noDev.Errno);
        Assert.Contains("add address 10.0.0.1/24 to link 9999", noDev.Message);

        var br = nl.FindLink("tb-1a2b")!;
        var badMtu = Assert.Throws<NetlinkException>(() => nl.SetMtu(br.Index, 70000));
        Assert.Equal(22, badMtu.Errno);
        Assert.StartsWith($"set mtu of link {br.Index} to 70000: Invalid argument", badMtu.Message);

        // Hairpin needs a bridge port; the bridge itself is not one.
        Assert.Throws<NetlinkException>(() => nl.SetHairpin(br.Index, true));
        Assert.Throws<NetlinkException>(() => nl.SetMaster(br.Index, 9999));

        // The socket is still in sync after errors.
        Assert.Equal(br, nl.FindLink(br.Index));
    }

    [Fact]
    public void Veth_into_another_namespace_and_link_settings()
    {
        using var lab = new Lab("lx");
        using var peerNs = new TempNetNs("peer");
        using var nl = RtNetlink.OpenIn(lab.NsPath);

        var br = nl.CreateBridge("tbr1", 1500);
        Link veth;
        using (var fd = NetNs.Open(peerNs.Path))
            veth = nl.CreateVeth("tv0", 1400, "tp0", fd);
        Assert.Equal("veth", veth.Kind);
        Assert.Equal(1400, veth.Mtu);

        var hostEnd = Link(lab.NsPath, "tv0")!;
        Assert.Equal("veth", (string?)hostEnd["linkinfo"]!["info_kind"]);
        Assert.Null(Link(lab.NsPath, "tp0"));
        var peer = Link(peerNs.Path, "tp0")!;
        Assert.Equal(1400, (int)peer["mtu"]!);
        Assert.Equal("veth", (string?)peer["linkinfo"]!["info_kind"]);
        using (var inPeer = RtNetlink.OpenIn(peerNs.Path))
        {
            var p = inPeer.FindLink("tp0")!;
            Assert.Equal((int)peer["ifindex"]!, p.Index);
            Assert.Equal(["lo", "tp0"], inPeer.ListLinks().Select(l => l.Name).Order());
        }

        nl.SetMaster(veth.Index, br.Index);
        Assert.Equal("tbr1", (string?)Link(lab.NsPath, "tv0")!["master"]);
        Assert.Equal(br.Index, nl.FindLink("tv0")!.MasterIndex);

        nl.SetUp(br.Index);
        nl.SetUp(veth.Index);
        Assert.True(HasFlag(Link(lab.NsPath, "tv0")!, "UP"));
        Assert.True(HasFlag(Link(lab.NsPath, "tbr1")!, "UP"));
        Assert.True(nl.FindLink(veth.Index)!.IsUp);

        nl.SetHairpin(veth.Index, true);
        Assert.True((bool)Link(lab.NsPath, "tv0")!["linkinfo"]!["info_slave_data"]!["hairpin"]!);
        nl.SetHairpin(veth.Index, false);
        Assert.False((bool)Link(lab.NsPath, "tv0")!["linkinfo"]!["info_slave_data"]!["hairpin"]!);

        nl.SetMtu(veth.Index, 1300);
        Assert.Equal(1300, (int)Link(lab.NsPath, "tv0")!["mtu"]!);

        var mac = PhysicalAddress.Parse("02-11-22-33-44-55");
        nl.SetMac(veth.Index, mac);
        Assert.Equal("02:11:22:33:44:55", (string?)Link(lab.NsPath, "tv0")!["address"]);
        Assert.Equal(mac, nl.FindLink(veth.Index)!.Mac);

        nl.SetDown(veth.Index);
        Assert.False(HasFlag(Link(lab.NsPath, "tv0")!, "UP"));
        nl.SetName(veth.Index, "tv0-renamed");
        Assert.Null(Link(lab.NsPath, "tv0"));
        Assert.Equal(veth.Index, (int)Link(lab.NsPath, "tv0-renamed")!["ifindex"]!);

        nl.SetMaster(veth.Index, 0);
        Assert.Null(Link(lab.NsPath, "tv0-renamed")!["master"]);
        Assert.Equal(0, nl.FindLink("tv0-renamed")!.MasterIndex);

        Assert.True(nl.DeleteLink("tv0-renamed"));
        Assert.Null(Link(peerNs.Path, "tp0")); // the peer goes with it
        Assert.False(nl.DeleteLink("tv0-renamed"));
    }

    [Fact]
    public void Addresses_are_added_listed_and_deleted()
    {
        using var lab = new Lab("lx");
        using var nl = RtNetlink.OpenIn(lab.NsPath);
        var br = nl.CreateBridge("tbr2", 1500);
        nl.SetUp(br.Index);

        nl.AddAddress(br.Index, IPAddress.Parse("10.20.0.1"), 24);
        nl.AddAddress(br.Index, IPAddress.Parse("10.21.0.1"), 32);
        nl.AddAddress(br.Index, IPAddress.Parse("fd00:20::1"), 64);

        var info = Ip(lab.NsPath, "addr", "show", "dev", "tbr2").Single()!["addr_info"]!.AsArray();
        var v4 = info.Single(a => (string?)a!["local"] == "10.20.0.1")!;
        Assert.Equal(24, (int)v4["prefixlen"]!);
        Assert.Equal("10.20.0.255", (string?)v4["broadcast"]);
        Assert.Equal("global", (string?)v4["scope"]);
        var host = info.Single(a => (string?)a!["local"] == "10.21.0.1")!;
        Assert.Equal(32, (int)host["prefixlen"]!);
        Assert.Null(host["broadcast"]);
        Assert.Equal(64, (int)info.Single(a => (string?)a!["local"] == "fd00:20::1")!["prefixlen"]!);

        var mine = nl.ListAddresses(br.Index);
        Assert.Contains(new Address(br.Index, IPAddress.Parse("10.20.0.1"), 24), mine);
        Assert.Contains(new Address(br.Index, IPAddress.Parse("10.21.0.1"), 32), mine);
        Assert.Contains(new Address(br.Index, IPAddress.Parse("fd00:20::1"), 64), mine);
        Assert.All(mine, a => Assert.Equal(br.Index, a.LinkIndex));
        var everything = nl.ListAddresses();
        Assert.Contains(new Address(1, IPAddress.Loopback, 8), everything);
        Assert.Contains(new Address(1, IPAddress.IPv6Loopback, 128), everything);

        var dup = Assert.Throws<NetlinkException>(() => nl.AddAddress(br.Index, IPAddress.Parse("10.20.0.1"), 24));
        Assert.Equal(17, dup.Errno);

        Assert.True(nl.DeleteAddress(br.Index, IPAddress.Parse("10.20.0.1"), 24));
        Assert.False(nl.DeleteAddress(br.Index, IPAddress.Parse("10.20.0.1"), 24));
        Assert.True(nl.DeleteAddress(br.Index, IPAddress.Parse("fd00:20::1"), 64));
        Assert.False(nl.DeleteAddress(br.Index, IPAddress.Parse("fd00:20::1"), 64));
        var left = Ip(lab.NsPath, "addr", "show", "dev", "tbr2").Single()!["addr_info"]!.AsArray()
            .Select(a => (string?)a!["local"]).ToList();
        Assert.DoesNotContain("10.20.0.1", left);
        Assert.DoesNotContain("fd00:20::1", left);
        Assert.Contains("10.21.0.1", left);
    }

    [Fact]
    public void Routes_are_added_listed_and_deleted()
    {
        using var lab = new Lab("lx");
        using var nl = RtNetlink.OpenIn(lab.NsPath);
        // A veth pair inside the lab, both ends up, so the link has carrier and IPv6 is usable.
        Link a;
        using (var self = NetNs.Open(lab.NsPath)) a = nl.CreateVeth("tra", 1500, "trb", self);
        var b = nl.FindLink("trb")!;
        nl.SetUp(a.Index);
        nl.SetUp(b.Index);
        nl.AddAddress(a.Index, IPAddress.Parse("10.30.0.1"), 24);
        nl.AddAddress(a.Index, IPAddress.Parse("fd00:30::1"), 64);

        var viaGw = new Route(IPNetwork.Parse("10.31.0.0/16"), IPAddress.Parse("10.30.0.254"), a.Index);
        var onLink = new Route(IPNetwork.Parse("10.32.0.0/16"), null, a.Index, IPAddress.Parse("10.30.0.1"));
        var dflt = new Route(null, IPAddress.Parse("10.30.0.254"), null);
        var v6 = new Route(IPNetwork.Parse("fd00:31::/48"), IPAddress.Parse("fd00:30::fe"), a.Index);
        nl.AddRoute(viaGw);
        nl.AddRoute(onLink);
        nl.AddRoute(dflt);
        nl.AddRoute(v6);

        var r4 = Ip(lab.NsPath, "-d", "-4", "route", "show");
        var g = r4.Single(r => (string?)r!["dst"] == "10.31.0.0/16")!;
        Assert.Equal("10.30.0.254", (string?)g["gateway"]);
        Assert.Equal("tra", (string?)g["dev"]);
        Assert.Equal("boot", (string?)g["protocol"]);
        Assert.Equal("unicast", (string?)g["type"]);
        var l = r4.Single(r => (string?)r!["dst"] == "10.32.0.0/16")!;
        Assert.Equal("link", (string?)l["scope"]);
        Assert.Equal("10.30.0.1", (string?)l["prefsrc"]);
        Assert.Equal("10.30.0.254", (string?)r4.Single(r => (string?)r!["dst"] == "default")!["gateway"]);
        var r6 = Ip(lab.NsPath, "-6", "route", "show").Single(r => (string?)r!["dst"] == "fd00:31::/48")!;
        Assert.Equal("fd00:30::fe", (string?)r6["gateway"]);

        var list4 = nl.ListRoutes(AddressFamily.InterNetwork);
        Assert.Contains(viaGw, list4);
        Assert.Contains(onLink, list4);
        Assert.Contains(new Route(null, IPAddress.Parse("10.30.0.254"), a.Index), list4); // the kernel fills in the device
        Assert.Contains(new Route(IPNetwork.Parse("10.30.0.0/24"), null, a.Index, IPAddress.Parse("10.30.0.1")), list4);
        Assert.Equal(r4.Count, list4.Count);
        var list6 = nl.ListRoutes(AddressFamily.InterNetworkV6);
        Assert.Contains(v6, list6);
        Assert.Contains(new Route(IPNetwork.Parse("fd00:30::/64"), null, a.Index), list6);
        Assert.DoesNotContain(list6, r => r.Destination?.BaseAddress.AddressFamily != AddressFamily.InterNetworkV6);

        var dupe = Assert.Throws<NetlinkException>(() => nl.AddRoute(viaGw));
        Assert.Equal(17, dupe.Errno);
        Assert.StartsWith($"add route 10.31.0.0/16 via 10.30.0.254 dev {a.Index}: File exists", dupe.Message);

        foreach (var r in new[] { viaGw, onLink, dflt, v6 })
        {
            Assert.True(nl.DeleteRoute(r));
            Assert.False(nl.DeleteRoute(r));
        }
        Assert.DoesNotContain(Ip(lab.NsPath, "-4", "route", "show"), r => (string?)r!["dst"] is "10.31.0.0/16" or "10.32.0.0/16" or "default");
        Assert.DoesNotContain(Ip(lab.NsPath, "-6", "route", "show"), r => (string?)r!["dst"] == "fd00:31::/48");
        Assert.Throws<ArgumentException>(() => nl.ListRoutes(AddressFamily.Unix));
    }

    [Fact]
    public void One_handle_is_safe_to_share_between_threads()
    {
        using var lab = new Lab("lx");
        using var nl = RtNetlink.OpenIn(lab.NsPath);
        const int threads = 8, rounds = 25;
        var errors = new List<Exception>();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                for (int i = 0; i < rounds; i++)
                {
                    var name = $"tp{t}-{i}";
                    var link = nl.CreateBridge(name, 1500);
                    Assert.Equal(name, link.Name);
                    Assert.Contains(nl.ListLinks(), x => x.Index == link.Index);
                    nl.AddAddress(link.Index, IPAddress.Parse($"10.{40 + t}.{i}.1"), 24);
                    Assert.Contains(nl.ListAddresses(link.Index), x => x.Ip.Equals(IPAddress.Parse($"10.{40 + t}.{i}.1")));
                    Assert.True(nl.DeleteLink(name));
                }
            }
            catch (Exception e)
            {
                lock (errors) errors.Add(e);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.Empty(errors);
        Assert.Equal(["lo"], nl.ListLinks().Select(l => l.Name));
        Assert.Single(Ip(lab.NsPath, "link", "show"));
    }

    [Fact]
    public void Multipart_dumps_stay_consistent_while_another_socket_changes_links()
    {
        using var lab = new Lab("lx");
        using var reader = RtNetlink.OpenIn(lab.NsPath);
        using var writer = RtNetlink.OpenIn(lab.NsPath);
        const int stable = 80; // enough links that a dump spans several datagrams
        for (int i = 0; i < stable; i++) writer.CreateBridge($"ts{i}", 1500);

        var stop = false;
        Exception? churnError = null;
        var churn = new Thread(() =>
        {
            try
            {
                for (int i = 0; !Volatile.Read(ref stop); i++)
                {
                    writer.CreateBridge($"tc{i % 4}", 1500);
                    writer.SetUp(writer.FindLink($"tc{i % 4}")!.Index);
                    Assert.True(writer.DeleteLink($"tc{i % 4}"));
                }
            }
            catch (Exception e) { churnError = e; }
        });
        churn.Start();
        try
        {
            for (int round = 0; round < 40; round++)
            {
                var names = reader.ListLinks().Select(l => l.Name).ToHashSet();
                for (int i = 0; i < stable; i++) Assert.Contains($"ts{i}", names);
                Assert.Contains("lo", names);
                Assert.True(names.Count <= stable + 1 + 4);
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            churn.Join();
        }
        Assert.Null(churnError);
        Assert.Equal(stable + 1, Ip(lab.NsPath, "link", "show").Count);
        output.WriteLine($"dumps restarted after NLM_F_DUMP_INTR: {reader.DumpRestarts}");
    }
}
