using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Tether.Engine;
using Tether.Linux;

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

    /// <summary>
    /// One request to tetherd: HTTP/1.0 over the unix socket (Kestrel then ends the answer by closing, never chunks it),
    /// with the CLI's state dir in <c>X-Tether-State-Dir</c> (a daemon serving another state dir, or living in other
    /// namespaces than this process, answers 409).
    /// Returns the answer, or null when no daemon listens on the socket (<see cref="DaemonHttp"/>).
    /// </summary>
    /// <exception cref="IOException">The daemon accepted but the exchange failed or timed out.</exception>
    /// <exception cref="TetherException">The socket exists but this user may not connect to it.</exception>
    public static DaemonAnswer? Send(TetherPaths p, string method, string path, string? json = null, int timeoutMs = 30_000)
    {
        try
        {
            return DaemonHttp.Send(SocketPath(p), method, path,
                [new("X-Tether-State-Dir", p.StateDir)],
                json is null ? default : Encoding.UTF8.GetBytes(json), json is null ? null : "application/json", timeoutMs);
        }
        catch (UnauthorizedAccessException)
        {
            throw new TetherException($"permission denied on {SocketPath(p)} (tetherd's socket: root or its group only)");
        }
        catch (IOException e) when (!DaemonHttp.IsMalformedAnswer(e))
        {
            // Closed without an answer, reset (tetherd died before reading the whole request) or timed out: the same
            // doubt about what happened.
            throw new IOException(DaemonHttp.Unanswered(e, method, path, p.RunDir), e);
        }
    }

    /// <summary>The message of an error answer (<see cref="ErrorView"/>), else the body as one line.</summary>
    public static string ErrorMessage(string body) => StringProperty(body, nameof(ErrorView.Message)) ?? Clip(body.ReplaceLineEndings(" ").Trim());

    /// <summary>At most 200 characters of an answer that is not tetherd's error object (one line, not a whole body).</summary>
    static string Clip(string text) => text.Length <= 200 ? text : $"{text[..200]}... ({text.Length} characters)";

    /// <summary>A string property of a JSON object answer, null when there is none. Read with JsonDocument, not the
    /// source-generated serializer, for the start-up reason given at <see cref="SandboxCreateRequest.ToJson"/>.</summary>
    static string? StringProperty(string json, string name)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        }
        catch (JsonException) { return null; }
    }

    /// <summary>True when something accepts connections on the daemon's socket (one connect, no request): the cheap check
    /// of <c>exec</c>. A socket file left by a killed daemon refuses the connection.</summary>
    public static bool Answers(TetherPaths p)
    {
        try { return UnixStream.Listening(SocketPath(p)); }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>GET /health; null when no daemon answers on the socket.</summary>
    public static JsonElement? Health(TetherPaths p)
    {
        try
        {
            switch (Send(p, "GET", "/health", timeoutMs: 5000))
            {
                case (200, var body): return JsonDocument.Parse(body).RootElement.Clone();
                case (409, var body): throw new TetherException(ErrorMessage(body));   // a daemon runs, but not for us
                default: return null;
            }
        }
        catch (Exception e) when (e is IOException or JsonException) { return null; }
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
            switch (Send(p, "POST", "/v1/dns/sync"))
            {
                case null:
                    if (start) Start(p);   // a new daemon syncs from the store before it answers /health
                    return;
                case (200, var body):
                    using (var doc = JsonDocument.Parse(body))
                        foreach (var e in doc.RootElement.GetProperty("Errors").EnumerateArray()) Console.Error.WriteLine($"tether: warning: tetherd: {e.GetString()}");
                    return;
                case var (status, body):
                    throw new TetherException($"tetherd: sync failed ({status}): {ErrorMessage(body)}");
            }
        }
        catch (Exception e) when (e is TetherException or IOException or JsonException or KeyNotFoundException)
        {
            Console.Error.WriteLine($"tether: warning: embedded DNS not updated: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    /// <summary>
    /// Has tetherd create the sandbox (POST /v1/sandboxes), which it does with its warm engine and makes its names resolve
    /// in the same step. Returns the new sandbox's id, or null when no tetherd serves this run dir and state dir (the
    /// caller then does the work itself). Throws <see cref="TetherException"/> with tetherd's one-line message when it
    /// refused (bad or conflicting input; nothing was changed).
    /// </summary>
    public static string? TryCreate(TetherPaths p, SandboxCreateRequest request) =>
        Send(p, "POST", "/v1/sandboxes", request.ToJson()) switch
        {
            null => null,
            // The new id is the last segment of Location (/v1/sandboxes/ID): no JSON to parse on this path.
            { Status: 201 } a => a.Header("Location") is { } l && l[(l.LastIndexOf('/') + 1)..] is { Length: > 0 } id ? id
                : throw new IOException($"tetherd: no sandbox id in the Location of its answer ({a.Header("Location") ?? "none"})"),
            var (status, body) when NotServedHere(status, body) => null,
            var (_, body) => throw new TetherException(ErrorMessage(body)),
        };

    /// <summary>Has tetherd remove the sandbox (DELETE /v1/sandboxes/NAME). True: removed; false: no such sandbox;
    /// null: no tetherd serves this run dir and state dir. Throws as <see cref="TryCreate"/>.</summary>
    public static bool? TryRemove(TetherPaths p, string nameOrId, bool force) =>
        Send(p, "DELETE", $"/v1/sandboxes/{Uri.EscapeDataString(nameOrId)}?force={(force ? "true" : "false")}") switch
        {
            null => null,
            (204, _) => true,
            var (status, body) when NotServedHere(status, body) => null,
            (404, var body) when ErrorMessage(body) == $"no such sandbox: {nameOrId}" => false,
            var (_, body) => throw new TetherException(ErrorMessage(body)),
        };

    /// <summary>409: the daemon serves another state dir; 404/405 without a body: a daemon without that endpoint.</summary>
    static bool NotServedHere(int status, string body) => status == 409 || (status is 404 or 405 && body.Length == 0);

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
        if (System.Text.Encoding.UTF8.GetByteCount(SocketPath(p)) > UnixStream.MaxPathBytes)
            throw new TetherException($"cannot start tetherd: its socket path \"{SocketPath(p)}\" is longer than {UnixStream.MaxPathBytes} bytes (use a shorter --run-dir)");
        // The daemon outlives this command: it must not hold its caller's files (pipes the caller waits on to end).
        FrontProcess.KeepDescriptorsFromChildren();
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
        // Not the pid tetherd reports: that is its number in its own pid namespace (1 for a daemon started under
        // `unshare -p`, which here is init). The kernel gives the listener's pid as this process numbers it.
        if (UnixStream.ListenerPid(SocketPath(p)) is not { } pid) return false;   // gone meanwhile
        if (pid <= 0)
            throw new TetherException($"tetherd of run dir {p.RunDir} (pid {h.GetProperty("Pid").GetInt32()} in its own pid namespace) runs in a pid namespace this process cannot see; stop it from there");
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
