namespace Tether.Linux;

/// <summary>
/// The kernel refused a netlink request. <see cref="Errno"/> is the positive errno (e.g. 17 = EEXIST);
/// the message names the operation and the object, then strerror's text and the kernel's extended-ack text
/// when it gave one, e.g. <c>create bridge "tb-1a2b": File exists</c>.
/// </summary>
public sealed class NetlinkException : Exception
{
    /// <summary>Positive errno value (asm-generic/errno-base.h, asm-generic/errno.h).</summary>
    public int Errno { get; }

    public NetlinkException(int errno, string message) : base(message)
    {
        Errno = errno;
        HResult = errno;
    }

    internal static NetlinkException For(string operation, int errno, string? extAck = null) =>
        new(errno, string.IsNullOrEmpty(extAck)
            ? $"{operation}: {Libc.StrError(errno)}"
            : $"{operation}: {Libc.StrError(errno)} ({extAck})");
}
