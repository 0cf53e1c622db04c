using System.Diagnostics;
using Tether.Linux;
using Tether.Tests.Support;
using static Tether.Tests.Integration.LinuxOracle;

namespace Tether.Tests.Integration;

/// <summary>NetNs, Sysctl and Signals against the real kernel; namespaces live under private temp dirs or in a lab.</summary>
public class LinuxNetNsTests
{
    static ulong InodeSeenBy(string nsPath) =>
        ulong.Parse(InNs(nsPath, "readlink", "/proc/self/ns/net").Trim()["net:[".Length..^1]);

    static ulong CurrentThreadNetNsInode() =>
        ulong.Parse(new FileInfo("/proc/thread-self/ns/net").LinkTarget!["net:[".Length..^1]);

    [Fact]
    public void Create_makes_a_bind_mounted_namespace_that_Delete_removes()
    {
        using var ns = new TempNetNs("a");
        Assert.True(NetNs.Exists(ns.Path));
        Assert.True(File.Exists(ns.Path));
        var ino = NetNs.Inode(ns.Path);
        Assert.Equal(InodeSeenBy(ns.Path), ino);
        Assert.NotEqual(CurrentThreadNetNsInode(), ino);
        Assert.Contains(ns.Path, File.ReadAllText("/proc/self/mountinfo"));
        // A fresh namespace has only a loopback, and it is down.
        var links = Ip(ns.Path, "link", "show");
        Assert.Equal("lo", (string?)Assert.Single(links)!["ifname"]);
        Assert.False(HasFlag(links[0]!, "UP"));

        var again = Assert.Throws<IOException>(() => NetNs.Create(ns.Path));
        Assert.Contains(ns.Path, again.Message);
        Assert.Equal(ino, NetNs.Inode(ns.Path)); // untouched

        NetNs.Delete(ns.Path);
        Assert.False(NetNs.Exists(ns.Path));
        Assert.False(File.Exists(ns.Path));
        Assert.DoesNotContain(ns.Path, File.ReadAllText("/proc/self/mountinfo"));
        NetNs.Delete(ns.Path); // idempotent
    }

    [Fact]
    public void Exists_is_false_for_other_files_and_Delete_tolerates_them()
    {
        using var ns = new TempNetNs("b", create: false);
        Assert.False(NetNs.Exists(ns.Path));
        Directory.CreateDirectory(Path.GetDirectoryName(ns.Path)!);
        File.WriteAllText(ns.Path, "");
        Assert.False(NetNs.Exists(ns.Path));
        Assert.Throws<IOException>(() => NetNs.Create(ns.Path));
        Assert.False(NetNs.Exists("/proc/self/ns/uts"));
        Assert.True(NetNs.Exists("/proc/self/ns/net"));
        NetNs.Delete(ns.Path); // a plain file: unlinked
        Assert.False(File.Exists(ns.Path));
        Assert.Throws<FileNotFoundException>(() => NetNs.Open(ns.Path));
        Assert.Throws<FileNotFoundException>(() => NetNs.Run(ns.Path, () => 1));
    }

    [Fact]
    public void Run_executes_on_a_worker_thread_inside_the_namespace()
    {
        using var ns = new TempNetNs("c");
        var before = CurrentThreadNetNsInode();
        Thread? worker = null;
        bool pool = true;
        var (inode, threadId) = NetNs.Run(ns.Path, () =>
        {
            worker = Thread.CurrentThread;
            pool = worker.IsThreadPoolThread;
            return (CurrentThreadNetNsInode(), Environment.CurrentManagedThreadId);
        });
        Assert.Equal(NetNs.Inode(ns.Path), inode);
        Assert.NotEqual(Environment.CurrentManagedThreadId, threadId);
        Assert.False(pool);
        Assert.Equal(before, CurrentThreadNetNsInode());

        var e = Assert.Throws<InvalidOperationException>(() => NetNs.Run(ns.Path, () => throw new InvalidOperationException("boom")));
        Assert.Equal("boom", e.Message);
        bool ran = false;
        NetNs.Run(ns.Path, () => { ran = true; });
        Assert.True(ran);
    }

    [Fact]
    public void Sysctl_reads_and_writes_inside_a_namespace()
    {
        using var ns = new TempNetNs("d");
        var rootForward = Sysctl.Read("net.ipv4.ip_forward");
        NetNs.Run(ns.Path, () =>
        {
            Assert.Equal("0", Sysctl.Read("net.ipv4.ip_forward"));
            Sysctl.Write("net.ipv4.ip_forward", "1");
            Assert.Equal("1", Sysctl.Read("net.ipv4.ip_forward"));
            Sysctl.Write("net.ipv4.conf.lo.route_localnet", "1");
            Sysctl.Write("net/ipv6/conf/lo/disable_ipv6", "1");
        });
        Assert.Equal("1", InNs(ns.Path, "sysctl", "-n", "net.ipv4.ip_forward").Trim());
        Assert.Equal("1", InNs(ns.Path, "sysctl", "-n", "net.ipv4.conf.lo.route_localnet").Trim());
        Assert.Equal("1", InNs(ns.Path, "sysctl", "-n", "net.ipv6.conf.lo.disable_ipv6").Trim());
        Assert.Equal(rootForward, Sysctl.Read("net.ipv4.ip_forward")); // the root namespace is untouched

        NetNs.Run(ns.Path, () =>
        {
            var missing = Assert.Throws<FileNotFoundException>(() => Sysctl.Read("net.ipv4.conf.nosuchif.forwarding"));
            Assert.Contains("net.ipv4.conf.nosuchif.forwarding", missing.Message);
            var bad = Assert.ThrowsAny<IOException>(() => Sysctl.Write("net.ipv4.ip_forward", "banana"));
            Assert.Contains("net.ipv4.ip_forward=banana", bad.Message);
        });
    }

    [Fact]
    public void Sysctl_for_an_interface_in_the_lab()
    {
        using var lab = new Lab("lx");
        using var nl = RtNetlink.OpenIn(lab.NsPath);
        nl.CreateBridge("tsys0", 1500);
        NetNs.Run(lab.NsPath, () => Sysctl.Write("net.ipv4.conf.tsys0.route_localnet", "1"));
        Assert.Equal("1", lab.Exec("sysctl", "-n", "net.ipv4.conf.tsys0.route_localnet").Trim());
        Assert.Equal("1", NetNs.Run(lab.NsPath, () => Sysctl.Read("net.ipv4.conf.tsys0.route_localnet")));
    }

    [Fact]
    public void Pids_finds_processes_and_Kill_signals_them()
    {
        using var ns = new TempNetNs("e");
        Assert.Empty(NetNs.Pids(ns.Path));
        using var p = Process.Start(new ProcessStartInfo("nsenter", [$"--net={ns.Path}", "--", "sleep", "60"]))!;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        // nsenter enters the namespace, then execs sleep under the same pid.
        while (!NetNs.Pids(ns.Path).Contains(p.Id) && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.Equal([p.Id], NetNs.Pids(ns.Path));
        Assert.DoesNotContain(p.Id, NetNs.Pids("/proc/self/ns/net"));
        Assert.Contains(Environment.ProcessId, NetNs.Pids("/proc/self/ns/net"));

        Assert.True(Signals.Kill(p.Id, 9));
        Assert.True(p.WaitForExit(10_000));
        Assert.Empty(NetNs.Pids(ns.Path));
        Assert.False(Signals.Kill(p.Id, 0));
    }

    [Fact]
    public void OpenIn_binds_the_socket_to_the_namespace_for_any_thread()
    {
        using var ns = new TempNetNs("f");
        using var nl = RtNetlink.OpenIn(ns.Path);
        var br = nl.CreateBridge("tf0", 1500); // from the test thread, yet inside ns
        Assert.NotNull(Link(ns.Path, "tf0"));
        int seenFromOtherThread = 0;
        var other = new Thread(() => seenFromOtherThread = nl.FindLink("tf0")!.Index);
        other.Start();
        other.Join();
        Assert.Equal(br.Index, seenFromOtherThread);
        Assert.True(nl.DeleteLink("tf0"));
        // Deleting the bind mount while the socket is open: the namespace lives on for the socket.
        NetNs.Delete(ns.Path);
        Assert.Equal(["lo"], nl.ListLinks().Select(l => l.Name));
        nl.Dispose();
        Assert.Throws<ObjectDisposedException>(() => nl.ListLinks());
    }
}

[CollectionDefinition("netns workers", DisableParallelization = true)]
public sealed class NetNsWorkersCollection;

/// <summary>The reuse of namespace worker threads; alone, so that no other test takes the idle worker in between.</summary>
[Collection("netns workers")]
public class NetNsWorkerTests
{
    static ulong CurrentThreadNetNsInode() =>
        ulong.Parse(new FileInfo("/proc/thread-self/ns/net").LinkTarget!["net:[".Length..^1]);

    [Fact]
    public void Run_reuses_a_worker_that_goes_back_home_after_each_job()
    {
        using var a = new TempNetNs("wa");
        using var b = new TempNetNs("wb");
        var home = NetNs.Inode("/proc/self/ns/net");
        var (tidA, inA) = NetNs.Run(a.Path, () => (Environment.CurrentManagedThreadId, CurrentThreadNetNsInode()));
        Assert.Equal(NetNs.Inode(a.Path), inA);
        // The idle worker is back in the process's namespace: it holds neither sandbox's namespace.
        var workerTask = $"/proc/self/task/{NetNs.Run(b.Path, () => Tid())}/ns/net";
        Assert.Equal(home, NetNs.Inode(workerTask));
        var (tidB, inB) = NetNs.Run(b.Path, () => (Environment.CurrentManagedThreadId, CurrentThreadNetNsInode()));
        Assert.Equal(NetNs.Inode(b.Path), inB);
        Assert.Equal(tidA, tidB);   // one worker, reused
        // A job that throws still sends its worker home, and the exception reaches the caller whole.
        var e = Assert.Throws<InvalidOperationException>(() => NetNs.Run(a.Path, int () => throw new InvalidOperationException("boom")));
        Assert.Equal("boom", e.Message);
        Assert.Equal(home, NetNs.Inode(workerTask));
        // Nested: a job that needs a namespace gets another worker, in the namespace it asks for.
        var nested = NetNs.Run(a.Path, () => NetNs.Run(b.Path, CurrentThreadNetNsInode));
        Assert.Equal(NetNs.Inode(b.Path), nested);
    }

    static int Tid() => int.Parse(new FileInfo("/proc/thread-self").LinkTarget!.Split('/')[^1]);
}
