namespace Tether.Firewall;

/// <summary>
/// Tether's firewall: applies ruleset changes through one <see cref="Nftables"/> context (and so in that context's
/// network namespace). Every call is one atomic nftables transaction that also rewrites Tether's base chains, so a
/// call either fully succeeds or leaves the kernel as it was.
/// </summary>
public sealed class Firewall
{
    readonly Nftables nft;

    public Firewall(Nftables nft) => this.nft = nft ?? throw new ArgumentNullException(nameof(nft));

    /// <summary>Applies a delta (see <see cref="Ruleset.Render"/>).</summary>
    /// <exception cref="ArgumentException">The change holds an invalid bridge name, port or address.</exception>
    /// <exception cref="FirewallException">nftables rejected the batch; nothing was changed.</exception>
    public void Apply(FirewallChange change) => nft.Run(Ruleset.Render(change));

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
}
