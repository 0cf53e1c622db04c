namespace Tether.Firewall;

/// <summary>
/// Tether's firewall: applies ruleset changes through one <see cref="Nftables"/> context (and so in that context's
/// network namespace), except <see cref="ApplyElements"/> on port bindings, which sends its own nf_tables netlink batch
/// (<see cref="NfTablesNetlink"/>) on a socket opened on first use in the calling thread's network namespace. Every call
/// is one atomic transaction, so a call either fully succeeds or leaves the kernel as it was.
/// Not thread-safe: call it from one thread at a time, in the namespace of the firewall.
/// </summary>
public sealed class Firewall : IDisposable
{
    readonly Func<Nftables> createNftables;
    Nftables? nftables;
    NfTablesNetlink? netlink;

    /// <summary>A firewall that uses this context (and does not dispose it).</summary>
    public Firewall(Nftables nft)
    {
        ArgumentNullException.ThrowIfNull(nft);
        nftables = nft;
        createNftables = () => nft;
    }

    /// <summary>
    /// A firewall that creates its libnftables context on first need (not for <see cref="ApplyElements"/> of port
    /// bindings when that succeeds), on the calling thread. The factory's context belongs to the caller: this class
    /// never disposes it.
    /// </summary>
    public Firewall(Func<Nftables> createNftables) =>
        this.createNftables = createNftables ?? throw new ArgumentNullException(nameof(createNftables));

    Nftables nft => nftables ??= createNftables();

    /// <summary>Applies a delta (see <see cref="Ruleset.Render"/>).</summary>
    /// <exception cref="ArgumentException">The change holds an invalid bridge name, port or address.</exception>
    /// <exception cref="FirewallException">nftables rejected the batch; nothing was changed.</exception>
    public void Apply(FirewallChange change) => nft.Run(Ruleset.Render(change));

    /// <summary>Applies a delta that touches only set and map elements (see <see cref="Ruleset.RenderElements"/>), without
    /// rewriting the base chains; when that batch fails (e.g. the table was deleted behind Tether's back), applies the
    /// full <see cref="Apply"/> batch instead, which recreates the base. A change of port bindings only is sent as
    /// Tether's own nf_tables netlink batch (<see cref="NfTablesNetlink"/>, no libnftables); one that touches networks
    /// goes through libnftables.</summary>
    /// <exception cref="ArgumentException">The change holds an invalid bridge name, port or address.</exception>
    /// <exception cref="FirewallException">nftables rejected the full batch too; nothing was changed.</exception>
    public void ApplyElements(FirewallChange change)
    {
        try
        {
            var ops = NfTablesNetlink.PortOperations(change);
            if (ops == null) nft.Run(Ruleset.RenderElements(change));
            else (netlink ??= NfTablesNetlink.Open()).Apply(ops);
        }
        catch (FirewallException) { Apply(change); }
    }

    /// <summary>Makes the kernel hold exactly these networks and ports (see <see cref="Ruleset.RenderFull"/>).</summary>
    /// <exception cref="ArgumentException">An invalid bridge name, port or address.</exception>
    /// <exception cref="FirewallException">nftables rejected the batch; nothing was changed.</exception>
    public void Reconcile(IEnumerable<FirewallNetwork> networks, IEnumerable<PortMapping> ports) =>
        nft.Run(Ruleset.RenderFull(networks, ports));

    /// <summary>Reads back the networks and ports Tether's table holds now (empty when the table is absent).</summary>
    /// <exception cref="FirewallException">nft failed to list the ruleset.</exception>
    public FirewallState Read() => FirewallState.Parse(nft.ListJson($"list ruleset {Ruleset.TableFamily}"));

    /// <summary>Deletes Tether's table, the user chain included (teardown). Succeeds when it is already gone.</summary>
    public void RemoveAll() => nft.Run(Ruleset.RenderRemoveAll());

    /// <summary>Closes the netlink socket opened by <see cref="ApplyElements"/> (never the libnftables context).</summary>
    public void Dispose()
    {
        netlink?.Dispose();
        netlink = null;
    }
}
