using System.Text.Json;

namespace Tether.Cni;

/// <summary>
/// Reads and writes the CNI JSON shapes of Model.cs by hand, with <see cref="JsonDocument"/> and
/// <see cref="Utf8JsonWriter"/>. tether-cni is one short-lived process per call: the source-generated serializer's
/// options, converters and metadata were about 1 MB of its peak RSS (code and data pages touched at start; VERSION
/// 6.2 -> 5.2 MB without it, docs/PERFORMANCE.md). Same rules as the serializer had: property names are
/// case-sensitive, unknown properties and JSON null are ignored, comments and trailing commas are allowed, a value of
/// the wrong type is a <see cref="JsonException"/> naming its property.
/// </summary>
static class CniJsonText
{
    static readonly JsonDocumentOptions DocumentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Parses a JSON text; the document stays alive for the process (its elements are used until exit).</summary>
    public static JsonElement Parse(byte[] utf8) => JsonDocument.Parse(utf8, DocumentOptions).RootElement;

    public static JsonElement Parse(string text) => JsonDocument.Parse(text, DocumentOptions).RootElement;

    // ------------------------------------------------------------------ reading

    public static NetConf NetConf(JsonElement e)
    {
        Object(e, "the network config");
        return new NetConf
        {
            CniVersion = Str(e, "cniVersion"), Name = Str(e, "name"), Type = Str(e, "type"), Network = Str(e, "network"),
            Driver = Str(e, "driver"), Options = StrMap(e, "options"), Internal = Bool(e, "internal"), Ipam = Element(e, "ipam"),
            Dns = Prop(e, "dns") is { } d ? Dns(d, "dns") : null,
            RuntimeConfig = Prop(e, "runtimeConfig") is { } rc ? RuntimeConfig(rc) : null,
            Args = Element(e, "args"), PrevResult = Element(e, "prevResult"), StateDir = Str(e, "stateDir"), RunDir = Str(e, "runDir"),
            ValidAttachments = List(e, "cni.dev/valid-attachments", v => new ValidAttachment { ContainerId = Str(v, "containerID"), IfName = Str(v, "ifname") }),
        };
    }

    public static IpamConf IpamConf(JsonElement e)
    {
        Object(e, "ipam");
        return new IpamConf
        {
            Type = Str(e, "type"), Subnet = Str(e, "subnet"), Gateway = Str(e, "gateway"), RangeStart = Str(e, "rangeStart"), RangeEnd = Str(e, "rangeEnd"),
            Ranges = List(e, "ranges", set => Items(set, "ranges[]", r => new IpamRange
            {
                Subnet = Str(r, "subnet"), Gateway = Str(r, "gateway"), RangeStart = Str(r, "rangeStart"), RangeEnd = Str(r, "rangeEnd"),
            })),
            Routes = List(e, "routes", Route),
        };
    }

    static RuntimeConfig RuntimeConfig(JsonElement e)
    {
        Object(e, "runtimeConfig");
        return new RuntimeConfig
        {
            PortMappings = List(e, "portMappings", p => new PortMapping
            {
                HostPort = Int(p, "hostPort") ?? 0, ContainerPort = Int(p, "containerPort") ?? 0, Protocol = Str(p, "protocol"), HostIp = Str(p, "hostIP"),
            }),
            Ips = StrList(e, "ips"), Mac = Str(e, "mac"),
            Dns = Prop(e, "dns") is { } d ? new RuntimeDns { Servers = StrList(Object(d, "dns"), "servers"), Searches = StrList(d, "searches"), Options = StrList(d, "options") } : null,
            Aliases = Prop(e, "aliases") is { } a ? Map(a, "aliases", v => Items(v, "aliases", x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw Wrong("aliases", "strings"))) : null,
        };
    }

    public static Result Result(JsonElement e)
    {
        Object(e, "the result");
        return new Result
        {
            CniVersion = Str(e, "cniVersion"),
            Interfaces = List(e, "interfaces", i => new Interface
            {
                Name = Str(i, "name"), Mac = Str(i, "mac"), Mtu = Int(i, "mtu"), Sandbox = Str(i, "sandbox"), SocketPath = Str(i, "socketPath"), PciId = Str(i, "pciID"),
            }),
            Ips = List(e, "ips", i => new IpConfig { Version = Str(i, "version"), Address = Str(i, "address"), Gateway = Str(i, "gateway"), Interface = Int(i, "interface") }),
            Routes = List(e, "routes", Route),
            Dns = Prop(e, "dns") is { } d ? Dns(d, "dns") : null,
        };
    }

    public static ErrorResult ErrorResult(JsonElement e)
    {
        Object(e, "the error");
        return new ErrorResult { CniVersion = Str(e, "cniVersion"), Code = Int(e, "code") ?? 0, Msg = Str(e, "msg"), Details = Str(e, "details") };
    }

    static Route Route(JsonElement r) => new()
    {
        Dst = Str(r, "dst"), Gw = Str(r, "gw"), Mtu = Int(r, "mtu"), AdvMss = Int(r, "advmss"), Priority = Int(r, "priority"), Table = Int(r, "table"), Scope = Int(r, "scope"),
    };

    static Dns Dns(JsonElement d, string what)
    {
        Object(d, what);
        return new Dns { Nameservers = StrList(d, "nameservers"), Domain = Str(d, "domain"), Search = StrList(d, "search"), Options = StrList(d, "options") };
    }

    static JsonElement? Prop(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    static JsonElement? Element(JsonElement e, string name) => Prop(e, name);

    static JsonElement Object(JsonElement e, string what) => e.ValueKind == JsonValueKind.Object ? e : throw Wrong(what, "an object");

    static JsonException Wrong(string what, string expected) => new($"{what}: expected {expected}");

    static string? Str(JsonElement e, string name) => Prop(e, name) is not { } v ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw Wrong(name, "a string");

    static bool? Bool(JsonElement e, string name) => Prop(e, name) is not { } v ? null
        : v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Wrong(name, "true or false") };

    static int? Int(JsonElement e, string name) => Prop(e, name) is not { } v ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Wrong(name, "an integer");

    static List<T>? List<T>(JsonElement e, string name, Func<JsonElement, T> item) => Prop(e, name) is { } v ? Items(v, name, item) : null;

    static List<T> Items<T>(JsonElement v, string name, Func<JsonElement, T> item)
    {
        if (v.ValueKind != JsonValueKind.Array) throw Wrong(name, "a list");
        var list = new List<T>(v.GetArrayLength());
        foreach (var x in v.EnumerateArray()) list.Add(item(x));
        return list;
    }

    static List<string>? StrList(JsonElement e, string name) =>
        List(e, name, x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw Wrong(name, "a list of strings"));

    static Dictionary<string, string>? StrMap(JsonElement e, string name) =>
        Prop(e, name) is { } v ? Map(v, name, x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw Wrong(name, "string values")) : null;

    static Dictionary<string, T> Map<T>(JsonElement v, string name, Func<JsonElement, T> value)
    {
        if (v.ValueKind != JsonValueKind.Object) throw Wrong(name, "an object");
        var map = new Dictionary<string, T>();
        foreach (var p in v.EnumerateObject()) map[p.Name] = value(p.Value);
        return map;
    }

    // ------------------------------------------------------------------ writing

    /// <summary>Writes the JSON (indented, null members left out) and a newline, then flushes.</summary>
    static void Emit(Stream stdout, Action<Utf8JsonWriter> body)
    {
        using (var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true })) body(w);
        stdout.Write("\n"u8);
        stdout.Flush();
    }

    public static void Write(Stream stdout, Result r) => Emit(stdout, w =>
    {
        w.WriteStartObject();
        S(w, "cniVersion", r.CniVersion);
        if (r.Interfaces is { } ifs)
        {
            w.WriteStartArray("interfaces");
            foreach (var i in ifs)
            {
                w.WriteStartObject();
                S(w, "name", i.Name); S(w, "mac", i.Mac); N(w, "mtu", i.Mtu); S(w, "sandbox", i.Sandbox); S(w, "socketPath", i.SocketPath); S(w, "pciID", i.PciId);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (r.Ips is { } ips)
        {
            w.WriteStartArray("ips");
            foreach (var i in ips)
            {
                w.WriteStartObject();
                S(w, "version", i.Version); S(w, "address", i.Address); S(w, "gateway", i.Gateway); N(w, "interface", i.Interface);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (r.Routes is { } routes)
        {
            w.WriteStartArray("routes");
            foreach (var x in routes)
            {
                w.WriteStartObject();
                S(w, "dst", x.Dst); S(w, "gw", x.Gw); N(w, "mtu", x.Mtu); N(w, "advmss", x.AdvMss); N(w, "priority", x.Priority); N(w, "table", x.Table); N(w, "scope", x.Scope);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (r.Dns is { } d)
        {
            w.WriteStartObject("dns");
            L(w, "nameservers", d.Nameservers); S(w, "domain", d.Domain); L(w, "search", d.Search); L(w, "options", d.Options);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    });

    public static void Write(Stream stdout, ErrorResult e) => Emit(stdout, w =>
    {
        w.WriteStartObject();
        S(w, "cniVersion", e.CniVersion);
        w.WriteNumber("code", e.Code);
        S(w, "msg", e.Msg);
        S(w, "details", e.Details);
        w.WriteEndObject();
    });

    public static void Write(Stream stdout, VersionResult v) => Emit(stdout, w =>
    {
        w.WriteStartObject();
        S(w, "cniVersion", v.CniVersion);
        L(w, "supportedVersions", v.SupportedVersions);
        w.WriteEndObject();
    });

    static void S(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null) w.WriteString(name, value);
    }

    static void N(Utf8JsonWriter w, string name, int? value)
    {
        if (value is { } v) w.WriteNumber(name, v);
    }

    static void L(Utf8JsonWriter w, string name, List<string>? values)
    {
        if (values is null) return;
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}
