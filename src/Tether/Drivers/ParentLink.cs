using System.Globalization;
using Tether.Engine;
using Tether.Linux;
using Tether.State;

namespace Tether.Drivers;

/// <summary>
/// The <c>parent</c> option of drivers whose endpoints are children of a host interface (macvlan, ipvlan): <c>IFACE</c>,
/// or <c>IFACE.VLAN</c> for an 802.1Q sub-interface (VLAN id 1..4094, IEEE 802.1Q) that Tether creates on first use (link
/// kind "vlan", marked with the alias <see cref="Marker"/>) and removes when the last network using it goes. A
/// sub-interface that already existed is used as it is and never removed.
/// </summary>
public sealed record ParentLink(string Name, string Base, int? VlanId)
{
    /// <summary>Alias (IFLA_IFALIAS) of the sub-interfaces Tether made.</summary>
    public const string Marker = "tether: 802.1Q sub-interface of macvlan/ipvlan networks";

    /// <summary>Network option that names the parent interface (docker's key).</summary>
    public const string OptionKey = "parent";

    /// <summary>Parses and checks the network's <c>parent</c> option; changes nothing. Throws <see cref="TetherException"/>
    /// when it is missing, malformed, names an interface that does not exist, or needs 8021q on a kernel without it.</summary>
    public static ParentLink Check(HostKernel host, NetworkRecord n)
    {
        var text = n.Options.GetValueOrDefault(OptionKey);
        if (string.IsNullOrEmpty(text))
            throw new TetherException($"driver {n.Driver} needs the host interface its endpoints sit on: -o parent=IFACE (or IFACE.VLAN)");
        var p = Parse(text);
        var baseLink = host.Netlink.FindLink(p.Base) ?? throw new TetherException($"parent interface \"{p.Base}\" not found");
        if (baseLink.Name == "lo") throw new TetherException("parent interface \"lo\" is the loopback; use an Ethernet interface");
        if (p.VlanId is { } vid)
        {
            var existing = host.Netlink.FindLink(p.Name);
            if (existing is null)
            {
                if (!KernelFeatures.Has(KernelFeature.Vlan8021Q))
                    throw new TetherException($"parent \"{p.Name}\": {KernelFeatures.Info(KernelFeature.Vlan8021Q).MissingMessage}");
            }
            else if (existing.Kind != "vlan" || existing.VlanId != vid || existing.ParentIndex != baseLink.Index)
                throw new TetherException($"parent \"{p.Name}\" exists but is not VLAN {vid} of {p.Base}");
        }
        return p;
    }

    /// <summary>Refuses a network whose parent the kernel cannot share with the <paramref name="existing"/> networks on the same
    /// interface: macvlan and ipvlan children cannot hang off one parent (the kernel answers EBUSY), and a macvlan parent in
    /// passthru mode holds exactly one child (EINVAL for any other), so a passthru network needs the parent to itself; and the
    /// bridge of a Tether network is no parent, since removing that network removes the bridge and every child with it.
    /// <paramref name="passthru"/> says whether a network is in macvlan passthru mode. Changes nothing.</summary>
    public void CheckShared(NetworkRecord network, IReadOnlyList<NetworkRecord> existing, Func<NetworkRecord, bool> passthru)
    {
        foreach (var other in existing)
        {
            if (other.Bridge is { } bridge && (bridge == Name || bridge == Base))
                throw new TetherException($"parent \"{Name}\" is the bridge of Tether network {other.Name}, which removes it with the network; use a host interface");
            if (other.Options.GetValueOrDefault(OptionKey) != Name) continue;
            if (other.Driver != network.Driver)
                throw new TetherException($"parent \"{Name}\" is used by {other.Driver} network {other.Name}; the kernel cannot put {network.Driver} and {other.Driver} children on one parent");
            if (passthru(network) || passthru(other))
                throw new TetherException($"parent \"{Name}\" is used by macvlan network {other.Name}; macvlan_mode passthru needs a parent to itself (one child only)");
        }
    }

    /// <summary>Parses <c>IFACE</c> or <c>IFACE.VLAN</c> (VLAN: the digits after the last dot; a name whose last dot is not
    /// followed by digits only, such as "br.lan", is a plain interface); throws <see cref="TetherException"/> naming the bad value.</summary>
    public static ParentLink Parse(string text)
    {
        try { InterfaceName.Validate(text); }
        catch (ArgumentException e) { throw new TetherException($"invalid parent \"{text}\": {e.Message}"); }
        var dot = text.LastIndexOf('.');
        var vlan = text[(dot + 1)..];
        // Interface names may contain dots (a bridge "br.lan"): only a suffix of digits names a VLAN.
        if (dot < 0 || vlan.Length == 0 || !vlan.All(char.IsAsciiDigit)) return new ParentLink(text, text, null);
        if (dot == 0 || !int.TryParse(vlan, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id is < 1 or > 4094)
            throw new TetherException($"invalid parent \"{text}\": expected IFACE or IFACE.VLAN with VLAN 1..4094");
        return new ParentLink(text, text[..dot], id);
    }

    /// <summary>Makes the 802.1Q sub-interface when it is missing (registering its removal in <paramref name="undo"/>); returns
    /// what it did, or null when nothing was needed.</summary>
    public string? Ensure(HostKernel host, UndoLog undo)
    {
        if (VlanId is not { } vid || host.Netlink.FindLink(Name) is not null) return null;
        var baseLink = host.Netlink.FindLink(Base) ?? throw new TetherException($"parent interface \"{Base}\" not found");
        Link vlan;
        try { vlan = host.Netlink.CreateVlan(Name, baseLink.Index, vid); }
        catch (NetlinkException e) when (e.Errno == Libc.EOPNOTSUPP)
        {
            throw new TetherException($"parent \"{Name}\": {KernelFeatures.Info(KernelFeature.Vlan8021Q).MissingMessage}");
        }
        undo.Add($"vlan {Name}", () => host.Netlink.DeleteLink(Name));
        host.Netlink.SetAlias(vlan.Index, Marker);
        host.Netlink.SetUp(vlan.Index);
        return $"created 802.1Q sub-interface {Name}";
    }

    /// <summary>Removes the sub-interface when Tether made it and no network in <paramref name="remaining"/> uses it.</summary>
    public void Release(HostKernel host, IReadOnlyList<NetworkRecord> remaining)
    {
        if (VlanId is null || remaining.Any(n => n.Options.GetValueOrDefault(OptionKey) == Name)) return;
        if (host.Netlink.FindLink(Name) is { Alias: Marker }) host.Netlink.DeleteLink(Name);
    }

    /// <summary>The parent's link in the host, for endpoint creation; throws when it went missing.</summary>
    public Link Find(HostKernel host, NetworkRecord n) =>
        host.Netlink.FindLink(Name) ?? throw new TetherException($"parent interface \"{Name}\" of network {n.Name} is missing{(VlanId is null ? "" : "; run tether reconcile")}");
}
