using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net.Dns;

namespace Tether.Daemon.Dns;

/// <summary>
/// Sends the queries the embedded server does not answer itself to upstream resolvers (the host's resolv.conf, or a
/// sandbox's <c>--dns</c>), from the daemon's own network namespace, and copies their answers back. Per server: a few
/// connected UDP sockets (random source ports) shared by all queries, matched by a random transaction id and the
/// question; a truncated (TC) answer is asked again over TCP (RFC 7766 5); a server that does not answer within
/// <see cref="Timeout"/> is skipped for the next, and when none answered the result is SERVFAIL (RFC 1035 4.1.1, RCODE 2).
/// The codec is ARSoft.Tools.Net's (<see cref="Codec"/>).
/// </summary>
public sealed class Forwarder : IDisposable
{
    /// <summary>Per upstream server and attempt, in milliseconds.</summary>
    public const int Timeout = 2000;
    const int SocketsPerServer = 4;

    /// <summary>One server: its connected UDP sockets, made at the first query that finds the server reachable (a
    /// socket whose connect failed cannot be used again on Linux), each with its receive loop.</summary>
    sealed class Upstream(IPEndPoint server, Action<Upstream, Socket> startReceiving)
    {
        readonly Lock gate = new();
        Socket[] sockets = [];
        bool closed;
        int next;

        public IPEndPoint Server { get; } = server;
        public Socket[] Sockets => Volatile.Read(ref sockets);
        public ConcurrentDictionary<ushort, PendingQuery> Pending { get; } = new();

        /// <summary>The next socket in turn; null while the server cannot be reached (no route, or no sockets of its
        /// address family on this kernel): then the query skips it.</summary>
        public Socket? NextSocket()
        {
            var all = Sockets;
            if (all.Length == 0 && !TryConnect()) return null;
            all = Sockets;
            return all[(int)((uint)Interlocked.Increment(ref next) % (uint)all.Length)];
        }

        /// <summary>Makes and connects the sockets and starts their receive loops; false, with nothing left open, when
        /// any of that fails. Runs in the calling thread's network namespace: the daemon's.</summary>
        public bool TryConnect()
        {
            lock (gate)
            {
                if (sockets.Length > 0) return true;
                if (closed) return false;
                var made = new List<Socket>();
                try
                {
                    for (var i = 0; i < SocketsPerServer; i++)
                    {
                        var socket = new Socket(Server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                        made.Add(socket);
                        socket.Connect(Server);
                    }
                }
                catch (SocketException)
                {
                    foreach (var socket in made) socket.Dispose();
                    return false;
                }
                foreach (var socket in made) startReceiving(this, socket);
                Volatile.Write(ref sockets, [.. made]);
                return true;
            }
        }

        /// <summary>Closes the sockets (which ends their receive loops) and makes no more.</summary>
        public void Close()
        {
            lock (gate)
            {
                closed = true;
                foreach (var s in sockets)
                {
                    try { s.Shutdown(SocketShutdown.Both); } catch (SocketException) { }   // wakes the blocked receive
                    s.Dispose();
                }
                sockets = [];
            }
        }
    }

    /// <summary>A query sent and not yet answered: its question section as sent (matched byte for byte against the
    /// answer's), when it expires (<see cref="Environment.TickCount64"/>, ms), and the raw answer once it came.</summary>
    sealed record PendingQuery(byte[] Question, long Deadline, TaskCompletionSource<byte[]?> Answer);

    readonly Upstream[] upstreams;
    readonly CancellationTokenSource stop = new();
    readonly Timer sweeper;
    readonly Lock sweeperGate = new();
    volatile bool sweeping;   // the sweeper is armed: set while queries are pending, so an idle daemon has no timer firing
    const int SweepInterval = 100;   // ms

    public IReadOnlyList<IPAddress> Servers { get; }

    /// <summary>Opens the UDP sockets to each server it can reach now (in the calling thread's network namespace) and
    /// starts their receive loops; the others are tried again at their next query.</summary>
    public Forwarder(IReadOnlyList<IPAddress> servers)
    {
        Servers = servers;
        upstreams = servers.Select(a => new Upstream(new IPEndPoint(a, SandboxDnsServer.Port),
            (u, s) => new Thread(() => ReceiveLoop(u, s)) { IsBackground = true, Name = "dns-upstream " + a }.Start())).ToArray();
        foreach (var u in upstreams) u.TryConnect();
        // One timer for every query's timeout instead of one per query (a timer per query was a measurable share of
        // the forwarding cost at thousands of queries per second). Armed by the first pending query, disarmed by the sweep
        // that finds none left.
        sweeper = new Timer(_ => Sweep(), null, System.Threading.Timeout.Infinite, System.Threading.Timeout.Infinite);
    }

    /// <summary>Ends the queries whose time is up (all of them when the forwarder stops) with no answer; disarms the timer
    /// when no query is left.</summary>
    void Sweep()
    {
        var now = stop.IsCancellationRequested ? long.MaxValue : Environment.TickCount64;
        foreach (var u in upstreams)
            foreach (var (id, p) in u.Pending)
                if (p.Deadline <= now && u.Pending.TryRemove(id, out _)) p.Answer.TrySetResult(null);
        lock (sweeperGate)
        {
            if (stop.IsCancellationRequested) return;   // disposed (under this lock): the timer is gone
            // Cleared before looking, as AskUdp adds before it looks at the flag: one of the two sees the other's write.
            sweeping = false;
            Interlocked.MemoryBarrier();
            if (upstreams.Any(u => !u.Pending.IsEmpty)) sweeping = true;
            else sweeper.Change(System.Threading.Timeout.Infinite, System.Threading.Timeout.Infinite);
        }
    }

    /// <summary>Arms the sweeper for a query just added, unless it is armed.</summary>
    void Sweeping()
    {
        Interlocked.MemoryBarrier();
        if (sweeping) return;
        lock (sweeperGate)
        {
            if (sweeping || stop.IsCancellationRequested) return;
            sweeping = true;
            sweeper.Change(SweepInterval, SweepInterval);
        }
    }

    /// <summary>One blocking receive loop per socket on a dedicated thread; an answer completes its query inline, so the
    /// relay to the asker (an ID write and one send) runs on this thread with no hop through the thread pool.</summary>
    void ReceiveLoop(Upstream u, Socket s)
    {
        var buffer = new byte[65535];
        while (!stop.IsCancellationRequested)
        {
            int n;
            try { n = s.Receive(buffer, SocketFlags.None); }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { if (stop.IsCancellationRequested) return; continue; }   // e.g. ICMP port unreachable on a connected socket
            // Header (RFC 1035 4.1.1): ID, then QR (0x80 of byte 2) set in a response; the question section that
            // follows the 12-byte header must be the one we sent.
            if (n < 12 || (buffer[2] & 0x80) == 0) continue;
            var id = BinaryPrimitives.ReadUInt16BigEndian(buffer);
            if (!u.Pending.TryGetValue(id, out var p) || n < 12 + p.Question.Length
                || !buffer.AsSpan(12, p.Question.Length).SequenceEqual(p.Question)) continue;   // not the answer to our question
            if (u.Pending.TryRemove(id, out _)) p.Answer.TrySetResult(buffer.AsSpan(0, n).ToArray());
        }
    }

    /// <summary>Asks the upstream servers the question of <paramref name="query"/> (no EDNS, so that a large answer comes
    /// back truncated and is fetched over TCP) and copies their answer into <paramref name="response"/>; SERVFAIL when
    /// there is no server or none answered. For TCP askers.</summary>
    public async Task ForwardAsync(DnsMessage query, DnsMessage response)
    {
        response.IsRecursionAllowed = true;
        foreach (var u in upstreams)
        {
            var raw = await AskUdp(u, QuestionPacket(query)).ConfigureAwait(false);
            var answer = raw is null ? null : Codec.TryParse(raw);
            if (answer is { IsTruncated: true }) answer = await AskTcp(u, query).ConfigureAwait(false);
            if (answer is null) continue;
            Copy(answer, response);
            return;
        }
        response.ReturnCode = ServerFailure;
    }

    /// <summary>The UDP answer to <paramref name="query"/>, ready to send. The asker's own packet
    /// (<paramref name="packet"/>, parsed as <paramref name="query"/>) is relayed with only its ID replaced, EDNS and all,
    /// so the upstream answers within the asker's own UDP limit; that answer is relayed as it came with the asker's ID
    /// put back (no decode and re-encode on either way). A truncated answer is asked again over TCP and re-encoded for
    /// the asker's UDP limit; SERVFAIL when no server answered. <paramref name="packet"/> is the caller's to give away:
    /// its ID bytes are overwritten.</summary>
    public async Task<ArraySegment<byte>> ForwardUdpAsync(DnsMessage query, byte[] packet)
    {
        var relay = QuestionLength(packet) > 0 ? packet : QuestionPacket(query);
        foreach (var u in upstreams)
        {
            var raw = await AskUdp(u, relay).ConfigureAwait(false);
            if (raw is null) continue;
            if ((raw[2] & 0x02) == 0)   // TC (RFC 1035 4.1.1) clear: the whole answer
            {
                BinaryPrimitives.WriteUInt16BigEndian(raw, query.TransactionID);
                return raw;
            }
            if (await AskTcp(u, query).ConfigureAwait(false) is not { } answer) continue;
            var response = query.CreateResponseInstance();
            response.IsRecursionAllowed = true;
            Copy(answer, response);
            return Codec.EncodeForUdp(query, response);
        }
        var failed = query.CreateResponseInstance();
        failed.IsRecursionAllowed = true;
        failed.ReturnCode = ServerFailure;
        return Codec.EncodeForUdp(query, failed);
    }

    /// <summary>
    /// Length in octets of the question section of a one-question packet that ARSoft already parsed: the QNAME's labels
    /// up to the root label, plus QTYPE and QCLASS (RFC 1035 4.1.2). 0 when the name uses a compression pointer (never
    /// seen in a query's first name; such a packet is re-encoded instead of relayed).
    /// </summary>
    static int QuestionLength(ReadOnlySpan<byte> packet)
    {
        var i = 12;
        while (i < packet.Length && packet[i] != 0)
        {
            if ((packet[i] & 0xC0) != 0) return 0;
            i += packet[i] + 1;
        }
        return i + 5 <= packet.Length ? i + 5 - 12 : 0;
    }

    /// <summary>The question of <paramref name="query"/> alone, encoded by ARSoft (ID 0, no EDNS).</summary>
    static byte[] QuestionPacket(DnsMessage query) => Codec.Encode(Question(query, 0)).ToArray();

    const ReturnCode ServerFailure = ReturnCode.ServerFailure;   // RFC 1035 4.1.1, RCODE 2

    static void Copy(DnsMessage answer, DnsMessage response)
    {
        response.ReturnCode = answer.ReturnCode;
        response.IsAuthenticData = answer.IsAuthenticData;
        response.AnswerRecords.AddRange(answer.AnswerRecords);
        response.AuthorityRecords.AddRange(answer.AuthorityRecords);
        response.AdditionalRecords.AddRange(answer.AdditionalRecords.Where(r => r.RecordType != RecordType.Opt));
    }

    static DnsMessage Question(DnsMessage query, ushort id)
    {
        var m = new DnsMessage { TransactionID = id, IsRecursionDesired = query.IsRecursionDesired, IsCheckingDisabled = query.IsCheckingDisabled };
        m.Questions.Add(query.Questions[0]);
        return m;
    }

    /// <summary>The raw UDP answer of one upstream server to <paramref name="packet"/> (sent with a fresh random ID written
    /// into it), or null when it did not answer within <see cref="Timeout"/>. The send is synchronous: an asynchronous
    /// one would turn the socket non-blocking for good, and the blocking receive loop would then wait through the
    /// socket engine's epoll thread and a thread-pool hop for every answer (measured: most of the forwarding cost).</summary>
    async Task<byte[]?> AskUdp(Upstream u, byte[] packet)
    {
        if (u.NextSocket() is not { } socket) return null;   // unreachable: the next server is asked
        var tcs = new TaskCompletionSource<byte[]?>();
        var question = packet.AsSpan(12, QuestionLength(packet)).ToArray();
        ushort id;
        do id = (ushort)Random.Shared.Next(0, 65536);
        while (!u.Pending.TryAdd(id, new PendingQuery(question, Environment.TickCount64 + Timeout, tcs)));
        Sweeping();
        BinaryPrimitives.WriteUInt16BigEndian(packet, id);
        try { socket.Send(packet, SocketFlags.None); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            u.Pending.TryRemove(id, out _);
            return null;
        }
        return await tcs.Task.ConfigureAwait(false);   // the receive loop or the sweeper completes it, and removes it
    }

    async Task<DnsMessage?> AskTcp(Upstream u, DnsMessage query)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        timeout.CancelAfter(Timeout);
        try
        {
            using var s = new Socket(u.Server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(u.Server, timeout.Token).ConfigureAwait(false);
            var id = (ushort)Random.Shared.Next(0, 65536);
            var q = Codec.Encode(Question(query, id));
            var framed = new byte[q.Count + 2];
            BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)q.Count);   // RFC 1035 4.2.2 length prefix
            q.AsSpan().CopyTo(framed.AsSpan(2));
            await s.SendAsync(framed, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            var len = new byte[2];
            if (!await ReadExactly(s, len, timeout.Token).ConfigureAwait(false)) return null;
            var body = new byte[BinaryPrimitives.ReadUInt16BigEndian(len)];
            if (!await ReadExactly(s, body, timeout.Token).ConfigureAwait(false)) return null;
            var answer = Codec.TryParse(body);
            return answer is not null && answer.TransactionID == id ? answer : null;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException) { return null; }
    }

    static async Task<bool> ReadExactly(Socket s, Memory<byte> buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await s.ReceiveAsync(buffer[read..], SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    public void Dispose()
    {
        lock (sweeperGate)
        {
            stop.Cancel();
            sweeper.Dispose();
        }
        foreach (var u in upstreams) u.Close();
        Sweep();
    }
}
