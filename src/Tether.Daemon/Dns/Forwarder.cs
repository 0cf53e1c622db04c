using System.Net;
using ARSoft.Tools.Net.Dns;

namespace Tether.Daemon.Dns;

/// <summary>
/// Sends the queries the embedded server does not answer itself to upstream resolvers (the host's resolv.conf, or a
/// sandbox's <c>--dns</c>), from the daemon's own network namespace. ARSoft's <see cref="DnsClient"/> asks the servers in
/// turn over UDP and repeats a truncated (TC) answer over TCP (RFC 7766 5); when no server answers within
/// <see cref="Timeout"/> per server, the result is null and the caller answers SERVFAIL (RFC 1035 4.1.1, RCODE 2).
/// </summary>
public sealed class Forwarder
{
    /// <summary>Per upstream server, in milliseconds.</summary>
    public const int Timeout = 2000;

    readonly DnsClient? client;

    public IReadOnlyList<IPAddress> Servers { get; }

    public Forwarder(IReadOnlyList<IPAddress> servers)
    {
        Servers = servers;
        client = servers.Count == 0 ? null : new DnsClient(servers, Timeout);
    }

    /// <summary>Asks the upstream servers the question of <paramref name="query"/> (recursion desired, no EDNS, so that a
    /// large answer comes back truncated and is fetched over TCP) and copies their answer into <paramref name="response"/>;
    /// SERVFAIL when there is no server or none answered.</summary>
    public async Task ForwardAsync(DnsMessage query, DnsMessage response)
    {
        response.IsRecursionAllowed = true;
        if (client is null)
        {
            response.ReturnCode = ReturnCode.ServerFailure;
            return;
        }
        var upstream = new DnsMessage { IsRecursionDesired = query.IsRecursionDesired, IsCheckingDisabled = query.IsCheckingDisabled };
        upstream.Questions.AddRange(query.Questions);
        DnsMessage? answer;
        try { answer = await client.SendMessageAsync(upstream).ConfigureAwait(false); }
        catch (Exception e) when (e is not OutOfMemoryException) { answer = null; }
        if (answer is null)
        {
            response.ReturnCode = ReturnCode.ServerFailure;
            return;
        }
        response.ReturnCode = answer.ReturnCode;
        response.IsAuthenticData = answer.IsAuthenticData;
        response.AnswerRecords.AddRange(answer.AnswerRecords);
        response.AuthorityRecords.AddRange(answer.AuthorityRecords);
        response.AdditionalRecords.AddRange(answer.AdditionalRecords.Where(r => r.RecordType != RecordType.Opt));
    }
}
