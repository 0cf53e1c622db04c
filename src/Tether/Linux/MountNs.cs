using System.Runtime.InteropServices;
using System.Text;

namespace Tether.Linux;

/// <summary>
/// The private file view of a process Tether runs in a sandbox: its own mount namespace, in which the sandbox's
/// resolv.conf and hosts files are bind-mounted over /etc/resolv.conf and /etc/hosts, and its own UTS namespace with the
/// sandbox's host name (what a container runtime does for <c>docker run</c>).
/// </summary>
public static unsafe class MountNs
{
    /// <summary>
    /// On the calling thread (which then execs): unshare(CLONE_NEWNS | CLONE_NEWUTS), mount --make-rprivate / (so nothing
    /// leaks back to the host's mounts), bind-mount each (source, target) pair whose target exists (a host without
    /// /etc/resolv.conf, such as a minimal initramfs, keeps having none: creating it would change the host's files),
    /// sethostname(<paramref name="hostname"/>).
    /// Throws <see cref="IOException"/> naming the failing step and path.
    /// </summary>
    public static void EnterPrivate(IReadOnlyList<(string Source, string Target)> binds, string? hostname)
    {
        ArgumentNullException.ThrowIfNull(binds);
        var flags = Libc.CLONE_NEWNS | (hostname is null ? 0 : Libc.CLONE_NEWUTS);
        if (Libc.unshare(flags) != 0) throw Libc.IoError("unshare(CLONE_NEWNS|CLONE_NEWUTS)", Marshal.GetLastPInvokeError());
        if (Libc.mount(null, "/", null, Libc.MS_REC | Libc.MS_PRIVATE, 0) != 0)
            throw Libc.IoError("make / private (mount --make-rprivate /)", Marshal.GetLastPInvokeError());
        foreach (var (source, target) in binds)
            if (File.Exists(target) && Libc.mount(source, target, null, Libc.MS_BIND, 0) != 0)
                throw Libc.IoError($"bind mount \"{source}\" on \"{target}\"", Marshal.GetLastPInvokeError());
        if (hostname is not null)
        {
            var bytes = Encoding.ASCII.GetBytes(hostname);
            fixed (byte* p = bytes)
                if (Libc.sethostname(p, (nuint)bytes.Length) != 0)
                    throw Libc.IoError($"sethostname \"{hostname}\"", Marshal.GetLastPInvokeError());
        }
    }
}

/// <summary>Process-level setup for a daemon started in the background.</summary>
public static unsafe class ProcessSetup
{
    /// <summary>setsid(), stdin from /dev/null, stdout and stderr appended to <paramref name="logFile"/> (created 0600).</summary>
    public static void Detach(string logFile)
    {
        Libc.setsid();   // fails (EPERM) when already a group leader: fine
        int log = Libc.open(logFile, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_APPEND | Libc.O_CLOEXEC, 0x180 /* 0600 */);
        if (log < 0) throw Libc.IoError($"open log file \"{logFile}\"", Marshal.GetLastPInvokeError());
        int nul = Libc.open("/dev/null", Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (nul < 0) throw Libc.IoError("open /dev/null", Marshal.GetLastPInvokeError());
        if (Libc.dup2(nul, 0) < 0 || Libc.dup2(log, 1) < 0 || Libc.dup2(log, 2) < 0)
            throw Libc.IoError("redirect standard streams", Marshal.GetLastPInvokeError());
        Libc.close(log);
        Libc.close(nul);
    }
}
