using System.Text.Json.Nodes;
using Tether.Linux;
using Tether.Tests.Support;

namespace Tether.Tests.Integration;

/// <summary>iproute2 as an independent oracle, run inside a namespace given by path (nsenter --net).</summary>
static class LinuxOracle
{
    public static string InNs(string nsPath, params string[] args) => Sh.Run(["nsenter", $"--net={nsPath}", "--", .. args]);

    public static Sh.Result TryInNs(string nsPath, params string[] args) => Sh.Try(["nsenter", $"--net={nsPath}", "--", .. args]);

    /// <summary><c>ip -j ARGS</c> inside the namespace, parsed.</summary>
    public static JsonArray Ip(string nsPath, params string[] args) => JsonNode.Parse(InNs(nsPath, ["ip", "-j", .. args]))!.AsArray();

    /// <summary>The one link called <paramref name="name"/> from <c>ip -j -d link show dev NAME</c>, or null if absent.</summary>
    public static JsonNode? Link(string nsPath, string name)
    {
        var r = TryInNs(nsPath, "ip", "-j", "-d", "link", "show", "dev", name);
        if (r.ExitCode != 0) return null;
        return JsonNode.Parse(r.Stdout)!.AsArray().Single();
    }

    public static bool HasFlag(JsonNode link, string flag) => link["flags"]!.AsArray().Any(f => (string?)f == flag);
}

/// <summary>A namespace made with <see cref="NetNs.Create"/> under a private temp dir; removed (with the dir) on Dispose.</summary>
sealed class TempNetNs : IDisposable
{
    public string Dir { get; }
    public string Path { get; }

    public TempNetNs(string name = "ns", bool create = true)
    {
        Dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"tether-lx-{Environment.ProcessId:x}-{Guid.NewGuid():N}"[..40]);
        Path = System.IO.Path.Combine(Dir, "netns", name);
        if (create) NetNs.Create(Path);
    }

    public void Dispose()
    {
        foreach (var pid in NetNs.Exists(Path) ? NetNs.Pids(Path) : [])
            if (pid != Environment.ProcessId) Signals.Kill(pid, 9);
        try { NetNs.Delete(Path); } catch (IOException) { Sh.Try("umount", "-l", Path); }
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
