using System.Text;
using Tether.Linux;

namespace Tether.Engine;

/// <summary>One answer of tetherd: the status code (RFC 9110 section 15), the header lines as sent and the body.</summary>
public sealed record DaemonAnswer(int Status, string Head, byte[] Body)
{
    /// <summary>The body as UTF-8 text.</summary>
    public string Text => Encoding.UTF8.GetString(Body);

    /// <summary>Status and body text, for positional patterns: <c>(201, var body)</c>.</summary>
    public void Deconstruct(out int status, out string text) => (status, text) = (Status, Text);

    /// <summary>The value of the first header called <paramref name="name"/> (case-insensitive, RFC 9110 section 5.1),
    /// null when there is none.</summary>
    public string? Header(string name)
    {
        foreach (var line in Head.Split("\r\n"))
        {
            var colon = line.IndexOf(':');
            if (colon > 0 && line.AsSpan(0, colon).Trim().Equals(name, StringComparison.OrdinalIgnoreCase)) return line[(colon + 1)..].Trim();
        }
        return null;
    }
}

/// <summary>
/// The client side of tetherd's HTTP API for short-lived processes: one HTTP/1.0 request per connection (RFC 1945: the
/// server answers and closes), written in one piece on a <see cref="UnixStream"/>. No HttpClient: its handler, pool and
/// async machinery cost such a process about 7 ms to set up (docs/PERFORMANCE.md).
/// </summary>
public static class DaemonHttp
{
    /// <summary>Whether an exchange failure is a malformed answer (a daemon that answers, wrongly) rather than a doubt about
    /// whether the request was carried out.</summary>
    public static bool IsMalformedAnswer(IOException e) => e.Message.StartsWith("tetherd: malformed", StringComparison.Ordinal);

    /// <summary>The one line a client prints when tetherd accepted a request and then gave no answer (it closed, reset or
    /// timed out): what failed, where tetherd's log is, and that the change may or may not have happened.</summary>
    public static string Unanswered(IOException e, string method, string target, string runDir)
    {
        var what = e.Message.StartsWith("tetherd", StringComparison.Ordinal) ? e.Message : $"tetherd: {method} {target}: {e.Message}";
        return $"{what} (did it die? see {Path.Combine(runDir, "tetherd.log")}; a create may or may not have happened: check tether ls)";
    }

    /// <summary>
    /// Sends <paramref name="method"/> <paramref name="target"/> (path and query, already escaped) with
    /// <paramref name="headers"/> and <paramref name="body"/> (sent with Content-Type <paramref name="contentType"/>
    /// when not null) to the socket at <paramref name="socketPath"/>. Returns the answer, or null when nobody listens there.
    /// </summary>
    /// <exception cref="UnauthorizedAccessException">The caller may not connect to the socket.</exception>
    /// <exception cref="IOException">The exchange failed or timed out (<paramref name="timeoutMs"/> per read or write), the
    /// daemon closed the connection without answering, or the answer is not HTTP.</exception>
    public static DaemonAnswer? Send(string socketPath, string method, string target, IEnumerable<KeyValuePair<string, string>> headers,
        ReadOnlySpan<byte> body = default, string? contentType = null, int timeoutMs = 30_000)
    {
        var head = new StringBuilder(256).Append(method).Append(' ').Append(target).Append(" HTTP/1.0\r\nHost: tetherd\r\n");
        foreach (var (name, value) in headers) head.Append(name).Append(": ").Append(value).Append("\r\n");
        if (contentType is not null) head.Append("Content-Type: ").Append(contentType).Append("\r\n");
        head.Append("Content-Length: ").Append(body.Length).Append("\r\n\r\n");
        var headBytes = Encoding.UTF8.GetBytes(head.ToString());
        var request = new byte[headBytes.Length + body.Length];
        headBytes.CopyTo(request, 0);
        body.CopyTo(request.AsSpan(headBytes.Length));

        if (UnixStream.Exchange(socketPath, request, timeoutMs) is not { } answer) return null;
        if (answer.Length == 0) throw new IOException($"tetherd closed the connection without answering {method} {target}");
        // "HTTP/1.1 201 Created\r\n" headers "\r\n\r\n" body
        var split = answer.AsSpan().IndexOf("\r\n\r\n"u8);
        if (split < 0 || answer.Length < 12 || !answer.AsSpan().StartsWith("HTTP/1."u8) || !int.TryParse(answer.AsSpan(9, 3), out var status))
            throw new IOException($"tetherd: malformed answer to {method} {target}");
        var firstLine = answer.AsSpan(0, split).IndexOf("\r\n"u8);
        var headerText = firstLine < 0 ? "" : Encoding.UTF8.GetString(answer, firstLine + 2, split - firstLine - 2);
        return new DaemonAnswer(status, headerText, answer[(split + 4)..]);
    }
}
