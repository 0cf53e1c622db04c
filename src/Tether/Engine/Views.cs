using System.Text.Json.Serialization;
using Tether.State;

namespace Tether.Engine;

// JSON shapes of `inspect`, `ls` and `network inspect`/`ls --format json`, modelled on docker's (property names
// as docker prints them), shared by every front end. Serialised with source generation (NativeAOT).

/// <summary>One network attachment as docker inspect shows it under NetworkSettings.Networks.NAME.</summary>
public sealed record EndpointView(
    string NetworkID, string EndpointID, string Gateway, string IPAddress, int IPPrefixLen, string MacAddress,
    IReadOnlyList<string> Aliases, string InterfaceName);

/// <summary>One published port as docker shows it under NetworkSettings.Ports["80/tcp"].</summary>
public sealed record PortView(string HostIp, string HostPort);

public sealed record NetworkSettingsView(string SandboxKey, IReadOnlyDictionary<string, IReadOnlyList<PortView>> Ports,
    IReadOnlyDictionary<string, EndpointView> Networks);

public sealed record StateView(string Status, bool Running, int Pid, IReadOnlyList<int> Pids);

/// <summary>One element of <c>tether inspect --format json</c>.</summary>
public sealed record SandboxView(string Id, string Name, string Created, StateView State, NetworkSettingsView NetworkSettings);

/// <summary>One element of <c>tether ls --format json</c>.</summary>
public sealed record SandboxSummaryView(string Id, string Name, string Status, IReadOnlyList<string> Networks,
    IReadOnlyList<string> IPAddresses, IReadOnlyList<string> Ports);

public sealed record IpamConfigView(string Subnet, string Gateway, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? IPRange);
public sealed record IpamView(string Driver, IReadOnlyList<IpamConfigView> Config);

/// <summary>A sandbox attached to a network, as docker network inspect shows it under Containers.ID.</summary>
public sealed record NetworkEndpointView(string Name, string EndpointID, string MacAddress, string IPv4Address, string IPv6Address);

/// <summary>One element of <c>tether network inspect --format json</c> and <c>network ls --format json</c>.</summary>
public sealed record NetworkView(string Name, string Id, string Created, string Scope, string Driver, bool EnableIPv6, IpamView IPAM,
    bool Internal, IReadOnlyDictionary<string, NetworkEndpointView> Containers, IReadOnlyDictionary<string, string> Options);

/// <summary>One driver in <c>tether info</c>: its capabilities, the kernel features it needs, and whether this host has them.</summary>
public sealed record DriverInfoView(string Name, IReadOnlyList<string> Capabilities, IReadOnlyList<string> KernelFeatures, bool Available);

/// <summary>One kernel feature in <c>tether info</c>: Present is null when the probe could not run (no privilege).</summary>
public sealed record KernelFeatureView(string Name, string Module, string Description, bool? Present);

/// <summary><c>tether info --format json</c>.</summary>
public sealed record InfoView(string KernelRelease, IReadOnlyList<DriverInfoView> Drivers, IReadOnlyList<KernelFeatureView> KernelFeatures);

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(InfoView))]
[JsonSerializable(typeof(List<SandboxView>))]
[JsonSerializable(typeof(List<SandboxSummaryView>))]
[JsonSerializable(typeof(List<NetworkView>))]
public sealed partial class ViewJson : JsonSerializerContext;

/// <summary>Builds the views from the engine's records.</summary>
public static class Views
{
    /// <summary><c>tether info</c>: the drivers and the kernel features this host has (probed in a throwaway namespace).</summary>
    public static InfoView Info(IEnumerable<Drivers.INetworkDriver> drivers)
    {
        var probe = Linux.KernelFeatures.Probe();
        string release;
        try { release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim(); }
        catch (IOException) { release = ""; }
        return new InfoView(release,
            drivers.OrderBy(d => d.Name, StringComparer.Ordinal).Select(d => new DriverInfoView(d.Name,
                Enum.GetValues<Drivers.DriverCapabilities>().Where(c => c != 0 && d.Capabilities.HasFlag(c)).Select(c => c.ToString()).ToList(),
                d.KernelFeatures.Select(f => Linux.KernelFeatures.Info(f).Name).ToList(),
                d.KernelFeatures.All(f => probe[f] != false))).ToList(),
            Linux.KernelFeatures.All.Select(i => new KernelFeatureView(i.Name, i.Module, i.Description, probe[i.Feature])).ToList());
    }

    /// <summary>"80/tcp" style key of a binding.</summary>
    public static string PortKey(PortBindingRecord p) => $"{p.ContainerPort}/{p.Protocol}";

    /// <summary>docker port's line for a binding: "80/tcp -> 0.0.0.0:8080".</summary>
    public static string PortLine(PortBindingRecord p) => $"{PortKey(p)} -> {(p.HostIp == "" ? "0.0.0.0" : p.HostIp)}:{p.HostPort}";

    public static SandboxView Sandbox(SandboxDetails d) => new(
        d.Sandbox.Id, d.Sandbox.Name, d.Sandbox.Created.ToString("O"),
        new StateView(d.Pids.Count > 0 ? "running" : "created", d.Pids.Count > 0, d.Sandbox.Pid is { } p && d.Pids.Contains(p) ? p : 0, d.Pids),
        new NetworkSettingsView(d.Sandbox.NsPath,
            d.Endpoints.SelectMany(e => e.Ports).GroupBy(PortKey).ToDictionary(g => g.Key,
                g => (IReadOnlyList<PortView>)g.Select(p => new PortView(p.HostIp == "" ? "0.0.0.0" : p.HostIp, p.HostPort.ToString())).ToList()),
            ModeEntry(d).Concat(d.Endpoints.Select(e => KeyValuePair.Create(e.Network.Name, new EndpointView(
                e.Network.Id, e.Endpoint.Id, e.Network.Internal ? "" : e.Network.Subnets[0].Gateway, e.Endpoint.Ip, e.Endpoint.PrefixLength,
                e.Endpoint.Mac, e.Endpoint.Aliases, e.Endpoint.IfName)))).ToDictionary()));

    /// <summary>A sandbox owned by a predefined network (host, none) shows it like docker: no endpoint, no address.</summary>
    static IEnumerable<KeyValuePair<string, EndpointView>> ModeEntry(SandboxDetails d) => d.ModeNetwork is { } n
        ? [KeyValuePair.Create(n.Name, new EndpointView(n.Id, "", "", "", 0, "", [], ""))]
        : [];

    public static SandboxSummaryView Summary(SandboxDetails d) => new(
        d.Sandbox.Id, d.Sandbox.Name, d.Pids.Count > 0 ? "running" : "created",
        (d.ModeNetwork is { } m ? [m.Name] : new List<string>()).Concat(d.Endpoints.Select(e => e.Network.Name)).ToList(),
        d.Endpoints.Select(e => e.Endpoint.Ip).ToList(),
        d.Endpoints.SelectMany(e => e.Ports).Select(p => $"{(p.HostIp == "" ? "0.0.0.0" : p.HostIp)}:{p.HostPort}->{PortKey(p)}").ToList());

    public static NetworkView Network(NetworkRecord n, IEnumerable<(EndpointRecord Endpoint, SandboxRecord Sandbox)> endpoints) => new(
        n.Name, n.Id, n.Created.ToString("O"), "local", n.Driver, false,
        new IpamView("default", n.Subnets.Select(s => new IpamConfigView(s.Subnet, s.Gateway, s.IpRange)).ToList()),
        n.Internal,
        endpoints.ToDictionary(x => x.Sandbox.Id, x => new NetworkEndpointView(x.Sandbox.Name, x.Endpoint.Id, x.Endpoint.Mac,
            x.Endpoint.Ip == "" ? "" : $"{x.Endpoint.Ip}/{x.Endpoint.PrefixLength}", "")),
        n.Bridge is null ? n.Options : new Dictionary<string, string>(n.Options) { ["bridge.name"] = n.Bridge, ["mtu"] = n.Mtu.ToString() });
}
