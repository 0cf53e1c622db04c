using Tether.Linux;
using Tether.Tests.Support;

namespace Tether.Tests.Integration;

/// <summary>
/// LinkReaper against the real kernel: veth pairs in a lab namespace with their peers in a "sandbox" namespace; iproute2
/// is the oracle for what is left.
/// </summary>
public class LinkReaperTests
{
    const int Pairs = 6;

    static string[] PeerLinks(string ns) =>
        Sh.Run("ip", "-n", ns, "-o", "link", "show", "type", "veth").Split('\n', StringSplitOptions.RemoveEmptyEntries);

    static void MakePairs(Lab lab, string peerNs, string prefix)
    {
        for (var i = 0; i < Pairs; i++)
            Sh.Run("ip", "-n", lab.Name, "link", "add", $"{prefix}{i}", "type", "veth", "peer", "name", $"eth{i}", "netns", peerNs);
    }

    [Fact]
    public void AwaitNamespace_returns_once_every_link_with_its_peer_there_is_deleted()
    {
        using var lab = new Lab("lr");
        var sandbox = lab.AddNamespace("sb");
        var other = lab.AddNamespace("ot");
        MakePairs(lab, sandbox, "ra");
        Sh.Run("ip", "-n", lab.Name, "link", "add", "rb0", "type", "veth", "peer", "name", "eth0", "netns", other);
        var logged = new List<string>();
        using var reaper = NetNs.Run(lab.NsPath, () => new LinkReaper(logged.Add));

        for (var i = 0; i < Pairs; i++) reaper.Delete($"ra{i}", $"/run/netns/{sandbox}");
        reaper.AwaitNamespace($"/run/netns/{sandbox}");

        // Six deletions of 15-40 ms each: had AwaitNamespace not waited for all, some would still be there.
        Assert.Empty(PeerLinks(sandbox));
        Assert.DoesNotContain(lab.Links("veth"), l => l.Contains(": ra"));
        // The pair whose peer is elsewhere was not touched, and a namespace with nothing pending does not wait.
        reaper.AwaitNamespace($"/run/netns/{other}");
        Assert.Single(PeerLinks(other));
        Assert.Empty(logged);
    }

    [Fact]
    public void Dispose_waits_for_every_queued_deletion_and_a_link_already_gone_is_no_failure()
    {
        using var lab = new Lab("lr");
        var sandbox = lab.AddNamespace("sb");
        MakePairs(lab, sandbox, "rd");
        var logged = new List<string>();
        var reaper = NetNs.Run(lab.NsPath, () => new LinkReaper(logged.Add));

        for (var i = 0; i < Pairs; i++) reaper.Delete($"rd{i}", $"/run/netns/{sandbox}");
        reaper.Delete("rdgone", $"/run/netns/{sandbox}");
        reaper.Delete("rd9", "/run/netns/no-such-namespace");
        reaper.Dispose();

        Assert.Empty(PeerLinks(sandbox));
        Assert.Empty(logged);
        Assert.Throws<ObjectDisposedException>(() => reaper.Delete("rd0", null));
    }

    [Fact]
    public void A_deletion_the_kernel_refuses_is_logged_and_the_queue_goes_on()
    {
        using var lab = new Lab("lr");
        var sandbox = lab.AddNamespace("sb");
        MakePairs(lab, sandbox, "rf");
        var logged = new List<string>();
        using var reaper = NetNs.Run(lab.NsPath, () => new LinkReaper(logged.Add));

        reaper.Delete("lo", null);   // the loopback device cannot be deleted (EOPNOTSUPP)
        for (var i = 0; i < Pairs; i++) reaper.Delete($"rf{i}", $"/run/netns/{sandbox}");
        reaper.AwaitNamespace($"/run/netns/{sandbox}");

        Assert.Empty(PeerLinks(sandbox));
        var line = Assert.Single(logged);
        Assert.StartsWith("delete link \"lo\": ", line);
        Assert.Contains("UP", Sh.Run("ip", "-n", lab.Name, "-o", "link", "show", "lo"));
    }
}
