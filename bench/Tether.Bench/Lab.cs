using System.Text;

namespace Tether.Bench;

/// <summary>Output of one command: exit code, timing and the captured stdout/stderr.</summary>
public sealed record Output(ChildResult Child, string StdoutPath, string StderrPath)
{
    public int ExitCode => Child.ExitCode;
    public string Stdout => File.ReadAllText(StdoutPath);
    public string Stderr => File.ReadAllText(StderrPath);
}

/// <summary>How a command is put inside a namespace.</summary>
public enum Enter
{
    /// <summary>spawnd calls setns(2) on itself and starts the command there: no extra process.</summary>
    Setns,
    /// <summary>The command is prefixed with <c>nsenter --net=PATH --</c> (one more exec per command).</summary>
    Nsenter,
}

/// <summary>
/// Runs commands for one benchmark round through spawnd. <see cref="InLab"/> commands run inside the lab
/// namespace, entered by setns or by <c>nsenter --net</c> (network namespace only, never a mount namespace per call
/// as <c>ip netns exec</c> makes, so bind mounts made by a command outlive it). Measured calls add to the process
/// count and the peak memory of the round.
/// </summary>
public sealed class Runner(string labNsPath, string scratchDir, Enter enter)
{
    public const string Nsenter = "/usr/bin/nsenter";
    public static readonly string[] BaseEnv = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"];

    readonly string stdoutPath = Path.Combine(scratchDir, "stdout");
    readonly string stderrPath = Path.Combine(scratchDir, "stderr");

    /// <summary>Set while a lab is being removed: its commands run even after an interrupt.</summary>
    public bool CleaningUp { get; set; }
    /// <summary>Whether calls are counted (only while a sandbox is being created or removed).</summary>
    public bool Measuring { get; set; }
    /// <summary>Commands started by measured calls (an nsenter in front is not counted: it execs the command).</summary>
    public int Processes { get; private set; }
    /// <summary>Largest ru_maxrss (KiB) of any measured call, and the program that had it.</summary>
    public long PeakRssKiB { get; private set; }
    public string PeakRssProgram { get; private set; } = "";

    /// <summary>Runs a program inside the lab namespace.</summary>
    public Output InLab(IReadOnlyList<string> argv, string? stdin = null, IReadOnlyList<string>? env = null, bool check = true) =>
        In(labNsPath, argv, stdin, env, check);

    /// <summary>Runs a program in the harness's own namespaces (only commands that name their namespace themselves).</summary>
    public Output Direct(IReadOnlyList<string> argv, string? stdin = null, IReadOnlyList<string>? env = null, bool check = true) =>
        In("", argv, stdin, env, check);

    /// <summary>Runs a program inside the network namespace bound at <paramref name="netns"/> ("" = the harness's own).</summary>
    public Output In(string netns, IReadOnlyList<string> argv, string? stdin = null, IReadOnlyList<string>? env = null, bool check = true)
    {
        if (Program.Cancelled && !CleaningUp) throw new OperationCanceledException("interrupted");
        IReadOnlyList<string> full = netns != "" && enter == Enter.Nsenter ? [Nsenter, "--net=" + netns, "--", .. argv] : argv;
        var r = Program.Server.Run(enter == Enter.Setns ? netns : "", full, env ?? BaseEnv, stdin, stdoutPath, stderrPath);
        if (r.ExitCode == 125 && enter == Enter.Setns)
            throw new InvalidOperationException($"could not enter network namespace {netns}; `{argv[0]}` was not started");
        if (Measuring)
        {
            Processes++;
            if (r.MaxRssKiB > PeakRssKiB)
            {
                PeakRssKiB = r.MaxRssKiB;
                PeakRssProgram = Path.GetFileName(argv[0]) + (argv.Count > 1 && !argv[1].StartsWith('-') ? " " + argv[1] : "");
            }
        }
        var o = new Output(r, stdoutPath, stderrPath);
        if (check && r.ExitCode != 0)
            throw new InvalidOperationException($"`{string.Join(' ', full)}` exited {r.ExitCode}: {Trim(o.Stderr)}{Trim(o.Stdout)}");
        return o;
    }

    static string Trim(string s) => s.Length > 2000 ? s[..2000] + "..." : s;
}

/// <summary>
/// A throwaway network namespace that plays the host for one implementation and one sandbox count
/// (<c>bench-IMPL-RUNID-nCOUNT</c>), with a scratch directory. Sandbox namespaces that a peer makes with
/// <c>ip netns add</c> are named <c>LAB-sK</c>, so <see cref="Dispose"/> finds every leftover by prefix.
/// </summary>
public sealed class Lab : IDisposable
{
    public string Name { get; }
    public string NsPath => "/run/netns/" + Name;
    /// <summary>Scratch directory of this lab (configs, state and run dirs); removed on Dispose.</summary>
    public string Dir { get; }
    public Runner Run { get; }
    readonly List<Action> cleanups = new();

    public Lab(string name, string workRoot, Enter enter)
    {
        Name = name;
        Dir = Path.Combine(workRoot, name);
        Directory.CreateDirectory(Dir);
        Run = new Runner(NsPath, Dir, enter);
        Run.Direct(["/usr/sbin/ip", "netns", "add", name]);
        try { Check(); }
        catch { Dispose(); throw; }
    }

    void Check()
    {
        // Safety: prove that a command run "in the lab" really sees the lab's namespace, not the machine's.
        var root = Run.Direct(["/usr/bin/stat", "-L", "-c", "%i", "/proc/self/ns/net"]).Stdout.Trim();
        var inLab = Run.InLab(["/usr/bin/stat", "-L", "-c", "%i", "/proc/self/ns/net"]).Stdout.Trim();
        var lab = Run.Direct(["/usr/bin/stat", "-L", "-c", "%i", NsPath]).Stdout.Trim();
        if (inLab != lab || inLab == root)
        {
            throw new InvalidOperationException($"lab {Name}: commands run in namespace {inLab}, the lab is {lab}, the machine {root}: refusing to go on");
        }
        Run.InLab(["/usr/sbin/ip", "link", "set", "lo", "up"]);
    }

    /// <summary>Name of the namespace of the k-th sandbox, for peers that make it with <c>ip netns add</c>.</summary>
    public string SandboxNs(int k) => $"{Name}-s{k}";

    /// <summary>Registers an extra cleanup step that runs before the namespaces are deleted.</summary>
    public void OnDispose(Action a) => cleanups.Add(a);

    public void Dispose()
    {
        Run.CleaningUp = true;
        Run.Measuring = false;
        var errors = new StringBuilder();
        foreach (var a in cleanups)
            try { a(); } catch (Exception e) { errors.AppendLine(e.Message); }
        var mine = Directory.Exists("/run/netns")
            ? Directory.GetFiles("/run/netns").Select(Path.GetFileName).Where(n => n == Name || n!.StartsWith(Name + "-")).ToList()
            : [];
        // Nothing long-running is started in a lab, but if anything is left in one of our namespaces it is ours: end it by PID.
        foreach (var ns in mine)
        {
            var pids = Run.Direct(["/usr/sbin/ip", "netns", "pids", ns!], check: false).Stdout;
            foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                if (int.TryParse(pid.Trim(), out var p) && p != Environment.ProcessId)
                    Run.Direct(["/bin/kill", "-9", p.ToString()], check: false);
        }
        foreach (var ns in mine.Where(n => n != Name).Append(Name))
            if (Run.Direct(["/usr/sbin/ip", "netns", "del", ns!], check: false).ExitCode != 0 && File.Exists("/run/netns/" + ns))
                errors.AppendLine($"could not delete namespace {ns}");
        try { Directory.Delete(Dir, true); } catch (Exception e) { errors.AppendLine($"{Dir}: {e.Message}"); }
        if (errors.Length > 0) Console.Error.WriteLine($"cleanup of {Name}: {errors}");
    }
}
