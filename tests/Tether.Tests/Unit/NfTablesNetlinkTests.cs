using System.Net;
using Tether.Firewall;

namespace Tether.Tests.Unit;

/// <summary>
/// The nf_tables element batch Tether builds, compared byte for byte with what nft 1.0.6 sent for the same command
/// (captured with <c>strace -e trace=sendmsg -xx nft ...</c> in a throwaway namespace holding Tether's maps; nft used
/// sequence numbers 0, 1, 2, as these tests do). Two documented differences: Tether asks for an ack per element
/// (NLM_F_ACK, 0x0004), and it omits NFTA_SET_ELEM_LIST_SET_ID (attribute 4, which nft adds for adds; the kernel finds
/// the set by name first and uses the id only for a set created in the same batch).
/// </summary>
public class NfTablesNetlinkTests
{
    const string BatchBegin = "14000000" + "1000" + "0100" + "00000000" + "00000000" + "0000000a";
    const string BatchEnd = "14000000" + "1100" + "0100" + "02000000" + "00000000" + "0000000a";
    const string Table = "0b000100" + "74657468657200" + "00";

    static PortMapping Map(string? hostIp, Protocol proto, int hostPort, string ip, int port) =>
        new(hostIp == null ? null : IPAddress.Parse(hostIp), proto, hostPort, IPAddress.Parse(ip), port, "tb-net1");

    static string Hex(FirewallChange change) =>
        Convert.ToHexStringLower(NfTablesNetlink.EncodeBatch(NfTablesNetlink.PortOperations(change)!, 0));

    /// <summary>nft's element message as captured, turned into Tether's: drop the SET_ID attribute, add NLM_F_ACK, fix nlmsg_len.</summary>
    static string AsTether(string nftMessage)
    {
        var b = Convert.FromHexString(nftMessage).ToList();
        // Attributes start after nlmsghdr (16) and nfgenmsg (4); find NFTA_SET_ELEM_LIST_SET_ID (type 4, length 8).
        for (int at = 20; at < b.Count;)
        {
            int len = b[at] | b[at + 1] << 8, aligned = (len + 3) & ~3;
            if ((b[at + 2] | b[at + 3] << 8) == 4) { b.RemoveRange(at, aligned); continue; }
            at += aligned;
        }
        b[0] = (byte)b.Count; // all test messages are < 256 bytes
        b[6] |= 0x04;
        return Convert.ToHexStringLower(b.ToArray());
    }

    [Fact]
    public void Add_to_v4_ports_matches_nft_add_element()
    {
        // nft add element inet tether v4_ports '{ tcp . 8080 : 172.18.0.2 . 80 }'
        const string nft = "60000000" + "0c0a" + "0104" + "01000000" + "00000000" + "01000000" + Table
                           + "0d000200" + "76345f706f72747300" + "000000"
                           + "08000400" + "00000001"
                           + "28000380" + "24000180" + "10000180" + "0c000100" + "06000000" + "1f900000"
                           + "10000280" + "0c000100" + "ac120002" + "00500000";
        Assert.Equal(BatchBegin + AsTether(nft) + BatchEnd,
            Hex(FirewallChange.Empty with { AddPorts = [Map(null, Protocol.Tcp, 8080, "172.18.0.2", 80)] }));
    }

    [Fact]
    public void Add_to_v6_host_ports_matches_nft_add_element()
    {
        // nft add element inet tether v6_host_ports '{ fd00::1 . udp . 53 : fd00::2 . 5353 }'
        const string nft = "80000000" + "0c0a" + "0104" + "01000000" + "00000000" + "01000000" + Table
                           + "12000200" + "76365f686f73745f706f72747300" + "0000"
                           + "08000400" + "00000004"
                           + "44000380" + "40000180" + "20000180" + "1c000100" + "fd000000000000000000000000000001" + "11000000" + "00350000"
                           + "1c000280" + "18000100" + "fd000000000000000000000000000002" + "14e90000";
        Assert.Equal(BatchBegin + AsTether(nft) + BatchEnd,
            Hex(FirewallChange.Empty with { AddPorts = [Map("fd00::1", Protocol.Udp, 53, "fd00::2", 5353)] }));
    }

    [Fact]
    public void Removal_is_add_then_delete_matching_nft_delete_element()
    {
        // nft delete element inet tether v4_ports '{ tcp . 8080 }'
        const string nftDelete = "48000000" + "0e0a" + "0100" + "01000000" + "00000000" + "01000000" + Table
                                 + "0d000200" + "76345f706f72747300" + "000000"
                                 + "18000380" + "14000180" + "10000180" + "0c000100" + "06000000" + "1f900000";
        var ops = NfTablesNetlink.PortOperations(FirewallChange.Empty with { RemovePorts = [Map(null, Protocol.Tcp, 8080, "172.18.0.2", 80)] })!;
        Assert.Equal(["add element v4_ports tcp . 8080", "delete element v4_ports tcp . 8080"], ops.Select(o => o.Describe()));
        var hex = Convert.ToHexStringLower(NfTablesNetlink.EncodeBatch(ops, 0));
        // Element messages are 88 bytes (add, seq 1) and 72 bytes (delete, seq 2); the batch end then has seq 3.
        var delete = hex.Substring((20 + 88) * 2, 72 * 2);
        Assert.Equal(AsTether(nftDelete).Replace("01000000" + "00000000" + "01000000", "02000000" + "00000000" + "01000000", StringComparison.Ordinal), delete);
        Assert.EndsWith(BatchEnd.Replace("1100" + "0100" + "02000000", "1100" + "0100" + "03000000", StringComparison.Ordinal), hex, StringComparison.Ordinal);
    }

    [Fact]
    public void Host_ip_key_is_address_proto_service_each_padded_to_four_bytes()
    {
        var op = Assert.Single(NfTablesNetlink.PortOperations(FirewallChange.Empty with { AddPorts = [Map("10.0.0.1", Protocol.Udp, 53, "10.89.0.2", 5353)] })!);
        Assert.Equal("v4_host_ports", op.Set);
        Assert.Equal("0a000001" + "11000000" + "00350000", Convert.ToHexStringLower(op.Key));
        Assert.Equal("0a590002" + "14e90000", Convert.ToHexStringLower(op.Value));
        Assert.Equal("add element v4_host_ports 10.0.0.1 . udp . 53", op.Describe());
    }

    [Fact]
    public void Order_follows_the_script_renderer_removals_first_and_duplicates_dropped()
    {
        var a = Map(null, Protocol.Tcp, 80, "10.0.0.2", 80);
        var b = Map("0.0.0.0", Protocol.Tcp, 81, "10.0.0.2", 81); // 0.0.0.0 = every address: v4_ports
        var c = Map("fd00::1", Protocol.Tcp, 82, "fd00::2", 82);
        var ops = NfTablesNetlink.PortOperations(new FirewallChange([], [], [c, a, a], [b, a]))!;
        Assert.Equal([
            "add element v4_ports tcp . 81", "add element v4_ports tcp . 80",
            "delete element v4_ports tcp . 81", "delete element v4_ports tcp . 80",
            "add element v4_ports tcp . 80", "add element v6_host_ports fd00::1 . tcp . 82",
        ], ops.Select(o => o.Describe()));
    }

    [Fact]
    public void Changes_with_networks_are_not_handled_and_invalid_bindings_throw()
    {
        Assert.Null(NfTablesNetlink.PortOperations(FirewallChange.Empty with { AddNetworks = [new("tb0", IPNetwork.Parse("10.0.0.0/24"), false)] }));
        Assert.Empty(NfTablesNetlink.PortOperations(FirewallChange.Empty)!);
        Assert.Throws<ArgumentOutOfRangeException>(() => NfTablesNetlink.PortOperations(FirewallChange.Empty with { AddPorts = [Map(null, Protocol.Tcp, 0, "10.0.0.2", 80)] }));
        Assert.Throws<ArgumentException>(() => NfTablesNetlink.PortOperations(FirewallChange.Empty with { AddPorts = [Map("fd00::1", Protocol.Tcp, 80, "10.0.0.2", 80)] }));
        Assert.Throws<ArgumentException>(() => NfTablesNetlink.PortOperations(FirewallChange.Empty with { AddPorts = [Map(null, Protocol.Tcp, 80, "0.0.0.0", 80)] }));
        Assert.Throws<ArgumentException>(() => NfTablesNetlink.PortOperations(FirewallChange.Empty with
            { AddPorts = [new(null, Protocol.Tcp, 80, IPAddress.Parse("10.0.0.2"), 80, "bad name!")] }));
    }
}
