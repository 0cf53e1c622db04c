using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Spectre.Console;

namespace Tether.Bench;

/// <summary>Per-sandbox timings of one implementation at one sandbox count (one lab).</summary>
public sealed class Round(string impl, int count)
{
    public string Impl { get; } = impl;
    public int Count { get; } = count;
    public double[] CreateMs { get; } = new double[count];
    public double[] RemoveMs { get; } = new double[count];
    /// <summary>CPU time (ms, all CPUs, from /proc/stat ticks) the machine spent in the pause after each create or
    /// remove returned: work the command left to the kernel (deferred frees, namespace teardown) and its daemons.</summary>
    public double[] AfterCreateMs { get; } = new double[count];
    public double[] AfterRemoveMs { get; } = new double[count];
    /// <summary>Mean CPU time (ms) of pauses after no command, one after each k's commands: what the rest of the machine
    /// (the harness, tetherd's timers, other jobs) does in a pause anyway.</summary>
    public double IdlePauseMs { get; set; }
    public double ProcsPerCreate { get; set; }
    public double ProcsPerRemove { get; set; }
    public long PeakRssKiB { get; set; }
    public string PeakRssProgram { get; set; } = "";
    public double StartFloorMs { get; set; }
    public string? Error { get; set; }
    public string Checked { get; set; } = "";
    /// <summary>The implementation's resident process (see <see cref="Impl.Resident"/>): name, peak RSS, and CPU spent
    /// during the timed creates and removes, per sandbox.</summary>
    public (string Name, long PeakRssKiB, double CpuMsPerSandbox)? Resident { get; set; }
    internal double ResidentCpuBeforeMs { get; set; }

    public double CreateRemove(int k) => CreateMs[k - 1] + RemoveMs[k - 1];
    public double CreateMedian => Stats.Median(CreateMs);
    public double RemoveMedian => Stats.Median(RemoveMs);
    public double CrMedian => Stats.Median(Enumerable.Range(1, Count).Select(CreateRemove));

    /// <summary>Median create time of sandboxes k-4 .. k+5 (clipped to 1..Count): made while k-5 .. k+4 others existed.</summary>
    public double CreateAt(int k)
    {
        int from = Math.Max(1, k - Stats.Before), to = Math.Min(Count, k + Stats.After);
        return Stats.Median(Enumerable.Range(from, to - from + 1).Select(i => CreateMs[i - 1]));
    }

    /// <summary>Median create+remove of sandboxes k-4 .. k+5 (clipped to 1..Count): the value "at the k-th sandbox".</summary>
    public double CrAt(int k)
    {
        int from = Math.Max(1, k - Stats.Before), to = Math.Min(Count, k + Stats.After);
        return Stats.Median(Enumerable.Range(from, to - from + 1).Select(CreateRemove));
    }
}

public static class Stats
{
    public const int Before = 4, After = 5;
    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}

public static class Program
{
    static volatile bool cancelled;
    /// <summary>Pause after every timed command (ms), so what a command leaves running is not timed as part of the next
    /// one, which is another implementation's; the CPU spent in it is counted (<see cref="Round.AfterCreateMs"/>).</summary>
    static int pauseMs = 25;
    static SpawnServer? server;
    /// <summary>Starts every command of the run (see bench/spawnd.c).</summary>
    public static SpawnServer Server => server ?? throw new InvalidOperationException("spawnd not started");
    public static bool Cancelled => cancelled;

    static readonly string[] AllImpls = ["tether", "cni", "netavark", "lower"];
    static readonly Dictionary<string, string> Titles = new()
    {
        ["tether"] = "Tether",
        ["cni"] = "CNI chain",
        ["netavark"] = "netavark",
        ["lower"] = "ip+nft lower bound",
    };
    static readonly int[] Marks = [10, 100, 500];

    public static int Main(string[] args)
    {
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);

        int[] counts = [1, 100, 500];
        string[] only = AllImpls;
        string? tether = null, work = null, doc = null, csv = null, markdown = null;
        bool selftest = false;
        var enter = Enter.Setns;
        string runId = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--counts":
                    var list = Next();
                    counts = list.Split(',').Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c : -1).ToArray();
                    if (counts.Any(c => c < 1 || c > 5000)) { Console.Error.WriteLine($"tether-bench: --counts \"{list}\": each count must be 1..5000"); return 2; }
                    break;
                case "--only": only = Next().Split(','); break;
                case "--tether": tether = Next(); break;
                case "--work": work = Next(); break;
                case "--run-id": runId = Next(); break;
                case "--doc": doc = Next(); break;
                case "--csv": csv = Next(); break;
                case "--markdown": markdown = Next(); break;
                case "--selftest": selftest = true; break;
                case "--pause":
                    var pause = Next();
                    if (!int.TryParse(pause, NumberStyles.None, CultureInfo.InvariantCulture, out pauseMs) || pauseMs > 1000) { Console.Error.WriteLine($"tether-bench: --pause \"{pause}\": 0..1000 (ms)"); return 2; }
                    break;
                case "--enter":
                    var how = Next();
                    if (how is not ("setns" or "nsenter")) { Console.Error.WriteLine($"tether-bench: --enter \"{how}\": setns or nsenter"); return 2; }
                    enter = how == "setns" ? Enter.Setns : Enter.Nsenter;
                    break;
                default:
                    Console.Error.WriteLine($"tether-bench: unknown option {args[i]}");
                    Console.Error.WriteLine("usage: tether-bench [--counts 1,100,500] [--only tether,cni,netavark,lower] [--tether PATH] [--work DIR] [--run-id ID] [--pause MS] [--markdown FILE] [--doc docs/PERFORMANCE.md] [--csv FILE]");
                    return 2;
            }
        }
        if (only.FirstOrDefault(o => !AllImpls.Contains(o)) is { } bad) { Console.Error.WriteLine($"tether-bench: --only: unknown implementation \"{bad}\" (tether, cni, netavark, lower)"); return 2; }
        if (Environment.UserName != "root") { Console.Error.WriteLine("tether-bench: needs root (it makes network namespaces)"); return 2; }
        var root = RepoRoot();
        tether ??= Path.Combine(root, "artifacts", "bin", "tether");
        bool ownWork = work == null;
        work ??= Directory.CreateTempSubdirectory("tether-bench.").FullName;
        Directory.CreateDirectory(work);

        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 200;
        var machine = Machine(root) + (enter == Enter.Setns
            ? " Commands are started in a lab by setns in spawnd (no nsenter in front)."
            : " Commands are started in a lab through `nsenter --net=LAB --`.");
        using var spawnd = server = new SpawnServer(Path.Combine(root, "bench", "spawnd.c"), work);
        AnsiConsole.MarkupLine($"[bold]Tether benchmark[/] run {runId}: counts {string.Join(",", counts)}; {string.Join(", ", only)}");
        AnsiConsole.WriteLine(machine);

        if (selftest)
        {
            try { SelfTest(work); return 0; }
            finally { if (ownWork) Directory.Delete(work, true); }
        }
        var loadStart = LoadAverage();
        var rounds = new List<Round>();
        var ordered = AllImpls.Where(only.Contains).ToArray();
        try
        {
            foreach (var n in counts)
                foreach (var r in RunCount(ordered, n, runId, work, tether, enter))
                {
                    rounds.Add(r);
                    AnsiConsole.MarkupLine(r.Error == null
                        ? $"  {r.Impl,-9} N={r.Count,-4} create {r.CreateMedian,8:F2} ms  remove {r.RemoveMedian,8:F2} ms  peak {r.PeakRssKiB / 1024.0:F1} MiB  /bin/true {r.StartFloorMs:F2} ms  ({Markup.Escape(r.Checked)})"
                        : $"  [red]{r.Impl,-9} N={r.Count,-4} FAILED: {Markup.Escape(r.Error)}[/]");
                }
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]interrupted: labs removed, partial results below[/]");
        }
        finally
        {
            if (ownWork) try { Directory.Delete(work, true); } catch (IOException) { }
        }

        var load = $"Load average (1/5/15 min) at the start {loadStart}, at the end {LoadAverage()}.";
        PrintTables(rounds, counts, ordered);
        AnsiConsole.WriteLine(load);
        var md = Markdown(rounds, counts, ordered, machine + " " + load);
        if (markdown != null) File.WriteAllText(markdown, md);
        if (doc != null) UpdateDoc(doc, md);
        if (csv != null) WriteCsv(csv, rounds);
        return rounds.Any(r => r.Error != null) || cancelled ? 1 : 0;
    }

    /// <summary>Cost and ru_maxrss of starting /bin/true directly from .NET (posix_spawn) and through spawnd.</summary>
    static void SelfTest(string work)
    {
        string o = Path.Combine(work, "o"), e = Path.Combine(work, "e");
        var direct = Enumerable.Range(0, 40).Select(_ => Spawn.Run(["/bin/true"], Runner.BaseEnv, null, o, e)).ToArray();
        var viaSpawnd = Enumerable.Range(0, 40).Select(_ => Server.Run("", ["/bin/true"], Runner.BaseEnv, null, o, e)).ToArray();
        var nsenter = Enumerable.Range(0, 40).Select(_ => Server.Run("", [Runner.Nsenter, "--net=/proc/self/ns/net", "--", "/bin/true"], Runner.BaseEnv, null, o, e)).ToArray();
        foreach (var (name, rs) in new[] { ("posix_spawn from .NET: /bin/true", direct), ("spawnd: /bin/true", viaSpawnd), ("spawnd: nsenter --net=SELF -- /bin/true", nsenter) })
            Console.WriteLine($"{name,-45} median {Stats.Median(rs.Select(r => r.Elapsed.TotalMilliseconds)):F2} ms, ru_maxrss {Stats.Median(rs.Select(r => (double)r.MaxRssKiB)):F0} KiB");
    }

    /// <summary>Sleeps <see cref="pauseMs"/> and returns the CPU time (ms) the machine spent meanwhile: the busy ticks of
    /// /proc/stat's cpu line (user, nice, system, irq, softirq; USER_HZ = 100, so 10 ms each), summed over all CPUs.
    /// One pause's figure is coarse; the mean over hundreds is not.</summary>
    static double Pause()
    {
        if (pauseMs == 0) return 0;
        var before = BusyTicks();
        Thread.Sleep(pauseMs);
        return (BusyTicks() - before) * 10.0;
    }

    static long BusyTicks()
    {
        using var stat = new StreamReader("/proc/stat");
        var f = stat.ReadLine()!.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // cpu user nice system idle iowait irq softirq steal ...
        return new[] { 1, 2, 3, 6, 7 }.Sum(i => long.Parse(f[i], CultureInfo.InvariantCulture));
    }

    static void OnSignal(PosixSignalContext ctx)
    {
        ctx.Cancel = true; // finish the current command, then unwind so every lab is removed
        cancelled = true;
    }

    /// <summary>
    /// Runs every implementation at one sandbox count, side by side: each has its own lab, and sandbox k is
    /// created in every lab (in an order that rotates with k) before sandbox k+1 is created in any, so a change in
    /// the machine's background load falls on all of them alike. Removal goes the same way, after every lab has
    /// been checked. An implementation that fails is dropped from the count; the others go on.
    /// </summary>
    static List<Round> RunCount(string[] ids, int n, string runId, string work, string tether, Enter enter)
    {
        var rounds = ids.Select(id => new Round(id, n)).ToList();
        var labs = new Dictionary<string, (Lab Lab, Impl Impl)>();
        var allLabs = new List<Lab>();
        void Fail(Round r, Exception e)
        {
            if (e is OperationCanceledException) throw e;
            r.Error = e.Message.Split('\n')[0];
            Console.Error.WriteLine($"{r.Impl} N={n}: {e}");
        }
        IEnumerable<Round> Live(int k) => Enumerable.Range(0, rounds.Count).Select(i => rounds[(i + k) % rounds.Count]).Where(r => r.Error == null);
        // Times one step (create or remove) of sandbox k = 1..n in every live lab, the labs interleaved per k.
        var idle = new List<double>();
        void TimeEach(Action<Impl, int> step, Func<Round, double[]> times, Func<Round, double[]> after)
        {
            for (int k = 1; k <= n; k++, idle.Add(Pause()))
                foreach (var round in Live(k))
                    try
                    {
                        var (lab, impl) = labs[round.Impl];
                        lab.Run.Measuring = true;
                        long t = Stopwatch.GetTimestamp();
                        step(impl, k);
                        times(round)[k - 1] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                        lab.Run.Measuring = false;
                        after(round)[k - 1] = Pause();
                    }
                    catch (Exception e) { Fail(round, e); }
        }
        try
        {
            foreach (var round in rounds)
            {
                try
                {
                    var lab = new Lab($"bench-{round.Impl}-{runId}-n{n}", work, enter);
                    allLabs.Add(lab);
                    Impl impl = round.Impl switch
                    {
                        "tether" => new TetherImpl(lab, tether),
                        "cni" => new CniImpl(lab),
                        "netavark" => new NetavarkImpl(lab),
                        _ => new LowerBoundImpl(lab),
                    };
                    labs[round.Impl] = (lab, impl);
                    var floor = new double[15];
                    for (int i = 0; i < floor.Length; i++) floor[i] = lab.Run.InLab(["/bin/true"]).Child.Elapsed.TotalMilliseconds;
                    round.StartFloorMs = Stats.Median(floor);
                    impl.Setup();
                    round.ResidentCpuBeforeMs = impl.Resident()?.CpuMs ?? 0;
                }
                catch (Exception e) { Fail(round, e); }
            }

            TimeEach((impl, k) => impl.Create(k), round => round.CreateMs, round => round.AfterCreateMs);

            var created = new Dictionary<string, int>();
            foreach (var round in Live(0))
                try
                {
                    var (lab, impl) = labs[round.Impl];
                    created[round.Impl] = lab.Run.Processes;
                    round.ProcsPerCreate = (double)lab.Run.Processes / n;
                    round.Checked = VerifyCreated(impl, lab, n);
                }
                catch (Exception e) { Fail(round, e); }

            TimeEach((impl, k) => impl.Remove(k), round => round.RemoveMs, round => round.AfterRemoveMs);

            foreach (var round in Live(0))
                try
                {
                    var (lab, impl) = labs[round.Impl];
                    round.ProcsPerRemove = (double)(lab.Run.Processes - created[round.Impl]) / n;
                    round.Checked += VerifyRemoved(impl, lab, n);
                    round.PeakRssKiB = lab.Run.PeakRssKiB;
                    round.PeakRssProgram = lab.Run.PeakRssProgram;
                    round.IdlePauseMs = idle.Count > 0 ? idle.Average() : 0;
                    if (impl.Resident() is { } res) round.Resident = (res.Name, res.PeakRssKiB, (res.CpuMs - round.ResidentCpuBeforeMs) / n);
                }
                catch (Exception e) { Fail(round, e); }
        }
        finally
        {
            foreach (var lab in allLabs) lab.Dispose();
        }
        return rounds;
    }

    static HashSet<int> PublishedPorts(Lab lab, int n)
    {
        // One nft listing of the lab: the ports appear as rule matches (CNI, netavark through iptables-nft)
        // or as map elements (Tether, lower bound).
        var text = lab.Run.InLab(["/usr/sbin/nft", "list", "ruleset"]).Stdout;
        var ports = new HashSet<int>();
        foreach (Match m in Regex.Matches(text, @"(?<![\d.])(\d{5})(?![\d.])"))
        {
            int p = int.Parse(m.Value, CultureInfo.InvariantCulture);
            if (p > Impl.PortBase && p <= Impl.PortBase + n) ports.Add(p);
        }
        return ports;
    }

    static int BridgePorts(Impl impl, Lab lab) =>
        lab.Run.InLab(["/usr/sbin/ip", "-o", "link", "show", "master", impl.Bridge], check: false).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>Checks that the work was really done: N ports on the bridge, N published ports, and sampled sandboxes with an address and a default route.</summary>
    static string VerifyCreated(Impl impl, Lab lab, int n)
    {
        int links = BridgePorts(impl, lab);
        if (links != n) throw new InvalidOperationException($"after creating {n} sandboxes the bridge {impl.Bridge} has {links} ports");
        int ports = PublishedPorts(lab, n).Count;
        if (ports != n) throw new InvalidOperationException($"after creating {n} sandboxes {ports} of the {n} host ports appear in the lab's nftables ruleset");
        var samples = new[] { 1, (n + 1) / 2, n }.Distinct().ToArray();
        foreach (var k in samples)
        {
            var addr = lab.Run.In(impl.SandboxPath(k), ["/usr/sbin/ip", "-4", "-o", "addr", "show", "dev", "eth0"]).Stdout;
            var route = lab.Run.In(impl.SandboxPath(k), ["/usr/sbin/ip", "-4", "route", "show", "default"]).Stdout;
            if (!addr.Contains("inet 10.77.") || !addr.Contains("/16") || !route.Contains("via " + Impl.Gateway))
                throw new InvalidOperationException($"sandbox {k} is not wired: addr '{addr.Trim()}', route '{route.Trim()}'");
        }
        return $"checked: {links} bridge ports, {ports} DNAT ports, eth0 address and default route in sandboxes {string.Join(",", samples)}";
    }

    /// <summary>
    /// Checks that removal left nothing. A veth whose peer was in a deleted namespace is destroyed by the kernel's
    /// namespace cleanup, after the command returned: wait for that (up to 30 s) and report how long it took.
    /// </summary>
    static string VerifyRemoved(Impl impl, Lab lab, int n)
    {
        var waited = Stopwatch.StartNew();
        int links, polls = 0;
        while ((links = BridgePorts(impl, lab)) != 0 && waited.Elapsed < TimeSpan.FromSeconds(30)) { polls++; Thread.Sleep(20); }
        if (links != 0) throw new InvalidOperationException($"30 s after removing every sandbox the bridge {impl.Bridge} still has {links} ports");
        int ports = PublishedPorts(lab, n).Count;
        if (ports != 0) throw new InvalidOperationException($"after removing every sandbox {ports} host ports are still in the ruleset");
        for (int k = 1; k <= n; k++)
            if (File.Exists(impl.SandboxPath(k))) throw new InvalidOperationException($"sandbox {k}'s namespace {impl.SandboxPath(k)} is still there");
        return polls == 0 ? "" : $"; bridge ports gone {waited.ElapsedMilliseconds} ms after the last remove returned";
    }

    // ---------- report ----------

    static string F(double ms) => double.IsNaN(ms) ? "-" : ms.ToString(ms < 10 ? "F2" : "F1", CultureInfo.InvariantCulture);
    static string X(double r) => double.IsNaN(r) || double.IsInfinity(r) ? "-" : r.ToString(r < 10 ? "F2" : "F1", CultureInfo.InvariantCulture) + "x";

    sealed record Row(string Impl, string[] Cells);

    static string[] Header(int n) =>
        ["implementation", "procs (create/rm)", "create median", "remove median", "c+r median",
         .. Marks.Where(m => m <= n).Select(m => $"c+r @{m}"), .. (n >= 100 ? new[] { $"c+r @{Marks.Where(m => m <= n).Max()} / @10", $"create @{Marks.Where(m => m <= n).Max()} / @10" } : []),
         "peak RSS (MiB)", "c+r vs Tether"];

    static List<Row> Rows(List<Round> rounds, int n, string[] ordered)
    {
        var tether = rounds.FirstOrDefault(r => r.Impl == "tether" && r.Count == n && r.Error == null);
        var rows = new List<Row>();
        foreach (var id in ordered)
        {
            var r = rounds.FirstOrDefault(x => x.Impl == id && x.Count == n);
            if (r == null) continue;
            if (r.Error != null) { rows.Add(new Row(Titles[id], ["FAILED: " + r.Error])); continue; }
            var marks = Marks.Where(m => m <= n).ToArray();
            var cells = new List<string>
            {
                $"{r.ProcsPerCreate:0.#}/{r.ProcsPerRemove:0.#}", F(r.CreateMedian), F(r.RemoveMedian), F(r.CrMedian),
            };
            cells.AddRange(marks.Select(m => F(r.CrAt(m))));
            if (n >= 100)
            {
                cells.Add(X(r.CrAt(marks.Max()) / r.CrAt(10)));
                cells.Add(X(r.CreateAt(marks.Max()) / r.CreateAt(10)));
            }
            cells.Add($"{r.PeakRssKiB / 1024.0:F1} ({r.PeakRssProgram})");
            cells.Add(tether == null ? "-" : id == "tether" ? "1x" : X(r.CrMedian / tether.CrMedian));
            rows.Add(new Row(Titles[id], [.. cells]));
        }
        return rows;
    }

    static void PrintTables(List<Round> rounds, int[] counts, string[] ordered)
    {
        foreach (var n in counts)
        {
            var rows = Rows(rounds, n, ordered);
            if (rows.Count == 0) continue;
            var t = new Table().Title($"{n} sandbox{(n == 1 ? "" : "es")}, times in ms per sandbox");
            foreach (var h in Header(n)) t.AddColumn(h);
            foreach (var r in rows) t.AddRow([Markup.Escape(r.Impl), .. r.Cells.Select(Markup.Escape), .. Enumerable.Repeat("", Math.Max(0, Header(n).Length - 1 - r.Cells.Length))]);
            AnsiConsole.Write(t);
            if (AfterLine(rounds, n, ordered) is { } after) AnsiConsole.WriteLine(after);
        }
        foreach (var line in Targets(rounds, counts)) AnsiConsole.WriteLine(line);
    }

    static IEnumerable<string> Targets(List<Round> rounds, int[] counts)
    {
        foreach (var n in counts)
        {
            var t = rounds.FirstOrDefault(r => r.Impl == "tether" && r.Count == n && r.Error == null);
            if (t == null) continue;
            foreach (var (id, need) in new[] { ("cni", 10.0), ("netavark", 10.0), ("lower", 1.0) })
            {
                var p = rounds.FirstOrDefault(r => r.Impl == id && r.Count == n && r.Error == null);
                if (p == null) continue;
                var ratio = p.CrMedian / t.CrMedian;
                bool met = need > 1 ? ratio >= need : ratio > need;
                yield return $"N={n}: {Titles[id]} / Tether, median create+remove = {X(ratio)} (target: {(need > 1 ? $"at least {need:0}x" : "above 1x")}): {(met ? "met" : "NOT met")}";
            }
            if (n >= 500)
            {
                var g = t.CrAt(500) / t.CrAt(10);
                yield return $"N={n}: Tether create+remove at the 500th / at the 10th sandbox = {X(g)} (target: no growth; counted as met up to 1.10x): {(g <= 1.10 ? "met" : "NOT met")}";
            }
        }
    }

    /// <summary>The CPU the machine spent in the pause after each command, per implementation at one count; null without a pause.</summary>
    static string? AfterLine(List<Round> rounds, int n, string[] ordered)
    {
        var done = ordered.Select(id => rounds.FirstOrDefault(r => r.Impl == id && r.Count == n && r.Error == null)).OfType<Round>().ToList();
        // /proc/stat counts in 10 ms ticks: a mean over a handful of pauses says nothing.
        if (pauseMs == 0 || done.Count == 0 || n < 100) return null;
        return $"CPU the machine spent in the {pauseMs} ms pause after each timed command (mean over the {n}, ms, after a create / after a remove; " +
               $"{F(done[0].IdlePauseMs)} in a pause after no command): " +
               string.Join(", ", done.Select(r => $"{Titles[r.Impl]} {F(r.AfterCreateMs.Average())} / {F(r.AfterRemoveMs.Average())}")) + ".";
    }

    static string Markdown(List<Round> rounds, int[] counts, string[] ordered, string machine)
    {
        var sb = new StringBuilder();
        var command = Environment.GetEnvironmentVariable("BENCH_COMMAND");
        if (command != null) sb.AppendLine($"Command: `{command}`").AppendLine();
        sb.AppendLine($"Run of {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. {machine}").AppendLine();
        foreach (var n in counts)
        {
            var rows = Rows(rounds, n, ordered);
            if (rows.Count == 0) continue;
            var h = Header(n);
            sb.AppendLine($"**{n} sandbox{(n == 1 ? "" : "es")}** (ms per sandbox)").AppendLine();
            sb.AppendLine("| " + string.Join(" | ", h) + " |");
            sb.AppendLine("|" + string.Concat(Enumerable.Repeat(" --- |", h.Length)));
            foreach (var r in rows)
                sb.AppendLine("| " + string.Join(" | ", [r.Impl, .. r.Cells, .. Enumerable.Repeat("", Math.Max(0, h.Length - 1 - r.Cells.Length))]) + " |");
            sb.AppendLine();
            foreach (var r in rounds.Where(r => r.Count == n && r.Error == null && r.Resident is not null))
                sb.AppendLine($"{r.Impl}'s resident {r.Resident!.Value.Name} (started in the untimed set-up; no timed command waits for it, so it is not in " +
                              $"the peak RSS column): peak RSS {r.Resident.Value.PeakRssKiB / 1024.0:F1} MiB, CPU {F(r.Resident.Value.CpuMsPerSandbox)} ms per sandbox (create + remove).").AppendLine();
            if (AfterLine(rounds, n, ordered) is { } after) sb.AppendLine(after).AppendLine();
        }
        var floors = rounds.Where(r => r.Error == null).Select(r => r.StartFloorMs).ToArray();
        if (floors.Length > 0)
            sb.AppendLine($"Starting `/bin/true` in a lab the way every command here is started took {F(Stats.Median(floors))} ms (median of the per-lab medians): every process in the procs column pays at least that.").AppendLine();
        var targets = Targets(rounds, counts).ToList();
        if (targets.Count > 0)
        {
            sb.AppendLine("Targets:").AppendLine();
            foreach (var t in targets) sb.AppendLine("- " + t);
            sb.AppendLine();
        }
        return sb.ToString();
    }

    const string DocBegin = "<!-- bench:results:begin -->", DocEnd = "<!-- bench:results:end -->";

    static void UpdateDoc(string path, string md)
    {
        var text = File.Exists(path) ? File.ReadAllText(path) : "";
        int b = text.IndexOf(DocBegin, StringComparison.Ordinal), e = text.IndexOf(DocEnd, StringComparison.Ordinal);
        if (b < 0 || e < b) { Console.Error.WriteLine($"{path}: no {DocBegin} ... {DocEnd} markers; results not written there"); return; }
        File.WriteAllText(path, text[..(b + DocBegin.Length)] + "\n" + md + text[e..]);
        Console.WriteLine($"results written to {path}");
    }

    static void WriteCsv(string path, List<Round> rounds)
    {
        var sb = new StringBuilder("implementation,sandboxes,k,create_ms,remove_ms\n");
        foreach (var r in rounds.Where(r => r.Error == null))
            for (int k = 1; k <= r.Count; k++)
                sb.Append(CultureInfo.InvariantCulture, $"{r.Impl},{r.Count},{k},{r.CreateMs[k - 1]:F3},{r.RemoveMs[k - 1]:F3}\n");
        File.WriteAllText(path, sb.ToString());
    }

    // ---------- machine ----------

    static string LoadAverage() => string.Join("/", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    static string RepoRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Tether.slnx"))) return d.FullName;
        return Environment.CurrentDirectory;
    }

    static string Machine(string root)
    {
        string Read(params string[] argv)
        {
            var dir = Directory.CreateTempSubdirectory("tether-bench-info.");
            try
            {
                var r = Spawn.Run(argv, Runner.BaseEnv, null, Path.Combine(dir.FullName, "o"), Path.Combine(dir.FullName, "e"));
                return r.ExitCode == 0 ? File.ReadAllText(Path.Combine(dir.FullName, "o")).Trim() : "?";
            }
            finally { dir.Delete(true); }
        }
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "?";
        var memKb = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        string Pkg(string p) => $"{p} {Read("/usr/bin/dpkg-query", "-W", "-f=${Version}", p)}";
        var commit = Read("/usr/bin/git", "-C", root, "rev-parse", "--short", "HEAD");
        return $"Machine: {Environment.ProcessorCount} CPUs ({cpu}), {long.Parse(memKb, CultureInfo.InvariantCulture) / 1024 / 1024} GiB, kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, " +
               $"{RuntimeInformation.OSDescription}. Tether commit {commit}; {Pkg("containernetworking-plugins")}, {Pkg("netavark")}, {Pkg("iproute2")}, {Pkg("nftables")}, {Pkg("iptables")}.";
    }
}
