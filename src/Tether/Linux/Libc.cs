using System.Runtime.InteropServices;

namespace Tether.Linux;

/// <summary>
/// The libc entry points Tether uses (glibc, x86_64 and arm64 Linux). Everything that calls libc lives in
/// this folder; callers read the error with <see cref="Marshal.GetLastPInvokeError"/>.
/// Constants come from the named headers (asm-generic and x86_64/arm64 agree on all of them).
/// </summary>
internal static unsafe partial class Libc
{
    const string Lib = "libc";

    // errno values (asm-generic/errno-base.h, asm-generic/errno.h).
    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EBADF = 9, EAGAIN = 11, EACCES = 13, EBUSY = 16,
        EEXIST = 17, ENODEV = 19, ENOTDIR = 20, EINVAL = 22, ENOTTY = 25, ENOSPC = 28, EPIPE = 32, EMSGSIZE = 90, EOPNOTSUPP = 95,
        EADDRNOTAVAIL = 99;

    // fcntl.h
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100,
        O_TRUNC = 0x200, O_APPEND = 0x400, O_CLOEXEC = 0x80000;
    public const int AT_FDCWD = -100;

    // sched.h
    public const int CLONE_NEWNET = 0x40000000, CLONE_NEWNS = 0x00020000, CLONE_NEWUTS = 0x04000000;

    // sys/mount.h
    public const ulong MS_BIND = 0x1000, MS_REC = 0x4000, MS_PRIVATE = 0x40000;
    public const int MNT_DETACH = 2;

    // sys/socket.h, linux/socket.h
    public const int AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0x80000, SOL_SOCKET = 1, SO_SNDBUF = 7, SO_RCVBUF = 8;
    public const int MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40;

    // sys/epoll.h, sys/eventfd.h
    public const int EPOLL_CLOEXEC = 0x80000, EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2;
    public const uint EPOLLIN = 0x001;
    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;

    // linux/nsfs.h: NS_GET_NSTYPE = _IO(0xb7, 0x3)
    public const ulong NS_GET_NSTYPE = 0xb703;

    // linux/stat.h
    public const uint STATX_INO = 0x100;
    public const int StatxSize = 256, StatxInoOffset = 32, StatxDevMajorOffset = 136, StatxDevMinorOffset = 140;

    // signal.h
    public const int SIGKILL = 9, SIGSTOP = 19, SIG_SETMASK = 2;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int bind(int fd, void* addr, int addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int connect(int fd, void* addr, int addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getsockname(int fd, void* addr, int* addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int optname, void* optval, int* optlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int optname, void* optval, int optlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint sendto(int fd, void* buf, nuint len, int flags, void* addr, int addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint recvfrom(int fd, void* buf, nuint len, int flags, void* addr, int* addrlen);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, void* ev);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int epoll_wait(int epfd, void* events, int maxevents, int timeout);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint read(int fd, void* buf, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint write(int fd, void* buf, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ioctl(int fd, ulong request);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlink(string path);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint readlink(byte* path, byte* buf, nint size);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial byte* getenv(string name);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int execv(byte* path, byte** argv);

    /// <summary>close_range(2) flag (linux/close_range.h): mark the descriptors close-on-exec instead of closing them.</summary>
    public const uint CLOSE_RANGE_CLOEXEC = 1u << 2;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close_range(uint first, uint last, uint flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string path, int flags, uint mask, void* buf);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setns(int fd, int nstype);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int unshare(int flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string? source, string target, string? fstype, ulong flags, nint data);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int kill(int pid, int sig);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setsid();

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int dup2(int oldfd, int newfd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int execvp(byte* file, byte** argv);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint signal(int signum, nint handler);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int pthread_sigmask(int how, void* set, void* oldset);

    [LibraryImport(Lib)]
    public static partial int gettid();

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int sethostname(byte* name, nuint len);

    /// <summary>The text of an errno value, as strerror(3) gives it (e.g. "File exists").</summary>
    public static string StrError(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>An <see cref="IOException"/> (or the matching subclass) for a failed call, with HResult = errno.</summary>
    public static IOException IoError(string what, int errno) => errno switch
    {
        ENOENT => new FileNotFoundException($"{what}: {StrError(errno)}") { HResult = errno },
        _ => new IOException($"{what}: {StrError(errno)}", errno),
    };
}
