using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using Tether.Dns;
using Tether.Linux;

namespace Tether.Daemon.Dns;

/// <summary>
/// The embedded DNS server of one sandbox: ARSoft's <see cref="DnsServer"/> on UDP and TCP 127.0.0.11:53 inside the
/// sandbox's network namespace. ARSoft makes its sockets when the transports are constructed and binds them in
/// <see cref="DnsServer.Start"/>: both run on a thread that entered the namespace (<see cref="NetNs.Run{T}"/>), and a
/// socket keeps the namespace it was made in, so the server's async loops can then run on any thread.
/// Names of sandboxes sharing a network answer from the current <see cref="NameTable"/>; the rest is forwarded.
/// Malformed packets are dropped by ARSoft's parser (UDP) or close the connection (TCP); neither stops the server.
/// </summary>
public sealed class SandboxDnsServer : IDisposable
{
    /// <summary>Port of DNS (RFC 1035 4.2).</summary>
    public const int Port = 53;
    /// <summary>TTL of answers for sandbox names, in seconds: 0, so that a removed sandbox stops resolving at once even
    /// behind a caching stub.</summary>
    public const int Ttl = 0;

    readonly DnsServer server;
    readonly Func<NameTable> table;
    int rotation;

    public string SandboxId { get; }
    public string NsPath { get; }
    public Forwarder Forwarder { get; set; }

    SandboxDnsServer(string sandboxId, string nsPath, Func<NameTable> table, Forwarder forwarder)
    {
        SandboxId = sandboxId;
        NsPath = nsPath;
        this.table = table;
        Forwarder = forwarder;
        server = NetNs.Run(nsPath, () =>
        {
            var endpoint = new IPEndPoint(SandboxFiles.EmbeddedDns, Port);
            var s = new DnsServer(new UdpServerTransport(endpoint, Forwarder.Timeout), new TcpServerTransport(endpoint, Forwarder.Timeout, 10_000));
            s.QueryReceived += OnQuery;
            s.Start();
            return s;
        });
    }

    /// <summary>Starts the server inside the sandbox's namespace; throws (<see cref="IOException"/>, <see cref="System.Net.Sockets.SocketException"/>) naming the sandbox when it cannot.</summary>
    public static SandboxDnsServer Start(string sandboxId, string nsPath, Func<NameTable> table, Forwarder forwarder) =>
        new(sandboxId, nsPath, table, forwarder);

    Task OnQuery(object sender, QueryReceivedEventArgs e)
    {
        if (e.Query is not DnsMessage query) return Task.CompletedTask;   // no response: ARSoft answers FORMERR/failure
        var response = query.CreateResponseInstance();
        if (query.OperationCode != OperationCode.Query || query.Questions.Count != 1)
        {
            response.ReturnCode = query.OperationCode == OperationCode.Query ? ReturnCode.FormatError : ReturnCode.NotImplemented;
            e.Response = response;
            return Task.CompletedTask;
        }
        e.Response = response;
        return Answer(query.Questions[0], response) ? Task.CompletedTask : Forwarder.ForwardAsync(query, response);
    }

    /// <summary>Answers from the name table: A/AAAA/ANY of a sandbox name or alias, PTR of a sandbox address. False: not ours.</summary>
    bool Answer(DnsQuestion q, DnsMessage response)
    {
        if (q.RecordClass is not (RecordClass.INet or RecordClass.Any)) return false;
        var names = table();
        var name = q.Name.ToString();
        switch (q.RecordType)
        {
            case RecordType.A or RecordType.Aaaa or RecordType.Any:
                var addresses = names.Lookup(SandboxId, name);
                if (addresses is null) return false;
                var start = addresses.Count > 1 ? (int)((uint)Interlocked.Increment(ref rotation) % (uint)addresses.Count) : 0;
                for (var i = 0; i < addresses.Count; i++)
                {
                    var a = addresses[(start + i) % addresses.Count];
                    if (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && q.RecordType != RecordType.Aaaa)
                        response.AnswerRecords.Add(new ARecord(q.Name, Ttl, a));
                    else if (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && q.RecordType != RecordType.A)
                        response.AnswerRecords.Add(new AaaaRecord(q.Name, Ttl, a));
                }
                break;   // a known name without an address of the asked family: NOERROR, no data (RFC 2308 2.2)
            case RecordType.Ptr:
                if (NameTable.ParseReverseName(name) is not { } ip || names.Reverse(SandboxId, ip) is not { } host) return false;
                response.AnswerRecords.Add(new PtrRecord(q.Name, Ttl, DomainName.Parse(host)));
                break;
            default:
                return false;
        }
        response.IsAuthoritiveAnswer = true;
        response.IsRecursionAllowed = true;
        response.ReturnCode = ReturnCode.NoError;
        return true;
    }

    public void Dispose() => server.Stop();
}
