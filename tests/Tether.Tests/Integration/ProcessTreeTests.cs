using System.Diagnostics;
using Tether.Linux;

namespace Tether.Tests.Integration;

/// <summary>NetNs.ProcessTree against real processes: descendants are found, exited-but-unreaped ones (zombies) are not.</summary>
public class ProcessTreeTests
{
    [Fact]
    public void DescendantsAreFoundAndZombiesAreNot()
    {
        // sh starts a short and a long child, then execs into a sleep that never reaps them: the short child stays a zombie.
        using var p = Process.Start(new ProcessStartInfo("sh", ["-c", "sleep 0.1 & sleep 30 & exec sleep 30"]))!;
        try
        {
            // Waited for until both hold: right after its first fork, sh and the short child are also two processes.
            IReadOnlyList<int> tree = [];
            int zombie = 0;
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (DateTime.UtcNow < deadline)
            {
                tree = NetNs.ProcessTree(p.Id);
                zombie = ZombieChildOf(p.Id);
                if (tree.Count == 2 && zombie != 0) break;
                Thread.Sleep(50);
            }
            Assert.NotEqual(0, zombie);   // the oracle: /proc shows the unreaped child of the process
            Assert.Equal(2, tree.Count);   // the exec'd sleep and the long child; not the zombie
            Assert.Contains(p.Id, tree);
            Assert.DoesNotContain(zombie, tree);
        }
        finally
        {
            foreach (var pid in NetNs.ProcessTree(p.Id).Reverse()) { try { Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } }
            p.WaitForExit();
        }
    }

    static int ZombieChildOf(int parent) =>
        Directory.EnumerateDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var x) ? x : 0)
            .FirstOrDefault(x => x > 0 && TryRead($"/proc/{x}/stat") is { } st
                && st[(st.LastIndexOf(')') + 2)..].Split(' ') is ["Z", var ppid, ..] && ppid == parent.ToString());

    static string? TryRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return null; }
    }
}
