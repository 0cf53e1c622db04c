using System.Diagnostics;
using Tether.Tests.Support;

namespace Tether.Tests.EndToEnd;

/// <summary>
/// tetherd's forwarder to the host's nameservers, which it opens when it starts, against what the host does afterwards
/// (from a break-test of 1a9c087, which kept an unreachable server unconnected for the daemon's life and read the host's
/// resolv.conf again only when its size or mtime changed). Upstreams are dnsmasq in a "wan" namespace wired to
/// the lab: one per address, each answering upstream.test with an address of its own, so the answer names the server
/// that was asked. Nothing leaves the lab's namespaces.
/// </summary>
public sealed class HostForwarderTests : IDisposable
{
    const string LabIp = "203.0.113.1";
    const string WanA = "203.0.113.2";   // answers upstream.test with 198.51.100.2
    const string WanB = "203.0.113.3";   // answers upstream.test with 198.51.100.3
    readonly Lab lab = new("fb");
    readonly string wan;
    readonly string dir = Directory.CreateTempSubdirectory("tether-dnsbreak").FullName;
    readonly List<Process> upstreams = [];
    string ResolvConf => Path.Combine(dir, "resolv.conf");

    public HostForwarderTests()
    {
        wan = lab.AddNamespace("wan");
        lab.Env["TETHER_RESOLV_CONF"] = ResolvConf;
    }

    /// <summary>Wires the wan to the lab and starts a dnsmasq on each of its two addresses.</summary>
    void WireUpstreams()
    {
        lab.Wire(wan, "uplink", $"{LabIp}/24", "wan0", $"{WanA}/24");
        Sh.Run("ip", "-n", wan, "addr", "add", $"{WanB}/24", "dev", "wan0");
        foreach (var (ip, answer) in new[] { (WanA, "198.51.100.2"), (WanB, "198.51.100.3") })
        {
            var p = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", wan, "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--pid-file", $"--listen-address={ip}", "--bind-interfaces", "--user=root",
                $"--address=/upstream.test/{answer}"]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            p.BeginErrorReadLine();
            p.BeginOutputReadLine();
            upstreams.Add(p);
            for (var i = 0; i < 100 && lab.TryExec("sh", "-c", $"dig +time=1 +tries=1 @{ip} upstream.test | grep -q {answer}").ExitCode != 0; i++) Thread.Sleep(50);
        }
    }

    public void Dispose()
    {
        lab.Tether("daemon", "stop");
        foreach (var p in upstreams)
        {
            try { p.Kill(); p.WaitForExit(); } catch (InvalidOperationException) { }
            p.Dispose();
        }
        lab.Dispose();
        Directory.Delete(dir, true);
    }

    string[] Dig(string sandbox, string name) =>
        lab.Tether("exec", sandbox, "--", "dig", "+short", "+time=5", "+tries=1", name).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>tetherd started (as at boot) while the host's nameserver has no route yet: once the route is there, a new
    /// sandbox's queries must reach it. The forwarder opened at start has UDP sockets whose connect failed (ENETUNREACH),
    /// and it is kept for the daemon's life, so every forwarded query is SERVFAIL until tetherd restarts.</summary>
    [Fact]
    public void HostNameserverReachableOnlyAfterTetherdStartedIsUsed()
    {
        File.WriteAllText(ResolvConf, $"nameserver {WanA}\n");
        lab.TetherOk("daemon", "start");
        WireUpstreams();   // the route to the nameserver appears now
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        Assert.Equal(["198.51.100.2"], Dig("c", "upstream.test"));
    }

    /// <summary>The host's resolv.conf replaced by one naming another server, of the same size and with the same mtime (as
    /// <c>cp -p</c>, <c>rsync -t</c> or <c>touch -r</c> leave it): a sandbox created afterwards must forward to the new
    /// server, which its own resolv.conf names as its upstream.</summary>
    [Fact]
    public void HostResolvConfReplacedWithSameSizeAndMtimeIsReread()
    {
        WireUpstreams();
        File.WriteAllText(ResolvConf, $"nameserver {WanA}\n");
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c1", "--network", "a");
        Assert.Equal(["198.51.100.2"], Dig("c1", "upstream.test"));

        var mtime = File.GetLastWriteTimeUtc(ResolvConf);
        File.WriteAllText(ResolvConf, $"nameserver {WanB}\n");
        File.SetLastWriteTimeUtc(ResolvConf, mtime);
        lab.TetherOk("create", "--name", "c2", "--network", "a");
        Assert.Contains($"# upstream: {WanB}", lab.TetherOk("exec", "c2", "--", "cat", "/etc/resolv.conf"));
        Assert.Equal(["198.51.100.3"], Dig("c2", "upstream.test"));
    }

    /// <summary>A forwarder holds sockets and a receive thread per socket: one made for a sandbox's own <c>--dns</c> list
    /// is closed when the last sandbox using it goes (tetherd kept them all for its life, four threads per server each).</summary>
    [Fact]
    public void ForwardersOfRemovedSandboxesAreClosed()
    {
        WireUpstreams();
        File.WriteAllText(ResolvConf, $"nameserver {WanA}\n");
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "first", "--network", "a");
        var pid = File.ReadAllText(Path.Combine(lab.RunDir, "tetherd.pid")).Trim();
        int Threads() => int.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal))[8..].Trim());
        var before = Threads();
        for (var i = 10; i < 16; i++)
        {
            // The second server is in the wan's subnet (reachable, so its sockets connect), but nobody answers there.
            lab.TetherOk("create", "--name", $"g{i}", "--network", "a", "--dns", WanB, "--dns", $"203.0.113.{i}");
            Assert.Equal(["198.51.100.3"], Dig($"g{i}", "upstream.test"));
            lab.TetherOk("rm", $"g{i}");
        }
        // Six lists of two servers left behind would be 48 threads more.
        Assert.InRange(Threads(), before - 4, before + 4);
    }
}
