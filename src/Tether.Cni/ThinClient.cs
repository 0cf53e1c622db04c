using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Tether.Engine;
using Tether.Linux;

namespace Tether.Cni;

/// <summary>
/// tether-cni, the thin front: when tetherd runs for the config's run dir, the whole CNI command is handed to it
/// (POST /v1/cni on RUN_DIR/tetherd.sock: the request's variables as headers, the config as the body) and its answer is
/// printed as the plugin's own. tetherd's engine is warm (store open, netlink and nftables sockets, drivers), so a call
/// costs a process start, one connect and tetherd's work. This path touches as little code as it can: what it touches
/// is the process's peak RSS. No System.Net.Sockets (its static set-up starts an epoll thread), no JsonDocument, no
/// engine: the variables, a scan of the config for its two dirs, tetherd's client on a blocking libc socket
/// (<see cref="DaemonHttp"/>, shared with the CLI), bytes out. The library is linked, but NativeAOT keeps only what is reached.
/// When no tetherd serves the call, the front execs <c>tether-cni-local</c> (the plugin doing the work itself) in its
/// place, with the same variables and the config on stdin. It is a binary of its own because a process's resident
/// file pages grow with the binary it runs (each fault maps the pages around it): this front, 1.2 MB, peaks near 3 MB;
/// the same code inside the plugin's 4.7 MB binary peaked at 5.6 MB.
/// </summary>
static class ThinClient
{
    /// <summary>The answer's wait limit: tetherd serves one command at a time, each in milliseconds.</summary>
    const int TimeoutSeconds = 60;

    /// <summary>Hands the command to tetherd. Returns the plugin's exit code with the answer written to stdout, or null
    /// when no tetherd serves this call (no socket, nobody accepting, a 409 refusal: another state dir or namespace, an
    /// older tetherd without the endpoint, no complete answer): the caller then does the work itself.</summary>
    public static int? TryDelegate(byte[] stdin)
    {
        // A config the scan cannot read goes to the variables' (or the default) run dir's tetherd all the same: the
        // plugin there reports the decode error, as tether-cni-local would.
        if (!Dirs(stdin, out var stateDir, out var runDir)) stateDir = runDir = null;
        stateDir ??= FrontProcess.Env("TETHER_STATE_DIR");
        runDir ??= FrontProcess.Env("TETHER_RUN_DIR") ?? "/run/tether";
        // A relative dir means the plugin's working directory, which tetherd does not share.
        if (!runDir.StartsWith('/') || stateDir is not null && !stateDir.StartsWith('/')) return null;
        var headers = new List<KeyValuePair<string, string>>(CniProtocol.Variables.Length);
        foreach (var name in CniProtocol.Variables)
        {
            if (FrontProcess.Env(name) is not { } value) continue;
            // A header value is printable ASCII; anything else is left to tether-cni-local's own checks.
            foreach (var c in value)
                if (c is < ' ' or > '~') return null;
            headers.Add(new(name, value));
        }
        // As the CLI does: the state dir asked for, which makes tetherd check the caller. It learns this process's network
        // and mount namespaces from the socket (SO_PEERCRED) and refuses (409) a caller in others: CNI_NETNS and the
        // config's dirs are paths that mean the same only in the same ones. It also checks the config's dirs itself.
        headers.Add(new("X-Tether-State-Dir", stateDir ?? "/var/lib/tether"));
        DaemonAnswer? answer;
        try { answer = DaemonHttp.Send(runDir.TrimEnd('/') + "/tetherd.sock", "POST", CniProtocol.Endpoint, headers, stdin, "application/json", TimeoutSeconds * 1000); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        if (answer is not { Status: 200 } || !int.TryParse(answer.Header(CniProtocol.ExitHeader), out var exit)) return null;
        return Emit(answer.Body, exit);
    }

    /// <summary>VERSION (SPEC.md "VERSION"), whatever stdin holds: the versions of <see cref="CniProtocol"/>.</summary>
    public static int Version()
    {
        var json = new StringBuilder("{\"cniVersion\":\"").Append(CniProtocol.LatestVersion).Append("\",\"supportedVersions\":[");
        for (var i = 0; i < CniProtocol.SupportedVersions.Length; i++) json.Append(i == 0 ? "\"" : ",\"").Append(CniProtocol.SupportedVersions[i]).Append('"');
        return Emit(Encoding.ASCII.GetBytes(json.Append("]}\n").ToString()), 0);
    }

    /// <summary>Writes the plugin's output to stdout and returns <paramref name="exit"/>; when stdout fails (closed, a full
    /// disk), writes the output and a line saying so to stderr and returns 1, so that the runtime does not take the
    /// missing result for a success.</summary>
    static int Emit(ReadOnlySpan<byte> output, int exit)
    {
        var errno = FrontProcess.WriteAll(1, output);
        if (errno == 0) return exit;
        // The runtime gets no result or error object: its log gets it from stderr instead.
        FrontProcess.WriteAll(2, output);
        FrontProcess.WriteLine(2, $"tether-cni: cannot write to stdout: {Marshal.GetPInvokeErrorMessage(errno)}");
        return 1;
    }

    /// <summary>
    /// Replaces this process with <c>tether-cni-local</c> (TETHER_CNI_LOCAL, else beside this binary with links resolved,
    /// so a link to tether-cni in a runtime's plugin directory works), the environment unchanged and
    /// <paramref name="stdin"/> as its stdin again (a memfd: it was read already). Returns only when that fails: then it
    /// prints the spec's I/O error (5) and returns 1.
    /// </summary>
    public static int ExecLocal(byte[] stdin)
    {
        var local = FrontProcess.Env("TETHER_CNI_LOCAL") ?? FrontProcess.Beside(CniProtocol.LocalBinary);
        string error;
        var fd = Native.memfd_create("cni-config", 0);
        if (fd < 0) error = $"memfd_create: errno {Marshal.GetLastPInvokeError()}";
        else
        {
            FrontProcess.WriteAll(fd, stdin);
            if (Native.lseek(fd, 0, 0) != 0 || Native.dup2(fd, 0) < 0) error = $"stdin: errno {Marshal.GetLastPInvokeError()}";
            else
            {
                Native.close(fd);
                error = $"errno {FrontProcess.Exec(local, [])}";
            }
        }
        var msg = $"cannot run {local} (the plugin that works without tetherd): {error}".Replace("\\", "\\\\").Replace("\"", "\\\"");
        FrontProcess.WriteAll(1, Encoding.UTF8.GetBytes($"{{\"cniVersion\":\"{CniProtocol.LatestVersion}\",\"code\":5,\"msg\":\"{msg}\"}}\n"));
        return 1;
    }

    /// <summary>The config's top-level <c>stateDir</c> and <c>runDir</c> (null when absent), read with
    /// <see cref="Utf8JsonReader"/> under the plugin's parse rules (comments, trailing commas). False when the config is
    /// not a JSON object or a dir is not a string.</summary>
    static bool Dirs(byte[] json, out string? stateDir, out string? runDir)
    {
        stateDir = runDir = null;
        try
        {
            var r = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject) return false;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                var isState = r.ValueTextEquals("stateDir"u8);
                var isRun = !isState && r.ValueTextEquals("runDir"u8);
                if (!r.Read()) return false;
                if (isState || isRun)
                {
                    if (r.TokenType == JsonTokenType.Null) continue;
                    if (r.TokenType != JsonTokenType.String) return false;
                    if (isState) stateDir = r.GetString(); else runDir = r.GetString();
                }
                else if (!r.TrySkip()) return false;
            }
            return r.TokenType == JsonTokenType.EndObject;
        }
        catch (JsonException) { return false; }
    }
}

/// <summary>libc calls of the front outside its exchange with tetherd (that is the library's <see cref="Tether.Linux.UnixStream"/>).</summary>
static unsafe partial class Native
{
    const string Lib = "libc";

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int dup2(int oldfd, int newfd);
}
