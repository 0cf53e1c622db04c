using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Tether.Linux;

/// <summary>Host sockets, probed the way a port proxy would find them: by trying to bind.</summary>
public static unsafe class Sockets
{
    const int SOCK_STREAM = 1, SOCK_DGRAM = 2, AF_INET = 2, AF_INET6 = 10, SO_REUSEADDR = 2, EADDRINUSE = 98;

    /// <summary>
    /// Whether a socket of the calling thread's network namespace already owns <paramref name="port"/>
    /// (<paramref name="protocol"/> "tcp" or "udp") on <paramref name="address"/> (null: every address), i.e. whether
    /// bind(2) of that address and port fails with EADDRINUSE. TCP probes set SO_REUSEADDR so that connections in
    /// TIME_WAIT do not count, only listeners and bound sockets. One socket and one bind per call (O(1), unlike
    /// reading /proc/net/tcp, which walks the whole global connection hash).
    /// </summary>
    /// <exception cref="IOException">socket(2) failed.</exception>
    public static bool InUse(string protocol, IPAddress? address, int port)
    {
        address ??= IPAddress.Any;
        var v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        int fd = Libc.socket(v6 ? AF_INET6 : AF_INET, (protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0) throw Libc.IoError($"socket for probing {protocol} port {port}", Marshal.GetLastPInvokeError());
        try
        {
            if (protocol != "udp")
            {
                int one = 1;
                Libc.setsockopt(fd, Libc.SOL_SOCKET, SO_REUSEADDR, &one, sizeof(int));
            }
            // struct sockaddr_in (16 bytes) / sockaddr_in6 (28 bytes), netinet/in.h: family, port (network order), address.
            byte* sa = stackalloc byte[28];
            new Span<byte>(sa, 28).Clear();
            var s = new Span<byte>(sa, 28);
            BinaryPrimitives.WriteUInt16LittleEndian(s, (ushort)(v6 ? AF_INET6 : AF_INET));
            BinaryPrimitives.WriteUInt16BigEndian(s[2..], (ushort)port);
            address.TryWriteBytes(v6 ? s[8..24] : s[4..8], out _);
            return Libc.bind(fd, sa, v6 ? 28 : 16) != 0 && Marshal.GetLastPInvokeError() == EADDRINUSE;
        }
        finally { Libc.close(fd); }
    }
}
