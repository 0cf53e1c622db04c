using System.Text;
using Tether.Engine;
using Tether.Linux;

namespace Tether.Front;

/// <summary>
/// The lines the front serves itself: <c>tether create</c> and <c>tether rm</c>, the commands a platform creates and
/// removes sandboxes with, when tetherd runs for the run dir. The front sends tetherd the request the full command line
/// would send (POST /v1/sandboxes, DELETE /v1/sandboxes/NAME) and prints what it would print; the process never
/// starts System.CommandLine, System.Console or the engine, and its binary is a sixth of tether-cli's
/// (docs/PERFORMANCE.md, "Process start-up").
/// </summary>
/// <remarks>
/// It serves only lines it reads exactly as tether-cli reads them: the options as separate words (<c>--name N</c>, not
/// <c>--name=N</c>), each known to that command, each single option once, values that are not empty and do not start
/// with '-', no response file, no help, no <c>--</c>. Any other line, no tetherd (tether-cli starts one on demand), and
/// any answer but success (a refusal, a conflict, a 409 from a tetherd of another state dir or namespace: tetherd
/// changed nothing) go to tether-cli, which then sends the same request, or does the work itself, and reports as it
/// always does. A create that tetherd took and never answered is reported as tether-cli reports it: it may or may not
/// have happened.
/// </remarks>
static class FastPath
{
    /// <summary>The answer's wait limit, as tether-cli's.</summary>
    const int TimeoutMs = 30_000;

    static readonly string[] CreateSingle = ["--name", "--network", "--ip", "--hostname"];
    static readonly string[] CreateMany = ["--publish", "-p", "--alias", "--dns", "--dns-search", "--add-host"];

    /// <summary>Serves the line when it can: the exit code, with the output written. Null: the line is tether-cli's.</summary>
    public static int? TryRun(string[] args)
    {
        string? stateDir = null, runDir = null;
        var words = new List<int>();   // indices of the words after the global options are taken out
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a is "--state-dir" or "--run-dir")
            {
                if (i + 1 >= args.Length || !IsValue(args[i + 1]) || (a == "--state-dir" ? stateDir : runDir) is not null) return null;
                if (a == "--state-dir") stateDir = args[++i]; else runDir = args[++i];
                continue;
            }
            if (a.Length == 0 || a[0] is '@' or '[' || a is "--" or "-h" or "--help" or "-?" or "/h" or "/?" or "--version") return null;
            words.Add(i);
        }
        if (words.Count == 0) return null;
        var paths = TetherPaths.Canonical(stateDir ?? FrontProcess.Env("TETHER_STATE_DIR") ?? "/var/lib/tether",
            runDir ?? FrontProcess.Env("TETHER_RUN_DIR") ?? "/run/tether");
        return args[words[0]] switch
        {
            "create" => Create(paths, args, words),
            "rm" => Remove(paths, args, words),
            _ => null,
        };
    }

    /// <summary>An option's value as tether-cli would take it: a word that is not empty and not an option.</summary>
    static bool IsValue(string word) => word.Length > 0 && word[0] != '-';

    static int? Create(TetherPaths paths, string[] args, List<int> words)
    {
        var single = new Dictionary<string, string>();
        var many = new Dictionary<string, List<string>>();
        for (var w = 1; w < words.Count; w++)
        {
            var option = args[words[w]];
            if (w + 1 >= words.Count || words[w + 1] != words[w] + 1 || !IsValue(args[words[w + 1]])) return null;
            var value = args[words[++w]];
            if (Array.IndexOf(CreateSingle, option) >= 0)
            {
                if (!single.TryAdd(option, value)) return null;
            }
            else if (Array.IndexOf(CreateMany, option) >= 0)
            {
                var key = option == "-p" ? "--publish" : option;
                if (!many.TryGetValue(key, out var list)) many[key] = list = [];
                list.Add(value);
            }
            else return null;
        }
        if (!single.TryGetValue("--name", out var name)) return null;
        // The host's resolv.conf as tether-cli reads it: tetherd gives the sandbox the same files as a local create would.
        var resolvPath = FrontProcess.Env("TETHER_RESOLV_CONF") ?? "/etc/resolv.conf";
        var resolv = FrontProcess.ReadFile(resolvPath, out var missing);
        // A byte order mark (UTF-8, UTF-16 or UTF-32): File.ReadAllText, tether-cli's reader, decodes by it; the front only UTF-8.
        if (resolv is null && !missing || resolv is [0xEF, 0xBB, 0xBF, ..] or [0xFF, 0xFE, ..] or [0xFE, 0xFF, ..] or [0, 0, 0xFE, 0xFF, ..]) return null;
        IReadOnlyList<string> Many(string key) => many.TryGetValue(key, out var list) ? list : [];
        var request = new SandboxCreateRequest(name, single.GetValueOrDefault("--network") ?? TetherEngine.DefaultNetwork,
            single.GetValueOrDefault("--ip"), Many("--alias"), Many("--publish"), Many("--dns"), Many("--dns-search"),
            Many("--add-host"), single.GetValueOrDefault("--hostname"), resolv is null ? null : Encoding.UTF8.GetString(resolv));
        DaemonAnswer? answer;
        try { answer = Send(paths, "POST", "/v1/sandboxes", Encoding.UTF8.GetBytes(request.ToJson())); }
        catch (IOException e)
        {
            // tetherd took the request and gave no answer: the sandbox may or may not exist, which a second try would
            // hide (as tether-cli does, say so). An answer that is not HTTP is tether-cli's one line too, not a crash.
            var message = DaemonHttp.IsMalformedAnswer(e) ? e.Message : DaemonHttp.Unanswered(e, "POST", "/v1/sandboxes", paths.RunDir);
            FrontProcess.WriteLine(2, $"tether: {message.ReplaceLineEndings(" ")}");
            return 1;
        }
        // The new id is the last segment of Location (/v1/sandboxes/ID).
        if (answer is not { Status: 201 } || answer.Header("Location") is not { } location || location[(location.LastIndexOf('/') + 1)..] is not { Length: > 0 } id)
            return null;
        return Printed(id);
    }

    /// <summary><c>rm [-f] NAME</c>, one sandbox: a line naming several is tether-cli's, which reports each name on its
    /// own and exits non-zero when any failed (the front could not hand it the rest of a line once it had reported a failure).</summary>
    static int? Remove(TetherPaths paths, string[] args, List<int> words)
    {
        var force = false;
        string? name = null;
        for (var w = 1; w < words.Count; w++)
        {
            var word = args[words[w]];
            if (word is "-f" or "--force")
            {
                if (force) return null;
                force = true;
            }
            // A name bool.TryParse reads ("true", " False") may be the value of -f to tether-cli (System.CommandLine's
            // bool options take one): tether-cli reads such a line.
            else if (IsValue(word) && !bool.TryParse(word, out _) && name is null) name = word;
            else return null;
        }
        if (name is null) return null;
        var target = $"/v1/sandboxes/{Uri.EscapeDataString(name)}?force={(force ? "true" : "false")}";
        DaemonAnswer? answer;
        try { answer = Send(paths, "DELETE", target, default); }
        catch (IOException e)
        {
            // As tether-cli reports it, once: a second try by tether-cli would wait for a hung tetherd as long again, and
            // after a tetherd that removed the sandbox and died would say there is no such sandbox.
            FrontProcess.WriteLine(2, $"tether: {(DaemonHttp.IsMalformedAnswer(e) ? e.Message : DaemonHttp.Unanswered(e, "DELETE", target, paths.RunDir)).ReplaceLineEndings(" ")}");
            return 1;
        }
        if (answer is not { Status: 204 }) return null;
        return Printed(name);
    }

    /// <summary>Writes the answer's line to stdout: exit 0, or 1 with a line on stderr when it could not be written (a
    /// full disk: the caller would lose the id of a sandbox that exists), as tether-cli does.</summary>
    static int Printed(string line)
    {
        var errno = FrontProcess.WriteLine(1, line);
        if (errno == 0) return 0;
        FrontProcess.WriteLine(2, $"tether: cannot write \"{line}\" to stdout: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)}");
        return 1;
    }

    /// <summary>One request to tetherd (as tether-cli sends it: the state dir in <c>X-Tether-State-Dir</c>); null when
    /// none listens or this user may not connect. Throws <see cref="IOException"/> as <see cref="DaemonHttp.Send"/>.</summary>
    static DaemonAnswer? Send(TetherPaths paths, string method, string path, ReadOnlySpan<byte> body)
    {
        try
        {
            return DaemonHttp.Send(paths.RunDir.TrimEnd('/') + "/tetherd.sock", method, path, [new("X-Tether-State-Dir", paths.StateDir)],
                body, body.IsEmpty ? null : "application/json", TimeoutMs);
        }
        catch (UnauthorizedAccessException) { return null; }
    }
}
