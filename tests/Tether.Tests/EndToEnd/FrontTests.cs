using Tether.Tests.Support;

namespace Tether.Tests.EndToEnd;

/// <summary>
/// <c>tether</c>, the thin front: the create and rm lines it serves itself through tetherd (shown by pointing
/// TETHER_CLI_BIN at nothing: a line the front does not serve then fails), and every other line, error or missing
/// tetherd handed to tether-cli with the same arguments, with tether-cli's results.
/// </summary>
public sealed class FrontTests : IDisposable
{
    readonly Lab lab = new("fr");

    public FrontTests()
    {
        lab.Env["TETHER_RESOLV_CONF"] = "/dev/null";
        lab.TetherOk("network", "create", "n1", "--subnet", "10.78.0.0/24");
    }

    public void Dispose()
    {
        lab.Env.Remove("TETHER_CLI_BIN");
        lab.Tether("daemon", "stop");
        lab.Dispose();
    }

    int Created() => File.Exists(Path.Combine(lab.RunDir, "tetherd.log"))
        ? File.ReadAllLines(Path.Combine(lab.RunDir, "tetherd.log")).Count(l => l.Contains(" created (", StringComparison.Ordinal)) : 0;

    [Fact]
    public void CreateAndRmAreServedWithoutTetherCli()
    {
        lab.TetherOk("daemon", "start");
        lab.Env["TETHER_CLI_BIN"] = "/nonexistent/tether-cli";
        var id = lab.TetherOk("create", "--name", "s1", "--network", "n1", "-p", "8081:80", "--publish", "8082:80/udp", "--alias", "web",
            "--hostname", "h1", "--add-host", "db:10.0.0.9", "--dns", "10.0.0.53", "--dns-search", "lab.test", "--ip", "10.78.0.7").Trim();
        Assert.Matches("^[0-9a-f]{64}$", id);
        Assert.Equal(1, Created());
        var r = lab.Tether("ls");   // a line the front does not serve: tether-cli is needed, and missing
        Assert.Equal(127, r.ExitCode);
        Assert.Equal("tether: cannot run /nonexistent/tether-cli (the full command line): errno 2", r.Stderr.Trim());

        lab.Env.Remove("TETHER_CLI_BIN");
        var view = lab.TetherJson("inspect", "s1")[0]!;
        Assert.Equal(id, (string)view["Id"]!);
        Assert.Equal("10.78.0.7", (string)view["NetworkSettings"]!["Networks"]!["n1"]!["IPAddress"]!);
        Assert.Equal("0.0.0.0:8081->80/tcp\n0.0.0.0:8082->80/udp", string.Join('\n', lab.TetherOk("port", "s1").Trim().Split('\n').Select(l => l.Split(" -> ")[1] + "->" + l.Split(" -> ")[0]).Order()));
        Assert.Contains("10.0.0.9\tdb", File.ReadAllText(Path.Combine(lab.RunDir, "sandboxes", "s1", "hosts")));
        Assert.Contains("search lab.test", File.ReadAllText(Path.Combine(lab.RunDir, "sandboxes", "s1", "resolv.conf")));
        Assert.Equal("h1", lab.TetherOk("exec", "s1", "--", "hostname").Trim());

        lab.TetherOk("create", "--name", "s2", "--network", "n1");
        lab.TetherOk("create", "--name", "s3", "--network", "n1");
        lab.Env["TETHER_CLI_BIN"] = "/nonexistent/tether-cli";
        Assert.Equal("s1\n", lab.TetherOk("rm", "s1"));
        Assert.Equal("s2\n", lab.TetherOk("rm", "-f", "s2"));
        Assert.Equal(127, lab.Tether("rm", "s3", "s2").ExitCode);   // several names: tether-cli's
        lab.Env.Remove("TETHER_CLI_BIN");
        Assert.Equal("s3\n", lab.TetherOk("rm", "s3"));
        Assert.Equal("[]", lab.TetherOk("ls", "--format", "json").Trim());
    }

    [Fact]
    public void AnIdOrNameThatCannotBeWrittenIsAnError()
    {
        lab.TetherOk("daemon", "start");
        lab.Env["TETHER_CLI_BIN"] = "/nonexistent/tether-cli";   // both lines are the front's
        Sh.Result ToDevFull(params string[] args) => Sh.Try(["nsenter", $"--net={lab.NsPath}", "--", "env", "TETHER_RESOLV_CONF=/dev/null",
            "TETHER_CLI_BIN=/nonexistent/tether-cli", "sh", "-c", "exec \"$0\" \"$@\" >/dev/full", Paths.TetherBinary, "--state-dir", lab.StateDir, "--run-dir", lab.RunDir, .. args]);
        var create = ToDevFull("create", "--name", "s1", "--network", "n1");
        Assert.Equal(1, create.ExitCode);
        Assert.Matches("^tether: cannot write \"[0-9a-f]{64}\" to stdout: No space left on device$", create.Stderr.Trim());
        Assert.Equal(1, Created());   // made all the same: the line names its id
        var rm = ToDevFull("rm", "s1");
        Assert.Equal(1, rm.ExitCode);
        Assert.Equal("tether: cannot write \"s1\" to stdout: No space left on device", rm.Stderr.Trim());
        lab.Env.Remove("TETHER_CLI_BIN");
        Assert.Equal("[]", lab.TetherOk("ls", "--format", "json").Trim());
    }

    [Theory]
    [InlineData(">/dev/full", "No space left on device")]
    [InlineData(">&-", "Bad file descriptor")]
    public void TetherCliSaysWhichIdItCouldNotWriteAsTheFrontDoes(string redirect, string error)
    {
        // No tetherd (and a network that needs none): tether-cli does the create and the rm. The sandbox exists all the
        // same, so the line must name it, as the front's does ("cannot write \"ID\" to stdout: ..."), not say
        // "No space left on device" alone, or "Access to the path is denied." (.NET's words for EBADF) for a closed stdout.
        Sh.Result Redirected(params string[] args) => Sh.Try(["nsenter", $"--net={lab.NsPath}", "--", "env", "TETHER_RESOLV_CONF=/dev/null",
            "sh", "-c", $"exec \"$0\" \"$@\" {redirect}", Paths.TetherBinary, "--state-dir", lab.StateDir, "--run-dir", lab.RunDir, .. args]);
        var create = Redirected("create", "--name", "s1", "--network", "none");
        Assert.Equal(1, create.ExitCode);
        Assert.Matches($"^tether: cannot write \"[0-9a-f]{{64}}\" to stdout: {error}$", create.Stderr.Trim());
        var rm = Redirected("rm", "s1");
        Assert.Equal(1, rm.ExitCode);
        Assert.Equal($"tether: cannot write \"s1\" to stdout: {error}", rm.Stderr.Trim());
        Assert.Equal("[]", lab.TetherOk("ls", "--format", "json").Trim());
    }

    [Theory]
    [InlineData("2>/dev/full")]
    [InlineData("2>&-")]
    [InlineData(">/dev/full 2>/dev/full")]
    public void AnErrorWithNowhereToSayItIsStillExit1NotAnAbort(string redirect)
    {
        // The error line cannot be written (stderr full or closed): the exit code is all the caller gets, and it was
        // 134 (SIGABRT, .NET's unhandled exception) for a usage error, a missing sandbox, a taken name (break2).
        Sh.Result Redirected(params string[] args) => Sh.Try(["nsenter", $"--net={lab.NsPath}", "--", "env", "TETHER_RESOLV_CONF=/dev/null",
            "sh", "-c", $"exec \"$0\" \"$@\" {redirect}", Paths.TetherBinary, "--state-dir", lab.StateDir, "--run-dir", lab.RunDir, .. args]);
        Assert.Equal(1, Redirected("inspect", "nosuch").ExitCode);
        if (redirect.StartsWith('>')) Assert.Equal(1, Redirected("ls").ExitCode);   // stdout full too: the table is lost
        Assert.Equal(1, Redirected("network", "create", "n1").ExitCode);   // n1 is the constructor's
        Assert.NotEqual(134, Redirected("bogus").ExitCode);
    }

    [Fact]
    public void PruneSaysWhichNetworksItRemovedWhenItCannotPrintThem()
    {
        // rm names every sandbox whose line it could not print; prune removed both networks and named only its header,
        // "cannot write \"Deleted Networks:\" to stdout" (break2).
        lab.TetherOk("network", "create", "pr1");
        lab.TetherOk("network", "create", "pr2");
        var r = Sh.Try(["nsenter", $"--net={lab.NsPath}", "--", "env", "TETHER_RESOLV_CONF=/dev/null", "sh", "-c", "exec \"$0\" \"$@\" >/dev/full",
            Paths.TetherBinary, "--state-dir", lab.StateDir, "--run-dir", lab.RunDir, "network", "prune"]);
        Assert.Equal(1, r.ExitCode);
        Assert.DoesNotContain("pr1", lab.TetherOk("network", "ls"));
        Assert.Contains("pr1", r.Stderr);
        Assert.Contains("pr2", r.Stderr);
    }

    [Fact]
    public void LinesTheFrontDoesNotReadExactlyGoToTetherCli()
    {
        lab.TetherOk("daemon", "start");
        // Forms the front leaves alone (an option with '=', an unknown option, help): tether-cli reads them as always.
        lab.TetherOk("create", "--name=s1", "--network", "n1");
        Assert.Contains("Usage:", lab.TetherOk("create", "--help"));
        var unknown = lab.Tether("create", "--name", "s2", "--bogus", "x");
        Assert.Equal(2, unknown.ExitCode);
        Assert.StartsWith("tether: Unrecognized command or argument '--bogus'", unknown.Stderr);
        var twice = lab.Tether("create", "--name", "s2", "--name", "s3");
        Assert.Equal(2, twice.ExitCode);
        Assert.Single(twice.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        // To tether-cli (System.CommandLine), "-f true" and "--force False" are the bool option with its value, not a name.
        lab.TetherOk("create", "--name", "true", "--network", "n1");
        var flagValue = lab.Tether("rm", "-f", "true");
        Assert.Equal(2, flagValue.ExitCode);
        Assert.StartsWith("tether: Required argument missing", flagValue.Stderr);
        var notForced = lab.Tether("rm", "--force", "False", "nope");
        Assert.Equal(1, notForced.ExitCode);
        Assert.Equal("tether: no such sandbox: nope", notForced.Stderr.Trim());
        Assert.Equal(["s1", "true"], lab.TetherJson("ls").AsArray().Select(s => (string)s!["Name"]!).Order());
    }

    [Fact]
    public void RefusalsAreTetherClisOneLineErrorsAndChangeNothing()
    {
        lab.TetherOk("daemon", "start");
        lab.TetherOk("create", "--name", "s1", "--network", "n1", "-p", "8081:80");
        Rejected.AssertRejected(lab, ["\"s1\"", "in use"], "create", "--name", "s1", "--network", "n1");
        Rejected.AssertRejected(lab, "8081", "create", "--name", "s2", "--network", "n1", "-p", "8081:80");
        Rejected.AssertRejected(lab, "99999", "create", "--name", "s2", "--network", "n1", "-p", "99999:80");
        Rejected.AssertRejected(lab, "nonet", "create", "--name", "s2", "--network", "nonet");

        // rm of several: the first is removed by the front, the missing one is tether-cli's error, the last is removed too.
        lab.TetherOk("create", "--name", "s3", "--network", "n1");
        var r = lab.Tether("rm", "s1", "nope", "s3");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("s1\ns3\n", r.Stdout);
        Assert.Equal("tether: no such sandbox: nope", r.Stderr.Trim());
        Assert.Equal(0, lab.Tether("rm", "-f", "nope").ExitCode);
        // A name with a slash, escaped in tetherd's URL: named as written, and rm -f passes over it as without tetherd.
        Assert.Equal("tether: no such sandbox: a/b", lab.Tether("rm", "a/b").Stderr.Trim());
        Assert.Equal(0, lab.Tether("rm", "-f", "a/b").ExitCode);
        Assert.Equal("[]", lab.TetherOk("ls", "--format", "json").Trim());
    }

    [Fact]
    public void AHostResolvConfInUtf16IsReadAsTetherCliReadsIt()
    {
        lab.TetherOk("daemon", "start");
        var resolv = Path.Combine(lab.StateDir, "..", "resolv-utf16.conf");
        File.WriteAllText(resolv, "nameserver 10.0.0.53\n", System.Text.Encoding.Unicode);   // with its byte order mark
        lab.Env["TETHER_RESOLV_CONF"] = resolv;
        lab.TetherOk("create", "--name", "s1");
        Assert.Contains("nameserver 10.0.0.53\n", File.ReadAllText(Path.Combine(lab.RunDir, "sandboxes", "s1", "resolv.conf")));
    }

    [Fact]
    public void AnAnswerThatIsNotHttpIsOneLineNotACrash()
    {
        // Something else listens on tetherd's socket and answers garbage: tether-cli's one line and exit 1, as for rm.
        Directory.CreateDirectory(lab.RunDir);
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(lab.RunDir, "tetherd.sock")));
        listener.Listen();
        var server = new Thread(() =>
        {
            try
            {
                while (true)
                {
                    using var c = listener.Accept();
                    c.Receive(new byte[65536]);
                    c.Send("not http"u8.ToArray());
                    c.Shutdown(System.Net.Sockets.SocketShutdown.Both);
                }
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException) { }   // the listener closed
        }) { IsBackground = true };
        server.Start();
        var create = lab.Tether("create", "--name", "s1", "--network", "n1");
        Assert.Equal(1, create.ExitCode);
        Assert.Equal("tether: tetherd: malformed answer to POST /v1/sandboxes", create.Stderr.Trim());
        var rm = lab.Tether("rm", "s1");
        Assert.Equal(1, rm.ExitCode);
        Assert.Equal("tether: tetherd: malformed answer to DELETE /v1/sandboxes/s1?force=false", rm.Stderr.Trim());
    }

    [Fact]
    public void WithoutTetherdTetherCliDoesTheWorkAndStartsIt()
    {
        Assert.False(File.Exists(Path.Combine(lab.RunDir, "tetherd.sock")));
        lab.TetherOk("create", "--name", "s1", "--network", "n1");
        Assert.Contains("running", lab.TetherOk("daemon", "status"));
        Assert.Equal("s1\n", lab.TetherOk("rm", "s1"));
    }
}
