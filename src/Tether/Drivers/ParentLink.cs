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

    /// <summary>Parses <c>IFACE</c> or <c>IFACE.VLAN</c>; throws <see cref="TetherException"/> naming the bad value.</summary>
    public static ParentLink Parse(string text)
    {
        try { InterfaceName.Validate(text); }
        catch (ArgumentException e) { throw new TetherException($"invalid parent \"{text}\": {e.Message}"); }
        var dot = text.LastIndexOf('.');
        if (dot < 0) return new ParentLink(text, text, null);
        var vlan = text[(dot + 1)..];
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
