using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Tether.Linux;

/// <summary>
/// One thread that waits on many datagram sockets at once (epoll(7), level-triggered) and hands every datagram that
/// arrives on one of them to that socket's handler, on this thread. A readable socket is read without blocking
/// (recvfrom(2) with MSG_DONTWAIT) until it is empty, at most <see cref="Batch"/> datagrams per wake-up, so one busy
/// socket does not starve the others. tetherd's embedded DNS servers use one loop for every sandbox's UDP socket instead
/// of a thread each (a thread start per sandbox create, and hundreds of stacks for every GC to scan).
/// </summary>
/// <remarks>
/// A socket's descriptor is used only while its <see cref="SafeHandle"/> is referenced (DangerousAddRef): a socket
/// disposed while its handler runs is closed when the handler returns, so its descriptor number is never read after it
/// was given to another file.
/// </remarks>
public sealed unsafe class DatagramLoop : IDisposable
{
    /// <summary>Receives one datagram: its bytes are <c>buffer[0..length]</c> (the loop's buffer, reused for the next
    /// datagram: copy what outlives the call), <paramref name="peer"/> the sender's address as recvfrom(2) gave it (a
    /// sockaddr, for <see cref="Reply"/> and <see cref="EndPointOf"/>).</summary>
    public delegate void Handler(Socket socket, byte[] buffer, int length, ReadOnlySpan<byte> peer);

    /// <summary>Largest datagram read whole, in octets; a longer one is cut to this (MSG_TRUNC semantics of recvfrom).</summary>
    public const int MaxDatagram = 4096;
    /// <summary>Datagrams read from one socket per wake-up before the loop looks at the others.</summary>
    public const int Batch = 64;
    const int MaxEvents = 64;
    const ulong StopId = 0;

    // struct epoll_event (sys/epoll.h): u32 events, then u64 data; packed on x86_64 (12 bytes), naturally aligned
    // elsewhere (16 bytes).
    static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    readonly int epoll, wake;
    readonly ConcurrentDictionary<ulong, (Socket Socket, Handler Handler)> sockets = new();
    readonly ConcurrentDictionary<Socket, ulong> ids = new();
    readonly Thread thread;
    long nextId;
    int disposed;

    /// <summary>Starts the loop's thread (named <paramref name="name"/>). Throws <see cref="IOException"/> when the
    /// epoll instance or its wake-up eventfd cannot be made.</summary>
    public DatagramLoop(string name)
    {
        epoll = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        if (epoll < 0) throw Libc.IoError("epoll_create1", Marshal.GetLastPInvokeError());
        wake = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (wake < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Libc.close(epoll);
            throw Libc.IoError("eventfd", errno);
        }
        Control(Libc.EPOLL_CTL_ADD, wake, StopId, "eventfd");
        thread = new Thread(Run) { IsBackground = true, Name = name };
        thread.Start();
    }

    /// <summary>Watches <paramref name="socket"/> (a bound datagram socket; blocking or not) and calls
    /// <paramref name="handler"/> for each datagram it receives, until <see cref="Remove"/>. Throws
    /// <see cref="IOException"/> when epoll refuses it.</summary>
    public void Add(Socket socket, Handler handler)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(handler);
        var id = (ulong)Interlocked.Increment(ref nextId);
        sockets[id] = (socket, handler);
        ids[socket] = id;
        try { Control(Libc.EPOLL_CTL_ADD, (int)socket.SafeHandle.DangerousGetHandle(), id, "socket"); }
        catch
        {
            sockets.TryRemove(id, out _);
            ids.TryRemove(socket, out _);
            throw;
        }
    }

    /// <summary>Stops watching <paramref name="socket"/>; its handler is not called again once this returns, except for a
    /// call already under way. Call it before disposing the socket. Nothing happens for a socket not watched.</summary>
    public void Remove(Socket socket)
    {
        if (!ids.TryRemove(socket, out var id)) return;
        sockets.TryRemove(id, out _);
        bool added = false;
        try
        {
            socket.SafeHandle.DangerousAddRef(ref added);
            Libc.epoll_ctl(epoll, Libc.EPOLL_CTL_DEL, (int)socket.SafeHandle.DangerousGetHandle(), null);
        }
        catch (ObjectDisposedException) { }   // closed already: the kernel dropped it from the epoll set itself
        finally
        {
            if (added) socket.SafeHandle.DangerousRelease();
        }
    }

    /// <summary>Sends <paramref name="data"/> from <paramref name="socket"/> to <paramref name="peer"/> (a sockaddr as a
    /// <see cref="Handler"/> got it), without blocking; false when the socket is closed or the kernel refused it (a UDP
    /// answer that cannot go is dropped, as the asker's retry covers).</summary>
    public static bool Reply(Socket socket, ReadOnlySpan<byte> data, ReadOnlySpan<byte> peer)
    {
        bool added = false;
        try
        {
            socket.SafeHandle.DangerousAddRef(ref added);
            fixed (byte* d = data)
            fixed (byte* a = peer)
                return Libc.sendto((int)socket.SafeHandle.DangerousGetHandle(), d, (nuint)data.Length, Libc.MSG_DONTWAIT, a, peer.Length) >= 0;
        }
        catch (ObjectDisposedException) { return false; }
        finally
        {
            if (added) socket.SafeHandle.DangerousRelease();
        }
    }

    /// <summary>The sender as an <see cref="IPEndPoint"/>: sockaddr_in (AF_INET, netinet/in.h) or sockaddr_in6 (AF_INET6,
    /// with its scope id); null for any other family.</summary>
    public static IPEndPoint? EndPointOf(ReadOnlySpan<byte> peer)
    {
        if (peer.Length < 2) return null;
        var family = BinaryPrimitives.ReadUInt16LittleEndian(peer);
        var port = BinaryPrimitives.ReadUInt16BigEndian(peer[2..]);
        if (family == (ushort)AddressFamily.InterNetwork && peer.Length >= 8)
            return new IPEndPoint(new IPAddress(peer.Slice(4, 4)), port);
        if (family == 10 /* AF_INET6, linux/socket.h */ && peer.Length >= 28)
            return new IPEndPoint(new IPAddress(peer.Slice(8, 16), BinaryPrimitives.ReadUInt32LittleEndian(peer[24..])), port);
        return null;
    }

    void Control(int op, int fd, ulong id, string what)
    {
        byte* ev = stackalloc byte[16];
        new Span<byte>(ev, 16).Clear();
        *(uint*)ev = Libc.EPOLLIN;
        *(ulong*)(ev + DataOffset) = id;
        if (Libc.epoll_ctl(epoll, op, fd, ev) != 0) throw Libc.IoError($"epoll_ctl({what} {fd})", Marshal.GetLastPInvokeError());
    }

    void Run()
    {
        var buffer = new byte[MaxDatagram];
        var events = new byte[MaxEvents * EventSize];
        Span<byte> peer = stackalloc byte[128];   // sockaddr_storage
        while (true)
        {
            int n;
            fixed (byte* e = events) n = Libc.epoll_wait(epoll, e, MaxEvents, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == Libc.EINTR) continue;
                return;   // EBADF after Dispose, or nothing the loop can recover from
            }
            for (int i = 0; i < n; i++)
            {
                var id = BinaryPrimitives.ReadUInt64LittleEndian(events.AsSpan(i * EventSize + DataOffset));
                if (id == StopId) return;
                if (sockets.TryGetValue(id, out var entry)) Drain(entry.Socket, entry.Handler, buffer, peer);
            }
        }
    }

    static void Drain(Socket socket, Handler handler, byte[] buffer, Span<byte> peer)
    {
        bool added = false;
        try
        {
            socket.SafeHandle.DangerousAddRef(ref added);
            int fd = (int)socket.SafeHandle.DangerousGetHandle();
            for (int k = 0; k < Batch; k++)
            {
                int peerLength = peer.Length;
                nint got;
                fixed (byte* b = buffer)
                fixed (byte* a = peer)
                    got = Libc.recvfrom(fd, b, (nuint)buffer.Length, Libc.MSG_DONTWAIT, a, &peerLength);
                if (got < 0) return;   // EAGAIN: empty; any other error: epoll tells again if it is still readable
                try { handler(socket, buffer, (int)got, peer[..Math.Min(peerLength, peer.Length)]); }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Console.Error.WriteLine($"datagram handler: {e.GetType().Name}: {e.Message}");
                }
            }
        }
        catch (ObjectDisposedException) { }   // disposed between the event and now
        finally
        {
            if (added) socket.SafeHandle.DangerousRelease();
        }
    }

    /// <summary>Stops the thread (after the handler call under way, if any) and closes the epoll instance. The sockets
    /// stay open: they are their owners'.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        ulong one = 1;
        Libc.write(wake, &one, 8);
        if (Thread.CurrentThread != thread) thread.Join();
        Libc.close(epoll);
        Libc.close(wake);
    }
}
