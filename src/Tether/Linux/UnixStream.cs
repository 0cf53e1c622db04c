using System.Runtime.InteropServices;

namespace Tether.Linux;

/// <summary>
/// One request and its answer over an AF_UNIX stream socket, on a blocking socket made through libc: the client side of
/// tetherd's API in every short-lived <c>tether</c> and <c>tether-cni</c> process. Not System.Net.Sockets: its first
/// use sets up the socket event engine (an epoll thread) and its tables, which cost those processes several
/// milliseconds before they send a byte (docs/PERFORMANCE.md, "Process start-up").
/// </summary>
public static unsafe class UnixStream
{
    // sys/socket.h, linux/un.h: struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
    const int AF_UNIX = 1, SOCK_STREAM = 1, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21, SunPathOffset = 2, SunPathSize = 108;
    const int ECONNREFUSED = 111;

    /// <summary>
    /// Connects to the socket at <paramref name="path"/>, writes <paramref name="request"/>, then reads until the peer
    /// closes the connection (an HTTP/1.0 exchange). Returns every byte read, or null when nobody listens there (no such
    /// file, the connection is refused: a socket file left by a process that died, or a path longer than sockaddr_un
    /// holds (107 bytes), where no socket can be bound). <paramref name="timeoutMs"/>
    /// bounds each read and write (SO_RCVTIMEO/SO_SNDTIMEO), not the whole exchange.
    /// </summary>
    /// <exception cref="UnauthorizedAccessException">The caller may not connect to the socket (EACCES, EPERM).</exception>
    /// <exception cref="IOException">Writing or reading failed or timed out.</exception>
    public static byte[]? Exchange(string path, ReadOnlySpan<byte> request, int timeoutMs)
    {
        int fd = Connect(path);
        if (fd < 0) return null;
        try
        {
            // struct timeval { long tv_sec; long tv_usec; }
            var timeout = stackalloc long[2] { timeoutMs / 1000, timeoutMs % 1000 * 1000 };
            Libc.setsockopt(fd, Libc.SOL_SOCKET, SO_RCVTIMEO, timeout, 16);
            Libc.setsockopt(fd, Libc.SOL_SOCKET, SO_SNDTIMEO, timeout, 16);

            fixed (byte* p = request)
                for (int sent = 0; sent < request.Length;)
                {
                    var n = Libc.write(fd, p + sent, (nuint)(request.Length - sent));
                    if (n < 0)
                    {
                        var errno = Marshal.GetLastPInvokeError();
                        if (errno == Libc.EINTR) continue;
                        throw Failure(path, "write to", errno);
                    }
                    sent += (int)n;
                }

            var answer = new byte[4096];
            int length = 0;
            while (true)
            {
                if (length == answer.Length) Array.Resize(ref answer, answer.Length * 2);
                nint n;
                fixed (byte* p = answer) n = Libc.read(fd, p + length, (nuint)(answer.Length - length));
                if (n == 0) break;
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR) continue;
                    throw Failure(path, "read from", errno);
                }
                length += (int)n;
            }
            return answer.AsSpan(0, length).ToArray();
        }
        finally { Libc.close(fd); }
    }

    /// <summary>
    /// The process at the other end of the connected AF_UNIX socket <paramref name="fd"/>, as the kernel recorded it when
    /// the peer connected (SO_PEERCRED, socket(7): struct ucred { pid_t pid; uid_t uid; gid_t gid; }).
    /// </summary>
    /// <exception cref="IOException">getsockopt failed (not a unix socket).</exception>
    public static int PeerPid(nint fd)
    {
        const int SO_PEERCRED = 17;
        var cred = stackalloc int[3];
        int length = 12;
        if (Libc.getsockopt((int)fd, Libc.SOL_SOCKET, SO_PEERCRED, cred, &length) != 0)
            throw Libc.IoError("getsockopt(SO_PEERCRED)", Marshal.GetLastPInvokeError());
        return cred[0];
    }

    /// <summary>
    /// The process listening at <paramref name="path"/> as this process's pid namespace numbers it (one connect, nothing
    /// sent; SO_PEERCRED of a connected client gives the credentials the listener had at listen(), socket(7)): 0 when it
    /// lives in a pid namespace this process cannot see, null when nobody listens there. A pid the server reports of
    /// itself is in its own pid namespace, and may name another process (or init) here.
    /// </summary>
    /// <exception cref="UnauthorizedAccessException">As <see cref="Exchange"/>.</exception>
    public static int? ListenerPid(string path)
    {
        int fd = Connect(path);
        if (fd < 0) return null;
        try { return PeerPid(fd); }
        finally { Libc.close(fd); }
    }

    /// <summary>True when something accepts connections at <paramref name="path"/> (one connect, nothing sent).</summary>
    /// <exception cref="UnauthorizedAccessException">As <see cref="Exchange"/>.</exception>
    public static bool Listening(string path)
    {
        int fd = Connect(path);
        if (fd < 0) return false;
        Libc.close(fd);
        return true;
    }

    /// <summary>The longest path a unix socket can have (linux/un.h: sun_path[108], NUL-terminated here).</summary>
    public const int MaxPathBytes = SunPathSize - 1;

    /// <summary>A connected socket, or -1 when nobody listens at the path (nor can: a path too long to bind).</summary>
    static int Connect(string path)
    {
        var address = stackalloc byte[SunPathOffset + SunPathSize];
        new Span<byte>(address, SunPathOffset + SunPathSize).Clear();
        *(ushort*)address = AF_UNIX;
        var pathBytes = System.Text.Encoding.UTF8.GetBytes(path);
        if (pathBytes.Length > MaxPathBytes) return -1;
        pathBytes.CopyTo(new Span<byte>(address + SunPathOffset, SunPathSize));

        int fd = Libc.socket(AF_UNIX, SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0) throw Libc.IoError("socket(AF_UNIX)", Marshal.GetLastPInvokeError());
        if (Libc.connect(fd, address, SunPathOffset + pathBytes.Length + 1) == 0) return fd;
        var errno = Marshal.GetLastPInvokeError();
        Libc.close(fd);
        if (errno is Libc.ENOENT or ECONNREFUSED) return -1;
        if (errno is Libc.EACCES or Libc.EPERM) throw new UnauthorizedAccessException($"connect to {path}: {Libc.StrError(errno)}");
        throw Libc.IoError($"connect to {path}", errno);
    }

    static IOException Failure(string path, string what, int errno) =>
        errno == Libc.EAGAIN ? new IOException($"{what} {path}: timed out") : Libc.IoError($"{what} {path}", errno);
}
