using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Tether.Tests.Support;

/// <summary>
/// A dedicated OS thread that entered a network namespace (setns(2) with CLONE_NEWNET on an fd of
/// /run/netns/NAME) and runs work items handed to it. Objects that bind to the namespace of the thread
/// creating them (a libnftables context, a netlink socket) are created and used through <see cref="Run{T}"/>.
/// The test thread itself never changes namespace. Test-only helper: product code enters namespaces via Tether.Linux.
/// </summary>
public sealed partial class NsThread : IDisposable
{
    /// <summary>CLONE_NEWNET from linux/sched.h.</summary>
    const int CLONE_NEWNET = 0x40000000;

    readonly BlockingCollection<Action> work = new();
    readonly Thread thread;

    public NsThread(string nsPath)
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        thread = new Thread(() =>
        {
            try
            {
                using (var ns = File.OpenHandle(nsPath, FileMode.Open, FileAccess.Read))
                    if (setns(ns.DangerousGetHandle().ToInt32(), CLONE_NEWNET) != 0)
                        throw new IOException($"setns({nsPath}) failed: errno {Marshal.GetLastPInvokeError()}");
            }
            catch (Exception e)
            {
                ready.SetException(e);
                return;
            }
            ready.SetResult();
            foreach (var item in work.GetConsumingEnumerable()) item();
        }) { IsBackground = true, Name = "ns:" + Path.GetFileName(nsPath) };
        thread.Start();
        ready.Task.GetAwaiter().GetResult();
    }

    /// <summary>Runs <paramref name="f"/> on the namespace thread and returns its result (exceptions are rethrown here).</summary>
    public T Run<T>(Func<T> f)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        work.Add(() =>
        {
            try { tcs.SetResult(f()); }
            catch (Exception e) { tcs.SetException(e); }
        });
        return tcs.Task.GetAwaiter().GetResult();
    }

    public void Run(Action a) => Run(() => { a(); return 0; });

    /// <summary>One-shot: a fresh thread in <paramref name="nsPath"/> runs <paramref name="f"/>.</summary>
    public static T RunIn<T>(string nsPath, Func<T> f)
    {
        using var t = new NsThread(nsPath);
        return t.Run(f);
    }

    public void Dispose()
    {
        work.CompleteAdding();
        thread.Join();
        work.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
