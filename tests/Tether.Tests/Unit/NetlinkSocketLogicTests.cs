using System.Buffers.Binary;
using System.Net;
using Tether.Linux;

namespace Tether.Tests.Unit;

/// <summary>How replies are matched to requests and how dumps end, restart and fail, on captured kernel datagrams.</summary>
public class NetlinkSocketLogicTests
{
    const uint RouteSeq = 0x6b0c4348, RoutePort = 0x1b88;
    static readonly NetlinkDecoder<Route> Routes = RtNetlink.DecodeMainRoute;

    static byte[] Done(uint seq, uint port, int status = 0)
    {
        var b = new byte[20];
        new NlMsgHdr(20, Nl.NLMSG_DONE, Nl.NLM_F_MULTI, seq, port).Write(b);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), status);
        return b;
    }

    [Fact]
    public void Dump_parts_are_decoded_until_NLMSG_DONE()
    {
        var results = new List<Route>();
        var state = new NetlinkSocket.DumpState();
        NetlinkSocket.ReadDumpPart(Convert.FromHexString(NetlinkCaptures.Route4Dump), RouteSeq, RoutePort, Routes, results, ref state, "list");
        Assert.Equal(3, results.Count);
        Assert.False(state.Done);
        NetlinkSocket.ReadDumpPart(Done(RouteSeq, RoutePort), RouteSeq, RoutePort, Routes, results, ref state, "list");
        Assert.True(state.Done);
        Assert.False(state.Interrupted);
    }

    [Fact]
    public void Replies_to_other_requests_or_ports_are_skipped()
    {
        var results = new List<Route>();
        var state = new NetlinkSocket.DumpState();
        var part = Convert.FromHexString(NetlinkCaptures.Route4Dump);
        NetlinkSocket.ReadDumpPart(part, RouteSeq + 1, RoutePort, Routes, results, ref state, "list");
        NetlinkSocket.ReadDumpPart(part, RouteSeq, RoutePort + 1, Routes, results, ref state, "list");
        NetlinkSocket.ReadDumpPart(Done(RouteSeq - 1, RoutePort), RouteSeq, RoutePort, Routes, results, ref state, "list");
        Assert.Empty(results);
        Assert.False(state.Done);
    }

    [Fact]
    public void NLM_F_DUMP_INTR_marks_the_dump_interrupted()
    {
        var part = Convert.FromHexString(NetlinkCaptures.Route4Dump);
        // Set NLM_F_DUMP_INTR on the second message, as the kernel does when the table changed between parts.
        int second = BinaryPrimitives.ReadInt32LittleEndian(part);
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(part.AsSpan(second + 6));
        BinaryPrimitives.WriteUInt16LittleEndian(part.AsSpan(second + 6), (ushort)(flags | Nl.NLM_F_DUMP_INTR));
        var results = new List<Route>();
        var state = new NetlinkSocket.DumpState();
        NetlinkSocket.ReadDumpPart(part, RouteSeq, RoutePort, Routes, results, ref state, "list");
        Assert.True(state.Interrupted);
        Assert.Equal(3, results.Count);
    }

    [Fact]
    public void Failed_dumps_throw_with_the_operation()
    {
        var state = new NetlinkSocket.DumpState();
        var e = Assert.Throws<NetlinkException>(() =>
            NetlinkSocket.ReadDumpPart(Done(RouteSeq, RoutePort, -16), RouteSeq, RoutePort, Routes, [], ref state, "list IPv4 routes"));
        Assert.Equal(16, e.Errno);
        Assert.Equal("list IPv4 routes: Device or resource busy", e.Message);

        // An NLMSG_ERROR with extended ack (seq 0x6b0c436d, port 0x200e) ends a dump with its message.
        var e2 = Assert.Throws<NetlinkException>(() =>
            NetlinkSocket.ReadDumpPart(Convert.FromHexString(NetlinkCaptures.ErrorWithExtAck), 0x6b0c436d, 0x200e, Routes, [], ref state, "list"));
        Assert.Equal("list: Invalid argument (mtu less than device minimum)", e2.Message);
    }

    [Fact]
    public void Acks_are_matched_by_sequence_and_port()
    {
        var ack = Convert.FromHexString(NetlinkCaptures.CappedAck);
        Assert.True(NetlinkSocket.TryReadAck(ack, 0x6b0c4254, 0x106f, out var ok));
        Assert.Equal(0, ok.Error);
        Assert.False(NetlinkSocket.TryReadAck(ack, 0x6b0c4255, 0x106f, out _));
        Assert.False(NetlinkSocket.TryReadAck(ack, 0x6b0c4254, 0x1070, out _));
        // A datagram of data (no NLMSG_ERROR) is not an ack.
        Assert.False(NetlinkSocket.TryReadAck(Convert.FromHexString(NetlinkCaptures.Route4Dump), RouteSeq, RoutePort, out _));

        Assert.True(NetlinkSocket.TryReadAck(Convert.FromHexString(NetlinkCaptures.ErrorWithExtAck), 0x6b0c436d, 0x200e, out var err));
        Assert.Equal(-22, err.Error);
        Assert.Equal("mtu less than device minimum", err.ExtAckMessage);
    }

    [Fact]
    public void Route_descriptions_read_like_ip_route()
    {
        Assert.Equal("10.9.0.0/16 src 10.1.2.3 via 10.1.2.1 dev 2",
            RtNetlink.Describe(new Route(IPNetwork.Parse("10.9.0.0/16"), IPAddress.Parse("10.1.2.1"), 2, IPAddress.Parse("10.1.2.3"))));
        Assert.Equal("default via fe80::1 dev 3", RtNetlink.Describe(new Route(null, IPAddress.Parse("fe80::1"), 3)));
    }
}
