using System.Buffers.Binary;
using System.Globalization;
using System.Net;

namespace Tether.Linux;

/// <summary>A socket bound on the host: a TCP listener or a bound UDP socket (<c>ss -ltun</c>).</summary>
/// <param name="Protocol">"tcp" or "udp".</param>
/// <param name="Address">Local address; <see cref="IPAddress.Any"/> / <see cref="IPAddress.IPv6Any"/> for every address.</param>
/// <param name="Port">Local port, 1..65535.</param>
public sealed record BoundSocket(string Protocol, IPAddress Address, int Port);

/// <summary>Sockets bound in the calling process's network namespace, read from /proc/net/{tcp,tcp6,udp,udp6}
/// (format: proc(5); socket states from include/net/tcp_states.h).</summary>
public static class Sockets
{
    const string TcpListen = "0A";   // TCP_LISTEN
    const string UdpUnconnected = "07"; // TCP_CLOSE: a bound, unconnected UDP socket

    /// <summary>TCP listeners and bound UDP sockets (<c>ss -ltun</c>). A missing table (IPv6 off) counts as empty.</summary>
    public static IReadOnlyList<BoundSocket> Bound()
    {
        var result = new List<BoundSocket>();
        Read("/proc/self/net/tcp", "tcp", TcpListen, result);
        Read("/proc/self/net/tcp6", "tcp", TcpListen, result);
        Read("/proc/self/net/udp", "udp", UdpUnconnected, result);
        Read("/proc/self/net/udp6", "udp", UdpUnconnected, result);
        return result;
    }

    static void Read(string path, string protocol, string state, List<BoundSocket> into)
    {
        if (!File.Exists(path)) return;
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 4 || f[3] != state) continue;
            var colon = f[1].IndexOf(':');
            into.Add(new BoundSocket(protocol, ParseAddress(f[1][..colon]), int.Parse(f[1][(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>/proc/net addresses are the in-kernel 32-bit words printed in host (little-endian) order.</summary>
    internal static IPAddress ParseAddress(string hex)
    {
        var bytes = new byte[hex.Length / 2];
        for (var word = 0; word < bytes.Length / 4; word++)
        {
            var value = uint.Parse(hex.AsSpan(word * 8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(word * 4), value);
        }
        return new IPAddress(bytes);
    }
}
