using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tether.Linux;
using Tether.Tests.Support;

namespace Tether.Tests.EndToEnd;

/// <summary>
/// The embedded DNS server of tetherd, end to end: sandboxes resolve each other with glibc (<c>getent hosts</c>) and
/// <c>dig</c> run inside them through <c>tether exec</c>. The upstream resolver is dnsmasq in a "wan" namespace wired to
/// the lab; tether and tetherd get a resolv.conf naming only it (TETHER_RESOLV_CONF), so no query can reach this
/// machine's real resolvers (the lab has no route to them either; <see cref="ForwardsToTheUpstreamOnly"/> checks the wire).
/// </summary>
public sealed class DnsTests : IDisposable
{
    const string LabIp = "203.0.113.1";
    const string WanIp = "203.0.113.2";
    const int BigCount = 40;
    readonly Lab lab = new("dn");
    readonly string wan;
    readonly string dir = Directory.CreateTempSubdirectory("tether-dns").FullName;
    readonly Process dnsmasq;

    public DnsTests()
    {
        wan = lab.AddNamespace("wan");
        lab.Wire(wan, "uplink", $"{LabIp}/24", "wan0", $"{WanIp}/24");
        lab.Exec("ip", "route", "add", "default", "via", WanIp);
        // 40 A records for big.test: more than fit in 512 bytes, so a UDP answer without EDNS is truncated.
        File.WriteAllLines(Path.Combine(dir, "hosts"), Enumerable.Range(1, BigCount).Select(i => $"10.77.0.{i} big.test"));
        File.WriteAllText(Path.Combine(dir, "resolv.conf"), $"nameserver {WanIp}\nsearch lab.test\n");
        dnsmasq = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", wan, "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
            "--no-resolv", "--no-hosts", "--pid-file", $"--listen-address={WanIp}", "--bind-interfaces", "--user=root",
            "--address=/upstream.test/198.51.100.7", $"--addn-hosts={Path.Combine(dir, "hosts")}", "--log-queries", "--log-facility=-"])
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
        dnsmasq.BeginErrorReadLine();
        dnsmasq.BeginOutputReadLine();
        for (var i = 0; i < 100 && !lab.TryExec("sh", "-c", $"dig +time=1 +tries=1 @{WanIp} upstream.test | grep -q 198.51.100.7").ExitCode.Equals(0); i++) Thread.Sleep(50);
        lab.Env["TETHER_RESOLV_CONF"] = Path.Combine(dir, "resolv.conf");
    }

    public void Dispose()
    {
        lab.Tether("daemon", "stop");
        try { dnsmasq.Kill(); dnsmasq.WaitForExit(); } catch (InvalidOperationException) { }
        dnsmasq.Dispose();
        lab.Dispose();
        Directory.Delete(dir, true);
    }

    string Ip(string sandbox, string network) =>
        (string)lab.TetherJson("inspect", sandbox).AsArray()[0]!["NetworkSettings"]!["Networks"]![network]!["IPAddress"]!;

    Sh.Result Getent(string sandbox, string name) => lab.Tether("exec", sandbox, "--", "getent", "hosts", name);

    /// <summary>dig inside the sandbox against the nameserver of its resolv.conf; returns the answer lines (+short).</summary>
    string[] Dig(string sandbox, params string[] args)
    {
        var r = lab.Tether(["exec", sandbox, "--", "dig", "+short", "+time=3", "+tries=1", .. args]);
        return r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    string DigFull(string sandbox, params string[] args) => lab.Tether(["exec", sandbox, "--", "dig", "+time=3", "+tries=1", .. args]).Stdout;

    [Fact]
    public void NamesAndAliasesResolveOnTheirNetworkOnly()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("network", "create", "b");
        lab.TetherOk("create", "--name", "web", "--network", "a", "--alias", "www", "--alias", "Front.End");
        lab.TetherOk("create", "--name", "c1", "--network", "a");
        lab.TetherOk("create", "--name", "c2", "--network", "b");
        var web = Ip("web", "a");

        var r = Getent("c1", "web");
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.StartsWith(web + " ", r.Stdout);
        Assert.StartsWith(web + " ", Getent("c1", "www").Stdout);
        Assert.Equal([web], Dig("c1", "front.end"));   // case-insensitive (RFC 4343)
        Assert.Equal([web], Dig("c1", "WEB."));
        Assert.Equal([Ip("c1", "a")], Dig("web", "c1"));

        // Not across networks: c2 is on b. The name is forwarded, and dnsmasq does not know it.
        Assert.NotEqual(0, Getent("c2", "web").ExitCode);
        Assert.Empty(Dig("c2", "www"));

        // A sandbox that joins a: resolves at once, and is resolved at once.
        lab.TetherOk("network", "connect", "a", "c2");
        Assert.Equal([web], Dig("c2", "web"));
        Assert.Equal([Ip("c2", "a")], Dig("c1", "c2"));
        lab.TetherOk("network", "disconnect", "a", "c2");
        Assert.Empty(Dig("c1", "c2"));
    }

    [Fact]
    public void NewSandboxesResolveRightAfterCreateAndStopRightAfterRm()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        for (var i = 0; i < 3; i++)
        {
            lab.TetherOk("create", "--name", $"s{i}", "--network", "a");
            Assert.Equal([Ip($"s{i}", "a")], Dig("c", $"s{i}"));
            lab.TetherOk("rm", $"s{i}");
            Assert.Empty(Dig("c", $"s{i}"));
            Assert.Contains("ANSWER: 0,", DigFull("c", $"s{i}"));   // forwarded now: dnsmasq knows no s{i}
        }
    }

    [Fact]
    public void DefaultBridgeHasNoNameResolution()
    {
        lab.TetherOk("create", "--name", "d1");
        lab.TetherOk("create", "--name", "d2");
        var resolv = lab.TetherOk("exec", "d1", "--", "cat", "/etc/resolv.conf");
        Assert.DoesNotContain("127.0.0.11", resolv);
        Assert.Contains($"nameserver {WanIp}", resolv);
        Assert.Equal(3, lab.Tether("daemon", "status").ExitCode);   // nothing started a daemon
        Assert.NotEqual(0, Getent("d1", "d2").ExitCode);
    }

    [Fact]
    public void ForwardsToTheUpstreamOnly()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        // Every DNS packet the lab sends or receives while the sandbox asks for names it does not know.
        var pcap = Path.Combine(dir, "lab.txt");
        using var tcpdump = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", lab.Name, "tcpdump", "-i", "any", "-n", "-l", "-U", "port", "53"])
            { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var lines = new List<string>();
        tcpdump.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        tcpdump.BeginOutputReadLine();
        tcpdump.BeginErrorReadLine();
        Thread.Sleep(500);

        Assert.Equal(["198.51.100.7"], Dig("c", "upstream.test"));
        Assert.Equal(0, Getent("c", "www.upstream.test").ExitCode);
        // Whatever the upstream says is what the sandbox hears (dnsmasq refuses AAAA for an --address name).
        var direct = lab.Exec("dig", "+time=3", "+tries=1", $"@{WanIp}", "AAAA", "upstream.test");
        var status = System.Text.RegularExpressions.Regex.Match(direct, "status: [A-Z]+").Value;
        Assert.NotEmpty(status);
        Assert.Contains(status, DigFull("c", "AAAA", "upstream.test"));

        Thread.Sleep(500);
        tcpdump.Kill();
        tcpdump.WaitForExit();
        string[] seen;
        lock (lines) seen = lines.ToArray();
        Assert.NotEmpty(seen);
        Assert.All(seen, l => Assert.Contains($"{WanIp}.53", l));
    }

    [Fact]
    public void TruncatedAnswersAreRetriedOverTcp()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        // An EDNS asker's query is relayed as it is: dnsmasq answers within the asker's limit, in one UDP datagram.
        var edns = DigFull("c", "+bufsize=4096", "+ignore", "big.test");
        Assert.DoesNotMatch(@"flags: qr[a-z ]* tc", edns);
        Assert.Contains($"ANSWER: {BigCount},", edns);
        Assert.Equal(BigCount, Dig("c", "big.test").Length);
        // Upstream leg without EDNS: dnsmasq answers TC, tetherd repeats the question over TCP (TCP askers, +noedns).
        // Sandbox leg: without EDNS our UDP answer is truncated (flag tc) ...
        Assert.Matches(@"flags: qr[a-z ]* tc", DigFull("c", "+noedns", "+ignore", "big.test"));
        // ... and dig's retry over TCP gets all of it.
        Assert.Equal(BigCount, Dig("c", "+noedns", "big.test").Length);
        Assert.Equal(BigCount, Dig("c", "+tcp", "big.test").Length);
    }

    [Fact]
    public void UpstreamTimeoutIsServfail()
    {
        lab.TetherOk("network", "create", "a");
        // 203.0.113.99 is on the wan link but nobody has it: queries go unanswered.
        lab.TetherOk("create", "--name", "c", "--network", "a", "--dns", "203.0.113.99");
        // Twice: the timeout sweeper runs only while queries are pending, so the second query must arm it again.
        for (var i = 0; i < 2; i++)
        {
            var watch = Stopwatch.StartNew();
            var out_ = lab.Tether("exec", "c", "--", "dig", "+time=15", "+tries=1", "nothing.test").Stdout;
            Assert.Contains("status: SERVFAIL", out_);
            Assert.InRange(watch.Elapsed.TotalSeconds, 1, 12);
            Thread.Sleep(300);   // a sweep finds nothing pending and disarms
        }
    }

    [Fact]
    public void PtrAndRoundRobin()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "s1", "--network", "a", "--alias", "svc");
        lab.TetherOk("create", "--name", "s2", "--network", "a", "--alias", "svc");
        lab.TetherOk("create", "--name", "s3", "--network", "a", "--alias", "svc");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        var ips = new[] { Ip("s1", "a"), Ip("s2", "a"), Ip("s3", "a") };

        Assert.Equal(["s2."], Dig("c", "-x", ips[1]));
        Assert.Equal(ips.Order(), Dig("c", "svc").Order());
        var firsts = Enumerable.Range(0, 6).Select(_ => Dig("c", "svc")[0]).ToHashSet();
        Assert.True(firsts.Count > 1, $"the first address never changed: {string.Join(",", firsts)}");
    }

    [Fact]
    public void ListenersComeBackAfterADaemonRestart()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "web", "--network", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        var web = Ip("web", "a");
        var inode = NetNs.Inode(Path.Combine(lab.RunDir, "netns", "c"));
        Assert.Equal([web], Dig("c", "web"));

        Assert.Contains("tetherd stopped", lab.TetherOk("daemon", "stop"));
        // Nothing listens in the sandbox now (asked without tether exec, which would start the daemon again).
        var ns = Path.Combine(lab.RunDir, "netns", "c");
        Assert.NotEqual(0, Sh.Try("nsenter", $"--net={ns}", "--", "dig", "+time=1", "+tries=1", "@127.0.0.11", "web").ExitCode);
        lab.TetherOk("daemon", "start");
        Assert.Equal([web], Dig("c", "web"));
        Assert.Equal(inode, NetNs.Inode(Path.Combine(lab.RunDir, "netns", "c")));

        // Killed hard: a later create starts a new daemon, which serves the old sandboxes too.
        var pid = int.Parse(File.ReadAllText(Path.Combine(lab.RunDir, "tetherd.pid")).Trim());
        Signals.Kill(pid, 9);
        for (var i = 0; i < 100 && Signals.Kill(pid, 0); i++) Thread.Sleep(20);
        lab.TetherOk("create", "--name", "late", "--network", "a");
        Assert.Equal([web], Dig("c", "web"));
        Assert.Equal([Ip("late", "a")], Dig("web", "late"));
    }

    [Fact]
    public void ExecRestartsADeadDaemon()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "web", "--network", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        var web = Ip("web", "a");
        var pid = int.Parse(File.ReadAllText(Path.Combine(lab.RunDir, "tetherd.pid")).Trim());
        Signals.Kill(pid, 9);
        for (var i = 0; i < 100 && Signals.Kill(pid, 0); i++) Thread.Sleep(20);
        Assert.False(Signals.Kill(pid, 0));
        Assert.True(File.Exists(Path.Combine(lab.RunDir, "tetherd.sock")));   // left by the killed daemon: refuses connections

        // The first exec after the death resolves: it started a new daemon before running the command.
        var r = Getent("c", "web");
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.StartsWith(web + " ", r.Stdout);
        Assert.Equal(0, lab.Tether("daemon", "status").ExitCode);
        var second = int.Parse(File.ReadAllText(Path.Combine(lab.RunDir, "tetherd.pid")).Trim());
        Assert.NotEqual(pid, second);
        // While it runs, exec leaves it alone.
        lab.TetherOk("exec", "c", "--", "true");
        Assert.Equal(second, int.Parse(File.ReadAllText(Path.Combine(lab.RunDir, "tetherd.pid")).Trim()));
    }

    [Fact]
    public void ResolvConfFollowsDockerForLoopbackHostResolversOptionsAndSearchDot()
    {
        // A host behind systemd-resolved: only its loopback stub. The addresses below are only written into files; the
        // test resolves nothing through them.
        var stub = Path.Combine(dir, "stub-resolv.conf");
        File.WriteAllText(stub, "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lab.test\n");
        lab.Env["TETHER_RESOLV_CONF"] = stub;
        lab.TetherOk("create", "--name", "d");
        var onBridge = lab.TetherOk("exec", "d", "--", "cat", "/etc/resolv.conf");
        Assert.Contains("nameserver 8.8.8.8\nnameserver 8.8.4.4\n", onBridge);
        Assert.DoesNotContain("127.0.0.53", onBridge);
        Assert.Contains("search lab.test\n", onBridge);
        Assert.Contains("options edns0 trust-ad\n", onBridge);

        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a", "--dns-search", ".");
        var embedded = lab.TetherOk("exec", "c", "--", "cat", "/etc/resolv.conf");
        Assert.Contains("nameserver 127.0.0.11\n", embedded);
        Assert.Single(embedded.Split('\n'), l => l.StartsWith("nameserver", StringComparison.Ordinal));
        Assert.Contains("options edns0 trust-ad ndots:0\n", embedded);
        Assert.DoesNotContain("search", embedded);
        lab.TetherOk("run", "--rm", "--name", "r", "--dns-search", ".", "--", "sh", "-c", "! grep -q search /etc/resolv.conf");
    }

    [Fact]
    public void BadAliasesAreRefusedAndChangeNothing()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        lab.TetherOk("network", "create", "b");
        var longLabel = new string('x', 64);
        var longName = string.Join('.', Enumerable.Repeat(new string('y', 50), 5));   // 254 characters
        foreach (var (alias, why) in new[] { (longLabel, "63"), ("ok." + longLabel + ".test", "63"), (longName, "253"), ("a..b", "empty label"), ("", "empty label") })
        {
            Rejected.AssertRejected(lab, ["alias", why], "create", "--name", "x", "--network", "a", "--alias", alias);
            Rejected.AssertRejected(lab, ["alias", why], "run", "--rm", "--name", "x", "--network", "a", "--alias", "fine", "--alias", alias, "--", "true");
            Rejected.AssertRejected(lab, ["alias", why], "network", "connect", "--alias", alias, "b", "c");
        }
        // The limits themselves are fine.
        lab.TetherOk("network", "connect", "--alias", new string('z', 63), "b", "c");
        Assert.Equal([Ip("c", "b")], Dig("c", new string('z', 63)));
    }

    [Fact]
    public void HostilePacketsDoNotStopTheServer()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "web", "--network", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        var web = Ip("web", "a");
        var pid = File.ReadAllText(Path.Combine(lab.RunDir, "tetherd.pid")).Trim();
        var server = new IPEndPoint(IPAddress.Parse("127.0.0.11"), 53);
        var rng = new Random(4);
        var packets = Fuzz.Packets(rng).ToList();

        // Sockets made on a thread inside the sandbox's namespace stay there.
        var ns = Path.Combine(lab.RunDir, "netns", "c");
        using var udp = NetNs.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        foreach (var p in packets) udp.SendTo(p, server);
        foreach (var p in packets.Take(60))
        {
            using var tcp = NetNs.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
            tcp.Connect(server);
            var framed = new byte[p.Length + 2];
            framed[0] = (byte)(p.Length >> 8);
            framed[1] = (byte)p.Length;
            p.CopyTo(framed, 2);
            try
            {
                tcp.Send(rng.Next(4) == 0 ? p : framed);   // some without the length prefix
                tcp.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException) { }
        }
        // A TCP peer that announces 65535 bytes and sends 3.
        using (var t = NetNs.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)))
        {
            t.Connect(server);
            t.Send([0xff, 0xff, 1, 2, 3]);
        }

        Assert.Equal([web], Dig("c", "web"));
        Assert.Equal([web], Dig("c", "+tcp", "web"));
        Assert.Equal(pid, File.ReadAllText(Path.Combine(lab.RunDir, "tetherd.pid")).Trim());
    }

    [Fact]
    public void HostsIsRewrittenInPlaceAndShrinksOnDisconnect()
    {
        // Processes see the sandbox's hosts through a bind mount: it is rewritten in place (same inode), and a shorter
        // text leaves nothing of the longer one behind.
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("network", "create", "b");
        lab.TetherOk("create", "--name", "c", "--network", "a");
        lab.TetherOk("network", "connect", "b", "c");
        var path = Path.Combine(lab.RunDir, "sandboxes", "c", "hosts");
        var inode = Sh.Run("stat", "-c", "%i", path);
        var both = File.ReadAllText(path);
        var ipOfB = Ip("c", "b");
        var lineOfB = Assert.Single(both.Split('\n'), l => l.StartsWith(ipOfB + "\t", StringComparison.Ordinal)) + "\n";
        lab.TetherOk("network", "disconnect", "b", "c");
        Assert.Equal(both.Replace(lineOfB, ""), File.ReadAllText(path));
        Assert.Equal(both.Replace(lineOfB, ""), lab.TetherOk("exec", "c", "--", "cat", "/etc/hosts"));
        Assert.Equal(inode, Sh.Run("stat", "-c", "%i", path));
    }

    [Fact]
    public void ResolvConfHostsAndHostname()
    {
        lab.TetherOk("network", "create", "a");
        lab.TetherOk("create", "--name", "c", "--network", "a", "--dns-search", "corp.example", "--add-host", "db.internal:192.0.2.50",
            "--hostname", "box1");
        var ip = Ip("c", "a");
        var resolv = lab.TetherOk("exec", "c", "--", "cat", "/etc/resolv.conf");
        Assert.Contains("nameserver 127.0.0.11\n", resolv);
        Assert.Contains("search corp.example\n", resolv);
        Assert.Contains("options ndots:0\n", resolv);
        Assert.DoesNotContain($"nameserver {WanIp}", resolv);
        var hosts = lab.TetherOk("exec", "c", "--", "cat", "/etc/hosts");
        Assert.Contains("127.0.0.1\tlocalhost\n", hosts);
        Assert.Contains($"{ip}\tbox1 c\n", hosts);
        Assert.Contains("192.0.2.50\tdb.internal\n", hosts);
        Assert.Equal("box1\n", lab.TetherOk("exec", "c", "--", "hostname"));
        Assert.StartsWith("192.0.2.50 ", Getent("c", "db.internal").Stdout);
        // The host's own files are untouched.
        Assert.DoesNotContain("db.internal", File.ReadAllText("/etc/hosts"));
        Assert.NotEqual("box1", Environment.MachineName);

        // run: the same view; default bridge with --dns: that server is the nameserver.
        var run = lab.TetherOk("run", "--rm", "--name", "r", "--dns", "192.0.2.53", "--hostname", "runner", "--", "sh", "-c", "cat /etc/resolv.conf; hostname");
        Assert.Contains("nameserver 192.0.2.53\n", run);
        Assert.EndsWith("runner\n", run);
    }

    [Fact]
    public void BadOptionsAreRefusedAndChangeNothing()
    {
        foreach (var (opt, value) in new[] { ("--dns", "not-an-ip"), ("--add-host", "nocolon"), ("--add-host", "db:999.1.1.1"), ("--hostname", "bad host") })
        {
            var r = lab.Tether("create", "--name", "x", opt, value);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains(value, r.Stderr);
            Assert.Single(r.Stderr.Trim().Split('\n'));
        }
        Assert.Equal("", lab.TetherOk("ls", "-q"));
    }
}

/// <summary>Hostile DNS packets: random bytes, truncated and oversized queries, compression pointer loops.</summary>
static class Fuzz
{
    static byte[] Query(string name, ushort type = 1)
    {
        var labels = name.Split('.').SelectMany(l => new[] { (byte)l.Length }.Concat(l.Select(c => (byte)c))).ToList();
        return [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, .. labels, 0, (byte)(type >> 8), (byte)type, 0, 1];
    }

    public static IEnumerable<byte[]> Packets(Random rng)
    {
        var good = Query("web");
        for (var i = 0; i < good.Length; i++) yield return good[..i];                         // every truncation
        yield return [.. good, .. new byte[4000]];                                             // trailing garbage
        yield return [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];  // pointer to itself
        yield return [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, (byte)'a', 0xC0, 12, 0, 1, 0, 1];  // a -> a -> ...
        yield return [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 14, 0xC0, 12, 0, 1, 0, 1];      // two-step loop
        yield return [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0xff, 0, 1, 0, 1];               // pointer past the end
        yield return [0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];                // counts without records
        yield return Query(string.Join('.', Enumerable.Repeat(new string('x', 63), 5)));                      // name over 255 bytes
        yield return [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x7f, .. new byte[10]];                 // label past the end
        yield return [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, .. Query("web")[12..]];                 // a response, not a query
        yield return [0x12, 0x34, 0x78, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, .. Query("web")[12..]];                 // opcode 15
        yield return Query("web", 0xffff);
        yield return new byte[65000];
        for (var i = 0; i < 300; i++)
        {
            var p = new byte[rng.Next(0, 600)];
            rng.NextBytes(p);
            yield return p;
            var m = (byte[])good.Clone();                                                                     // bit flips
            for (var k = 0; k < 3; k++) m[rng.Next(m.Length)] ^= (byte)(1 << rng.Next(8));
            yield return m;
        }
    }
}
