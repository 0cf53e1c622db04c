using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tether.Cni;

// JSON shapes of the CNI specification 1.1.0 (SPEC.md of containernetworking/cni) and its conventions document
// (CONVENTIONS.md: runtimeConfig capabilities, CNI_ARGS), read and written by CniJsonText (JsonText.cs); the
// [JsonPropertyName] attributes document each member's JSON name.

/// <summary>The network configuration a runtime passes on stdin (SPEC.md "Section 1: Network configuration format",
/// one plugin's entry of a conflist with <c>name</c>, <c>cniVersion</c>, <c>runtimeConfig</c> and <c>prevResult</c> added).</summary>
public sealed class NetConf
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("type")] public string? Type { get; set; }
    /// <summary>An existing Tether network to attach to (the network is not defined inline).</summary>
    [JsonPropertyName("network")] public string? Network { get; set; }
    /// <summary>Driver of a network defined inline (default bridge).</summary>
    [JsonPropertyName("driver")] public string? Driver { get; set; }
    /// <summary>Driver options of a network defined inline, as <c>tether network create -o KEY=VALUE</c> names them.</summary>
    [JsonPropertyName("options")] public Dictionary<string, string>? Options { get; set; }
    [JsonPropertyName("internal")] public bool? Internal { get; set; }
    [JsonPropertyName("ipam")] public JsonElement? Ipam { get; set; }
    [JsonPropertyName("dns")] public Dns? Dns { get; set; }
    [JsonPropertyName("runtimeConfig")] public RuntimeConfig? RuntimeConfig { get; set; }
    [JsonPropertyName("args")] public JsonElement? Args { get; set; }
    [JsonPropertyName("prevResult")] public JsonElement? PrevResult { get; set; }
    /// <summary>Tether's state dir (overrides TETHER_STATE_DIR; default /var/lib/tether).</summary>
    [JsonPropertyName("stateDir")] public string? StateDir { get; set; }
    /// <summary>Tether's run dir (overrides TETHER_RUN_DIR; default /run/tether).</summary>
    [JsonPropertyName("runDir")] public string? RunDir { get; set; }
    /// <summary>GC: the attachments the runtime still uses (SPEC.md "GC").</summary>
    [JsonPropertyName("cni.dev/valid-attachments")] public List<ValidAttachment>? ValidAttachments { get; set; }
}

/// <summary>The <c>ipam</c> section when Tether's IPAM serves it, with host-local's field names.</summary>
public sealed class IpamConf
{
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("subnet")] public string? Subnet { get; set; }
    [JsonPropertyName("gateway")] public string? Gateway { get; set; }
    [JsonPropertyName("rangeStart")] public string? RangeStart { get; set; }
    [JsonPropertyName("rangeEnd")] public string? RangeEnd { get; set; }
    [JsonPropertyName("ranges")] public List<List<IpamRange>>? Ranges { get; set; }
    [JsonPropertyName("routes")] public List<Route>? Routes { get; set; }
}

public sealed class IpamRange
{
    [JsonPropertyName("subnet")] public string? Subnet { get; set; }
    [JsonPropertyName("gateway")] public string? Gateway { get; set; }
    [JsonPropertyName("rangeStart")] public string? RangeStart { get; set; }
    [JsonPropertyName("rangeEnd")] public string? RangeEnd { get; set; }
}

/// <summary>runtimeConfig capabilities of CONVENTIONS.md that tether-cni declares.</summary>
public sealed class RuntimeConfig
{
    [JsonPropertyName("portMappings")] public List<PortMapping>? PortMappings { get; set; }
    [JsonPropertyName("ips")] public List<string>? Ips { get; set; }
    [JsonPropertyName("mac")] public string? Mac { get; set; }
    [JsonPropertyName("dns")] public RuntimeDns? Dns { get; set; }
    [JsonPropertyName("aliases")] public Dictionary<string, List<string>>? Aliases { get; set; }
}

/// <summary>One element of the <c>portMappings</c> capability.</summary>
public sealed class PortMapping
{
    [JsonPropertyName("hostPort")] public int HostPort { get; set; }
    [JsonPropertyName("containerPort")] public int ContainerPort { get; set; }
    [JsonPropertyName("protocol")] public string? Protocol { get; set; }
    [JsonPropertyName("hostIP")] public string? HostIp { get; set; }
}

/// <summary>The <c>dns</c> capability (CONVENTIONS.md names: servers, searches, options).</summary>
public sealed class RuntimeDns
{
    [JsonPropertyName("servers")] public List<string>? Servers { get; set; }
    [JsonPropertyName("searches")] public List<string>? Searches { get; set; }
    [JsonPropertyName("options")] public List<string>? Options { get; set; }
}

public sealed class ValidAttachment
{
    [JsonPropertyName("containerID")] public string? ContainerId { get; set; }
    [JsonPropertyName("ifname")] public string? IfName { get; set; }
}

/// <summary>DNS of a config and of a result (SPEC.md "DNS": nameservers, domain, search, options).</summary>
public sealed class Dns
{
    [JsonPropertyName("nameservers")] public List<string>? Nameservers { get; set; }
    [JsonPropertyName("domain")] public string? Domain { get; set; }
    [JsonPropertyName("search")] public List<string>? Search { get; set; }
    [JsonPropertyName("options")] public List<string>? Options { get; set; }
}

/// <summary>The success result of ADD (SPEC.md "Success"); 0.3.x/0.4.0 shapes differ only in <c>ips[].version</c>,
/// 1.1.0 adds <c>interfaces[].mtu</c> (and socketPath, pciID, unused here).</summary>
public sealed class Result
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("interfaces")] public List<Interface>? Interfaces { get; set; }
    [JsonPropertyName("ips")] public List<IpConfig>? Ips { get; set; }
    [JsonPropertyName("routes")] public List<Route>? Routes { get; set; }
    [JsonPropertyName("dns")] public Dns? Dns { get; set; }
}

public sealed class Interface
{
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("mac")] public string? Mac { get; set; }
    [JsonPropertyName("mtu")] public int? Mtu { get; set; }
    /// <summary>The namespace path for interfaces inside the container; absent for host interfaces.</summary>
    [JsonPropertyName("sandbox")] public string? Sandbox { get; set; }
    [JsonPropertyName("socketPath")] public string? SocketPath { get; set; }
    [JsonPropertyName("pciID")] public string? PciId { get; set; }
}

public sealed class IpConfig
{
    /// <summary>"4" or "6": only in results of version 0.3.0, 0.3.1 and 0.4.0.</summary>
    [JsonPropertyName("version")] public string? Version { get; set; }
    [JsonPropertyName("address")] public string? Address { get; set; }
    [JsonPropertyName("gateway")] public string? Gateway { get; set; }
    /// <summary>Index into <c>interfaces</c> of the interface holding the address.</summary>
    [JsonPropertyName("interface")] public int? Interface { get; set; }
}

public sealed class Route
{
    [JsonPropertyName("dst")] public string? Dst { get; set; }
    [JsonPropertyName("gw")] public string? Gw { get; set; }
    [JsonPropertyName("mtu")] public int? Mtu { get; set; }
    [JsonPropertyName("advmss")] public int? AdvMss { get; set; }
    [JsonPropertyName("priority")] public int? Priority { get; set; }
    [JsonPropertyName("table")] public int? Table { get; set; }
    [JsonPropertyName("scope")] public int? Scope { get; set; }
}

/// <summary>The error result (SPEC.md "Error"), printed on stdout with a non-zero exit.</summary>
public sealed class ErrorResult
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("code")] public int Code { get; set; }
    [JsonPropertyName("msg")] public string? Msg { get; set; }
    [JsonPropertyName("details")] public string? Details { get; set; }
}

/// <summary>The VERSION result (SPEC.md "VERSION").</summary>
public sealed class VersionResult
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("supportedVersions")] public List<string>? SupportedVersions { get; set; }
}
