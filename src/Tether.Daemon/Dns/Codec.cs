using System.Runtime.CompilerServices;
using ARSoft.Tools.Net.Dns;

namespace Tether.Daemon.Dns;

/// <summary>
/// ARSoft.Tools.Net's DNS wire codec for Tether's own socket loops: <see cref="DnsMessage.Parse"/> is public; the encoder
/// (<c>DnsMessageBase.Encode()</c>, what its server and client use) is internal and reached with
/// <see cref="UnsafeAccessorAttribute"/> (no reflection, NativeAOT-safe; a missing method fails at the first call).
/// </summary>
static class Codec
{
    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "Encode")]
    static extern DnsRawPackage EncodeInternal(DnsMessageBase message);

    /// <summary>The message in wire format (RFC 1035 4.1), without the TCP length prefix.</summary>
    public static ArraySegment<byte> Encode(DnsMessage message) => EncodeInternal(message).ToArraySegment(false);

    /// <summary>Parses a packet; null when it is not a well-formed DNS message (any parser error).</summary>
    public static DnsMessage? TryParse(ArraySegment<byte> packet)
    {
        try { return DnsMessage.Parse(packet); }
        catch (Exception e) when (e is not OutOfMemoryException) { return null; }
    }

    /// <summary>
    /// The response in wire format for a UDP answer: when longer than the asker's limit (512 bytes, RFC 1035 4.2.1, or
    /// its EDNS payload size, RFC 6891 6.2.5), the records are dropped and TC is set, so the asker repeats over TCP.
    /// </summary>
    public static ArraySegment<byte> EncodeForUdp(DnsMessage query, DnsMessage response)
    {
        var bytes = Encode(response);
        var limit = query.IsEDnsEnabled && query.EDnsOptions is { } opt ? Math.Clamp((int)opt.UdpPayloadSize, 512, 4096) : 512;
        if (bytes.Count <= limit) return bytes;
        response.AnswerRecords.Clear();
        response.AuthorityRecords.Clear();
        response.AdditionalRecords.RemoveAll(r => r.RecordType != RecordType.Opt);
        response.IsTruncated = true;
        return Encode(response);
    }
}
