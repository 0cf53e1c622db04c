using System.Diagnostics;
using System.Text.Json.Nodes;
using Tether.Linux;
using Tether.Tests.Support;

namespace Tether.Tests.EndToEnd;

/// <summary>
/// tetherd's life cycle (<c>tether daemon start|stop|status</c>, SIGTERM, one per run dir) and its REST API on the unix
/// socket, driven with curl as an independent HTTP client.
/// </summary>
public sealed class DaemonTests : IDisposable
{
    readonly Lab lab = new("dm");
    string Socket => Path.Combine(lab.RunDir, "tetherd.sock");
    static string Daemon => Path.Combine(Path.GetDirectoryName(Paths.TetherBinary)!, "tetherd");

    public DaemonTests() => lab.Env["TETHER_RESOLV_CONF"] = "/dev/null";   // no upstream: nothing is ever forwarded

    public void Dispose()
    {
        lab.Tether("daemon", "stop");
        lab.Dispose();
    }

    Sh.Result Curl(string method, string path, string? body = null) =>
        Sh.Try(["curl", "-s", "-w", "\n%{http_code}", "--unix-socket", Socket, "-X", method, .. body is null ? Array.Empty<string>() : ["-H", "Content-Type: application/json", "-d", body], $"http://tetherd{path}"]);

    (int Status, JsonNode? Body) Rest(string method, string path, string? body = null)
    {
        var r = Curl(method, path, body);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var nl = r.Stdout.LastIndexOf('\n');
        var text = r.Stdout[..nl];
        return (int.Parse(r.Stdout[(nl + 1)..]), text.Length == 0 ? null : JsonNode.Parse(text));
    }

    [Fact]
    public void VersionHelpAndBadArgumentsStartNothing()
    {
        // Run with the lab's run dir in the environment: a daemon started by mistake would make its socket there.
        var env = new[] { "env", $"TETHER_RUN_DIR={lab.RunDir}", $"TETHER_STATE_DIR={lab.StateDir}", "nsenter", $"--net={lab.NsPath}", "--", Daemon };
        var version = Sh.Try([.. env, "--version"]);
        Assert.Equal(0, version.ExitCode);
        Assert.Equal(Sh.Run(Paths.TetherBinary, "--version").Trim(), version.Stdout.Trim());
        var help = Sh.Try([.. env, "--help"]);
        Assert.Equal(0, help.ExitCode);
        Assert.StartsWith("usage: tetherd ", help.Stdout);
        foreach (var bad in new string[][] { ["--bogus"], ["--run-dir"], ["--state-dir", "", "--detach"], ["--state-dir", "--run-dir", "x"], ["serve"] })
        {
            var r = Sh.Try([.. env, .. bad]);
            Assert.Equal(2, r.ExitCode);
            var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"tetherd: {(bad[0] == "serve" ? "unknown argument \"serve\"" : bad[0] == "--bogus" ? "unknown argument \"--bogus\"" : $"{bad[0]} needs a value")}", line);
        }
        Assert.False(File.Exists(Socket));
        Assert.False(File.Exists(Path.Combine(lab.RunDir, "tetherd.pid")));
    }

    [Fact]
    public void StartStatusStopAndOnlyOnePerRunDir()
    {
        var status = lab.Tether("daemon", "status");
        Assert.Equal(3, status.ExitCode);
        Assert.Contains("not running", status.Stdout);

        Assert.Contains("tetherd started", lab.TetherOk("daemon", "start"));
        Assert.Contains("tetherd is running", lab.TetherOk("daemon", "status"));
        Assert.Equal("660", Sh.Run("stat", "-c", "%a", Socket).Trim());

        var again = lab.Tether("daemon", "start");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already running", again.Stderr);
        // Started directly, a second daemon refuses too and leaves the first alone.
        var direct = Sh.Try("nsenter", $"--net={lab.NsPath}", "--", Daemon, "--state-dir", lab.StateDir, "--run-dir", lab.RunDir);
        Assert.Equal(1, direct.ExitCode);
        Assert.Contains("already running", direct.Stderr);
        var health = Rest("GET", "/health");
        Assert.Equal(200, health.Status);
        // It watches no files: ASP.NET's config reloading would watch its current directory recursively with inotify.
        var fds = Directory.GetFiles($"/proc/{health.Body!["Pid"]!.GetValue<int>()}/fd");
        Assert.DoesNotContain(fds, fd => new FileInfo(fd).LinkTarget?.Contains("inotify", StringComparison.Ordinal) == true);

        Assert.Contains("tetherd stopped", lab.TetherOk("daemon", "stop"));
        Assert.False(File.Exists(Socket));
        Assert.Equal(3, lab.Tether("daemon", "status").ExitCode);
        Assert.Contains("not running", lab.TetherOk("daemon", "stop"));
    }

    [Fact]
    public void ADetachedDaemonKeepsNoneOfTheCallersFiles()
    {
        // A daemon outlives its caller: a descriptor it inherits beyond 0-2 (a pipe a script or a runtime left open)
        // keeps that pipe open for as long as tetherd runs: `tether daemon start 3>&1 | cat` never ended (break2).
        var marker = Path.Combine(lab.RunDir, "caller-fd7");
        var r = Sh.Try("nsenter", $"--net={lab.NsPath}", "--", "env", "TETHER_RESOLV_CONF=/dev/null", "sh", "-c", "exec 7>\"$0\"; exec \"$@\"", marker,
            Paths.TetherBinary, "--state-dir", lab.StateDir, "--run-dir", lab.RunDir, "daemon", "start");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var pid = Rest("GET", "/health").Body!["Pid"]!.GetValue<int>();
        var held = Directory.GetFiles($"/proc/{pid}/fd").Select(fd => new FileInfo(fd).LinkTarget).ToList();
        Assert.DoesNotContain(marker, held);
    }

    [Fact]
    public void SigtermStopsItCleanly()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");   // starts the daemon on demand
        var pid = Rest("GET", "/health").Body!["Pid"]!.GetValue<int>();
        Assert.True(Signals.Kill(pid, 15));
        var watch = Stopwatch.StartNew();
        var pidFile = Path.Combine(lab.RunDir, "tetherd.pid");
        while ((File.Exists(Socket) || File.Exists(pidFile)) && watch.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(20);
        Assert.False(File.Exists(Socket));
        Assert.False(File.Exists(Path.Combine(lab.RunDir, "tetherd.pid")));
        // The sandbox is untouched, and a new daemon can start.
        Assert.Equal("c", (string)lab.TetherJson("ls").AsArray()[0]!["Name"]!);
        lab.TetherOk("daemon", "start");
        Assert.Equal(1, Rest("GET", "/health").Body!["Listeners"]!.GetValue<int>());
    }

    string Log => File.ReadAllText(Path.Combine(lab.RunDir, "tetherd.log"));

    [Fact]
    public void CreateAndRmAreServedByTheRunningDaemonWithTheCliBehaviour()
    {
        lab.TetherOk("network", "create", "--subnet", "10.91.0.0/24", "a");
        lab.TetherOk("daemon", "start");
        var id = lab.TetherOk("create", "--name", "c1", "--network", "a", "--ip", "10.91.0.7", "-p", "8081:80", "--hostname", "h1").Trim();
        Assert.Contains($"tetherd: sandbox c1 created ({id[..12]})", Log);
        var ns = Path.Combine(lab.RunDir, "netns", "c1");
        Assert.Contains("inet 10.91.0.7/24", Sh.Run("nsenter", $"--net={ns}", "--", "ip", "-o", "-4", "addr", "show", "eth0"));
        Assert.Contains("8081", lab.TetherOk("port", "c1"));
        Assert.Equal("h1", lab.TetherOk("exec", "c1", "--", "hostname").Trim());
        // A second sandbox finds the first by name at once: the daemon served the create and updated its names in one step.
        lab.TetherOk("create", "--name", "c2", "--network", "a");
        Assert.Contains("10.91.0.7", lab.TetherOk("exec", "c2", "--", "getent", "hosts", "c1"));

        // Refusals come back as the CLI's one line, exit 1, and change nothing.
        var before = lab.StableKernelSnapshot();
        foreach (var (args, needle) in new (string[], string)[]
        {
            (["create", "--name", "c3", "--network", "a", "--ip", "10.91.0.7"], "10.91.0.7"),
            (["create", "--name", "c3", "--network", "nosuch"], "nosuch"),
            (["create", "--name", "c1", "--network", "a"], "c1"),
            (["create", "--name", "c3", "--network", "a", "-p", "8081:80"], "8081"),
            (["create", "--name", "c3", "--network", "a", "-p", "99999:80"], "99999"),
        })
        {
            var r = lab.Tether(args);
            Assert.Equal(1, r.ExitCode);
            Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.StartsWith("tether: ", r.Stderr);
            Assert.Contains(needle, r.Stderr);
        }
        Assert.Equal(before, lab.StableKernelSnapshot());

        Assert.Equal("c1", lab.TetherOk("rm", "c1").Trim());
        Assert.Contains("tetherd: sandbox c1 removed", Log);
        Assert.False(File.Exists(ns));
        Assert.Empty(lab.TetherOk("exec", "c2", "--", "sh", "-c", "getent hosts c1 || true").Trim());
        var again = lab.Tether("rm", "c1");
        Assert.Equal(1, again.ExitCode);
        Assert.Equal("tether: no such sandbox: c1", again.Stderr.Trim());
        Assert.Equal("", lab.TetherOk("rm", "-f", "c1").Trim());
    }

    Sh.Result TetherWith(string netns, string stateDir, params string[] args) =>
        Sh.Try(["nsenter", $"--net=/run/netns/{netns}", "--", "env", .. lab.Env.Select(kv => $"{kv.Key}={kv.Value}"), Paths.TetherBinary,
            "--state-dir", stateDir, "--run-dir", lab.RunDir, .. args]);

    [Fact]
    public void ADaemonServedCreateGetsTheFilesTheCliWouldWrite()
    {
        lab.TetherOk("daemon", "start");   // its environment names /dev/null as the host's resolv.conf
        var resolv = Path.Combine(lab.RunDir, "host-resolv.conf");
        File.WriteAllText(resolv, "nameserver 192.0.2.53\nsearch lab.example\n");
        lab.Env["TETHER_RESOLV_CONF"] = resolv;
        lab.TetherOk("create", "--name", "d1");   // default bridge: the host's resolvers go into the sandbox's file
        Assert.Contains("tetherd: sandbox d1 created", Log);
        var file = File.ReadAllText(Path.Combine(lab.RunDir, "sandboxes", "d1", "resolv.conf"));
        Assert.Contains("nameserver 192.0.2.53", file);
        Assert.Contains("search lab.example", file);

        // The state dir spelled with a trailing slash is the same state dir: still served by the daemon.
        var slash = TetherWith(lab.Name, lab.StateDir + "/", "create", "--name", "d2", "--network", "bridge");
        Assert.True(slash.ExitCode == 0 && slash.Stderr.Length == 0, slash.Stderr);
        Assert.Contains("tetherd: sandbox d2 created", Log);
    }

    [Fact]
    public void ADaemonInAnotherNetworkNamespaceIsNotUsed()
    {
        var other = lab.AddNamespace("o");
        lab.TetherOk("daemon", "start");
        // Same state and run dir, CLI in another namespace: its sandboxes belong to that namespace's bridges, so the CLI
        // works itself instead of asking a daemon that would make them in the lab.
        Assert.Equal(0, TetherWith(other, lab.StateDir, "network", "create", "--subnet", "10.93.0.0/24", "nx").ExitCode);
        var r = TetherWith(other, lab.StateDir, "create", "--name", "sx", "--network", "nx");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.DoesNotContain("sandbox sx created", Log);
        Assert.Contains("10.93.0.", Sh.Run("nsenter", $"--net={Path.Combine(lab.RunDir, "netns", "sx")}", "--", "ip", "-o", "-4", "addr", "show", "eth0"));
        Assert.Equal(0, TetherWith(other, lab.StateDir, "rm", "sx").ExitCode);
        Assert.Equal(0, TetherWith(other, lab.StateDir, "network", "rm", "nx").ExitCode);
    }

    [Fact]
    public void ADaemonInAnotherMountNamespaceIsNotUsed()
    {
        lab.TetherOk("daemon", "start");
        // A CLI in a mount namespace of its own (as under `ip netns exec`): a namespace bind mount tetherd makes would not
        // be seen there, so tetherd refuses and the CLI makes the sandbox itself.
        var r = Sh.Try(["unshare", "--mount", "--propagation", "private", "nsenter", $"--net={lab.NsPath}", "--", Paths.TetherBinary,
            "--state-dir", lab.StateDir, "--run-dir", lab.RunDir, "create", "--name", "sm", "--network", "bridge"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.DoesNotContain("sandbox sm created", Log);
        // Whereas the same CLI in tetherd's mount namespace is served.
        lab.TetherOk("create", "--name", "sd", "--network", "bridge");
        Assert.Contains("sandbox sd created", Log);
        lab.TetherOk("rm", "sm", "sd");
    }

    /// <summary>The CLI in the lab's network namespace and a private mount namespace of its own (as `ip netns exec` gives).</summary>
    Sh.Result TetherInOwnMountNamespace(params string[] args) =>
        Sh.Try(["unshare", "--mount", "--propagation", "private", "nsenter", $"--net={lab.NsPath}", "--", "env", .. lab.Env.Select(kv => $"{kv.Key}={kv.Value}"),
            Paths.TetherBinary, "--state-dir", lab.StateDir, "--run-dir", lab.RunDir, .. args]);

    [Fact]
    public void ADaemonStartedInAnotherMountNamespaceCanBeQueriedAndStopped()
    {
        // Started by a CLI under `ip netns exec` (a mount namespace of its own), tetherd outlives that namespace's other
        // processes; every later CLI is in another one, and must still see and stop it (one daemon per run dir).
        var start = TetherInOwnMountNamespace("daemon", "start");
        Assert.True(start.ExitCode == 0, start.Stderr);
        var pid = Rest("GET", "/health").Body!["Pid"]!.GetValue<int>();
        Assert.Contains($"tetherd is running (pid {pid},", lab.TetherOk("daemon", "status"));
        Assert.Contains("already running", lab.Tether("daemon", "start").Stderr);
        Assert.Contains("tetherd stopped", lab.TetherOk("daemon", "stop"));
        Assert.False(File.Exists(Socket));
        Assert.Equal(3, lab.Tether("daemon", "status").ExitCode);
    }

    [Fact]
    public void AnRmFromAnotherMountNamespaceStillUpdatesTheDaemonsNames()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "x", "--network", "a");   // starts tetherd
        lab.TetherOk("create", "--name", "y", "--network", "a");
        Assert.Equal(0, lab.Tether("exec", "x", "--", "getent", "hosts", "y").ExitCode);
        // The rm is the CLI's own (tetherd refuses to act for another mount namespace), but tetherd is told: y's name
        // goes, and so does its DNS listener, which would otherwise keep y's namespace (and veth) alive.
        var rm = TetherInOwnMountNamespace("rm", "y");
        Assert.True(rm.ExitCode == 0 && rm.Stderr.Length == 0, rm.Stderr);
        Assert.Equal(2, lab.Tether("exec", "x", "--", "getent", "hosts", "y").ExitCode);   // getent: not found
        Assert.Equal(1, Rest("GET", "/health").Body!["Listeners"]!.GetValue<int>());
    }

    [Fact]
    public void ADaemonInAnotherPidNamespaceIsNotUsedAndStatusGivesItsPidHere()
    {
        lab.TetherOk("network", "create", "a");
        // tetherd as pid 1 of a pid namespace of its own: SO_PEERCRED gives it pid 0 for a CLI it cannot see, so it
        // cannot tell the CLI's namespaces and must not act for it; and the pid it reports (1) is init's number here,
        // which `daemon stop` must not signal (this test never runs it on that daemon: a regression would hit init).
        var daemonLog = Path.Combine(lab.RunDir, "pidns-tetherd.log");
        Directory.CreateDirectory(lab.RunDir);
        using var unshare = Process.Start("sh", ["-c", "exec \"$@\" >\"$0\" 2>&1", daemonLog, "unshare", "--pid", "--fork", "--mount", "--mount-proc",
            "nsenter", $"--net={lab.NsPath}", "--", Daemon, "--state-dir", lab.StateDir, "--run-dir", lab.RunDir]);
        int hostPid = 0;
        try
        {
            var watch = Stopwatch.StartNew();
            while (!(File.Exists(Socket) && Curl("GET", "/health").Stdout.EndsWith("200", StringComparison.Ordinal)) && watch.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(20);
            Assert.Equal(1, Rest("GET", "/health").Body!["Pid"]!.GetValue<int>());
            // Its pid in this (the parent) pid namespace: the child of unshare (proc(5) status, PPid).
            hostPid = Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var n) ? n : 0).Single(n => n > 0 && ParentOf(n) == unshare.Id);
            Assert.Contains($"tetherd is running (pid {hostPid},", lab.TetherOk("daemon", "status"));

            var r = lab.Tether("create", "--name", "p", "--network", "a");
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.DoesNotContain("sandbox p created", File.ReadAllText(daemonLog));
            Assert.Contains(" inet ", Sh.Run("nsenter", $"--net={Path.Combine(lab.RunDir, "netns", "p")}", "--", "ip", "-o", "-4", "addr", "show", "eth0"));
            lab.TetherOk("rm", "p");
        }
        finally
        {
            foreach (var d in Directory.GetDirectories("/proc"))   // whatever failed above: the daemon goes, by its pid here
                if (int.TryParse(Path.GetFileName(d), out var n) && ParentOf(n) == unshare.Id) Signals.Kill(n, 15);
            unshare.WaitForExit(10_000);
        }

        static int ParentOf(int pid)
        {
            try
            {
                return File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("PPid:", StringComparison.Ordinal)) is { } l ? int.Parse(l[5..].Trim()) : 0;
            }
            catch (IOException) { return 0; }
        }
    }

    [Fact]
    public void ARunDirTooLongForTheSocketWorksWithoutTheDaemon()
    {
        lab.TetherOk("network", "create", "a");
        // RUN_DIR/tetherd.sock longer than sun_path: no daemon can listen there, so create and rm are the CLI's own, and
        // the names are not served (one warning line saying why), rather than every create failing.
        var runDir = Path.Combine(lab.RunDir, new string('r', 120 - lab.RunDir.Length));
        Sh.Result Long(params string[] args) => Sh.Try(["nsenter", $"--net={lab.NsPath}", "--", "env", .. lab.Env.Select(kv => $"{kv.Key}={kv.Value}"),
            Paths.TetherBinary, "--state-dir", lab.StateDir, "--run-dir", runDir, .. args]);
        var create = Long("create", "--name", "l", "--network", "a");
        Assert.True(create.ExitCode == 0, create.Stderr);
        Assert.Contains("tetherd: its socket path", create.Stderr);
        Assert.Contains("longer than 107 bytes", create.Stderr);
        Assert.Contains(" inet ", Sh.Run("nsenter", $"--net={Path.Combine(runDir, "netns", "l")}", "--", "ip", "-o", "-4", "addr", "show", "eth0"));
        Assert.Equal(3, Long("daemon", "status").ExitCode);
        var rm = Long("rm", "l");
        Assert.True(rm.ExitCode == 0, rm.Stderr);
    }

    [Fact]
    public void ADaemonKilledBeforeAnsweringIsOneLineSayingSo()
    {
        lab.TetherOk("daemon", "start");
        var pid = Rest("GET", "/health").Body!["Pid"]!.GetValue<int>();
        Assert.True(Signals.Kill(pid, 19));   // SIGSTOP: the request waits, unread, in the socket
        var errors = Path.Combine(lab.RunDir, "k.stderr");
        using var cli = Process.Start("sh", ["-c", "exec \"$@\" >/dev/null 2>\"$0\"", errors, "nsenter", $"--net={lab.NsPath}", "--", "env",
            .. lab.Env.Select(kv => $"{kv.Key}={kv.Value}"), Paths.TetherBinary, "--state-dir", lab.StateDir, "--run-dir", lab.RunDir,
            "create", "--name", "k", "--network", "bridge"]);
        Thread.Sleep(1000);
        Assert.True(Signals.Kill(pid, 9));   // dies with the request unread: the CLI's read is reset
        Assert.True(cli.WaitForExit(10_000));
        Assert.Equal(1, cli.ExitCode);
        var line = File.ReadAllText(errors).Trim();
        Assert.DoesNotContain('\n', line);
        Assert.Contains("did it die? see", line);
        Assert.Contains("check tether ls", line);
        Assert.Empty(lab.TetherJson("ls").AsArray());
    }

    [Fact]
    public void IncompleteCreateRequestsAre400NamingTheField()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("daemon", "start");
        var before = lab.StableKernelSnapshot();
        foreach (var (body, field) in new[]
        {
            ("""{"Network":"a"}""", "Name"),
            ("""{"Name":"j1"}""", "Network"),
            ("""{"Name":"j1","Network":"a"}""", "Aliases"),
            ("""{"Name":"j1","Network":"a","Aliases":[null],"Publish":[],"Dns":[],"DnsSearch":[],"AddHost":[]}""", "Aliases"),
            ("""{"Name":"j1","Network":"a","Aliases":[],"Publish":[],"Dns":[],"DnsSearch":[],"AddHost":[null]}""", "AddHost"),
        })
        {
            var r = Rest("POST", "/v1/sandboxes", body);
            Assert.Equal(400, r.Status);
            Assert.Contains(field, (string)r.Body!["Message"]!);
        }
        Assert.Equal(before, lab.StableKernelSnapshot());
        Assert.Empty(lab.TetherJson("ls").AsArray());
    }

    [Fact]
    public void DaemonCommandsForAnotherStateDirSayWhoServesTheRunDir()
    {
        lab.TetherOk("daemon", "start");
        var other = Path.Combine(Path.GetDirectoryName(lab.StateDir)!, "other-state");
        var watch = Stopwatch.StartNew();
        var start = TetherWith(lab.Name, other, "daemon", "start");
        Assert.Equal(1, start.ExitCode);
        Assert.Contains($"serves state dir {lab.StateDir}", start.Stderr);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        var status = TetherWith(lab.Name, other, "daemon", "status");
        Assert.Equal(1, status.ExitCode);
        Assert.Contains($"serves state dir {lab.StateDir}", status.Stderr);
        Assert.Contains("tetherd is running", lab.TetherOk("daemon", "status"));
    }

    [Fact]
    public void ADaemonOfAnotherStateDirIsNotUsed()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("daemon", "start");
        var other = Path.Combine(Path.GetDirectoryName(lab.StateDir)!, "other-state");
        // Same run dir, another state dir: the daemon answers 409 and the CLI does the work on its own store.
        var r = Sh.Try(["nsenter", $"--net={lab.NsPath}", "--", "env", .. lab.Env.Select(kv => $"{kv.Key}={kv.Value}"), Paths.TetherBinary,
            "--state-dir", other, "--run-dir", lab.RunDir, "create", "--name", "x"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.DoesNotContain("sandbox x created", Log);
        Assert.Empty(lab.TetherJson("ls").AsArray());
        Assert.Equal(409, Curl409());
        var rm = Sh.Try(["nsenter", $"--net={lab.NsPath}", "--", "env", .. lab.Env.Select(kv => $"{kv.Key}={kv.Value}"), Paths.TetherBinary,
            "--state-dir", other, "--run-dir", lab.RunDir, "rm", "x"]);
        Assert.True(rm.ExitCode == 0, rm.Stderr);

        int Curl409()
        {
            var c = Sh.Try(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", Socket, "-H", $"X-Tether-State-Dir: {other}", "-X", "DELETE", "http://tetherd/v1/sandboxes/x"]);
            return int.Parse(c.Stdout);
        }
    }

    [Fact]
    public void ConnectAndDisconnectWithoutSandboxAre400NamingTheField()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        foreach (var body in new[] { "{}", """{"Sandbox":""}""", """{"Aliases":["x"]}""" })
            foreach (var verb in new[] { "connect", "disconnect" })
            {
                var r = Rest("POST", $"/v1/networks/a/{verb}", body);
                Assert.Equal(400, r.Status);
                Assert.Contains("Sandbox", (string)r.Body!["Message"]!);
            }
        // A named sandbox that does not exist is still 404.
        Assert.Equal(404, Rest("POST", "/v1/networks/a/connect", """{"Sandbox":"nope"}""").Status);
    }

    [Fact]
    public void DefaultBridgeDoesNotStartTheDaemon()
    {
        lab.TetherOk("create", "--name", "d");
        lab.TetherOk("exec", "d", "--", "true");   // exec does not start it either
        lab.TetherOk("rm", "d");
        Assert.Equal(3, lab.Tether("daemon", "status").ExitCode);
    }

    [Fact]
    public void RestApiOverTheEngine()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("network", "create", "b");
        lab.TetherOk("create", "--name", "c", "--network", "a");

        var health = Rest("GET", "/health");
        Assert.Equal(200, health.Status);
        Assert.Equal("ok", (string)health.Body!["Status"]!);
        Assert.Equal(1, health.Body!["Listeners"]!.GetValue<int>());

        // Same JSON as the CLI's --format json.
        var networks = Rest("GET", "/v1/networks");
        Assert.Equal(200, networks.Status);
        Assert.Equal(lab.TetherJson("network", "ls").ToJsonString(), networks.Body!.ToJsonString());
        Assert.Equal("a", (string)Rest("GET", "/v1/networks/a").Body!["Name"]!);
        Assert.Equal(lab.TetherJson("ls").ToJsonString(), Rest("GET", "/v1/sandboxes").Body!.ToJsonString());
        Assert.Equal(lab.TetherJson("inspect", "c").AsArray()[0]!.ToJsonString(), Rest("GET", "/v1/sandboxes/c").Body!.ToJsonString());

        var missing = Rest("GET", "/v1/sandboxes/nope");
        Assert.Equal(404, missing.Status);
        Assert.Contains("nope", (string)missing.Body!["Message"]!);

        var connect = Rest("POST", "/v1/networks/b/connect", """{"Sandbox":"c","Aliases":["cb"]}""");
        Assert.Equal(200, connect.Status);
        Assert.Equal("eth1", (string)connect.Body!["InterfaceName"]!);
        var nets = lab.TetherJson("inspect", "c").AsArray()[0]!["NetworkSettings"]!["Networks"]!.AsObject();
        Assert.Equal(["a", "b"], nets.Select(kv => kv.Key).Order());
        Assert.Contains("eth1", lab.TetherOk("exec", "c", "--", "ip", "-o", "link"));
        Assert.Contains((string)connect.Body!["IPAddress"]!, lab.TetherOk("exec", "c", "--", "cat", "/etc/hosts"));
        Assert.Equal(["cb"], connect.Body!["Aliases"]!.AsArray().Select(x => (string)x!));

        var twice = Rest("POST", "/v1/networks/b/connect", """{"Sandbox":"c"}""");
        Assert.Equal(400, twice.Status);
        Assert.Contains("already connected", (string)twice.Body!["Message"]!);

        Assert.Equal(204, Rest("POST", "/v1/networks/b/disconnect", """{"Sandbox":"c"}""").Status);
        nets = lab.TetherJson("inspect", "c").AsArray()[0]!["NetworkSettings"]!["Networks"]!.AsObject();
        Assert.Equal(["a"], nets.Select(kv => kv.Key));
        Assert.Equal(400, Rest("POST", "/v1/networks/b/connect", "{not json").Status);
    }
}
