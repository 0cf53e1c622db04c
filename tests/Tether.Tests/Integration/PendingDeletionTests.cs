using System.Net;
using Tether.Drivers;
using Tether.Drivers.Ipvlan;
using Tether.Drivers.Macvlan;
using Tether.Engine;
using Tether.Linux;
using Tether.State;
using Tether.Tests.Support;

namespace Tether.Tests.Integration;

/// <summary>
/// tetherd deletes the host end of a veth pair after it answers (<see cref="LinkReaper"/>): a macvlan or ipvlan endpoint
/// made next in the same sandbox (a disconnect from a bridge network, then a connect to a macvlan network) must wait for
/// the peer, whose name it takes, as the bridge driver's does.
/// </summary>
public class PendingDeletionTests
{
    [Theory]
    [InlineData("macvlan")]
    [InlineData("ipvlan")]
    public void An_endpoint_waits_for_the_deletions_pending_in_its_sandbox(string driverName)
    {
        using var lab = new Lab("pd");
        var sandbox = lab.AddNamespace("sb");
        var other = lab.AddNamespace("ot");
        // A backlog (twenty deletions of 15-40 ms each), then the pair whose peer is the sandbox's eth0.
        for (var i = 0; i < 20; i++) Sh.Run("ip", "-n", lab.Name, "link", "add", $"pq{i}", "type", "veth", "peer", "name", $"eth{i}", "netns", other);
        Sh.Run("ip", "-n", lab.Name, "link", "add", "ps0", "type", "veth", "peer", "name", "eth0", "netns", sandbox);
        Sh.Run("ip", "-n", lab.Name, "link", "add", "pp0", "type", "veth", "peer", "name", "pp1");
        Sh.Run("ip", "-n", lab.Name, "link", "set", "pp0", "up");
        var nsPath = $"/run/netns/{sandbox}";
        var network = new NetworkRecord("n1", "n1", driverName, false, null, 1500, new Dictionary<string, string> { [ParentLink.OptionKey] = "pp0" },
            DateTime.UtcNow, [new SubnetRecord("10.79.0.0/24", "10.79.0.1", null, null)]);
        var spec = new EndpointSpec(new SandboxRecord("s1", "s1", nsPath, DateTime.UtcNow, null), "eth0", "", IPAddress.Parse("10.79.0.2"), 24, []);

        NetNs.Run(lab.NsPath, () =>
        {
            using var host = new HostKernel();
            host.DeferLinkDeletions(_ => { });
            INetworkDriver driver = driverName == "macvlan" ? new MacvlanDriver(host) : new IpvlanDriver(host);
            for (var i = 0; i < 20; i++) host.DeleteLink($"pq{i}", $"/run/netns/{other}");
            host.DeleteLink("ps0", nsPath);
            try { driver.CreateEndpoint(network, spec, new UndoLog()); }
            // A kernel without ipvlan (this lab machine's) refuses the link itself: after the wait, not with EEXIST.
            catch (TetherException e) when (driverName == "ipvlan" && e.Message.StartsWith(KernelFeatures.Info(KernelFeature.Ipvlan).MissingMessage, StringComparison.Ordinal)) { }
        });

        var eth0 = Sh.Try("ip", "-n", sandbox, "-d", "-o", "link", "show", "eth0");
        if (eth0.ExitCode == 0) Assert.Contains($"{driverName} ", eth0.Stdout);
        else Assert.Equal("ipvlan", driverName);   // no ipvlan made, and the veth peer is gone
    }
}
