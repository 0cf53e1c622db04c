using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using Tether.Dns;
using Tether.Linux;

namespace Tether.Daemon.Dns;

/// <summary>
/// The embedded DNS server of one sandbox, on 127.0.0.11:53 inside the sandbox's network namespace. UDP: the daemon's one
/// <see cref="DatagramLoop"/> (a thread shared by every sandbox's socket, answering inline, forwarding without blocking
/// the loop) over ARSoft.Tools.Net's codec. TCP: ARSoft's <see cref="DnsServer"/> with its <see cref="TcpServerTransport"/>. Every socket is made and bound
/// on a thread that entered the namespace (<see cref="NetNs.Run{T}"/>; ARSoft makes the listener in the transport's
/// constructor and binds it in <see cref="DnsServer.Start"/>); a socket keeps the namespace it was made in, so the async
/// loops then run on any thread. Names of sandboxes sharing a network answer from the current <see cref="NameTable"/>;
/// the rest is forwarded. Malformed packets are dropped (UDP) or close the connection (TCP); neither stops the server.
/// </summary>
public sealed class SandboxDnsServer : IDisposable
{
    /// <summary>Port of DNS (RFC 1035 4.2).</summary>
    public const int Port = 53;
    /// <summary>TTL of answers for sandbox names, in seconds: 0, so that a removed sandbox stops resolving at once even
    /// behind a caching stub.</summary>
    public const int Ttl = 0;
    readonly DnsServer tcpServer;
    readonly Socket udp;
    readonly DatagramLoop loop;
    readonly Func<NameTable> table;
    int rotation;

    public string SandboxId { get; }
    public string NsPath { get; }
    public Forwarder Forwarder { get; set; }

    SandboxDnsServer(string sandboxId, string nsPath, Func<NameTable> table, Forwarder forwarder, DatagramLoop loop)
    {
        this.loop = loop;
        SandboxId = sandboxId;
        NsPath = nsPath;
        this.table = table;
        Forwarder = forwarder;
        var endpoint = new IPEndPoint(SandboxFiles.EmbeddedDns, Port);
        (udp, tcpServer) = NetNs.Run(nsPath, () =>
        {
            var u = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                u.Bind(endpoint);
                var s = new DnsServer(new TcpServerTransport(endpoint, Forwarder.Timeout, 10_000));
                s.QueryReceived += OnTcpQuery;
                s.Start();
                return (u, s);
            }
            catch
            {
                u.Dispose();
                throw;
            }
        });
        try { loop.Add(udp, OnDatagram); }
        catch
        {
            udp.Dispose();
            tcpServer.Stop();
            throw;
        }
    }

    /// <summary>Starts the server inside the sandbox's namespace, its UDP socket served by <paramref name="loop"/>; throws
    /// (<see cref="IOException"/>, <see cref="SocketException"/>) when it cannot.</summary>
    public static SandboxDnsServer Start(string sandboxId, string nsPath, Func<NameTable> table, Forwarder forwarder, DatagramLoop loop) =>
        new(sandboxId, nsPath, table, forwarder, loop);

    /// <summary>One UDP query, on the loop's thread: a query that the table answers is answered right there, without a hop
    /// through the thread pool (measured: the hop dominated latency at low rates); a forwarded one continues
    /// asynchronously without holding the loop. Queries longer than <see cref="DatagramLoop.MaxDatagram"/> (the largest
    /// EDNS query we take) arrive cut short and fail to parse; what does not parse as a query is dropped.</summary>
    void OnDatagram(Socket socket, byte[] buffer, int length, ReadOnlySpan<byte> peer)
    {
        if (Codec.TryParse(new ArraySegment<byte>(buffer, 0, length)) is not { IsQuery: true } query) return;
        if (Local(query) is { } response) DatagramLoop.Reply(socket, Codec.EncodeForUdp(query, response), peer);
        else if (DatagramLoop.EndPointOf(peer) is { } from) _ = ForwardUdp(query, buffer.AsSpan(0, length).ToArray(), from);
    }

    async Task ForwardUdp(DnsMessage query, byte[] packet, EndPoint to)
    {
        ArraySegment<byte> response;
        try { response = await Forwarder.ForwardUdpAsync(query, packet).ConfigureAwait(false); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var failed = query.CreateResponseInstance();
            failed.ReturnCode = ReturnCode.ServerFailure;
            response = Codec.EncodeForUdp(query, failed);
        }
        Send(response, to);
    }

    void Send(ArraySegment<byte> response, EndPoint to)
    {
        try { udp.SendTo(response, SocketFlags.None, to); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or ArgumentException) { }
    }

    async Task OnTcpQuery(object sender, QueryReceivedEventArgs e)
    {
        if (e.Query is DnsMessage query) e.Response = await Respond(query).ConfigureAwait(false);
    }

    /// <summary>The response to one query: from the name table, or forwarded.</summary>
    Task<DnsMessage> Respond(DnsMessage query) => Local(query) is { } response ? Task.FromResult(response) : Forward(query);

    /// <summary>The response this server gives itself (a sandbox name, or a malformed or unsupported query); null when the
    /// query is to be forwarded.</summary>
    DnsMessage? Local(DnsMessage query)
    {
        if (query.OperationCode != OperationCode.Query || query.Questions.Count != 1)
        {
            var refused = query.CreateResponseInstance();
            refused.ReturnCode = query.OperationCode == OperationCode.Query ? ReturnCode.FormatError : ReturnCode.NotImplemented;
            return refused;
        }
        return Answer(query, query.Questions[0]);
    }

    async Task<DnsMessage> Forward(DnsMessage query)
    {
        var response = query.CreateResponseInstance();
        await Forwarder.ForwardAsync(query, response).ConfigureAwait(false);
        return response;
    }

    /// <summary>Answers from the name table: A/AAAA/ANY of a sandbox name or alias, PTR of a sandbox address. Null: not
    /// ours (the response is only made for our own names: a forwarded query costs no response object).</summary>
    DnsMessage? Answer(DnsMessage query, DnsQuestion q)
    {
        if (q.RecordClass is not (RecordClass.INet or RecordClass.Any)) return null;
        DnsMessage response;
        var names = table();
        var name = q.Name.ToString();
        switch (q.RecordType)
        {
            case RecordType.A or RecordType.Aaaa or RecordType.Any:
                var addresses = names.Lookup(SandboxId, name);
                if (addresses is null) return null;
                response = query.CreateResponseInstance();
                var start = addresses.Count > 1 ? (int)((uint)Interlocked.Increment(ref rotation) % (uint)addresses.Count) : 0;
                for (var i = 0; i < addresses.Count; i++)
                {
                    var a = addresses[(start + i) % addresses.Count];
                    if (a.AddressFamily == AddressFamily.InterNetwork && q.RecordType != RecordType.Aaaa)
                        response.AnswerRecords.Add(new ARecord(q.Name, Ttl, a));
                    else if (a.AddressFamily == AddressFamily.InterNetworkV6 && q.RecordType != RecordType.A)
                        response.AnswerRecords.Add(new AaaaRecord(q.Name, Ttl, a));
                }
                break;   // a known name without an address of the asked family: NOERROR, no data (RFC 2308 2.2)
            case RecordType.Ptr:
                if (NameTable.ParseReverseName(name) is not { } ip || names.Reverse(SandboxId, ip) is not { } host) return null;
                response = query.CreateResponseInstance();
                response.AnswerRecords.Add(new PtrRecord(q.Name, Ttl, DomainName.Parse(host)));
                break;
            default:
                return null;
        }
        response.IsAuthoritiveAnswer = true;
        response.IsRecursionAllowed = true;
        response.ReturnCode = ReturnCode.NoError;
        return response;
    }

    public void Dispose()
    {
        loop.Remove(udp);
        udp.Dispose();
        tcpServer.Stop();
    }
}
