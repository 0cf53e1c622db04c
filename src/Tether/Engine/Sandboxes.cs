using System.Text.Json;
using System.Text.Json.Serialization;
using Tether.Dns;
using Tether.Ipam;

namespace Tether.Engine;

/// <summary>
/// What <c>tether create</c> asks for, as the CLI's flags give it (strings as typed; checked by
/// <see cref="Sandboxes.Create"/>). Also the body of tetherd's <c>POST /v1/sandboxes</c>.
/// </summary>
public sealed record SandboxCreateRequest(string Name, string Network, string? IPAddress, IReadOnlyList<string> Aliases,
    IReadOnlyList<string> Publish, IReadOnlyList<string> Dns, IReadOnlyList<string> DnsSearch, IReadOnlyList<string> AddHost,
    string? Hostname, string? HostResolvConf = null)
{
    /// <summary>The host's resolv.conf as the asking CLI reads it (<c>TETHER_RESOLV_CONF</c>, else /etc/resolv.conf):
    /// sent along so that a sandbox tetherd makes gets the same files as one the CLI makes. Null: the file is missing.</summary>
    public string? HostResolvConf { get; init; } = HostResolvConf;

    /// <summary>The checked parts: published ports parsed (<c>-p</c> syntax), DNS options validated.
    /// Throws <see cref="PortSpecException"/> or <see cref="TetherException"/> naming the first bad value.</summary>
    public (AttachRequest Attach, DnsOptions Dns) Parse()
    {
        // A request that came as JSON may lack fields or hold nulls where the CLI never puts them.
        if (Name is null) throw new TetherException("missing field Name");
        if (Network is null) throw new TetherException("missing field Network");
        foreach (var (field, list) in new[] { (nameof(Aliases), Aliases), (nameof(Publish), Publish), (nameof(Dns), Dns), (nameof(DnsSearch), DnsSearch), (nameof(AddHost), AddHost) })
            if (list is null || list.Any(x => x is null)) throw new TetherException($"field {field}: a list of strings is required");
        var dns = new DnsOptions(Dns, DnsSearch, AddHost, Hostname);
        dns.Validate();
        return (new AttachRequest(Network, IPAddress, Aliases, Publish.SelectMany(PortSpec.Parse).ToList()), dns);
    }

    /// <summary>The request as JSON, the shape <see cref="ApiJson"/> reads. Written with <see cref="Utf8JsonWriter"/>
    /// rather than the source-generated serializer: the serializer's first use costs a short-lived process about 3 ms of
    /// metadata set-up, as much as the rest of a <c>create</c> request (measured with a NativeAOT test program).</summary>
    public string ToJson()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Create(System.Text.Unicode.UnicodeRanges.BasicLatin) }))
        {
            w.WriteStartObject();
            w.WriteString(nameof(Name), Name);
            w.WriteString(nameof(Network), Network);
            w.WriteString(nameof(IPAddress), IPAddress);
            Strings(w, nameof(Aliases), Aliases);
            Strings(w, nameof(Publish), Publish);
            Strings(w, nameof(Dns), Dns);
            Strings(w, nameof(DnsSearch), DnsSearch);
            Strings(w, nameof(AddHost), AddHost);
            w.WriteString(nameof(Hostname), Hostname);
            w.WriteString(nameof(HostResolvConf), HostResolvConf);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    static void Strings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}

/// <summary>Answer of tetherd's <c>POST /v1/sandboxes</c>: the new sandbox's id.</summary>
public sealed record SandboxCreatedView(string Id);

/// <summary>Body of every error answer of tetherd: the one-line message the CLI prints.</summary>
public sealed record ErrorView(string Message);

[JsonSerializable(typeof(SandboxCreateRequest))]
[JsonSerializable(typeof(SandboxCreatedView))]
[JsonSerializable(typeof(ErrorView))]
public sealed partial class ApiJson : JsonSerializerContext;

/// <summary>
/// The sandbox use cases shared by every front end (the CLI working on the store itself, tetherd serving the CLI):
/// the engine's change plus the sandbox's files (resolv.conf, hosts, options) under the run dir. tetherd's DNS
/// listeners are the caller's business (the CLI tells tetherd, tetherd resyncs itself).
/// </summary>
public static class Sandboxes
{
    /// <summary>Creates the sandbox, attached, and writes its files; a failure to write them removes it again.
    /// <paramref name="host"/> is the host's resolv.conf (the upstreams of sandboxes without name resolution).
    /// Returns the sandbox with its endpoints (no Pids: it runs nothing yet) and whether it is on a network with name
    /// resolution (then it needs tetherd), and its DNS options as checked (what its options.json holds).</summary>
    public static (SandboxDetails Details, bool NeedsDns, DnsOptions Dns) Create(TetherEngine engine, SandboxCreateRequest request, ResolvConf host)
    {
        var (attach, dns) = request.Parse();
        var sandbox = engine.CreateSandbox(request.Name, attach);
        var details = engine.Attachments(sandbox);
        try { SandboxFiles.Write(engine.Paths, details, dns, host); }
        catch
        {
            engine.RemoveSandbox(sandbox.Id, force: true);
            SandboxFiles.Remove(engine.Paths, sandbox.Name);
            throw;
        }
        return (details, details.Endpoints.Any(e => NameTable.HasNameResolution(e.Network)), dns);
    }

    /// <summary>Removes the sandbox (by name, id or id prefix) and its files. False when there is no such sandbox.
    /// Errors as <see cref="TetherEngine.RemoveSandbox"/>.</summary>
    public static bool Remove(TetherEngine engine, string nameOrId, bool force)
    {
        var known = engine.FindSandbox(nameOrId);
        if (!engine.RemoveSandbox(nameOrId, force)) return false;
        if (known is not null) SandboxFiles.Remove(engine.Paths, known.Name);
        return true;
    }
}
