using System.Text.Json.Nodes;
using Tether.Tests.Support;
using static Tether.Tests.Support.Rejected;

namespace Tether.Tests.EndToEnd;

/// <summary>
/// The none, host, macvlan and ipvlan drivers through the CLI, with real traffic in labs: a veth "parent" in the lab wired
/// to a "router" namespace that plays the external gateway on the parent's segment.
/// </summary>
public class DriverTests
{
    static JsonNode IpJson(string nsPath, params string[] args) => JsonNode.Parse(Sh.Run(["nsenter", $"--net={nsPath}", "ip", "-j", .. args]))!;

    static string SandboxPath(Lab lab, string name) => (string)lab.TetherJson("inspect", name).AsArray()[0]!["NetworkSettings"]!["SandboxKey"]!;

    static bool Ping(Lab lab, string sandbox, string ip) =>
        lab.Tether("exec", sandbox, "--", "busybox", "ping", "-c", "1", "-W", "2", ip).ExitCode == 0;

    static bool PingFrom(string ns, string ip) => Sh.Try("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", ip).ExitCode == 0;

    /// <summary>The lab plus a router namespace: lab "par0" (address <paramref name="labCidr"/>) to router "r0" (<paramref name="routerCidr"/>).</summary>
    static string Router(Lab lab, string labCidr = "192.168.90.254/24", string routerCidr = "192.168.90.1/24")
    {
        var rt = lab.AddNamespace("rt");
        lab.Wire(rt, "par0", labCidr, "r0", routerCidr);
        return rt;
    }


    /// <summary>Whether the kernel knows a link kind, asked with iproute2 inside the lab (the independent oracle).</summary>
    static bool KernelHas(Lab lab, params string[] addArgs)
    {
        var r = lab.TryExec(["ip", "link", "add", .. addArgs]);
        if (r.ExitCode == 0) lab.Exec("ip", "link", "del", addArgs[addArgs.ToList().IndexOf("name") + 1]);
        return !r.Stderr.Contains("Unknown device type");
    }

    // ------------------------------------------------------------------ none

    [Fact]
    public void NoneSandboxHasOnlyItsLoopbackUpAndCannotBeConnected()
    {
        using var lab = new Lab("dn");
        lab.TetherOk("network", "create", "--subnet", "10.60.0.0/24", "n");
        var run = lab.TetherOk("run", "--rm", "--name", "x", "--network", "none", "--", "ip", "-o", "link");
        var lines = run.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(": lo: <LOOPBACK,UP,LOWER_UP>", lines[0]);

        lab.TetherOk("create", "--name", "s", "--network", "none");
        var ns = SandboxPath(lab, "s");
        Assert.Equal(["lo"], IpJson(ns, "link").AsArray().Select(l => (string)l!["ifname"]!).ToArray());
        var view = lab.TetherJson("inspect", "s").AsArray()[0]!["NetworkSettings"]!["Networks"]!.AsObject();
        Assert.Equal(["none"], view.Select(kv => kv.Key).ToArray());
        Assert.Equal("", (string?)view["none"]!["IPAddress"]);
        Assert.Equal("s", (string?)lab.TetherJson("network", "inspect", "none").AsArray()[0]!["Containers"]!.AsObject().Single().Value!["Name"]);

        AssertRejected(lab, "private (none) mode", "network", "connect", "n", "s");
        Assert.Equal(["lo"], IpJson(ns, "link").AsArray().Select(l => (string)l!["ifname"]!).ToArray());
        AssertRejected(lab, "-p 8080", "create", "--name", "p", "--network", "none", "-p", "8080:80");
        AssertRejected(lab, "none", "network", "rm", "none");

        // Off the none network, the sandbox may join another one, like docker.
        lab.TetherOk("network", "disconnect", "none", "s");
        lab.TetherOk("network", "connect", "n", "s");
        Assert.Equal(["lo", "eth0"], IpJson(ns, "link").AsArray().Select(l => (string)l!["ifname"]!).ToArray());
        lab.TetherOk("rm", "s");
        Assert.Empty(lab.LinksAfterSettling("veth"));
    }

    // ------------------------------------------------------------------ host

    [Fact]
    public void HostSandboxIsTheLabsNamespaceAndRemovingItLeavesTheLabIntact()
    {
        using var lab = new Lab("dh");
        var other = lab.AddNamespace("o");
        lab.Wire(other, "hp0", "10.61.0.1/24", "o0", "10.61.0.2/24");
        lab.TetherOk("network", "create", "--subnet", "10.62.0.0/24", "n");
        lab.TetherOk("create", "--name", "b", "--network", "n");
        var before = lab.StableKernelSnapshot();

        var run = lab.TetherOk("run", "--rm", "--name", "x", "--network", "host", "--", "ip", "-o", "addr", "show", "dev", "hp0");
        Assert.Contains("10.61.0.1/24", run);
        Assert.Equal(0, lab.Tether("run", "--rm", "--name", "y", "--network", "host", "--", "busybox", "ping", "-c", "1", "-W", "2", "10.61.0.2").ExitCode);

        // A process in the lab that Tether did not start must survive rm -f of a host sandbox.
        var bystander = Sh.Run("sh", "-c", $"ip netns exec {lab.Name} sleep 300 >/dev/null 2>&1 & echo $!").Trim();
        lab.TetherOk("run", "-d", "--name", "h", "--network", "host", "--", "busybox", "sleep", "300");
        var view = lab.TetherJson("inspect", "h").AsArray()[0]!;
        var pid = (int)view["State"]!["Pid"]!;
        Assert.Equal([pid], view["State"]!["Pids"]!.AsArray().Select(p => (int)p!).ToArray());
        Assert.Equal(["host"], view["NetworkSettings"]!["Networks"]!.AsObject().Select(kv => kv.Key).ToArray());
        Assert.Contains("10.61.0.1", lab.TetherOk("exec", "h", "--", "ip", "-o", "addr"));

        AssertRejected(lab, "container cannot be disconnected from host network or connected to host network", "network", "connect", "n", "h");
        AssertRejected(lab, "-p 8080", "run", "--name", "p", "--network", "host", "-p", "8080:80", "--", "true");
        AssertRejected(lab, "host network", "network", "disconnect", "host", "h");
        AssertRejected(lab, "host network", "network", "connect", "host", "b");

        lab.TetherOk("rm", "-f", "h");
        Assert.False(File.Exists($"/proc/{pid}/cmdline") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("sleep"));
        Assert.Contains("sleep", File.ReadAllText($"/proc/{bystander}/cmdline"));
        Sh.Try("kill", "-9", bystander);
        Assert.Equal(before, lab.StableKernelSnapshot());
        Assert.True(PingFrom(lab.Name, "10.61.0.2"));
    }

    // ------------------------------------------------------------------ macvlan

    [Fact]
    public void MacvlanSandboxesReachEachOtherAndTheRouterButNotTheHost()
    {
        using var lab = new Lab("dm");
        var rt = Router(lab);
        var labLinks = lab.Exec("ip", "-o", "link").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/24", "--gateway", "192.168.90.1", "-o", "parent=par0", "mv");
        lab.TetherOk("run", "-d", "--name", "a", "--network", "mv", "--", "busybox", "sleep", "300");
        lab.TetherOk("run", "-d", "--name", "b", "--network", "mv", "--", "busybox", "sleep", "300");
        var a = lab.TetherJson("inspect", "a").AsArray()[0]!["NetworkSettings"]!["Networks"]!["mv"]!;
        var b = lab.TetherJson("inspect", "b").AsArray()[0]!["NetworkSettings"]!["Networks"]!["mv"]!;
        Assert.Equal("192.168.90.2", (string?)a["IPAddress"]);
        Assert.Equal("192.168.90.3", (string?)b["IPAddress"]);
        Assert.Equal("192.168.90.1", (string?)a["Gateway"]);

        // Each endpoint: a macvlan child of par0 in bridge mode, with its own MAC, its address and the default route.
        var ns = SandboxPath(lab, "a");
        var eth0 = IpJson(ns, "-d", "link", "show", "eth0").AsArray()[0]!;
        Assert.Equal("macvlan", (string?)eth0["linkinfo"]!["info_kind"]);
        Assert.Equal("bridge", (string?)eth0["linkinfo"]!["info_data"]!["mode"]);
        var parentMac = (string)IpJson(lab.NsPath, "link", "show", "par0").AsArray()[0]!["address"]!;
        Assert.Equal((string?)a["MacAddress"], (string?)eth0["address"]);
        Assert.NotEqual(parentMac, (string?)a["MacAddress"]);
        Assert.NotEqual((string?)a["MacAddress"], (string?)b["MacAddress"]);
        var def = IpJson(ns, "route", "show", "default").AsArray().Single()!;
        Assert.Equal("192.168.90.1", (string?)def["gateway"]);
        Assert.Equal("eth0", (string?)def["dev"]);

        Assert.True(Ping(lab, "a", "192.168.90.3"));
        Assert.True(Ping(lab, "b", "192.168.90.2"));
        Assert.True(Ping(lab, "a", "192.168.90.1"));
        Assert.True(PingFrom(rt, "192.168.90.3"));
        // The known macvlan limit: the host cannot talk to its own children through the parent.
        Assert.False(PingFrom(lab.Name, "192.168.90.2"));
        Assert.False(Ping(lab, "a", "192.168.90.254"));

        // Nothing new on the host side: no link, no address.
        Assert.Equal(labLinks, lab.Exec("ip", "-o", "link").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.DoesNotContain("192.168.90.1", lab.Exec("ip", "-o", "addr"));

        AssertRejected(lab, "-p 8080", "create", "--name", "p", "--network", "mv", "-p", "8080:80");
        lab.TetherOk("network", "disconnect", "mv", "b");
        Assert.Equal(["lo"], IpJson(SandboxPath(lab, "b"), "link").AsArray().Select(l => (string)l!["ifname"]!).ToArray());
        lab.TetherOk("rm", "-f", "a", "b");
        lab.TetherOk("network", "rm", "mv");
        Assert.Equal(labLinks, lab.Exec("ip", "-o", "link").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void TwoMacvlanNetworksWithDifferentSubnetsShareOneParent()
    {
        using var lab = new Lab("d2");
        var rt = Router(lab, "192.168.91.254/24", "192.168.91.1/24");
        Sh.Run("ip", "-n", rt, "addr", "add", "192.168.92.1/24", "dev", "r0");
        Sh.Run("ip", "netns", "exec", rt, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.91.0/24", "--gateway", "192.168.91.1", "-o", "parent=par0", "one");
        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.92.0/24", "--gateway", "192.168.92.1", "-o", "parent=par0", "two");
        lab.TetherOk("run", "-d", "--name", "a", "--network", "one", "--", "busybox", "sleep", "300");
        lab.TetherOk("run", "-d", "--name", "b", "--network", "two", "--", "busybox", "sleep", "300");
        Assert.True(Ping(lab, "a", "192.168.91.1"));
        Assert.True(Ping(lab, "b", "192.168.92.1"));
        // Across the two subnets through the router.
        Assert.True(Ping(lab, "a", "192.168.92.2"));
        lab.TetherOk("rm", "-f", "a");
        lab.TetherOk("network", "rm", "one");
        Assert.True(Ping(lab, "b", "192.168.92.1"));
    }

    [Fact]
    public void MacvlanModes()
    {
        using var lab = new Lab("do");
        var rt = Router(lab);
        string Mode(string sandbox) => (string)IpJson(SandboxPath(lab, sandbox), "-d", "link", "show", "eth0").AsArray()[0]!["linkinfo"]!["info_data"]!["mode"]!;

        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/25", "--gateway", "192.168.90.1", "-o", "parent=par0", "-o", "macvlan_mode=private", "priv");
        lab.TetherOk("create", "--name", "p1", "--network", "priv");
        lab.TetherOk("create", "--name", "p2", "--network", "priv");
        Assert.Equal("private", Mode("p1"));
        Assert.True(Ping(lab, "p1", "192.168.90.1"));
        Assert.False(Ping(lab, "p1", "192.168.90.3"));   // private: no traffic between children of one parent
        lab.TetherOk("rm", "p1", "p2");
        lab.TetherOk("network", "rm", "priv");

        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/25", "--gateway", "192.168.90.1", "-o", "parent=par0", "-o", "macvlan_mode=vepa", "vepa");
        lab.TetherOk("create", "--name", "v1", "--network", "vepa");
        Assert.Equal("vepa", Mode("v1"));
        Assert.True(Ping(lab, "v1", "192.168.90.1"));
        lab.TetherOk("rm", "v1");
        lab.TetherOk("network", "rm", "vepa");

        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/25", "--gateway", "192.168.90.1", "-o", "parent=par0", "-o", "macvlan_mode=passthru", "pass");
        lab.TetherOk("create", "--name", "t1", "--network", "pass");
        Assert.Equal("passthru", Mode("t1"));
        Assert.True(Ping(lab, "t1", "192.168.90.1"));
        Assert.True(PingFrom(rt, "192.168.90.2"));
        AssertRejected(lab, "macvlan", "create", "--name", "t2", "--network", "pass");   // passthru: one child per parent
        lab.TetherOk("rm", "t1");
        lab.TetherOk("network", "rm", "pass");
    }

    [Fact]
    public void MacvlanBadInputChangesNothing()
    {
        using var lab = new Lab("db");
        Router(lab);
        AssertRejected(lab, "parent=IFACE", "network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/24", "x");
        AssertRejected(lab, "\"nope0\" not found", "network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/24", "-o", "parent=nope0", "x");
        AssertRejected(lab, "\"par0.5000\"", "network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/24", "-o", "parent=par0.5000", "x");
        AssertRejected(lab, "\"fast\"", "network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/24", "-o", "parent=par0", "-o", "macvlan_mode=fast", "x");
        AssertRejected(lab, "\"color\"", "network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/24", "-o", "parent=par0", "-o", "color=red", "x");
        AssertRejected(lab, "--internal", "network", "create", "-d", "macvlan", "--internal", "--subnet", "192.168.90.0/24", "-o", "parent=par0", "x");
        AssertRejected(lab, "\"host\"", "network", "create", "-d", "host", "x");
        var nosuch = AssertRejected(lab, "nosuch", "network", "create", "-d", "nosuch", "x");
        Assert.Contains("(available: bridge, ipvlan, macvlan)", nosuch);   // host and null make no networks of their own
    }

    [Fact]
    public void VlanParentNeeds8021q()
    {
        using var lab = new Lab("dv");
        var rt = Router(lab);
        if (!KernelHas(lab, "link", "par0", "name", "tprobe.7", "type", "vlan", "id", "7"))
        {
            AssertRejected(lab, "kernel lacks 802.1Q VLAN support (module 8021q",
                "network", "create", "-d", "macvlan", "--subnet", "192.168.93.0/24", "-o", "parent=par0.10", "v");
            return;
        }
        // A kernel with 8021q (the qemu harness): Tether makes par0.10 on first use and removes it with the last network.
        Sh.Run("ip", "-n", rt, "link", "add", "link", "r0", "name", "r0.10", "type", "vlan", "id", "10");
        Sh.Run("ip", "-n", rt, "addr", "add", "192.168.93.1/24", "dev", "r0.10");
        Sh.Run("ip", "-n", rt, "link", "set", "r0.10", "up");
        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.93.0/24", "--gateway", "192.168.93.1", "-o", "parent=par0.10", "v");
        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.94.0/24", "-o", "parent=par0.10", "w");
        var sub = IpJson(lab.NsPath, "-d", "link", "show", "par0.10").AsArray()[0]!;
        Assert.Equal(10, (int)sub["linkinfo"]!["info_data"]!["id"]!);
        lab.TetherOk("run", "-d", "--name", "a", "--network", "v", "--", "busybox", "sleep", "300");
        Assert.True(Ping(lab, "a", "192.168.93.1"));
        lab.TetherOk("rm", "-f", "a");
        lab.TetherOk("network", "rm", "v");
        Assert.Equal(0, lab.TryExec("ip", "link", "show", "par0.10").ExitCode);    // still used by w
        lab.TetherOk("network", "rm", "w");
        Assert.NotEqual(0, lab.TryExec("ip", "link", "show", "par0.10").ExitCode);
    }

    // ------------------------------------------------------------------ ipvlan

    [Fact]
    public void IpvlanWorksWhereTheKernelHasItAndIsRefusedCleanlyWhereNot()
    {
        using var lab = new Lab("di");
        var rt = Router(lab);
        if (!KernelHas(lab, "link", "par0", "name", "tprobe", "type", "ipvlan", "mode", "l2"))
        {
            AssertRejected(lab, "kernel lacks ipvlan support (module ipvlan",
                "network", "create", "-d", "ipvlan", "--subnet", "192.168.90.0/24", "-o", "parent=par0", "iv");
            AssertRejected(lab, "kernel lacks ipvlan support (module ipvlan",
                "network", "create", "-d", "ipvlan", "--subnet", "192.168.90.0/24", "-o", "parent=par0", "-o", "ipvlan_mode=l3", "iv");
            return;
        }
        // A kernel with ipvlan (the qemu harness).
        lab.TetherOk("network", "create", "-d", "ipvlan", "--subnet", "192.168.90.0/24", "--gateway", "192.168.90.1", "-o", "parent=par0", "iv");
        lab.TetherOk("run", "-d", "--name", "a", "--network", "iv", "--", "busybox", "sleep", "300");
        lab.TetherOk("run", "-d", "--name", "b", "--network", "iv", "--", "busybox", "sleep", "300");
        var ns = SandboxPath(lab, "a");
        var eth0 = IpJson(ns, "-d", "link", "show", "eth0").AsArray()[0]!;
        Assert.Equal("ipvlan", (string?)eth0["linkinfo"]!["info_kind"]);
        var parentMac = (string)IpJson(lab.NsPath, "link", "show", "par0").AsArray()[0]!["address"]!;
        Assert.Equal(parentMac, (string?)eth0["address"]);       // ipvlan children share the parent's MAC
        Assert.Equal("192.168.90.1", (string?)IpJson(ns, "route", "show", "default").AsArray().Single()!["gateway"]);
        Assert.True(Ping(lab, "a", "192.168.90.3"));
        Assert.True(Ping(lab, "a", "192.168.90.1"));
        Assert.True(PingFrom(rt, "192.168.90.2"));
        lab.TetherOk("rm", "-f", "a", "b");
        lab.TetherOk("network", "rm", "iv");

        // l3: no gateway; the default route goes through the device.
        Sh.Run("ip", "-n", rt, "route", "add", "192.168.95.0/24", "via", "192.168.90.254");
        lab.Exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        lab.TetherOk("network", "create", "-d", "ipvlan", "--subnet", "192.168.95.0/24", "-o", "parent=par0", "-o", "ipvlan_mode=l3", "l3");
        lab.TetherOk("run", "-d", "--name", "c", "--network", "l3", "--", "busybox", "sleep", "300");
        var route = IpJson(SandboxPath(lab, "c"), "route", "show", "default").AsArray().Single()!;
        Assert.Null(route["gateway"]);
        Assert.Equal("eth0", (string?)route["dev"]);
        Assert.True(Ping(lab, "c", "192.168.90.1"));
        lab.TetherOk("rm", "-f", "c");
        lab.TetherOk("network", "rm", "l3");
    }

    // ------------------------------------------------------------------ several networks

    [Fact]
    public void BridgeAndMacvlanOnOneSandboxWithTheDefaultRouteMovingOnDisconnect()
    {
        using var lab = new Lab("dx");
        Router(lab);
        lab.TetherOk("network", "create", "--subnet", "10.63.0.0/24", "br");
        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/24", "--gateway", "192.168.90.1", "-o", "parent=par0", "mv");
        lab.TetherOk("run", "-d", "--name", "s", "--network", "br", "--", "busybox", "sleep", "300");
        lab.TetherOk("network", "connect", "mv", "s");
        var ns = SandboxPath(lab, "s");
        Assert.Equal(["lo", "eth0", "eth1"], IpJson(ns, "link").AsArray().Select(l => (string)l!["ifname"]!).ToArray());
        var nets = lab.TetherJson("inspect", "s").AsArray()[0]!["NetworkSettings"]!["Networks"]!;
        Assert.Equal("eth0", (string?)nets["br"]!["InterfaceName"]);
        Assert.Equal("eth1", (string?)nets["mv"]!["InterfaceName"]);
        Assert.Equal("192.168.90.2", (string?)nets["mv"]!["IPAddress"]);
        Assert.Equal("10.63.0.1", (string?)IpJson(ns, "route", "show", "default").AsArray().Single()!["gateway"]);
        Assert.True(Ping(lab, "s", "192.168.90.1"));
        Assert.True(Ping(lab, "s", "10.63.0.1"));
        Assert.Equal(["br", "mv"], lab.TetherJson("ls").AsArray()[0]!["Networks"]!.AsArray().Select(n => (string)n!).ToArray());

        lab.TetherOk("network", "disconnect", "br", "s");
        var def = IpJson(ns, "route", "show", "default").AsArray().Single()!;
        Assert.Equal("192.168.90.1", (string?)def["gateway"]);
        Assert.Equal("eth1", (string?)def["dev"]);
        Assert.True(Ping(lab, "s", "192.168.90.1"));

        // Back on the bridge: eth2, and the default route stays with the macvlan network, connected first.
        lab.TetherOk("network", "connect", "br", "s");
        Assert.Equal(["lo", "eth1", "eth2"], IpJson(ns, "link").AsArray().Select(l => (string)l!["ifname"]!).ToArray());
        Assert.Equal("eth1", (string?)IpJson(ns, "route", "show", "default").AsArray().Single()!["dev"]);
        lab.TetherOk("rm", "-f", "s");
        Assert.DoesNotContain(lab.LinksAfterSettling("veth"), l => !l.Contains("par0"));
    }

    [Fact]
    public void ReconcileLeavesMacvlanHostAndNoneSandboxesAlone()
    {
        using var lab = new Lab("dr");
        Router(lab);
        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/24", "--gateway", "192.168.90.1", "-o", "parent=par0", "mv");
        lab.TetherOk("run", "-d", "--name", "m", "--network", "mv", "--", "busybox", "sleep", "300");
        lab.TetherOk("create", "--name", "h", "--network", "host");
        lab.TetherOk("create", "--name", "n", "--network", "none");
        // Links, addresses, routes and namespace mounts (reconcile rewrites the nftables table, so rule handles change).
        string[] NoFirewall(string snap) => snap.Split("\n---\n") is var parts ? [parts[0], parts[1], parts[2], parts[4]] : [];
        var before = NoFirewall(lab.StableKernelSnapshot());
        var repairs = lab.TetherOk("reconcile");
        Assert.DoesNotContain("stale", repairs);
        Assert.DoesNotContain("recreated", repairs);
        Assert.Equal(before, NoFirewall(lab.StableKernelSnapshot()));
        Assert.Equal(["m", "h", "n"], lab.TetherJson("ls").AsArray().Select(x => (string)x!["Name"]!).ToArray());
        Assert.True(Ping(lab, "m", "192.168.90.1"));
        lab.TetherOk("rm", "-f", "m", "h", "n");
        Assert.Equal(0, lab.TryExec("ip", "link", "show", "par0").ExitCode);
    }

    // ------------------------------------------------------------------ info

    [Fact]
    public void InfoShowsTheDriversAndTheKernelFeaturesThisHostHas()
    {
        using var lab = new Lab("dk");
        lab.Exec("ip", "link", "add", "kp0", "type", "veth", "peer", "name", "kp1");
        var before = lab.StableKernelSnapshot();
        var info = lab.TetherJson("info");
        Assert.Equal(before, lab.StableKernelSnapshot());      // the probe changed nothing in the lab

        var features = info["KernelFeatures"]!.AsArray().ToDictionary(f => (string)f!["Name"]!, f => (bool?)f!["Present"]);
        Assert.Equal(KernelHas(lab, "name", "tk0", "type", "bridge"), features["bridge"]);
        Assert.Equal(KernelHas(lab, "name", "tk1", "type", "veth", "peer", "name", "tk2"), features["veth"]);
        Assert.Equal(KernelHas(lab, "link", "kp0", "name", "tk3", "type", "macvlan"), features["macvlan"]);
        Assert.Equal(KernelHas(lab, "link", "kp0", "name", "tk4", "type", "ipvlan"), features["ipvlan"]);
        Assert.Equal(KernelHas(lab, "link", "kp0", "name", "tk5", "type", "vlan", "id", "5"), features["8021q"]);
        Assert.Equal(KernelHas(lab, "name", "tk6", "type", "vxlan", "id", "6", "dstport", "4789"), features["vxlan"]);
        Assert.Equal(lab.TryExec("nft", "list", "tables").ExitCode == 0, features["nf_tables"]);
        if (File.Exists("/proc/config.gz"))
        {
            var config = Sh.Run("sh", "-c", "zcat /proc/config.gz");
            Assert.Equal(config.Contains("CONFIG_IPVLAN=y") || config.Contains("CONFIG_IPVLAN=m"), features["ipvlan"]);
            Assert.Equal(config.Contains("CONFIG_MACVLAN=y") || config.Contains("CONFIG_MACVLAN=m"), features["macvlan"]);
        }

        var drivers = info["Drivers"]!.AsArray().ToDictionary(d => (string)d!["Name"]!);
        Assert.Equal(["bridge", "host", "ipvlan", "macvlan", "null"], drivers.Keys.Order().ToArray());
        Assert.Equal(features["ipvlan"], (bool)drivers["ipvlan"]!["Available"]!);
        Assert.Contains("PortBindings", drivers["bridge"]!["Capabilities"]!.AsArray().Select(c => (string)c!));
        Assert.DoesNotContain("PortBindings", drivers["macvlan"]!["Capabilities"]!.AsArray().Select(c => (string)c!));

        var table = lab.TetherOk("info");
        Assert.Contains("Drivers:", table);
        Assert.Matches($@"\n  ipvlan +{(features["ipvlan"] == true ? "yes" : "no")} ", table);
    }
}
