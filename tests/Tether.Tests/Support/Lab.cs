using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Tether.Tests.Support;

/// <summary>
/// A throwaway network namespace that plays the host ("lab"), with its own state and run dirs.
/// Tether runs inside it through <c>nsenter --net</c> (network namespace only, so the bind mounts
/// Tether makes under the run dir live in the real mount namespace and outlive each process).
/// Dispose removes every namespace, mount and directory it made, even after a failed test.
/// </summary>
public sealed class Lab : IDisposable
{
    static int counter;

    /// <summary>Unique lab name, e.g. <c>ttl-1a2b3c-4</c>: also the prefix of any extra namespaces.</summary>
    public string Name { get; }
    /// <summary>Path of the lab namespace's bind mount: /run/netns/NAME.</summary>
    public string NsPath => $"/run/netns/{Name}";
    public string StateDir { get; }
    public string RunDir { get; }
    readonly List<string> extraNamespaces = new();

    public Lab(string tag = "l")
    {
        Name = $"tt{tag}-{Environment.ProcessId % 100000:x}-{Interlocked.Increment(ref counter)}";
        var root = Path.Combine(Path.GetTempPath(), "tether-" + Name);
        StateDir = Path.Combine(root, "state");
        RunDir = Path.Combine(root, "run");
        Directory.CreateDirectory(StateDir);
        Directory.CreateDirectory(RunDir);
        Sh.Run("ip", "netns", "add", Name);
        Exec("ip", "link", "set", "lo", "up");
        // No IPv6 duplicate address detection on the lab's new links: its finishing later would look like a change
        // to the before/after kernel snapshots of the bad-input tests.
        Exec("sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0");
    }

    /// <summary>Runs a program inside the lab namespace; throws on non-zero exit.</summary>
    public string Exec(params string[] args) => Sh.Run(["ip", "netns", "exec", Name, .. args]);

    /// <summary>Runs a program inside the lab namespace and returns its result whatever the exit code.</summary>
    public Sh.Result TryExec(params string[] args) => Sh.Try(["ip", "netns", "exec", Name, .. args]);

    /// <summary>Environment variables given to every <see cref="Tether"/> call (e.g. TETHER_RESOLV_CONF).</summary>
    public Dictionary<string, string> Env { get; } = new();

    /// <summary>Runs artifacts/bin/tether inside the lab with this lab's state and run dirs.</summary>
    public Sh.Result Tether(params string[] args) =>
        Sh.Try(["nsenter", $"--net={NsPath}", "--", "env", .. Env.Select(kv => $"{kv.Key}={kv.Value}"), Paths.TetherBinary, "--state-dir", StateDir, "--run-dir", RunDir, .. args]);

    /// <summary>Runs tether and throws with its stderr on a non-zero exit.</summary>
    public string TetherOk(params string[] args)
    {
        var r = Tether(args);
        if (r.ExitCode != 0) throw new Exception($"tether {string.Join(' ', args)} failed ({r.ExitCode}): {r.Stderr}{r.Stdout}");
        return r.Stdout;
    }

    /// <summary>Runs tether with --format json appended and parses stdout.</summary>
    public JsonNode TetherJson(params string[] args) => JsonNode.Parse(TetherOk([.. args, "--format", "json"]))!;

    /// <summary>Makes another namespace (e.g. "wan") whose name starts with the lab's name; removed on Dispose.</summary>
    public string AddNamespace(string suffix)
    {
        var name = $"{Name}-{suffix}";
        Sh.Run("ip", "netns", "add", name);
        extraNamespaces.Add(name);
        Sh.Run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up");
        return name;
    }

    /// <summary>Links the lab to namespace <paramref name="other"/> with a veth pair and addresses on both ends.</summary>
    public void Wire(string other, string labIf, string labCidr, string otherIf, string otherCidr)
    {
        Sh.Run("ip", "-n", Name, "link", "add", labIf, "type", "veth", "peer", "name", otherIf, "netns", other);
        Sh.Run("ip", "-n", Name, "addr", "add", labCidr, "dev", labIf);
        Sh.Run("ip", "-n", Name, "link", "set", labIf, "up");
        Sh.Run("ip", "-n", other, "addr", "add", otherCidr, "dev", otherIf);
        Sh.Run("ip", "-n", other, "link", "set", otherIf, "up");
    }

    /// <summary>A snapshot of links, addresses, routes and the nftables ruleset in the lab, for before/after comparisons.</summary>
    public string KernelSnapshot()
    {
        string J(params string[] a) => Sh.Try(["ip", "netns", "exec", Name, .. a]).Stdout;
        return string.Join("\n---\n",
            Regex.Replace(J("ip", "-j", "-d", "link", "show"), "\"[a-z_]*timer\":[0-9.]+", "timer"),
            J("ip", "-j", "addr", "show"),
            J("ip", "-j", "route", "show", "table", "all"),
            J("nft", "-j", "list", "ruleset"),
            string.Join(",", Directory.Exists(Path.Combine(RunDir, "netns")) ? Directory.GetFiles(Path.Combine(RunDir, "netns")).Order() : []));
    }

    /// <summary>Lists the lab's links of one kind (e.g. "veth") as `ip -o link` lines.</summary>
    public string[] Links(string kind) =>
        Exec("ip", "-o", "link", "show", "type", kind).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Waits until the lab has no link of this kind (at most 5 s) and returns what is left: the host end of a
    /// sandbox's veth pair is freed by the kernel together with the sandbox's namespace, asynchronously.</summary>
    public string[] LinksAfterSettling(string kind)
    {
        var left = Links(kind);
        for (var i = 0; i < 100 && left.Length > 0; i++)
        {
            Thread.Sleep(50);
            left = Links(kind);
        }
        return left;
    }

    /// <summary>A <see cref="KernelSnapshot"/> taken once the kernel has settled (link operstate, IPv6 DAD):
    /// two snapshots 200 ms apart agree, or 5 s passed.</summary>
    public string StableKernelSnapshot()
    {
        var snap = KernelSnapshot();
        for (var i = 0; i < 25; i++)
        {
            Thread.Sleep(200);
            var next = KernelSnapshot();
            if (next == snap && !snap.Contains("\"tentative\"")) break;
            snap = next;
        }
        return snap;
    }

    public void Dispose()
    {
        // Kill every process still inside any namespace we made, then unmount Tether's sandboxes.
        foreach (var ns in extraNamespaces.Append(Name)) Sh.Try("ip", "netns", "pids", ns).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList().ForEach(p => Sh.Try("kill", "-9", p.Trim()));
        var sandboxes = Path.Combine(RunDir, "netns");
        if (Directory.Exists(sandboxes))
            foreach (var f in Directory.GetFiles(sandboxes))
            {
                foreach (var pid in Sh.Try("sh", "-c", $"for p in /proc/[0-9]*; do [ \"$(stat -L -c %i $p/ns/net 2>/dev/null)\" = \"$(stat -L -c %i {f} 2>/dev/null)\" ] && echo ${{p#/proc/}}; done").Stdout
                             .Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    if (pid.Trim() != Environment.ProcessId.ToString()) Sh.Try("kill", "-9", pid.Trim());
                Sh.Try("umount", "-l", f);
            }
        foreach (var ns in extraNamespaces) Sh.Try("ip", "netns", "del", ns);
        Sh.Try("ip", "netns", "del", Name);
        try { Directory.Delete(Path.GetDirectoryName(StateDir)!, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Runs programs as subprocesses (tests only; product code never shells out).</summary>
public static class Sh
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Try(params string[] args) => TryWithInput(null, args);

    public static Result TryWithInput(string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin != null };
        foreach (var a in args.Skip(1)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin != null) { p.StandardInput.Write(stdin); p.StandardInput.Close(); }
        var err = p.StandardError.ReadToEndAsync();
        var outp = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return new Result(p.ExitCode, outp, err.Result);
    }

    public static string Run(params string[] args)
    {
        var r = Try(args);
        if (r.ExitCode != 0) throw new Exception($"{string.Join(' ', args)} failed ({r.ExitCode}): {r.Stderr}");
        return r.Stdout;
    }
}

public static class Paths
{
    /// <summary>Repository root, found by walking up to Tether.slnx.</summary>
    public static string Root { get; } = FindRoot();
    public static string TetherBinary => Environment.GetEnvironmentVariable("TETHER_BIN") ?? Path.Combine(Root, "artifacts", "bin", "tether");

    static string FindRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d != null && !File.Exists(Path.Combine(d.FullName, "Tether.slnx"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
