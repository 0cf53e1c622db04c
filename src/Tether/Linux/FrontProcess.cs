using System.Runtime.InteropServices;
using System.Text;

namespace Tether.Linux;

/// <summary>
/// What the thin fronts (<c>tether</c>, <c>tether-cni</c>) do besides their exchange with tetherd, through libc and
/// nothing else: a front is a process start on the hot path, and what it touches (System.Console's terminal set-up,
/// the environment copied into a dictionary) is what it costs (docs/PERFORMANCE.md, "Process start-up").
/// </summary>
public static unsafe class FrontProcess
{
    /// <summary>A variable through libc's getenv, null when unset or empty: Environment.GetEnvironmentVariable first
    /// copies the whole environment into a dictionary.</summary>
    public static string? Env(string name)
    {
        var p = Libc.getenv(name);
        return p is null || *p == 0 ? null : Marshal.PtrToStringUTF8((nint)p);
    }

    /// <summary>Writes all of <paramref name="data"/> to the file descriptor. Returns 0, or the errno of the write that
    /// failed; EPIPE (the reader is gone) counts as written, as .NET's console writer takes it.</summary>
    public static int WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
            for (var done = 0; done < data.Length;)
            {
                var n = (int)Libc.write(fd, p + done, (nuint)(data.Length - done));
                if (n < 0 && Marshal.GetLastPInvokeError() is var errno and not Libc.EPIPE)
                {
                    if (errno == Libc.EINTR) continue;
                    return errno;
                }
                if (n <= 0) return 0;
                done += n;
            }
        return 0;
    }

    /// <summary>Writes a line of text (UTF-8 and "\n") to the file descriptor.</summary>
    public static int WriteLine(int fd, string text) => WriteAll(fd, Encoding.UTF8.GetBytes(text + "\n"));

    /// <summary>Reads a file descriptor to its end.</summary>
    public static byte[] ReadAll(int fd)
    {
        var buffer = new byte[8192];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            int n;
            fixed (byte* p = buffer) n = (int)Libc.read(fd, p + length, (nuint)(buffer.Length - length));
            if (n < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR) continue;
            if (n <= 0) break;
            length += n;
        }
        return buffer.AsSpan(0, length).ToArray();
    }

    /// <summary>The contents of the file at <paramref name="path"/>, or null when it cannot be opened;
    /// <paramref name="missing"/> then says whether it does not exist (ENOENT).</summary>
    public static byte[]? ReadFile(string path, out bool missing)
    {
        var fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        missing = fd < 0 && Marshal.GetLastPInvokeError() == Libc.ENOENT;
        if (fd < 0) return null;
        try { return ReadAll(fd); }
        finally { Libc.close(fd); }
    }

    /// <summary>The path of <paramref name="name"/> in this binary's directory, links resolved (/proc/self/exe), so that a
    /// link to a front elsewhere (a runtime's plugin directory, /usr/local/bin) finds the binaries built beside it.</summary>
    public static string Beside(string name)
    {
        var buf = stackalloc byte[4096];
        var self = "/proc/self/exe\0"u8;
        nint n;
        fixed (byte* p = self) n = Libc.readlink(p, buf, 4096);
        var path = n > 0 ? Encoding.UTF8.GetString(buf, (int)n) : "";
        return path[..(path.LastIndexOf('/') + 1)] + name;
    }

    /// <summary>Marks every descriptor above 2 close-on-exec (close_range(2), Linux 5.11): the programs this process starts
    /// from now on get none of the files its caller left open (a shell's <c>3&gt;&amp;1</c> kept open by a daemon would keep
    /// the caller's pipe from ever ending). Best effort: on an older kernel nothing changes.</summary>
    public static void KeepDescriptorsFromChildren() => Libc.close_range(3, uint.MaxValue, Libc.CLOSE_RANGE_CLOEXEC);

    /// <summary>Replaces this process with <paramref name="path"/> (argv[0] the path, then <paramref name="args"/>), the
    /// environment and file descriptors unchanged (execv(3)). Returns only when that fails, with errno.</summary>
    public static int Exec(string path, IReadOnlyList<string> args)
    {
        var strings = new byte[args.Count + 1][];
        strings[0] = Encoding.UTF8.GetBytes(path + "\0");
        for (var i = 0; i < args.Count; i++) strings[i + 1] = Encoding.UTF8.GetBytes(args[i] + "\0");
        var handles = new GCHandle[strings.Length];
        var argv = stackalloc byte*[strings.Length + 1];
        try
        {
            for (var i = 0; i < strings.Length; i++)
            {
                handles[i] = GCHandle.Alloc(strings[i], GCHandleType.Pinned);
                argv[i] = (byte*)handles[i].AddrOfPinnedObject();
            }
            argv[strings.Length] = null;
            Libc.execv(argv[0], argv);
            return Marshal.GetLastPInvokeError();
        }
        finally
        {
            foreach (var h in handles) if (h.IsAllocated) h.Free();
        }
    }
}
