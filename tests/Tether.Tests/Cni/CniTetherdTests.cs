using System.Text.Json.Nodes;
using Tether.Linux;
using Tether.Tests.Support;

namespace Tether.Tests.Cni;

/// <summary>
/// tether-cni's thin front and tetherd: which calls tetherd serves (its log has one line per command it served), which
/// it refuses (another state dir, another mount or network namespace) so that tether-cni-local does the work, falling
/// back when tetherd is gone, concurrency through tetherd, and tetherd's names following CNI ADD and DEL.
/// </summary>
public sealed class CniTetherdTests : IDisposable
{
    readonly CniLab cni = new("cd");
    Lab Lab => cni.Lab;
    readonly List<int> daemons = [];

    public CniTetherdTests() => Lab.Env["TETHER_RESOLV_CONF"] = "/dev/null";   // no upstream: tetherd forwards nothing

    public void Dispose()
    {
        Lab.Tether("daemon", "stop");
        foreach (var pid in daemons) Signals.Kill(pid, 9);
        cni.Dispose();
    }

    static string Address(JsonNode r) => ((string)r["ips"]![0]!["address"]!).Split('/')[0];

    [Fact]
    public void ServedCommandsAreLoggedAndItsNamesFollowAddAndDel()
    {
        Lab.TetherOk("daemon", "start");
        var conf = cni.Conf("1.0.0");
        conf["runtimeConfig"] = JsonNode.Parse("""{"aliases":{"cn":["web"]}}""");
        var c1 = cni.Container("c1");
        var r = cni.Ok("ADD", conf, "c1", c1)!;
        Assert.Equal(1, cni.Served("ADD"));
        Assert.Contains("tetherd: cni ADD container c1 ifname eth0: exit 0", cni.DaemonLog);
        // A Tether sandbox on the CNI network resolves the container's alias at once: tetherd's names followed the ADD.
        Lab.TetherOk("create", "--name", "s1", "--network", "cn");
        Assert.Contains(Address(r), Lab.TetherOk("exec", "s1", "--", "getent", "hosts", "web"));
        cni.Ok("CHECK", CniLab.WithPrev(conf, r), "c1", c1);
        cni.Ok("DEL", CniLab.WithPrev(conf, r), "c1", c1);
        Assert.Equal(1, cni.Served("DEL"));
        Assert.Equal(1, cni.Served("CHECK"));
        Assert.NotEqual(0, Lab.Tether("exec", "s1", "--", "getent", "hosts", "web").ExitCode);
        // An error is served too, and comes back as the plugin prints it, with its exit code.
        var bad = cni.Run("ADD", conf, "../x", c1);
        Assert.Equal(1, bad.Exit);
        Assert.Equal(4, bad.Code);
        Assert.Equal(2, cni.Served("ADD"));
        Assert.Contains("exit 1", cni.DaemonLog.Split('\n').Last(l => l.StartsWith("tetherd: cni ADD", StringComparison.Ordinal)));
    }

    [Fact]
    public void ATetherdOfAnotherStateDirIsNotUsed()
    {
        // A tetherd listens on the lab's run dir but serves another state dir: it refuses (409) and the front has
        // tether-cni-local do the work in the config's state dir.
        var other = Path.Combine(Path.GetDirectoryName(Lab.StateDir)!, "other-state");
        daemons.Add(StartDaemon(other));
        var c1 = cni.Container("c1");
        var r = cni.Ok("ADD", cni.Conf(), "c1", c1)!;
        Assert.Equal("10.77.0.2", Address(r));
        Assert.Contains("inet 10.77.0.2/24", Sh.Run("ip", "-n", Path.GetFileName(c1), "-o", "-4", "addr", "show", "eth0"));
        Assert.Single(Lab.TetherJson("ls").AsArray());
        Assert.Equal(0, cni.Served("ADD"));
        cni.Ok("DEL", CniLab.WithPrev(cni.Conf(), r), "c1", c1);
        Assert.Empty(Lab.TetherJson("ls").AsArray());
        Assert.Equal(0, cni.Served("DEL"));
    }

    [Fact]
    public void ACallFromAnotherMountNamespaceIsNotServed()
    {
        // CNI_NETNS and the config's dirs are paths: they name the same files only in tetherd's mount namespace.
        Lab.TetherOk("daemon", "start");
        var c1 = cni.Container("c1");
        var conf = cni.Conf();
        var r = Sh.TryWithInput(conf.ToJsonString(), "unshare", "--mount", "--propagation", "private", "--", "nsenter", $"--net={Lab.NsPath}", "--",
            "env", "-i", "CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", $"CNI_NETNS={c1}", "CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni", CniLab.Binary);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal("10.77.0.2", Address(JsonNode.Parse(r.Stdout)!));
        Assert.Equal(0, cni.Served("ADD"));
        // The same call from tetherd's mount namespace is served.
        cni.Ok("ADD", conf, "c2", cni.Container("c2"));
        Assert.Equal(1, cni.Served("ADD"));
        Assert.Equal(2, Lab.TetherJson("ls").AsArray().Count);
    }

    [Fact]
    public void ACallFromAnotherNetworkNamespaceIsNotServed()
    {
        Lab.TetherOk("daemon", "start");
        var elsewhere = Lab.AddNamespace("other");
        var r = Sh.TryWithInput(cni.Conf().ToJsonString(), "nsenter", $"--net=/run/netns/{elsewhere}", "--",
            "env", "-i", "CNI_COMMAND=STATUS", "CNI_PATH=/usr/lib/cni", CniLab.Binary);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal(0, cni.Served("STATUS"));
        Assert.Equal(0, cni.Run("STATUS", cni.Conf(), null, null, null).Exit);
        Assert.Equal(1, cni.Served("STATUS"));
    }

    [Fact]
    public void FallsBackWhenTetherdIsAbsentOrDied()
    {
        var conf = cni.Conf();
        var r1 = cni.Ok("ADD", conf, "c1", cni.Container("c1"))!;   // no tetherd: done by tether-cni-local
        Assert.Equal("", cni.DaemonLog);
        Lab.TetherOk("daemon", "start");
        var r2 = cni.Ok("ADD", conf, "c2", cni.Container("c2"))!;
        Assert.Equal(1, cni.Served("ADD"));
        // tetherd killed: its socket file stays, nobody accepts on it.
        var pid = int.Parse(File.ReadAllText(Path.Combine(Lab.RunDir, "tetherd.pid")).Trim());
        Assert.True(Signals.Kill(pid, 9));
        for (var i = 0; i < 100 && Signals.Kill(pid, 0); i++) Thread.Sleep(20);
        Assert.True(File.Exists(Path.Combine(Lab.RunDir, "tetherd.sock")));
        var c3 = cni.Container("c3");
        var r3 = cni.Ok("ADD", conf, "c3", c3)!;
        Assert.Equal(["10.77.0.2", "10.77.0.3", "10.77.0.4"], new[] { r1, r2, r3 }.Select(Address));
        Assert.Equal(3, Lab.TetherJson("ls").AsArray().Count);
        foreach (var (id, r) in new[] { ("c1", r1), ("c2", r2), ("c3", r3) })
            cni.Ok("DEL", CniLab.WithPrev(conf, r), id, (string)r["interfaces"]![2]!["sandbox"]!);
        Assert.Empty(Lab.TetherJson("ls").AsArray());
        Assert.Empty(Lab.LinksAfterSettling("veth"));
    }

    [Fact]
    public void TwentyConcurrentAddsThroughTetherdGetDistinctAddresses()
    {
        Lab.TetherOk("daemon", "start");
        cni.Env["TETHER_CNI_LOCAL"] = "/nonexistent/tether-cni-local";   // every call must be served
        var conf = cni.Conf();
        var netns = Enumerable.Range(1, 20).Select(i => cni.Container($"p{i}")).ToList();
        var results = Enumerable.Range(0, 20).AsParallel().WithDegreeOfParallelism(20)
            .Select(i => cni.Run("ADD", conf, $"p{i + 1}", netns[i])).ToList();
        Assert.All(results, r => Assert.True(r.Exit == 0, r.Stdout + r.Stderr));
        Assert.Equal(20, results.Select(r => Address(r.Json!)).Distinct().Count());
        Assert.Equal(20, cni.Served("ADD"));
        Assert.Equal(20, Lab.TetherJson("ls").AsArray().Count);
    }

    [Fact]
    public void AnAddRightAfterTheDelOfTheSameInterfaceWaitsForItsVethToGo()
    {
        // tetherd answers a DEL before the kernel has deleted the veth pair (its rcu_barrier takes tens of ms), so the
        // eth0 of a DEL just answered may still be in the container's namespace, and an ADD of eth0 there waits for it
        // (LinkReaperTests shows the wait; how far behind the deletions are here depends on the machine's load). Here:
        // an ADD right after its DEL, with five other DELs in flight, succeeds, and every pair deleted goes.
        Lab.TetherOk("daemon", "start");
        cni.Env["TETHER_CNI_LOCAL"] = "/nonexistent/tether-cni-local";   // every call must be served
        var conf = cni.Conf();
        var netns = Enumerable.Range(1, 6).Select(i => cni.Container($"q{i}")).ToList();
        var added = Enumerable.Range(0, 6).Select(i => cni.Ok("ADD", conf, $"q{i + 1}", netns[i])).ToList();
        var dels = Enumerable.Range(1, 5).AsParallel().WithDegreeOfParallelism(5)
            .Select(i => cni.Run("DEL", CniLab.WithPrev(conf, added[i]), $"q{i + 1}", netns[i])).ToList();
        Assert.All(dels, r => Assert.True(r.Exit == 0, r.Stdout + r.Stderr));
        cni.Ok("DEL", CniLab.WithPrev(conf, added[0]), "q1", netns[0]);
        var again = cni.Run("ADD", conf, "q1", netns[0]);
        Assert.True(again.Exit == 0, again.Stdout + again.Stderr);
        Assert.Contains($"inet {Address(again.Json!)}/24", Sh.Run("ip", "-n", Path.GetFileName(netns[0]), "-o", "-4", "addr", "show", "eth0"));
        // The other five pairs go; only q1's new one is left.
        var left = Lab.Links("veth");
        for (var i = 0; i < 100 && left.Length > 1; i++) { Thread.Sleep(50); left = Lab.Links("veth"); }
        var hostIf = again.Json!["interfaces"]!.AsArray().Select(x => (string)x!["name"]!).Single(n => n.StartsWith("tv", StringComparison.Ordinal));
        Assert.Contains($": {hostIf}@", Assert.Single(left));
    }

    int StartDaemon(string stateDir)
    {
        var daemon = Path.Combine(Path.GetDirectoryName(Paths.TetherBinary)!, "tetherd");
        var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("nsenter",
            [$"--net={Lab.NsPath}", "--", daemon, "--state-dir", stateDir, "--run-dir", Lab.RunDir])
        { RedirectStandardOutput = true, RedirectStandardError = true, Environment = { ["TETHER_RESOLV_CONF"] = "/dev/null" } })!;
        for (var i = 0; i < 250 && !File.Exists(Path.Combine(Lab.RunDir, "tetherd.sock")); i++) Thread.Sleep(20);
        Assert.True(File.Exists(Path.Combine(Lab.RunDir, "tetherd.sock")), "tetherd did not start");
        // Its log goes to our pipe: the lab's log stays empty, so Served counts only the lab's own daemon.
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p.Id;
    }
}
