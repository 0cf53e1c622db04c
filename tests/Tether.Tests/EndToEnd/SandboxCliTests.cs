using System.Text.Json.Nodes;
using Tether.Tests.Support;

namespace Tether.Tests.EndToEnd;

/// <summary>Sandboxes through the CLI: kernel objects checked with `ip` inside the sandbox, processes, ports, removal.</summary>
public class SandboxCliTests
{
    static JsonNode IpJson(string nsPath, params string[] args) => JsonNode.Parse(Sh.Run(["nsenter", $"--net={nsPath}", "ip", "-j", .. args]))!;

    [Fact]
    public void SandboxGetsEth0AddressDefaultRouteAndLoopback()
    {
        using var lab = new Lab("sb");
        lab.TetherOk("network", "create", "--subnet", "10.30.0.0/24", "-o", "mtu=1450", "n");
        lab.TetherOk("create", "--name", "a", "--network", "n");
        var view = lab.TetherJson("inspect", "a").AsArray()[0]!;
        var ns = (string)view["NetworkSettings"]!["SandboxKey"]!;
        var ep = view["NetworkSettings"]!["Networks"]!["n"]!;
        Assert.Equal("10.30.0.2", (string?)ep["IPAddress"]);

        var links = IpJson(ns, "link").AsArray();
        Assert.Equal(["lo", "eth0"], links.Select(l => (string)l!["ifname"]!).ToArray());
        Assert.All(links, l => Assert.Contains("UP", l!["flags"]!.AsArray().Select(f => (string)f!)));
        var eth0 = links[1]!;
        Assert.Equal(1450, (int)eth0["mtu"]!);
        Assert.Equal((string?)ep["MacAddress"], (string?)eth0["address"]);
        var addr = IpJson(ns, "addr", "show", "dev", "eth0").AsArray()[0]!["addr_info"]!.AsArray().Single(a => (string?)a!["family"] == "inet")!;
        Assert.Equal("10.30.0.2", (string?)addr["local"]);
        Assert.Equal(24, (int)addr["prefixlen"]!);
        var def = IpJson(ns, "route", "show", "default").AsArray().Single()!;
        Assert.Equal("10.30.0.1", (string?)def["gateway"]);
        Assert.Equal("eth0", (string?)def["dev"]);

        // Host side: a veth enslaved to the network's bridge.
        var bridge = (string)lab.TetherJson("network", "inspect", "n").AsArray()[0]!["Options"]!["bridge.name"]!;
        var ports = JsonNode.Parse(lab.Exec("ip", "-j", "link", "show", "master", bridge))!.AsArray();
        Assert.Single(ports);
        Assert.StartsWith("tv", (string)ports[0]!["ifname"]!);
    }

    [Fact]
    public void LeasesAreSequentialAndReleasedAddressesAreNotReusedImmediately()
    {
        using var lab = new Lab("sl");
        lab.TetherOk("network", "create", "--subnet", "10.31.0.0/29", "n");  // usable .2-.6 (gateway .1, broadcast .7)
        string Ip(string name) => (string)lab.TetherJson("inspect", name).AsArray()[0]!["NetworkSettings"]!["Networks"]!["n"]!["IPAddress"]!;
        lab.TetherOk("create", "--name", "a", "--network", "n");
        lab.TetherOk("create", "--name", "b", "--network", "n");
        Assert.Equal("10.31.0.2", Ip("a"));
        Assert.Equal("10.31.0.3", Ip("b"));
        lab.TetherOk("rm", "a");
        lab.TetherOk("create", "--name", "c", "--network", "n");
        Assert.Equal("10.31.0.4", Ip("c"));  // not .2 again
        lab.TetherOk("create", "--name", "d", "--network", "n");
        lab.TetherOk("create", "--name", "e", "--network", "n");
        Assert.Equal("10.31.0.6", Ip("e"));
        lab.TetherOk("create", "--name", "f", "--network", "n");
        Assert.Equal("10.31.0.2", Ip("f"));  // wrapped
        var full = lab.Tether("create", "--name", "g", "--network", "n");
        Assert.NotEqual(0, full.ExitCode);
        Assert.Contains("full", full.Stderr);
    }

    [Fact]
    public void RunExecPortAndForcedRemove()
    {
        using var lab = new Lab("sr");
        lab.TetherOk("network", "create", "n");
        // Foreground run: exit code comes back; --rm removes the sandbox.
        var fg = lab.Tether("run", "--rm", "--name", "fg", "--network", "n", "--", "busybox", "sh", "-c", "ip -o -4 addr show eth0; exit 7");
        Assert.Equal(7, fg.ExitCode);
        Assert.Contains("172.18.0.2/16", fg.Stdout);
        Assert.Equal("[]", lab.TetherOk("ls", "--format", "json").Trim());

        var id = lab.TetherOk("run", "-d", "--name", "bg", "--network", "n", "-p", "8080:80", "-p", "127.0.0.1:5353:53/udp",
            "--", "busybox", "sleep", "300").Trim();
        Assert.Equal(64, id.Length);
        var view = lab.TetherJson("inspect", "bg").AsArray()[0]!;
        Assert.True((bool)view["State"]!["Running"]!);
        var pid = (int)view["State"]!["Pid"]!;
        Assert.True(pid > 0);
        Assert.Equal("0.0.0.0", (string?)view["NetworkSettings"]!["Ports"]!["80/tcp"]![0]!["HostIp"]);
        Assert.Equal("8080", (string?)view["NetworkSettings"]!["Ports"]!["80/tcp"]![0]!["HostPort"]);
        Assert.Equal("80/tcp -> 0.0.0.0:8080\n53/udp -> 127.0.0.1:5353\n", lab.TetherOk("port", "bg"));

        var ls = lab.TetherJson("ls").AsArray().Single()!;
        Assert.Equal("bg", (string?)ls["Name"]);
        Assert.Equal("n", (string?)ls["Networks"]![0]);

        Assert.Equal("eth0\n", lab.TetherOk("exec", "bg", "--", "busybox", "sh", "-c", "ip -o -4 addr show | grep -v ' lo ' | awk '{print $2}'"));
        Assert.Equal(3, lab.Tether("exec", "bg", "--", "busybox", "sh", "-c", "exit 3").ExitCode);

        var refused = lab.Tether("rm", "bg");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("running processes", refused.Stderr);
        lab.TetherOk("rm", "-f", "bg");
        Assert.False(Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("sleep"));
        Assert.Empty(lab.LinksAfterSettling("veth"));
        Assert.DoesNotContain("8080", lab.Exec("nft", "list", "ruleset"));
    }

    [Fact]
    public void RemovingASandboxWhoseNamespaceWasDeletedBehindOurBackCleansTheHostSide()
    {
        using var lab = new Lab("sg");
        lab.TetherOk("network", "create", "n");
        lab.TetherOk("create", "--name", "a", "--network", "n", "-p", "9000:80");
        var ns = (string)lab.TetherJson("inspect", "a").AsArray()[0]!["NetworkSettings"]!["SandboxKey"]!;
        Sh.Run("umount", ns);
        File.Delete(ns);

        lab.TetherOk("rm", "-f", "a");
        Assert.Empty(lab.LinksAfterSettling("veth"));
        Assert.DoesNotContain("9000", lab.Exec("nft", "list", "ruleset"));
        Assert.Equal(0, lab.Tether("rm", "-f", "a").ExitCode);  // again: still succeeds
        lab.TetherOk("create", "--name", "a", "--network", "n", "-p", "9000:80");  // the port and the name are free again
    }

    [Fact]
    public void ConnectAddsInterfacesInOrderAndDisconnectMovesTheDefaultRoute()
    {
        using var lab = new Lab("sc");
        lab.TetherOk("network", "create", "--subnet", "10.60.0.0/24", "one");
        lab.TetherOk("network", "create", "--subnet", "10.61.0.0/24", "two");
        lab.TetherOk("network", "create", "--subnet", "10.62.0.0/24", "--internal", "three");
        lab.TetherOk("create", "--name", "a", "--network", "one");
        lab.TetherOk("network", "connect", "--ip", "10.61.0.50", "--alias", "api", "two", "a");
        lab.TetherOk("network", "connect", "three", "a");
        var view = lab.TetherJson("inspect", "a").AsArray()[0]!;
        var ns = (string)view["NetworkSettings"]!["SandboxKey"]!;
        var nets = view["NetworkSettings"]!["Networks"]!;
        Assert.Equal("eth1", (string?)nets["two"]!["InterfaceName"]);
        Assert.Equal("10.61.0.50", (string?)nets["two"]!["IPAddress"]);
        Assert.Equal("api", (string?)nets["two"]!["Aliases"]![0]);
        Assert.Equal("eth2", (string?)nets["three"]!["InterfaceName"]);
        Assert.Equal(["lo", "eth0", "eth1", "eth2"], IpJson(ns, "link").AsArray().Select(l => (string)l!["ifname"]!).ToArray());
        Assert.Equal("10.60.0.1", (string?)IpJson(ns, "route", "show", "default").AsArray().Single()!["gateway"]);

        var again = lab.Tether("network", "connect", "two", "a");
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("already connected", again.Stderr);

        lab.TetherOk("network", "disconnect", "one", "a");
        var def = IpJson(ns, "route", "show", "default").AsArray().Single()!;
        Assert.Equal("10.61.0.1", (string?)def["gateway"]);
        Assert.Equal("eth1", (string?)def["dev"]);
        lab.TetherOk("network", "disconnect", "two", "a");
        Assert.Empty(IpJson(ns, "route", "show", "default").AsArray());   // only the internal network is left
        Assert.Equal(["lo", "eth2"], IpJson(ns, "link").AsArray().Select(l => (string)l!["ifname"]!).ToArray());
        lab.TetherOk("network", "connect", "one", "a");
        Assert.Equal("eth3", (string?)lab.TetherJson("inspect", "a").AsArray()[0]!["NetworkSettings"]!["Networks"]!["one"]!["InterfaceName"]);
        Assert.Equal("10.60.0.1", (string?)IpJson(ns, "route", "show", "default").AsArray().Single()!["gateway"]);
    }

    [Fact]
    public void PublishingAfterTheRulesetWasFlushedBehindOurBackRecreatesIt()
    {
        using var lab = new Lab("sf");
        lab.TetherOk("network", "create", "n");
        lab.TetherOk("create", "--name", "old", "--network", "n", "-p", "8087:80");
        lab.Exec("nft", "flush", "ruleset");
        lab.TetherOk("create", "--name", "a", "--network", "n", "-p", "8088:80");
        // The whole ruleset is back: the new port, the old one, and the network's isolation and NAT sets.
        var ruleset = lab.Exec("nft", "list", "table", "inet", "tether");
        Assert.Contains("tcp . 8088 : 172.18.0.3 . 80", ruleset);
        Assert.Contains("tcp . 8087 : 172.18.0.2 . 80", ruleset);
        Assert.Contains("jump user", ruleset);
        var bridge = (string)lab.TetherJson("network", "inspect", "n").AsArray()[0]!["Options"]!["bridge.name"]!;
        Assert.Contains($"elements = {{ \"{bridge}\" }}", lab.Exec("nft", "list", "set", "inet", "tether", "external_bridges"));
        Assert.Contains("172.18.0.0/16", lab.Exec("nft", "list", "set", "inet", "tether", "v4_external_subnets"));
    }

    [Fact]
    public void ReconcileRepairsBridgesRulesetAndStaleNamespaces()
    {
        using var lab = new Lab("sr2");
        lab.TetherOk("network", "create", "-o", "bridge.name=br-rec", "n");
        lab.TetherOk("create", "--name", "a", "--network", "n", "-p", "8089:80");
        lab.Exec("ip", "link", "del", "br-rec");
        lab.Exec("nft", "delete", "table", "inet", "tether");
        // A namespace left by a tether process killed half-way through a create.
        var stale = Path.Combine(lab.RunDir, "netns", "big");
        StaleNamespace(stale);

        var repairs = lab.TetherOk("reconcile");
        Assert.Contains("recreated bridge br-rec", repairs);
        Assert.Contains("removed stale namespace", repairs);
        Assert.Contains("inet 172.18.0.1/16", lab.Exec("ip", "addr", "show", "br-rec"));
        Assert.Contains("tcp . 8089 : 172.18.0.2 . 80", lab.Exec("nft", "list", "table", "inet", "tether"));
        Assert.False(File.Exists(stale));
    }

    [Fact]
    public void ReconcileDeletesVethPairsOfEndpointsThatAreGone()
    {
        // tetherd answers a disconnect before the kernel deletes the veth pair; killed in between, it leaves the pair
        // (the host end on the bridge, eth1 in the sandbox) with no endpoint: a later connect would meet eth1.
        using var lab = new Lab("sr3");
        lab.TetherOk("network", "create", "-o", "bridge.name=br-st", "n");
        lab.TetherOk("create", "--name", "a", "--network", "n");
        var ns = Path.Combine(lab.RunDir, "netns", "a");
        lab.Exec("ip", "link", "add", "tv0123456789ab", "type", "veth", "peer", "name", "eth1", "netns", ns);
        lab.Exec("ip", "link", "set", "tv0123456789ab", "master", "br-st");
        // Not Tether's: another name on the same bridge, and a tv name on no Tether bridge.
        lab.Exec("ip", "link", "add", "mine0", "type", "veth", "peer", "name", "mine1");
        lab.Exec("ip", "link", "set", "mine0", "master", "br-st");
        lab.Exec("ip", "link", "add", "tvaaaaaaaaaaaa", "type", "veth", "peer", "name", "tvbbbbbbbbbbbb");
        var own = (string)lab.TetherJson("inspect", "a")[0]!["NetworkSettings"]!["Networks"]!["n"]!["MacAddress"]!;

        var repairs = lab.TetherOk("reconcile");
        Assert.Contains("removed veth tv0123456789ab, whose endpoint is gone", repairs);
        Assert.Single(repairs.Split('\n'), l => l.StartsWith("removed veth", StringComparison.Ordinal));
        var inside = Sh.Run("nsenter", $"--net={ns}", "ip", "-o", "link");
        Assert.DoesNotContain("eth1", inside);
        Assert.Contains(own, inside);   // the endpoint's own pair stays
        Assert.Contains("mine0", lab.Exec("ip", "-o", "link"));
        Assert.Contains("tvaaaaaaaaaaaa", lab.Exec("ip", "-o", "link"));
        lab.TetherOk("network", "create", "m");
        lab.TetherOk("network", "connect", "m", "a");   // eth1, which the stray peer held, is free again
    }

    /// <summary>A namespace bind-mounted at <paramref name="path"/> with no sandbox record, as a killed create leaves it.</summary>
    static void StaleNamespace(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "");
        Sh.Run("unshare", $"--net={path}", "true");
    }

    [Fact]
    public void ANamespaceLeftByAKilledCreateDoesNotBlockTheName()
    {
        using var lab = new Lab("sk");
        lab.TetherOk("network", "create", "n");
        StaleNamespace(Path.Combine(lab.RunDir, "netns", "big"));
        lab.TetherOk("create", "--name", "big", "--network", "n");
        lab.TetherOk("rm", "big");
        StaleNamespace(Path.Combine(lab.RunDir, "netns", "big2"));
        lab.TetherOk("rm", "-f", "big2");
        Assert.False(File.Exists(Path.Combine(lab.RunDir, "netns", "big2")));
    }

    [Fact]
    public void APortAHostServiceListensOnIsRefused()
    {
        using var lab = new Lab("su");
        lab.TetherOk("network", "create", "n");
        var server = System.Diagnostics.Process.Start("ip", ["netns", "exec", lab.Name, "busybox", "httpd", "-f", "-p", "2222", "-h", "/tmp"])!;
        try
        {
            for (var i = 0; i < 50 && !lab.Exec("ss", "-ltn").Contains(":2222"); i++) Thread.Sleep(50);
            var r = lab.Tether("create", "--name", "a", "--network", "n", "-p", "2222:80");
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains("2222/tcp is already in use on the host", r.Stderr);
            lab.TetherOk("create", "--name", "a", "--network", "n", "-p", "2222:80/udp");   // another protocol is free
        }
        finally
        {
            server.Kill();
            server.WaitForExit();
        }
    }

    [Fact]
    public void TwentyParallelCreatesAndRemovesGetDistinctAddressesAndLeaveNothing()
    {
        using var lab = new Lab("sp");
        lab.TetherOk("network", "create", "n");
        var results = Enumerable.Range(0, 20).AsParallel().WithDegreeOfParallelism(20)
            .Select(i => lab.Tether("create", "--name", $"p{i}", "--network", "n", "-p", $"{10000 + i}:80")).ToList();
        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.Stderr));
        var ips = lab.TetherJson("ls").AsArray().Select(s => (string)s!["IPAddresses"]![0]!).ToList();
        Assert.Equal(20, ips.Distinct().Count());
        Assert.Equal(20, lab.Exec("ip", "-o", "link", "show", "type", "veth").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        var removes = Enumerable.Range(0, 20).AsParallel().WithDegreeOfParallelism(20).Select(i => lab.Tether("rm", $"p{i}")).ToList();
        Assert.All(removes, r => Assert.True(r.ExitCode == 0, r.Stderr));
        Assert.Equal("[]", lab.TetherOk("ls", "--format", "json").Trim());
        Assert.Empty(lab.LinksAfterSettling("veth"));
        Assert.DoesNotMatch("1000[0-9]|1001[0-9]", lab.Exec("nft", "list", "ruleset"));
        Assert.Empty(Directory.GetFiles(Path.Combine(lab.RunDir, "netns")));
    }

    [Fact]
    public void TheGatewayMacStaysWhileEndpointsComeAndGo()
    {
        using var lab = new Lab("gm");
        lab.TetherOk("network", "create", "--subnet", "10.32.0.0/24", "-o", "bridge.name=tbgm0", "n");
        string BridgeMac() => (string)JsonNode.Parse(lab.Exec("ip", "-j", "link", "show", "tbgm0"))!.AsArray()[0]!["address"]!;
        var before = BridgeMac();
        for (var i = 0; i < 6; i++) lab.TetherOk("create", "--name", $"s{i}", "--network", "n");
        Assert.Equal(before, BridgeMac());   // an unpinned bridge takes the lowest MAC of its ports
        lab.TetherOk("rm", "s0", "s1", "s2");
        Assert.Equal(before, BridgeMac());
    }
}
