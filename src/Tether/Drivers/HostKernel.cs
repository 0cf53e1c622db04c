using Tether.Firewall;
using Tether.Linux;

namespace Tether.Drivers;

/// <summary>
/// The host's kernel as the drivers see it: one rtnetlink socket and one nftables context in the namespace
/// Tether runs in (the host, or a lab namespace in tests), each opened on first use and reused.
/// </summary>
public sealed class HostKernel : IDisposable
{
    RtNetlink? netlink;
    Nftables? nftables;
    Firewall.Firewall? firewall;
    LinkReaper? reaper;

    /// <summary>rtnetlink socket of the host namespace.</summary>
    public RtNetlink Netlink => netlink ??= RtNetlink.Open();

    /// <summary>Tether's nftables ruleset in the host namespace.</summary>
    public Firewall.Firewall Firewall => firewall ??= new Firewall.Firewall(() => nftables ??= new Nftables());

    readonly Dictionary<string, RtNetlink> sandboxes = new();

    /// <summary>Whether the firewall found its ruleset changed behind Tether's back (see <see cref="Firewall.Firewall.Drifted"/>).</summary>
    public bool FirewallDrifted => firewall?.Drifted == true;

    /// <summary>rtnetlink socket inside the sandbox namespace at <paramref name="nsPath"/>, opened once per use case
    /// (each opening costs a dedicated thread that enters the namespace) and closed by <see cref="ReleaseSandboxes"/>.</summary>
    public RtNetlink Sandbox(string nsPath)
    {
        if (!sandboxes.TryGetValue(nsPath, out var nl)) sandboxes[nsPath] = nl = RtNetlink.OpenIn(nsPath);
        return nl;
    }

    /// <summary>Closes the sandbox sockets; the engine calls it at the end of every use case. In a long-lived process
    /// (tetherd) a socket kept open would hold its namespace alive after <c>rm</c> (and with it the veth pair), and
    /// would be reused for a new namespace made at the same path.</summary>
    public void ReleaseSandboxes()
    {
        foreach (var nl in sandboxes.Values) nl.Dispose();
        sandboxes.Clear();
    }

    /// <summary>From now on, <see cref="DeleteLink"/> queues deletions on a <see cref="LinkReaper"/> instead of waiting for
    /// them: for a long-lived process (tetherd), whose answer need not wait for the kernel's rcu_barrier. Call it on a
    /// thread in the host namespace. <paramref name="log"/> gets a line per deletion that failed after its answer.</summary>
    public void DeferLinkDeletions(Action<string> log) => reaper ??= new LinkReaper(log);

    /// <summary>Deletes the host link <paramref name="name"/>, whose peer (if any) is in the sandbox namespace at
    /// <paramref name="peerNamespace"/>: now (a link already gone counts as deleted), or queued after
    /// <see cref="DeferLinkDeletions"/>.</summary>
    public void DeleteLink(string name, string? peerNamespace)
    {
        if (reaper is null) Netlink.DeleteLink(name);
        else reaper.Delete(name, peerNamespace);
    }

    /// <summary>Returns once no queued deletion has its peer in the namespace at <paramref name="nsPath"/>: before an
    /// interface is made there, whose name the peer may still hold.</summary>
    public void AwaitLinkDeletions(string nsPath) => reaper?.AwaitNamespace(nsPath);

    /// <summary>MTU of the interface that holds the host's IPv4 default route, or 1500 when there is none.</summary>
    public int DefaultRouteMtu()
    {
        var route = Netlink.ListRoutes(System.Net.Sockets.AddressFamily.InterNetwork)
            .FirstOrDefault(r => r.Destination is null && r.OutLinkIndex is not null);
        return route is null ? 1500 : Netlink.FindLink(route.OutLinkIndex!.Value)?.Mtu ?? 1500;
    }

    public void Dispose()
    {
        reaper?.Dispose();
        netlink?.Dispose();
        ReleaseSandboxes();
        firewall?.Dispose();
        nftables?.Dispose();
    }
}
