using Tether.Linux;
using Tether.Tests.Support;
using static Tether.Tests.Integration.LinuxOracle;

namespace Tether.Tests.Integration;

/// <summary>
/// The link operations of the macvlan and ipvlan drivers in a lab, with iproute2 as the oracle: children made directly in
/// another namespace, 802.1Q sub-interfaces with an alias, and the kernel feature probe. Where this kernel lacks a kind
/// (ipvlan, 8021q here), the test checks the refusal; on a kernel with it (the qemu harness), the real thing.
/// </summary>
public class LinuxDriverLinksTests
{
    /// <summary>A lab with a veth pair "dp0"/"dp1" as a parent, and a handle in the lab.</summary>
    static (Lab Lab, RtNetlink Nl, Link Parent) LabWithParent(string tag)
    {
        var lab = new Lab(tag);
        var nl = RtNetlink.OpenIn(lab.NsPath);
        using var self = NetNs.Open(lab.NsPath);
        var parent = nl.CreateVeth("dp0", 1500, "dp1", self);
        nl.SetUp(parent.Index);
        return (lab, nl, parent);
    }

    static bool OracleHas(Lab lab, params string[] addArgs)
    {
        var r = lab.TryExec(["ip", "link", "add", .. addArgs]);
        if (r.ExitCode == 0) lab.Exec("ip", "link", "del", "tprobe");
        return !r.Stderr.Contains("Unknown device type");
    }

    [Fact]
    public void Macvlan_is_made_directly_inside_another_namespace()
    {
        var (lab, nl, parent) = LabWithParent("lm");
        using var _ = lab;
        using var __ = nl;
        using var sandbox = new TempNetNs("sb");
        using (var fd = NetNs.Open(sandbox.Path)) nl.CreateMacvlan("eth0", parent.Index, MacvlanMode.Private, fd);
        Assert.Null(nl.FindLink("eth0"));
        var ip = Link(sandbox.Path, "eth0")!;
        Assert.Equal("macvlan", (string?)ip["linkinfo"]!["info_kind"]);
        Assert.Equal("private", (string?)ip["linkinfo"]!["info_data"]!["mode"]);
        using var inside = RtNetlink.OpenIn(sandbox.Path);
        var link = inside.FindLink("eth0")!;
        Assert.Equal(parent.Index, link.ParentIndex);
        Assert.NotEqual(parent.Mac, link.Mac);
        Assert.True(inside.DeleteLink("eth0"));
    }

    [Fact]
    public void Ipvlan_is_made_inside_another_namespace_or_refused_with_EOPNOTSUPP()
    {
        var (lab, nl, parent) = LabWithParent("li");
        using var _ = lab;
        using var __ = nl;
        using var sandbox = new TempNetNs("sb");
        var has = OracleHas(lab, "link", "dp0", "name", "tprobe", "type", "ipvlan");
        using var fd = NetNs.Open(sandbox.Path);
        if (!has)
        {
            var e = Assert.Throws<NetlinkException>(() => nl.CreateIpvlan("eth0", parent.Index, IpvlanMode.L3, IpvlanFlag.Private, fd));
            Assert.Equal(Libc.EOPNOTSUPP, e.Errno);
            Assert.Null(Link(sandbox.Path, "eth0"));
            Assert.False(KernelFeatures.Probe([KernelFeature.Ipvlan])[KernelFeature.Ipvlan]);
            return;
        }
        nl.CreateIpvlan("eth0", parent.Index, IpvlanMode.L3, IpvlanFlag.Private, fd);
        var ip = Link(sandbox.Path, "eth0")!;
        Assert.Equal("ipvlan", (string?)ip["linkinfo"]!["info_kind"]);
        Assert.Equal("l3", (string?)ip["linkinfo"]!["info_data"]!["mode"]);
        Assert.Contains("private", ip["linkinfo"]!["info_data"]!.ToJsonString());
        Assert.True(KernelFeatures.Probe([KernelFeature.Ipvlan])[KernelFeature.Ipvlan]);
    }

    [Fact]
    public void Vlan_sub_interface_with_alias_or_EOPNOTSUPP()
    {
        var (lab, nl, parent) = LabWithParent("lv");
        using var _ = lab;
        using var __ = nl;
        var has = OracleHas(lab, "link", "dp0", "name", "tprobe", "type", "vlan", "id", "3");
        Assert.Equal(has, KernelFeatures.Probe([KernelFeature.Vlan8021Q])[KernelFeature.Vlan8021Q]);
        if (!has)
        {
            Assert.Equal(Libc.EOPNOTSUPP, Assert.Throws<NetlinkException>(() => nl.CreateVlan("dp0.10", parent.Index, 10)).Errno);
            Assert.Null(Link(lab.NsPath, "dp0.10"));
            return;
        }
        var vlan = nl.CreateVlan("dp0.10", parent.Index, 10);
        nl.SetAlias(vlan.Index, "made by a test");
        var read = nl.FindLink("dp0.10")!;
        Assert.Equal(("vlan", 10, parent.Index, "made by a test"), (read.Kind, read.VlanId, read.ParentIndex, read.Alias));
        var ip = Link(lab.NsPath, "dp0.10")!;
        Assert.Equal(10, (int)ip["linkinfo"]!["info_data"]!["id"]!);
        Assert.Equal("made by a test", (string?)ip["ifalias"]);
        Assert.True(nl.DeleteLink("dp0.10"));
    }

    [Fact]
    public void Alias_reads_back()
    {
        var (lab, nl, parent) = LabWithParent("la");
        using var _ = lab;
        using var __ = nl;
        nl.SetAlias(parent.Index, "tether: test");
        Assert.Equal("tether: test", nl.FindLink("dp0")!.Alias);
        Assert.Equal("tether: test", (string?)Link(lab.NsPath, "dp0")!["ifalias"]);
    }

    [Fact]
    public void Probe_changes_nothing_in_the_callers_namespace()
    {
        using var lab = new Lab("lp");
        var before = lab.StableKernelSnapshot();
        var result = NsThread.RunIn(lab.NsPath, () => KernelFeatures.Probe());
        Assert.Equal(before, lab.StableKernelSnapshot());
        Assert.Equal(KernelFeatures.All.Count, result.Count);
        Assert.True(result[KernelFeature.Veth]);
        Assert.True(result[KernelFeature.Bridge]);
    }
}
