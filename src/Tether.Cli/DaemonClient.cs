using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using Tether.Engine;

namespace Tether.Cli;

/// <summary>
/// The CLI's side of tetherd: finds it by its socket in the run dir (RUN_DIR/tetherd.sock), starts it on demand (the
/// way Podman starts aardvark-dns) and tells it synchronously to resync its DNS listeners from the store after the CLI
/// changed sandboxes (POST /v1/dns/sync), so that a name resolves as soon as <c>create</c> returns and stops resolving as
/// soon as <c>rm</c> returns.
/// </summary>
static class DaemonClient
{
    public const string SocketName = "tetherd.sock", PidName = "tetherd.pid", LogName = "tetherd.log";

    static string SocketPath(TetherPaths p) => Path.Combine(p.RunDir, SocketName);
    static string PidPath(TetherPaths p) => Path.Combine(p.RunDir, PidName);

    /// <summary>The tetherd binary: TETHER_DAEMON_BIN, else "tetherd" beside this binary.</summary>
    static string Binary => Environment.GetEnvironmentVariable("TETHER_DAEMON_BIN") is { Length: > 0 } b ? b
        : Path.Combine(Path.GetDirectoryName(Environment.ProcessPath)!, "tetherd");

    static HttpClient Client(TetherPaths p, TimeSpan timeout)
    {
        var socket = SocketPath(p);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try { await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct); }
                catch { s.Dispose(); throw; }
                return new NetworkStream(s, ownsSocket: true);
            },
            UseProxy = false,
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://tetherd/"), Timeout = timeout };
    }

    /// <summary>True when something accepts connections on the daemon's socket (one connect, no request): the cheap check
    /// of <c>exec</c>. A socket file left by a killed daemon refuses the connection.</summary>
    public static bool Answers(TetherPaths p)
    {
        var socket = SocketPath(p);
        if (!File.Exists(socket)) return false;
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { s.Connect(new UnixDomainSocketEndPoint(socket)); return true; }
        catch (SocketException) { return false; }
    }

    /// <summary>GET /health; null when no daemon answers on the socket.</summary>
    public static JsonElement? Health(TetherPaths p)
    {
        if (!File.Exists(SocketPath(p))) return null;
        try
        {
            using var c = Client(p, TimeSpan.FromSeconds(5));
            var text = c.GetStringAsync("health").GetAwaiter().GetResult();
            return JsonDocument.Parse(text).RootElement.Clone();
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or IOException or TaskCanceledException or JsonException) { return null; }
    }

    /// <summary>
    /// Tells the daemon to resync (POST /v1/dns/sync) and waits for it. When no daemon runs: starts one if
    /// <paramref name="start"/>, else does nothing (it rebuilds everything from the store when it starts).
    /// Problems are one warning line: the change itself is made and recorded either way.
    /// </summary>
    public static void Sync(TetherPaths p, bool start)
    {
        try
        {
            if (Health(p) is null)
            {
                if (!start) return;
                Start(p);   // a new daemon syncs from the store before it answers /health
                return;
            }
            using var c = Client(p, TimeSpan.FromSeconds(30));
            using var r = c.PostAsync("v1/dns/sync", null).GetAwaiter().GetResult();
            var body = r.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            if (!r.IsSuccessStatusCode) throw new TetherException($"tetherd: sync failed ({(int)r.StatusCode}): {body.ReplaceLineEndings(" ")}");
            using var doc = JsonDocument.Parse(body);
            foreach (var e in doc.RootElement.GetProperty("Errors").EnumerateArray()) Console.Error.WriteLine($"tether: warning: tetherd: {e.GetString()}");
        }
        catch (Exception e) when (e is TetherException or HttpRequestException or SocketException or IOException or TaskCanceledException or JsonException)
        {
            Console.Error.WriteLine($"tether: warning: embedded DNS not updated: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    /// <summary>Starts tetherd in the background (own session, output to RUN_DIR/tetherd.log) and waits until it answers
    /// /health (at most 10 s). Returns its pid. Throws when it does not come up, with the end of its log.</summary>
    public static int Start(TetherPaths p)
    {
        Directory.CreateDirectory(p.RunDir);
        var psi = new ProcessStartInfo(Binary)
        {
            UseShellExecute = false,
            // Pipes rather than our own stdout/stderr: the daemon must not hold open the streams of whoever ran us.
            // It points its own streams at the log file (--detach) before it does anything else.
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var a in new[] { "--state-dir", p.StateDir, "--run-dir", p.RunDir, "--detach" }) psi.ArgumentList.Add(a);
        if (!File.Exists(Binary)) throw new TetherException($"tetherd not found at {Binary} (set TETHER_DAEMON_BIN)");
        using var child = Process.Start(psi)!;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (Health(p) is { } h) return h.GetProperty("Pid").GetInt32();
            if (child.HasExited && child.ExitCode != 0 && !File.Exists(PidPath(p)))
                throw new TetherException($"tetherd exited with {child.ExitCode}: {child.StandardError.ReadToEnd().Trim()}");
            Thread.Sleep(10);
        }
        throw new TetherException($"tetherd did not answer on {SocketPath(p)} within 10 s; see {Path.Combine(p.RunDir, LogName)}");
    }

    /// <summary>Stops the daemon with SIGTERM and waits (at most 10 s) until it is gone. False when none was running.</summary>
    public static bool Stop(TetherPaths p)
    {
        if (Health(p) is not { } h) return false;
        var pid = h.GetProperty("Pid").GetInt32();
        Tether.Linux.Signals.Kill(pid, 15);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (!Tether.Linux.Signals.Kill(pid, 0) || !File.Exists(PidPath(p))) return true;
            Thread.Sleep(10);
        }
        throw new TetherException($"tetherd (pid {pid}) did not stop within 10 s of SIGTERM");
    }
}
