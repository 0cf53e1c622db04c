using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Tether.Bench;

/// <summary>What one child process did: exit status, wall time, and its peak memory.</summary>
/// <param name="ExitCode">exit code, or 128 + signal number when it was killed by a signal</param>
/// <param name="Elapsed">wall time from just before posix_spawn to just after wait4 returned</param>
/// <param name="MaxRssKiB">ru_maxrss from wait4 (KiB): the largest resident set of the child and of any descendant it waited for</param>
public readonly record struct ChildResult(int ExitCode, TimeSpan Elapsed, long MaxRssKiB);

/// <summary>
/// Starts programs with posix_spawn(3) and reaps them with wait4(2), so every child's wall time and
/// ru_maxrss are its own. System.Diagnostics.Process is not used anywhere in the harness: it reaps its
/// children itself (no rusage) and adds threads and pipes to each start.
/// </summary>
public static unsafe partial class Spawn
{
    const string Libc = "libc.so.6";
    // fcntl.h (x86-64 / generic): O_RDONLY 0, O_WRONLY 1, O_CREAT 0100, O_TRUNC 01000.
    const int O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_TRUNC = 0x200;
    const int EINTR = 4;

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int posix_spawn(out int pid, string path, IntPtr fileActions, IntPtr attr, IntPtr* argv, IntPtr* envp);

    [LibraryImport(Libc)]
    private static partial int posix_spawn_file_actions_init(IntPtr fileActions);

    [LibraryImport(Libc)]
    private static partial int posix_spawn_file_actions_destroy(IntPtr fileActions);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int posix_spawn_file_actions_addopen(IntPtr fileActions, int fd, string path, int oflag, int mode);

    [LibraryImport(Libc)]
    private static partial int posix_spawn_file_actions_adddup2(IntPtr fileActions, int fd, int newfd);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int pipe2(int* fds, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int wait4(int pid, out int status, int options, Rusage* usage);

    /// <summary>struct rusage (sys/resource.h, x86-64): two struct timeval then 14 longs; ru_maxrss is the first long.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Rusage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NvCsw, NivCsw;
    }

    /// <summary>
    /// Runs <paramref name="argv"/> (argv[0] an absolute path) with environment <paramref name="env"/>,
    /// stdin from <paramref name="stdinPath"/> (or /dev/null), stdout and stderr to the given files, and waits for it.
    /// </summary>
    public static ChildResult Run(IReadOnlyList<string> argv, IReadOnlyList<string> env, string? stdinPath, string stdoutPath, string stderrPath)
        => Start(argv, env, stdinPath, stdoutPath, stderrPath, null, wait: true, out _);

    /// <summary>
    /// Starts <paramref name="argv"/> with fds 0 and 1 taken from <paramref name="dup2"/> (pipe ends), without waiting.
    /// Returns its pid.
    /// </summary>
    public static int StartWithPipes(IReadOnlyList<string> argv, IReadOnlyList<string> env, string stderrPath, (int Stdin, int Stdout) dup2)
    {
        Start(argv, env, null, "/dev/null", stderrPath, dup2, wait: false, out int pid);
        return pid;
    }

    /// <summary>Makes a pipe with O_CLOEXEC on both ends: (read end, write end).</summary>
    public static (int Read, int Write) Pipe()
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, 0x80000 /* O_CLOEXEC */) != 0) throw new InvalidOperationException($"pipe2 failed: errno {Marshal.GetLastPInvokeError()}");
        return (fds[0], fds[1]);
    }

    public static void Close(int fd) => close(fd);

    /// <summary>Reaps a child started with <see cref="StartWithPipes"/>.</summary>
    public static int Wait(int pid)
    {
        int rc, status;
        do rc = wait4(pid, out status, 0, null);
        while (rc < 0 && Marshal.GetLastPInvokeError() == EINTR);
        return (status >> 8) & 0xff;
    }

    static ChildResult Start(IReadOnlyList<string> argv, IReadOnlyList<string> env, string? stdinPath, string stdoutPath, string stderrPath,
        (int Stdin, int Stdout)? dup2, bool wait, out int pid)
    {
        var strings = new List<IntPtr>(argv.Count + env.Count);
        var fa = Marshal.AllocHGlobal(256); // posix_spawn_file_actions_t is 80 bytes on glibc x86-64
        try
        {
            var argvp = new IntPtr[argv.Count + 1];
            for (int i = 0; i < argv.Count; i++) strings.Add(argvp[i] = Marshal.StringToCoTaskMemUTF8(argv[i]));
            var envp = new IntPtr[env.Count + 1];
            for (int i = 0; i < env.Count; i++) strings.Add(envp[i] = Marshal.StringToCoTaskMemUTF8(env[i]));
            Check(posix_spawn_file_actions_init(fa), "posix_spawn_file_actions_init");
            try
            {
                if (dup2 is { } d)
                {
                    // dup2 clears O_CLOEXEC on the new descriptor, so only fds 0 and 1 reach the child.
                    Check(posix_spawn_file_actions_adddup2(fa, d.Stdin, 0), "adddup2 stdin");
                    Check(posix_spawn_file_actions_adddup2(fa, d.Stdout, 1), "adddup2 stdout");
                }
                else
                {
                    Check(posix_spawn_file_actions_addopen(fa, 0, stdinPath ?? "/dev/null", O_RDONLY, 0), "addopen stdin");
                    Check(posix_spawn_file_actions_addopen(fa, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0x1a4), "addopen stdout");
                }
                Check(posix_spawn_file_actions_addopen(fa, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0x1a4), "addopen stderr");
                int status, rc;
                Rusage ru;
                long start = Stopwatch.GetTimestamp();
                fixed (IntPtr* a = argvp)
                fixed (IntPtr* e = envp)
                    Check(posix_spawn(out pid, argv[0], fa, IntPtr.Zero, a, e), "posix_spawn " + argv[0]);
                if (!wait) return default;
                do rc = wait4(pid, out status, 0, &ru);
                while (rc < 0 && Marshal.GetLastPInvokeError() == EINTR);
                var elapsed = Stopwatch.GetElapsedTime(start);
                if (rc < 0) throw new InvalidOperationException($"wait4({pid}) failed: errno {Marshal.GetLastPInvokeError()}");
                int code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
                return new ChildResult(code, elapsed, ru.MaxRss);
            }
            finally { posix_spawn_file_actions_destroy(fa); }
        }
        finally
        {
            foreach (var p in strings) Marshal.FreeCoTaskMem(p);
            Marshal.FreeHGlobal(fa);
        }
    }

    static void Check(int error, string what)
    {
        if (error != 0) throw new InvalidOperationException($"{what} failed: errno {error}");
    }
}

/// <summary>
/// Client of bench/spawnd.c, the small process that starts every timed command so its ru_maxrss is the
/// command's own (see spawnd.c for why the harness cannot fork them itself). One request at a time.
/// </summary>
public sealed class SpawnServer : IDisposable
{
    readonly int pid;
    readonly FileStream requests, replies;
    readonly StreamReader reader;

    /// <summary>Compiles bench/spawnd.c with cc into <paramref name="workDir"/> and starts it.</summary>
    public SpawnServer(string source, string workDir)
    {
        var binary = Path.Combine(workDir, "spawnd");
        var log = Path.Combine(workDir, "spawnd.log");
        var cc = Spawn.Run(["/usr/bin/cc", "-O2", "-Wall", "-Werror", "-o", binary, source], Runner.BaseEnv, null, log, log);
        if (cc.ExitCode != 0) throw new InvalidOperationException($"cc {source} failed: {File.ReadAllText(log)}");
        var toServer = Spawn.Pipe();
        var fromServer = Spawn.Pipe();
        pid = Spawn.StartWithPipes([binary], Runner.BaseEnv, Path.Combine(workDir, "spawnd.err"), (toServer.Read, fromServer.Write));
        Spawn.Close(toServer.Read);
        Spawn.Close(fromServer.Write);
        requests = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(toServer.Write, true), FileAccess.Write, 0);
        replies = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fromServer.Read, true), FileAccess.Read, 0);
        reader = new StreamReader(replies, System.Text.Encoding.ASCII, false, 128);
    }

    /// <summary>
    /// Runs <paramref name="argv"/> (argv[0] absolute) through spawnd inside the network namespace at
    /// <paramref name="netns"/> ("" = spawnd's own, the harness's) and waits for it. Exit code 125: the namespace
    /// could not be entered and nothing was started.
    /// </summary>
    public ChildResult Run(string netns, IReadOnlyList<string> argv, IReadOnlyList<string> env, string? stdinPath, string stdoutPath, string stderrPath)
    {
        var body = new System.Text.StringBuilder();
        void Add(string s)
        {
            if (s.Contains('\0')) throw new ArgumentException("NUL in argument");
            body.Append(s).Append('\0');
        }
        Add(netns); Add(stdinPath ?? "/dev/null"); Add(stdoutPath); Add(stderrPath);
        Add(argv.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var a in argv) Add(a);
        Add(env.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var e in env) Add(e);
        var bytes = System.Text.Encoding.UTF8.GetBytes(body.ToString());
        var msg = new byte[4 + bytes.Length];
        BitConverter.TryWriteBytes(msg.AsSpan(0, 4), (uint)bytes.Length); // host order, as spawnd reads it
        bytes.CopyTo(msg, 4);
        requests.Write(msg);
        requests.Flush();
        var line = reader.ReadLine() ?? throw new InvalidOperationException("spawnd exited");
        var f = line.Split(' ');
        return new ChildResult(int.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture),
            TimeSpan.FromTicks(long.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture) / 100),
            long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    public void Dispose()
    {
        requests.Dispose(); // EOF ends spawnd
        Spawn.Wait(pid);
        reader.Dispose();
    }
}
