using Tether.Tests.Support;
using static Tether.Tests.Support.Rejected;

namespace Tether.Tests.EndToEnd;

/// <summary>
/// The macvlan <c>parent</c> option at its edges, through the CLI in labs: interface names with dots that are not 802.1Q
/// sub-interfaces, and parents the kernel cannot share (passthru holds one child only), refused at <c>network create</c>
/// instead of failing later at the first or second endpoint.
/// </summary>
public class MacvlanParentTests
{
    static bool Ping(Lab lab, string sandbox, string ip) =>
        lab.Tether("exec", sandbox, "--", "busybox", "ping", "-c", "1", "-W", "2", ip).ExitCode == 0;


    [Fact]
    public void ParentWithADotButNoVlanNumberIsAPlainInterface()
    {
        using var lab = new Lab("mpd");
        var rt = lab.AddNamespace("rt");
        lab.Wire(rt, "br.lan", "192.168.90.254/24", "r0", "192.168.90.1/24");

        lab.TetherOk("network", "create", "-d", "macvlan", "--subnet", "192.168.90.0/24", "--gateway", "192.168.90.1", "-o", "parent=br.lan", "lan");
        lab.TetherOk("create", "--name", "s", "--network", "lan");
        Assert.True(Ping(lab, "s", "192.168.90.1"));
        Assert.Empty(lab.Links("vlan"));   // used as it is: no sub-interface made

        AssertRejected(lab, ["\"br.wan\" not found"], "network", "create", "-d", "macvlan", "--subnet", "192.168.91.0/24", "-o", "parent=br.wan", "x");
        AssertRejected(lab, ["\"br.lan.0\""], "network", "create", "-d", "macvlan", "--subnet", "192.168.91.0/24", "-o", "parent=br.lan.0", "x");
        lab.TetherOk("rm", "s");
        lab.TetherOk("network", "rm", "lan");
        Assert.Single(lab.Links("veth"));   // the parent stays
    }

    [Fact]
    public void TheBridgeOfATetherNetworkIsNoParent()
    {
        using var lab = new Lab("mb");
        lab.TetherOk("network", "create", "--subnet", "10.87.0.0/24", "-o", "bridge.name=tbp0", "br1");
        // Removing br1 would remove its bridge and every macvlan child hanging off it.
        AssertRejected(lab, ["\"tbp0\"", "network br1"], "network", "create", "-d", "macvlan", "--subnet", "192.168.92.0/24", "-o", "parent=tbp0", "x");
    }

    [Fact]
    public void PassthruNeedsTheParentToItself()
    {
        using var lab = new Lab("mpp");
        var rt = lab.AddNamespace("rt");
        lab.Wire(rt, "par0", "192.168.90.254/24", "r0", "192.168.90.1/24");
        static string[] Net(string subnet, string mode, string name) =>
            ["network", "create", "-d", "macvlan", "--subnet", subnet, "-o", "parent=par0", "-o", $"macvlan_mode={mode}", name];

        // A bridge-mode network on par0 first: a passthru one on the same parent is refused, naming both.
        lab.TetherOk(Net("192.168.90.0/25", "bridge", "shared"));
        lab.TetherOk("create", "--name", "b1", "--network", "shared");
        AssertRejected(lab, ["\"par0\"", "shared", "passthru"], Net("192.168.90.128/25", "passthru", "pass"));
        lab.TetherOk("rm", "b1");
        lab.TetherOk("network", "rm", "shared");

        // A passthru network first: no other macvlan network may use par0, whatever its mode.
        lab.TetherOk([.. Net("192.168.90.0/25", "passthru", "pass"), "--gateway", "192.168.90.1"]);
        foreach (var mode in new[] { "bridge", "private", "vepa", "passthru" })
            AssertRejected(lab, ["\"par0\"", "network pass"], Net("192.168.90.128/25", mode, "other"));
        lab.TetherOk("create", "--name", "t1", "--network", "pass");
        Assert.True(Ping(lab, "t1", "192.168.90.1"));
        lab.TetherOk("rm", "t1");
        lab.TetherOk("network", "rm", "pass");

        // Once it is gone, par0 is free for networks that share it.
        lab.TetherOk(Net("192.168.90.0/25", "bridge", "b"));
        lab.TetherOk(Net("192.168.90.128/25", "vepa", "v"));
    }
}
