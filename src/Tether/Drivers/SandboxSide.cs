using Tether.Engine;
using Tether.Linux;

namespace Tether.Drivers;

/// <summary>Steps every driver takes inside the sandbox once its interface exists there.</summary>
public static class SandboxSide
{
    /// <summary>Gives the sandbox's interface <see cref="EndpointSpec.IfName"/> its address and sets it up; returns its MAC
    /// as "aa:bb:cc:dd:ee:ff" (empty when it has none).</summary>
    public static string Configure(HostKernel host, EndpointSpec ep)
    {
        var inside = host.Sandbox(ep.Sandbox.NsPath);
        var link = inside.FindLink(ep.IfName) ?? throw new TetherException($"interface {ep.IfName} did not appear in sandbox {ep.Sandbox.Name}");
        inside.AddAddress(link.Index, ep.Address, ep.PrefixLength);
        inside.SetUp(link.Index);
        return link.Mac?.ToString() is { Length: 12 } hex
            ? string.Join(':', Enumerable.Range(0, 6).Select(i => hex.Substring(i * 2, 2))).ToLowerInvariant()
            : "";
    }

    /// <summary>Deletes the sandbox's interface (a macvlan or ipvlan child lives only there); a missing namespace or link
    /// counts as removed.</summary>
    public static void DeleteLink(HostKernel host, string nsPath, string ifName)
    {
        if (!NetNs.Exists(nsPath)) return;
        host.Sandbox(nsPath).DeleteLink(ifName);
    }
}
