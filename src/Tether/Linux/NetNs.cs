using System.Buffers.Binary;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Tether.Linux;

/// <summary>
/// Network namespaces named by a path: a file on which the namespace's nsfs inode is bind-mounted (what
/// <c>ip netns add</c> does under /run/netns, here under any directory). Namespaces belong to threads: code runs inside one
/// only on a worker thread of this class that entered it (<see cref="Run{T}"/>), never on the caller's or a pool thread.
/// </summary>
public static unsafe class NetNs
{
    /// <summary>
    /// Makes a new network namespace and bind-mounts it at <paramref name="path"/> (<c>ip netns add</c>): creates the parent
    /// directories and an empty file, then on a worker thread calls unshare(CLONE_NEWNET) and mounts
    /// /proc/thread-self/ns/net onto the file. The namespace has only a down loopback. Throws <see cref="IOException"/> naming the
    /// path if it already exists; on any failure the file is removed again.
    /// </summary>
    public static void Create(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x124 /* 0444 */);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EEXIST) throw new IOException($"create network namespace \"{path}\": the path already exists", errno);
            throw Libc.IoError($"create network namespace \"{path}\"", errno);
        }
        Libc.close(fd);
        try
        {
            OnWorker(() =>
            {
                if (Libc.unshare(Libc.CLONE_NEWNET) != 0)
                    throw Libc.IoError($"create network namespace \"{path}\": unshare(CLONE_NEWNET)", Marshal.GetLastPInvokeError());
                if (Libc.mount("/proc/thread-self/ns/net", path, "none", Libc.MS_BIND, 0) != 0)
                    throw Libc.IoError($"create network namespace \"{path}\": bind mount", Marshal.GetLastPInvokeError());
                return 0;
            });
        }
        catch
        {
            Libc.umount2(path, Libc.MNT_DETACH);
            Libc.unlink(path);
            throw;
        }
    }

    /// <summary>
    /// Bind-mounts the calling thread's own network namespace (/proc/thread-self/ns/net) at <paramref name="path"/>, so the
    /// namespace Tether runs in can be named like a sandbox (docker's <c>--network host</c>). Nothing in the namespace
    /// changes; <see cref="Delete"/> on the path only unmounts it. Throws <see cref="IOException"/> naming the path if it
    /// already exists; on failure the file is removed again.
    /// </summary>
    public static void BindCurrent(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x124 /* 0444 */);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EEXIST) throw new IOException($"bind network namespace at \"{path}\": the path already exists", errno);
            throw Libc.IoError($"bind network namespace at \"{path}\"", errno);
        }
        Libc.close(fd);
        if (Libc.mount("/proc/thread-self/ns/net", path, "none", Libc.MS_BIND, 0) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Libc.unlink(path);
            throw Libc.IoError($"bind network namespace at \"{path}\"", errno);
        }
    }

    /// <summary>
    /// A process and all its descendants that are alive now (parents from /proc/PID/stat; zombies, state Z or X, are not
    /// alive), sorted; empty when <paramref name="pid"/> is gone or a zombie. One scan of /proc.
    /// </summary>
    public static IReadOnlyList<int> ProcessTree(int pid)
    {
        var children = new Dictionary<int, List<int>>();
        var zombies = new HashSet<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int p)) continue;
            string stat;
            try { stat = File.ReadAllText($"/proc/{p}/stat"); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so read after the last ')'.
            var rest = stat.AsSpan(stat.LastIndexOf(')') + 2);
            var fields = rest.ToString().Split(' ', 3);
            if (fields.Length >= 2 && fields[0] is "Z" or "X") { zombies.Add(p); continue; }   // exited, not yet reaped: not alive
            if (fields.Length >= 2 && int.TryParse(fields[1], out int ppid))
            {
                if (!children.TryGetValue(ppid, out var list)) children[ppid] = list = [];
                list.Add(p);
            }
        }
        if (!Directory.Exists($"/proc/{pid}") || zombies.Contains(pid)) return [];
        var result = new List<int>();
        var todo = new Stack<int>([pid]);
        while (todo.TryPop(out var p))
        {
            result.Add(p);
            foreach (var c in children.GetValueOrDefault(p) ?? []) todo.Push(c);
        }
        result.Sort();
        return result;
    }

    /// <summary>
    /// Removes the namespace at <paramref name="path"/> (<c>ip netns del</c>): umount2(MNT_DETACH) and unlink. The namespace
    /// itself lives on while a process or socket still uses it. A missing path, or a file that is not a mount, is success.
    /// </summary>
    public static void Delete(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Libc.umount2(path, Libc.MNT_DETACH) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // EINVAL: not a mount point; ENOENT: gone already.
            if (errno != Libc.EINVAL && errno != Libc.ENOENT)
                throw Libc.IoError($"delete network namespace \"{path}\": unmount", errno);
        }
        if (Libc.unlink(path) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Libc.ENOENT) throw Libc.IoError($"delete network namespace \"{path}\": unlink", errno);
        }
    }

    /// <summary>True when <paramref name="path"/> exists and is a network namespace (nsfs, ioctl NS_GET_NSTYPE = CLONE_NEWNET).</summary>
    public static bool Exists(string path)
    {
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) return false;
        try { return Libc.ioctl(fd, Libc.NS_GET_NSTYPE) == Libc.CLONE_NEWNET; }
        finally { Libc.close(fd); }
    }

    /// <summary>Opens the namespace file (O_RDONLY|O_CLOEXEC), e.g. for setns or IFLA_NET_NS_FD. Throws <see cref="IOException"/> naming the path.</summary>
    public static SafeFileHandle Open(string path)
    {
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw Libc.IoError($"open network namespace \"{path}\"", Marshal.GetLastPInvokeError());
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// Runs <paramref name="fn"/> inside the namespace (<c>ip netns exec</c> for code): on a worker thread that first calls
    /// setns(fd, CLONE_NEWNET) and afterwards goes back (<see cref="OnWorker{T}"/>); waits for it and rethrows what
    /// <paramref name="fn"/> threw. Sockets made
    /// inside stay in the namespace after the thread ends. Continuations of async code inside <paramref name="fn"/> would run
    /// elsewhere: keep it synchronous.
    /// </summary>
    public static T Run<T>(string path, Func<T> fn)
    {
        ArgumentNullException.ThrowIfNull(fn);
        using var ns = Open(path);
        return OnWorker(() =>
        {
            Enter(ns, path);
            return fn();
        });
    }

    /// <summary>Runs <paramref name="fn"/> inside the namespace on a worker thread; see <see cref="Run{T}"/>.</summary>
    public static void Run(string path, Action fn)
    {
        ArgumentNullException.ThrowIfNull(fn);
        Run(path, () => { fn(); return 0; });
    }

    /// <summary>The namespace's inode number (st_ino of the nsfs file; what <c>ls -iL /proc/PID/ns/net</c> shows).</summary>
    /// <remarks>Works on any namespace file (/proc/PID/ns/mnt as well): nsfs gives every namespace its own inode.</remarks>
    public static ulong Inode(string path) => StatxId(path, out _) ?? throw Libc.IoError($"stat namespace \"{path}\"", Marshal.GetLastPInvokeError());

    /// <summary>
    /// Processes in the namespace (<c>ip netns pids</c>): every /proc/PID whose ns/net is the namespace at
    /// <paramref name="path"/>. Processes that exit or cannot be inspected while scanning are left out.
    /// </summary>
    public static IReadOnlyList<int> Pids(string path)
    {
        if (StatxId(path, out _) is null) throw Libc.IoError($"stat namespace \"{path}\"", Marshal.GetLastPInvokeError());
        return Pids([path])[path];
    }

    /// <summary>
    /// PIDs of the processes inside each of several namespaces, with one scan of /proc (<c>ip netns pids</c> for
    /// many at once): cost O(processes + paths), not O(processes x paths). A path that is not a namespace (gone)
    /// maps to an empty list. Each list is sorted.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<int>> Pids(IReadOnlyCollection<string> paths)
    {
        // Every namespace file is on the one nsfs, so a namespace is known by its inode; a path on another device is a
        // plain file (a namespace gone, its bind mount undone), not a namespace.
        var nsfs = StatxId("/proc/self/ns/net", out ulong nsfsDev) is not null ? nsfsDev : throw Libc.IoError("stat /proc/self/ns/net", Marshal.GetLastPInvokeError());
        var byIno = new Dictionary<ulong, List<int>>();
        var result = new Dictionary<string, IReadOnlyList<int>>();
        foreach (var path in paths)
        {
            if (StatxId(path, out ulong dev) is ulong ino && dev == nsfs)
            {
                if (!byIno.TryGetValue(ino, out var list)) byIno[ino] = list = [];
                result[path] = list;
            }
            else result[path] = [];
        }
        if (byIno.Count == 0) return result;
        // readlink of /proc/PID/ns/net ("net:[INODE]", proc(5)) names the namespace without looking it up: a stat
        // of that path costs twice as much (it resolves the link to an nsfs inode), once per process on the machine.
        Span<byte> procPath = stackalloc byte[32];
        Span<byte> target = stackalloc byte[64];
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (!int.TryParse(name, out int pid)) continue;
            if (NetInodeOf(pid, procPath, target) is ulong i && byIno.TryGetValue(i, out var list)) list.Add(pid);
        }
        foreach (var list in byIno.Values) list.Sort();
        return result;
    }

    /// <summary>Inode of process <paramref name="pid"/>'s network namespace from the link /proc/PID/ns/net, or null when
    /// the process is gone or cannot be inspected.</summary>
    static ulong? NetInodeOf(int pid, Span<byte> path, Span<byte> target)
    {
        if (!System.Text.Unicode.Utf8.TryWrite(path, System.Globalization.CultureInfo.InvariantCulture, $"/proc/{pid}/ns/net\0", out _)) return null;
        nint n;
        fixed (byte* p = path)
        fixed (byte* t = target)
            n = Libc.readlink(p, t, target.Length);
        if (n <= 0) return null;
        var link = target[..(int)n];
        return link.StartsWith("net:["u8) && link[^1] == (byte)']' && ulong.TryParse(link[5..^1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ino) ? ino : null;
    }

    /// <summary>
    /// Replaces the current process with <paramref name="argv"/> run inside the namespace (<c>ip netns exec NS argv...</c>):
    /// setns on the calling thread, setsid() when <paramref name="newSession"/>, and when <paramref name="logFile"/> is given,
    /// stdout and stderr appended to it (created 0644) and stdin from /dev/null; signal dispositions and the signal mask are
    /// reset to defaults; then execvp. Never returns on success; throws <see cref="IOException"/> when a step fails.
    /// </summary>
    /// <param name="prepare">Runs on the calling thread after setns and before exec (e.g. <see cref="MountNs.EnterPrivate"/>).</param>
    public static void ExecInside(string path, IReadOnlyList<string> argv, string? logFile, bool newSession, Action? prepare = null)
    {
        ArgumentNullException.ThrowIfNull(argv);
        if (argv.Count == 0) throw new ArgumentException("argv is empty", nameof(argv));
        using var ns = Open(path);
        Enter(ns, path);
        prepare?.Invoke();
        if (newSession && Libc.setsid() < 0) throw Libc.IoError("setsid", Marshal.GetLastPInvokeError());
        if (logFile != null)
        {
            int log = Libc.open(logFile, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_APPEND | Libc.O_CLOEXEC, 0x1a4 /* 0644 */);
            if (log < 0) throw Libc.IoError($"open log file \"{logFile}\"", Marshal.GetLastPInvokeError());
            int nul = Libc.open("/dev/null", Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
            if (nul < 0) throw Libc.IoError("open /dev/null", Marshal.GetLastPInvokeError());
            // dup2 clears FD_CLOEXEC on the new descriptors, so 0, 1 and 2 survive exec.
            if (Libc.dup2(nul, 0) < 0 || Libc.dup2(log, 1) < 0 || Libc.dup2(log, 2) < 0)
                throw Libc.IoError("redirect standard streams", Marshal.GetLastPInvokeError());
            Libc.close(log);
            Libc.close(nul);
        }

        // Ignored signals (the runtime ignores SIGPIPE) and the signal mask survive exec: give the program defaults.
        for (int sig = 1; sig < 32; sig++)
            if (sig != Libc.SIGKILL && sig != Libc.SIGSTOP) Libc.signal(sig, 0 /* SIG_DFL */);
        byte* emptySet = stackalloc byte[128]; // sigset_t (glibc: 1024 bits)
        new Span<byte>(emptySet, 128).Clear();
        Libc.pthread_sigmask(Libc.SIG_SETMASK, emptySet, null);

        var strings = new nint[argv.Count];
        var ptrs = new nint[argv.Count + 1];
        try
        {
            for (int i = 0; i < argv.Count; i++) ptrs[i] = strings[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
            fixed (nint* p = ptrs)
                Libc.execvp((byte*)p[0], (byte**)p);
            throw Libc.IoError($"exec \"{argv[0]}\"", Marshal.GetLastPInvokeError());
        }
        finally
        {
            foreach (var s in strings) if (s != 0) Marshal.FreeCoTaskMem(s);
        }
    }

    static void Enter(SafeFileHandle ns, string path)
    {
        bool added = false;
        try
        {
            ns.DangerousAddRef(ref added);
            if (Libc.setns((int)ns.DangerousGetHandle(), Libc.CLONE_NEWNET) != 0)
                throw Libc.IoError($"enter network namespace \"{path}\"", Marshal.GetLastPInvokeError());
        }
        finally
        {
            if (added) ns.DangerousRelease();
        }
    }

    /// <summary>
    /// Runs <paramref name="fn"/> on a namespace worker and waits; rethrows its exception with the original stack. A worker
    /// is an OS thread that runs nothing but such jobs: the job moves it into a namespace (setns, unshare), and afterwards
    /// it goes back to the process's own network namespace (/proc/self/ns/net: the main thread's) and waits for the next
    /// job. Reusing workers saves starting a thread per namespace operation (several per create, each a few hundred
    /// microseconds here, with the starter spinning meanwhile). A worker that cannot go back ends instead of waiting: parked
    /// in a sandbox's namespace it would keep that namespace, and its veth, alive. A job that needs a worker itself gets
    /// another one.
    /// </summary>
    internal static T OnWorker<T>(Func<T> fn)
    {
        T result = default!;
        ExceptionDispatchInfo? error = null;
        using var done = new ManualResetEventSlim(false, spinCount: 0);
        NamespaceWorker.Take().Run(() =>
        {
            try { result = fn(); }
            catch (Exception e) { error = ExceptionDispatchInfo.Capture(e); }
        }, done);
        done.Wait();
        error?.Throw();
        return result;
    }

    /// <summary>One reusable thread for namespace jobs (<see cref="OnWorker{T}"/>).</summary>
    sealed class NamespaceWorker
    {
        const int MaxIdle = 4;
        static readonly System.Collections.Concurrent.ConcurrentStack<NamespaceWorker> Idle = new();
        static readonly Lazy<SafeFileHandle> Home = new(() => Open("/proc/self/ns/net"));

        readonly ManualResetEventSlim posted = new(false, spinCount: 0);
        Action? job;
        ManualResetEventSlim? done;

        public static NamespaceWorker Take()
        {
            if (Idle.TryPop(out var w)) return w;
            _ = Home.Value;   // opened on a thread in the process's namespace, before any worker moves
            w = new NamespaceWorker();
            new Thread(w.Loop) { IsBackground = true, Name = "netns worker" }.Start();
            return w;
        }

        public void Run(Action work, ManualResetEventSlim finished)
        {
            (job, done) = (work, finished);
            posted.Set();
        }

        void Loop()
        {
            while (true)
            {
                posted.Wait();
                posted.Reset();
                var (work, finished) = (job!, done!);
                (job, done) = (null, null);
                work();
                bool home;
                try { Enter(Home.Value, "/proc/self/ns/net"); home = true; }
                catch (IOException) { home = false; }
                // Back on the idle stack before the caller wakes: its next job then finds this worker rather than
                // starting another. (The next job's Run only sets fields this loop has already copied.)
                var keep = home && Idle.Count < MaxIdle;
                if (keep) Idle.Push(this);
                finished.Set();
                if (!keep) return;
            }
        }
    }

    /// <summary>statx(path): inode and device (makedev of major/minor as the kernel encodes st_dev), or null with errno set.</summary>
    static ulong? StatxId(string path, out ulong dev)
    {
        byte* buf = stackalloc byte[Libc.StatxSize];
        dev = 0;
        if (Libc.statx(Libc.AT_FDCWD, path, 0, Libc.STATX_INO, buf) != 0) return null;
        var s = new ReadOnlySpan<byte>(buf, Libc.StatxSize);
        dev = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(s[Libc.StatxDevMajorOffset..]) << 32)
              | BinaryPrimitives.ReadUInt32LittleEndian(s[Libc.StatxDevMinorOffset..]);
        return BinaryPrimitives.ReadUInt64LittleEndian(s[Libc.StatxInoOffset..]);
    }
}

/// <summary>Process signals.</summary>
public static class Signals
{
    /// <summary>kill(pid, signal) (<c>kill -SIGNAL PID</c>). False when no such process (ESRCH); other errors throw <see cref="IOException"/>.</summary>
    public static bool Kill(int pid, int signal)
    {
        if (pid <= 0) throw new ArgumentOutOfRangeException(nameof(pid), pid, "pid must be positive (no process groups)");
        if (Libc.kill(pid, signal) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == Libc.ESRCH) return false;
        throw Libc.IoError($"kill({pid}, {signal})", errno);
    }
}

/// <summary>
/// Kernel parameters under /proc/sys (<c>sysctl</c>). Keys use dots ("net.ipv4.ip_forward"); a dot inside an interface name
/// is written as '/' ("net.ipv4.conf.eth0/100.forwarding"), or the whole key may be given with '/' separators, as sysctl(8)
/// accepts. /proc/sys/net is the namespace of the thread that opens the file: call these inside <see cref="NetNs.Run{T}"/>
/// for a namespace other than the caller's.
/// </summary>
public static unsafe class Sysctl
{
    /// <summary>Reads the value (<c>sysctl -n KEY</c>), trailing newline removed. Errors (<see cref="IOException"/>) name the key.</summary>
    public static string Read(string key)
    {
        var path = PathOf(key);
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw Error("read", key, Marshal.GetLastPInvokeError());
        try
        {
            var buf = new byte[4096];
            int total = 0;
            while (true)
            {
                if (total == buf.Length) Array.Resize(ref buf, buf.Length * 2);
                nint n;
                fixed (byte* p = &buf[total]) n = Libc.read(fd, p, (nuint)(buf.Length - total));
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR) continue;
                    throw Error("read", key, errno);
                }
                if (n == 0) break;
                total += (int)n;
            }
            return Encoding.UTF8.GetString(buf, 0, total).TrimEnd('\n');
        }
        finally { Libc.close(fd); }
    }

    /// <summary>Writes the value (<c>sysctl -w KEY=VALUE</c>) in one write(2). Errors (<see cref="IOException"/>) name the key and value.</summary>
    public static void Write(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var path = PathOf(key);
        int fd = Libc.open(path, Libc.O_WRONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw Error("write", key, Marshal.GetLastPInvokeError(), value);
        try
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            nint n;
            do
            {
                fixed (byte* p = bytes) n = Libc.write(fd, p, (nuint)bytes.Length);
            } while (n < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR);
            if (n < 0) throw Error("write", key, Marshal.GetLastPInvokeError(), value);
            if (n != bytes.Length) throw new IOException($"write sysctl {key}={value}: short write ({n} of {bytes.Length} bytes)");
        }
        finally { Libc.close(fd); }
    }

    /// <summary>The /proc/sys file of <paramref name="key"/>.</summary>
    public static string PathOf(string key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        string[] parts;
        int slash = key.IndexOf('/'), dot = key.IndexOf('.');
        if (slash >= 0 && (dot < 0 || slash < dot)) parts = key.Split('/');          // path form: dots are literal
        else parts = key.Split('.').Select(p => p.Replace('/', '.')).ToArray();    // dotted form: '/' stands for '.'
        foreach (var p in parts)
            if (p.Length == 0 || p == "." || p == "..") throw new ArgumentException($"sysctl key \"{key}\" is not valid", nameof(key));
        return "/proc/sys/" + string.Join('/', parts);
    }

    static IOException Error(string op, string key, int errno, string? value = null)
    {
        var what = value == null ? $"{op} sysctl {key}" : $"{op} sysctl {key}={value}";
        return errno == Libc.ENOENT
            ? new FileNotFoundException($"{what}: no such key ({PathOf(key)} does not exist)") { HResult = errno }
            : new IOException($"{what}: {Libc.StrError(errno)}", errno);
    }
}
