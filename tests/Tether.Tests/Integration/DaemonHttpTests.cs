using System.Net.Sockets;
using System.Text;
using Tether.Engine;
using Tether.Linux;
using Xunit;

namespace Tether.Tests.Integration;

/// <summary>
/// The short-lived processes' client of tetherd (<see cref="DaemonHttp"/> over <see cref="UnixStream"/>) against a real
/// unix socket served by a thread of the test: what it sends, how it reads the answer, and its failures.
/// </summary>
public sealed class DaemonHttpTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("tether-http-").FullName;
    string SocketPath => Path.Combine(dir, "d.sock");

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Accepts one connection, reads the request (up to its blank line plus Content-Length bytes), hands it to
    /// <paramref name="answer"/> and writes what that returns (null: closes without a byte), then closes.</summary>
    Thread Serve(Func<string, byte[]?> answer)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(1);
        var thread = new Thread(() =>
        {
            using (listener)
            using (var s = listener.Accept())
            {
                var request = new MemoryStream();
                var buffer = new byte[4096];
                while (true)
                {
                    var text = Encoding.UTF8.GetString(request.ToArray());
                    var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                    if (end >= 0)
                    {
                        var length = text.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length: ", StringComparison.Ordinal)) is { } l ? int.Parse(l[16..]) : 0;
                        if (request.Length >= end + 4 + length) break;
                    }
                    var n = s.Receive(buffer);
                    if (n == 0) break;
                    request.Write(buffer, 0, n);
                }
                if (answer(Encoding.UTF8.GetString(request.ToArray())) is { } bytes) s.Send(bytes);
            }
        });
        thread.Start();
        return thread;
    }

    [Fact]
    public void SendsOneHttp10RequestAndReadsStatusHeadersAndBody()
    {
        string? seen = null;
        var server = Serve(r => { seen = r; return "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Exit: 7\r\n\r\n{\"Id\":\"ab\"}"u8.ToArray(); });
        var answer = DaemonHttp.Send(SocketPath, "POST", "/v1/things?x=1", [new("X-Tether-State-Dir", "/s")], "{\"a\":1}"u8, "application/json");
        server.Join();
        Assert.NotNull(answer);
        Assert.Equal(201, answer.Status);
        Assert.Equal("{\"Id\":\"ab\"}", answer.Text);
        Assert.Equal("7", answer.Header("x-exit"));
        Assert.Null(answer.Header("X-Missing"));
        Assert.Equal("POST /v1/things?x=1 HTTP/1.0\r\nHost: tetherd\r\nX-Tether-State-Dir: /s\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}", seen);
    }

    [Fact]
    public void AnswersLargerThanOneReadArriveWhole()
    {
        var body = new string('x', 100_000);
        var server = Serve(_ => Encoding.UTF8.GetBytes("HTTP/1.1 200 OK\r\n\r\n" + body));
        var answer = DaemonHttp.Send(SocketPath, "GET", "/big", []);
        server.Join();
        Assert.Equal(body, answer!.Text);
    }

    [Fact]
    public void NobodyListeningIsNullNotAnError()
    {
        Assert.Null(DaemonHttp.Send(SocketPath, "GET", "/health", []));
        Assert.False(UnixStream.Listening(SocketPath));
        // A socket file whose process is gone refuses the connection: also nobody.
        using (var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)) dead.Bind(new UnixDomainSocketEndPoint(SocketPath));
        Assert.Null(DaemonHttp.Send(SocketPath, "GET", "/health", []));
    }

    [Fact]
    public void ClosingWithoutAnAnswerAndGarbageAreIOErrors()
    {
        var server = Serve(_ => null);
        var e = Assert.Throws<IOException>(() => DaemonHttp.Send(SocketPath, "DELETE", "/v1/sandboxes/a", []));
        server.Join();
        Assert.Contains("without answering DELETE /v1/sandboxes/a", e.Message);

        File.Delete(SocketPath);
        server = Serve(_ => "SSH-2.0-OpenSSH\r\n\r\n"u8.ToArray());
        e = Assert.Throws<IOException>(() => DaemonHttp.Send(SocketPath, "GET", "/health", []));
        server.Join();
        Assert.Contains("malformed answer", e.Message);
    }

    [Fact]
    public void ASilentPeerTimesOut()
    {
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(1);   // accepted by the kernel's backlog, never answered
        var e = Assert.Throws<IOException>(() => DaemonHttp.Send(SocketPath, "GET", "/health", [], timeoutMs: 200));
        Assert.Contains("timed out", e.Message);
    }

    [Fact]
    public void APathTooLongForAUnixSocketIsNobodyListening()
    {
        // sun_path holds 107 bytes and a NUL: nothing can listen at a longer path, so nobody does (the CLI works itself).
        var longPath = Path.Combine(dir, new string('x', UnixStream.MaxPathBytes), "d.sock");
        Assert.Null(DaemonHttp.Send(longPath, "GET", "/health", []));
        Assert.False(UnixStream.Listening(longPath));
        Assert.Null(UnixStream.ListenerPid(longPath));
    }

    [Fact]
    public void ListenerPidIsTheListeningProcessAndNullWithoutOne()
    {
        Assert.Null(UnixStream.ListenerPid(SocketPath));
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(1);
        Assert.Equal(Environment.ProcessId, UnixStream.ListenerPid(SocketPath));
    }

    [Fact]
    public void PeerPidIsTheConnectingProcess()
    {
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(1);
        Assert.True(UnixStream.Listening(SocketPath));
        using var accepted = listener.Accept();
        Assert.Equal(Environment.ProcessId, UnixStream.PeerPid(accepted.Handle));
    }
}
