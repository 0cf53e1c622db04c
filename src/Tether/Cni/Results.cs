using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Tether.Engine;

namespace Tether.Cni;

/// <summary>Builds CNI results from Tether's attachments, in the shape of each result version.</summary>
public static class Results
{
    /// <summary>The ADD result: interfaces bridge, host end of the veth pair, container interface (with <c>sandbox</c>);
    /// the endpoint's address on the container interface with the network's gateway; the default route through the
    /// gateway (not on internal networks), then <paramref name="extraRoutes"/> (from a delegated IPAM plugin).</summary>
    public static Result Of(CniAttachment a, string version, string netns, IEnumerable<Route>? extraRoutes, Dns? dns)
    {
        var v1 = !Older(version, "1.0.0");
        var withMtu = !Older(version, "1.1.0");
        var interfaces = new List<Interface>();
        if (a.Network.Bridge is { } bridge) interfaces.Add(new Interface { Name = bridge, Mac = a.BridgeMac, Mtu = withMtu ? a.Network.Mtu : null });
        if (a.Endpoint.HostIfName is { } hostIf) interfaces.Add(new Interface { Name = hostIf, Mac = a.HostIfMac, Mtu = withMtu ? a.Network.Mtu : null });
        interfaces.Add(new Interface { Name = a.Endpoint.IfName, Mac = a.Endpoint.Mac, Mtu = withMtu ? a.Network.Mtu : null, Sandbox = netns });
        var gateway = a.Network.Internal ? null : a.Network.Subnets[0].Gateway;
        var routes = new List<Route>();
        if (gateway is not null)
            routes.Add(new Route { Dst = Family(a.Endpoint.Ip) == "4" ? "0.0.0.0/0" : "::/0", Gw = gateway });
        routes.AddRange(extraRoutes ?? []);
        return new Result
        {
            CniVersion = version,
            Interfaces = interfaces,
            Ips = [new IpConfig { Version = v1 ? null : Family(a.Endpoint.Ip), Address = $"{a.Endpoint.Ip}/{a.Endpoint.PrefixLength}", Gateway = gateway, Interface = interfaces.Count - 1 }],
            Routes = routes,
            Dns = dns,
        };
    }

    /// <summary>Parses a prevResult (any supported version's shape).</summary>
    public static Result Parse(JsonElement json)
    {
        try { return CniJsonText.Result(json); }
        catch (JsonException e) { throw new CniException(CniException.DecodeFailure, $"decoding prevResult: {e.Message}"); }
    }

    /// <summary>"4" or "6" for an address with or without a prefix length (0.3.x/0.4.0 <c>ips[].version</c>).</summary>
    public static string? Family(string? address) =>
        address is not null && IPAddress.TryParse(address.Split('/')[0], out var ip) ? (ip.AddressFamily == AddressFamily.InterNetworkV6 ? "6" : "4") : null;

    static bool Older(string a, string b) => Version.Parse(a) < Version.Parse(b);
}
