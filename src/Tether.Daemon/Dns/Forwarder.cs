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

    sealed class Upstream(IPEndPoint server, Socket[] sockets)
    {
        public IPEndPoint Server { get; } = server;
        public Socket[] Sockets { get; } = sockets;
        public ConcurrentDictionary<ushort, (DnsQuestion Question, TaskCompletionSource<DnsMessage> Answer)> Pending { get; } = new();
        int next;
        public Socket NextSocket() => Sockets[(int)((uint)Interlocked.Increment(ref next) % (uint)Sockets.Length)];
    }

    readonly Upstream[] upstreams;
    readonly CancellationTokenSource stop = new();

    public IReadOnlyList<IPAddress> Servers { get; }

    /// <summary>Opens the UDP sockets (in the calling thread's network namespace) and starts their receive loops.</summary>
    public Forwarder(IReadOnlyList<IPAddress> servers)
    {
        Servers = servers;
        upstreams = servers.Select(a =>
        {
            var ep = new IPEndPoint(a, SandboxDnsServer.Port);
            var sockets = new Socket[SocketsPerServer];
            for (var i = 0; i < sockets.Length; i++)
            {
                sockets[i] = new Socket(a.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                try { sockets[i].Connect(ep); }
                catch (SocketException) { /* unreachable now: sends fail, the server is skipped after its timeout */ }
            }
            var u = new Upstream(ep, sockets);
            foreach (var s in sockets) _ = ReceiveLoop(u, s);
            return u;
        }).ToArray();
    }

    async Task ReceiveLoop(Upstream u, Socket s)
    {
        var buffer = new byte[65535];
        while (!stop.IsCancellationRequested)
        {
            int n;
            try { n = await s.ReceiveAsync(buffer, SocketFlags.None, stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; }   // e.g. ICMP port unreachable reported on a connected socket
            if (Codec.TryParse(new ArraySegment<byte>(buffer, 0, n)) is not { } answer) continue;
            if (!u.Pending.TryGetValue(answer.TransactionID, out var p)) continue;
            if (answer.Questions.Count != 1 || !answer.Questions[0].Name.Equals(p.Question.Name, false)
                || answer.Questions[0].RecordType != p.Question.RecordType) continue;   // not the answer to our question
            if (u.Pending.TryRemove(answer.TransactionID, out _)) p.Answer.TrySetResult(answer);
        }
    }

    /// <summary>Asks the upstream servers the question of <paramref name="query"/> (no EDNS, so that a large answer comes
    /// back truncated and is fetched over TCP) and copies their answer into <paramref name="response"/>; SERVFAIL when
    /// there is no server or none answered.</summary>
    public async Task ForwardAsync(DnsMessage query, DnsMessage response)
    {
        response.IsRecursionAllowed = true;
        foreach (var u in upstreams)
        {
            var answer = await AskUdp(u, query).ConfigureAwait(false);
            if (answer is { IsTruncated: true }) answer = await AskTcp(u, query).ConfigureAwait(false);
            if (answer is null) continue;
            response.ReturnCode = answer.ReturnCode;
            response.IsAuthenticData = answer.IsAuthenticData;
            response.AnswerRecords.AddRange(answer.AnswerRecords);
            response.AuthorityRecords.AddRange(answer.AuthorityRecords);
            response.AdditionalRecords.AddRange(answer.AdditionalRecords.Where(r => r.RecordType != RecordType.Opt));
            return;
        }
        response.ReturnCode = ReturnCode.ServerFailure;
    }

    static DnsMessage Question(DnsMessage query, ushort id)
    {
        var m = new DnsMessage { TransactionID = id, IsRecursionDesired = query.IsRecursionDesired, IsCheckingDisabled = query.IsCheckingDisabled };
        m.Questions.Add(query.Questions[0]);
        return m;
    }

    async Task<DnsMessage?> AskUdp(Upstream u, DnsMessage query)
    {
        var tcs = new TaskCompletionSource<DnsMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        ushort id;
        do id = (ushort)Random.Shared.Next(0, 65536);
        while (!u.Pending.TryAdd(id, (query.Questions[0], tcs)));
        try
        {
            var bytes = Codec.Encode(Question(query, id));
            try { await u.NextSocket().SendAsync(bytes, SocketFlags.None).ConfigureAwait(false); }
            catch (SocketException) { return null; }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
            timeout.CancelAfter(Timeout);
            try { return await tcs.Task.WaitAsync(timeout.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return null; }
        }
        finally { u.Pending.TryRemove(id, out _); }
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
        stop.Cancel();
        foreach (var u in upstreams) foreach (var s in u.Sockets) s.Dispose();
    }
}
