using System.Diagnostics;
using Tether.Tests.Support;

namespace Tether.Tests.EndToEnd;

/// <summary>
/// Real programs exchanging real traffic through Tether's networks: busybox httpd in sandboxes, wget clients,
/// and a "wan" namespace wired to the lab that plays the outside world.
/// </summary>
public sealed class TrafficTests : IDisposable
{
    const string LabIp = "203.0.113.1";
    const string WanIp = "203.0.113.2";
    readonly Lab lab = new("tr");
    readonly string wan;
    readonly string www = Directory.CreateTempSubdirectory("tether-www").FullName;
    readonly List<Process> started = new();

    public TrafficTests()
    {
        wan = lab.AddNamespace("wan");
        lab.Wire(wan, "uplink", $"{LabIp}/24", "wan0", $"{WanIp}/24");
        lab.Exec("ip", "route", "add", "default", "via", WanIp);
        Directory.CreateDirectory(Path.Combine(www, "cgi-bin"));
        File.WriteAllText(Path.Combine(www, "index.html"), "tether-test-page\n");
        File.WriteAllText(Path.Combine(www, "cgi-bin", "whoami"), "#!/bin/sh\na=${REMOTE_ADDR#[}; a=${a%]}; a=${a#::ffff:}\necho 'Content-Type: text/plain'\necho\necho \"peer=$a\"\n");
        Sh.Run("chmod", "+x", Path.Combine(www, "cgi-bin", "whoami"));
    }

    void Web(string name, params string[] attach) =>
        lab.TetherOk(["run", "-d", "--name", name, .. attach, "--", "busybox", "httpd", "-f", "-p", "80", "-h", www]);

    string Ip(string sandbox, string network) =>
        (string)lab.TetherJson("inspect", sandbox).AsArray()[0]!["NetworkSettings"]!["Networks"]![network]!["IPAddress"]!;

    Sh.Result Fetch(string fromSandbox, string url) => lab.Tether("exec", fromSandbox, "--", "curl", "-sf", "-m", "2", url);

    static void WaitForHttp(Func<Sh.Result> fetch)
    {
        for (var i = 0; i < 50 && fetch().ExitCode != 0; i++) Thread.Sleep(50);
    }

    [Fact]
    public void SameNetworkReachesOtherNetworksDoNot()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("network", "create", "b");
        Web("web", "--network", "a");
        lab.TetherOk("create", "--name", "peer", "--network", "a");
        lab.TetherOk("create", "--name", "stranger", "--network", "b");
        var url = $"http://{Ip("web", "a")}/";
        WaitForHttp(() => Fetch("peer", url));
        Assert.Equal("tether-test-page\n", Fetch("peer", url).Stdout);
        var blocked = Fetch("stranger", url);
        Assert.NotEqual(0, blocked.ExitCode);
    }

    [Fact]
    public void OutboundTrafficIsMasqueradedBehindTheHostAddress()
    {
        using var server = StartWanServer();
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        var r = Fetch("c", $"http://{WanIp}:8000/cgi-bin/whoami");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal($"peer={LabIp}\n", r.Stdout);
    }

    [Fact]
    public void InternalNetworksReachOnlyTheirOwnNetwork()
    {
        using var server = StartWanServer();
        lab.TetherOk("network", "create", "--internal", "in");
        lab.TetherOk("network", "create", "out");
        Web("web", "--network", "in");
        Web("outweb", "--network", "out");
        lab.TetherOk("create", "--name", "c", "--network", "in");
        var url = $"http://{Ip("web", "in")}/";
        WaitForHttp(() => Fetch("c", url));
        Assert.Equal(0, Fetch("c", url).ExitCode);
        Assert.NotEqual(0, Fetch("c", $"http://{WanIp}:8000/cgi-bin/whoami").ExitCode);
        Assert.NotEqual(0, Fetch("c", $"http://{Ip("outweb", "out")}/").ExitCode);
        Assert.Equal("", lab.Exec("nsenter", $"--net={SandboxKey("c")}", "ip", "route", "show", "default"));
    }

    [Fact]
    public void PublishedPortsAnswerFromOutsideFromTheHostAndFromOtherSandboxes()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("network", "create", "b");
        Web("web", "--network", "a", "-p", "8080:80", "-p", "127.0.0.1:8081:80");
        lab.TetherOk("create", "--name", "same", "--network", "a");
        lab.TetherOk("create", "--name", "other", "--network", "b");
        WaitForHttp(() => Sh.Try("ip", "netns", "exec", wan, "curl", "-sf", "-m", "2", $"http://{LabIp}:8080/"));

        // From outside the host, to the host's address.
        Assert.Equal("tether-test-page\n", Sh.Run("ip", "netns", "exec", wan, "curl", "-sf", "-m", "2", $"http://{LabIp}:8080/"));
        // From the host itself: its own address and loopback.
        Assert.Equal("tether-test-page\n", lab.Exec("curl", "-sf", "-m", "2", $"http://{LabIp}:8080/"));
        Assert.Equal("tether-test-page\n", lab.Exec("curl", "-sf", "-m", "2", "http://127.0.0.1:8080/"));
        Assert.Equal("tether-test-page\n", lab.Exec("curl", "-sf", "-m", "2", "http://127.0.0.1:8081/"));
        // 8081 is bound to 127.0.0.1 only: not reachable on the host's outside address.
        Assert.NotEqual(0, Sh.Try("ip", "netns", "exec", wan, "curl", "-sf", "-m", "2", $"http://{LabIp}:8081/").ExitCode);
        // From other sandboxes through the host's address (hairpin), same network and another network.
        Assert.Equal("tether-test-page\n", Fetch("same", $"http://{LabIp}:8080/").Stdout);
        Assert.Equal("tether-test-page\n", Fetch("other", $"http://{LabIp}:8080/").Stdout);
        // The sandbox itself through its own published port.
        Assert.Equal("tether-test-page\n", Fetch("web", $"http://{LabIp}:8080/").Stdout);
        // Without a published port nothing from outside reaches the sandbox, even routed straight to its address.
        Sh.Run("ip", "netns", "exec", wan, "ip", "route", "add", "172.18.0.0/16", "via", LabIp);
        Assert.NotEqual(0, Sh.Try("ip", "netns", "exec", wan, "curl", "-sf", "-m", "2", $"http://{Ip("web", "a")}/").ExitCode);
    }

    [Fact]
    public void UdpPortRangesArePublished()
    {
        lab.TetherOk("network", "create", "a");
        // socat prints what it receives; `run -d` sends that to RUN_DIR/logs/u.log.
        lab.TetherOk("run", "-d", "--name", "u", "--network", "a", "-p", "7000-7001:9000-9001/udp", "--",
            "socat", "-u", "UDP-RECV:9001", "STDOUT");
        Assert.Equal("9000/udp -> 0.0.0.0:7000\n9001/udp -> 0.0.0.0:7001\n", lab.TetherOk("port", "u"));
        var log = Path.Combine(lab.RunDir, "logs", "u.log");
        for (var i = 0; i < 30 && !File.ReadAllText(log).Contains("udp-hello"); i++)
        {
            Sh.TryWithInput("udp-hello\n", "ip", "netns", "exec", wan, "socat", "-u", "STDIN", $"UDP-SENDTO:{LabIp}:7001");
            Thread.Sleep(100);
        }
        Assert.Contains("udp-hello", File.ReadAllText(log));
    }

    string SandboxKey(string name) => (string)lab.TetherJson("inspect", name).AsArray()[0]!["NetworkSettings"]!["SandboxKey"]!;

    sealed class Server(Process p) : IDisposable
    {
        public void Dispose() { try { p.Kill(); p.WaitForExit(); } catch (InvalidOperationException) { } }
    }

    Server StartWanServer()
    {
        var p = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", wan, "busybox", "httpd", "-f", "-p", "8000", "-h", www]))!;
        started.Add(p);
        for (var i = 0; i < 50 && Sh.Try("ip", "netns", "exec", wan, "curl", "-sf", "-m", "2", "http://127.0.0.1:8000/").ExitCode != 0; i++) Thread.Sleep(50);
        return new Server(p);
    }

    public void Dispose()
    {
        foreach (var p in started) { try { if (!p.HasExited) { p.Kill(); p.WaitForExit(); } } catch (InvalidOperationException) { } }
        foreach (var s in lab.TetherJson("ls").AsArray()) lab.Tether("rm", "-f", (string)s!["Name"]!);
        lab.Dispose();
        Directory.Delete(www, true);
    }
}
