using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tether.Linux;
using Tether.Tests.Support;

namespace Tether.Tests.Integration;

/// <summary>
/// DatagramLoop with real UDP sockets on the loopback of a lab namespace: every socket's datagrams reach its own handler
/// with the sender's address, replies reach the sender, a removed socket's handler is not called again, and a burst on
/// one socket does not keep the others waiting.
/// </summary>
public class DatagramLoopTests
{
    /// <summary>A lab namespace with its loopback up, a thread inside it, two bound sockets and a client socket there.</summary>
    sealed class Setup : IDisposable
    {
        public Lab Lab { get; } = new("dl");
        public NsThread Ns { get; }
        public Socket First { get; }
        public Socket Second { get; }
        public Socket Client { get; }

        public Setup()
        {
            Sh.Run("ip", "-n", Lab.Name, "link", "set", "lo", "up");
            Ns = new NsThread(Lab.NsPath);
            (First, Second, Client) = (Bound(Ns), Bound(Ns), ClientSocket(Ns));
        }

        public void Dispose()
        {
            foreach (var s in new[] { First, Second, Client }) s.Dispose();
            Ns.Dispose();
            Lab.Dispose();
        }
    }

    static Socket Bound(NsThread ns) => ns.Run(() =>
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return s;
    });

    static Socket ClientSocket(NsThread ns) => ns.Run(() =>
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 5000 };
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return s;
    });

    [Fact]
    public void Each_socket_gets_its_own_datagrams_and_replies_go_back_to_the_sender()
    {
        using var setup = new Setup();
        var (a, b, client) = (setup.First, setup.Second, setup.Client);
        var got = new ConcurrentQueue<(string Socket, string Text, IPEndPoint? From)>();
        using var loop = new DatagramLoop("test-dl");
        void Echo(string name, Socket s, byte[] buffer, int length, ReadOnlySpan<byte> peer)
        {
            var text = Encoding.ASCII.GetString(buffer, 0, length);
            got.Enqueue((name, text, DatagramLoop.EndPointOf(peer)));
            Assert.True(DatagramLoop.Reply(s, Encoding.ASCII.GetBytes(name + ":" + text), peer));
        }
        loop.Add(a, (s, buf, n, peer) => Echo("a", s, buf, n, peer));
        loop.Add(b, (s, buf, n, peer) => Echo("b", s, buf, n, peer));

        var reply = new byte[100];
        foreach (var (target, name) in new[] { (a, "a"), (b, "b"), (a, "a") })
        {
            client.SendTo(Encoding.ASCII.GetBytes("hello"), target.LocalEndPoint!);
            var n = client.Receive(reply);
            Assert.Equal(name + ":hello", Encoding.ASCII.GetString(reply, 0, n));
        }
        Assert.Equal(["a", "b", "a"], got.Select(g => g.Socket));
        Assert.All(got, g => Assert.Equal(client.LocalEndPoint, g.From));

        // Removed: no more calls for it, the other still served.
        loop.Remove(a);
        client.SendTo(Encoding.ASCII.GetBytes("late"), a.LocalEndPoint!);
        client.SendTo(Encoding.ASCII.GetBytes("again"), b.LocalEndPoint!);
        var m = client.Receive(reply);
        Assert.Equal("b:again", Encoding.ASCII.GetString(reply, 0, m));
        Thread.Sleep(100);
        Assert.DoesNotContain(got, g => g.Text == "late");
    }

    [Fact]
    public void A_burst_is_read_in_batches_and_every_datagram_arrives()
    {
        using var setup = new Setup();
        var (busy, quiet, client) = (setup.First, setup.Second, setup.Client);
        var counts = new ConcurrentDictionary<string, int>();
        var quietSeen = new ManualResetEventSlim();
        using var loop = new DatagramLoop("test-dl");
        loop.Add(busy, (_, _, _, _) => counts.AddOrUpdate("busy", 1, (_, c) => c + 1));
        loop.Add(quiet, (_, _, _, _) => { counts.AddOrUpdate("quiet", 1, (_, c) => c + 1); quietSeen.Set(); });

        const int Burst = 3 * DatagramLoop.Batch + 5;   // more than one batch: the socket is drained over several wake-ups
        for (var i = 0; i < Burst; i++) client.SendTo(BitConverter.GetBytes(i), busy.LocalEndPoint!);
        client.SendTo("q"u8.ToArray(), quiet.LocalEndPoint!);

        Assert.True(quietSeen.Wait(5000), "the quiet socket's datagram was never handled");
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (counts.GetValueOrDefault("busy") < Burst && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Assert.Equal(Burst, counts.GetValueOrDefault("busy"));
        Assert.Equal(1, counts.GetValueOrDefault("quiet"));
    }
}
