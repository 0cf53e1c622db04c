using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tether.Engine;
using Tether.Ipam;

namespace Tether.Dns;

/// <summary>
/// The name-resolution options of a sandbox, given to <c>create</c>/<c>run</c> as in docker run.
/// </summary>
/// <param name="Dns">Upstream resolvers (<c>--dns</c>): on a network with embedded DNS the server forwards this sandbox's
/// queries to them; otherwise they are the sandbox's nameservers.</param>
/// <param name="DnsSearch">Search domains (<c>--dns-search</c>); empty: the host's; "." alone: none (as Docker).</param>
/// <param name="ExtraHosts">Extra /etc/hosts lines as "NAME:IP" (<c>--add-host</c>).</param>
/// <param name="Hostname">Host name in the sandbox's UTS namespace (<c>--hostname</c>); null: the first 12 digits of the id.</param>
public sealed record DnsOptions(IReadOnlyList<string> Dns, IReadOnlyList<string> DnsSearch, IReadOnlyList<string> ExtraHosts, string? Hostname)
{
    public static DnsOptions None { get; } = new([], [], [], null);

    /// <summary>Checks the values; throws <see cref="TetherException"/> naming the first bad one.</summary>
    public void Validate()
    {
        foreach (var d in Dns)
            if (Cidr.TryParseAddress(d) is null) throw new TetherException($"invalid --dns \"{d}\": not an IP address");
        foreach (var s in DnsSearch)
            if (s.Length == 0 || s.Length > 253 || s.Any(c => char.IsWhiteSpace(c))) throw new TetherException($"invalid --dns-search \"{s}\"");
        foreach (var h in ExtraHosts) ParseHost(h);
        if (Hostname is { } n && (n.Length is 0 or > 64 || !n.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.')))
            throw new TetherException($"invalid --hostname \"{n}\": letters, digits, '-' and '.' only, at most 64 characters");
    }

    /// <summary>"NAME:IP" (IPv6 allowed after the first colon, optionally in brackets) -> (name, address).</summary>
    public static (string Name, IPAddress Address) ParseHost(string spec)
    {
        var colon = spec.IndexOf(':');
        if (colon <= 0) throw new TetherException($"invalid --add-host \"{spec}\": expected NAME:IP");
        var name = spec[..colon];
        var ip = spec[(colon + 1)..];
        if (ip.Length >= 2 && ip[0] == '[' && ip[^1] == ']') ip = ip[1..^1];   // one pair around the address, as docker takes it
        if (Cidr.TryParseAddress(ip) is not { } address) throw new TetherException($"invalid --add-host \"{spec}\": \"{ip}\" is not an IP address");
        if (name.Any(c => char.IsWhiteSpace(c) || c == '#')) throw new TetherException($"invalid --add-host \"{spec}\": bad host name");
        return (name, address);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(DnsOptions))]
internal sealed partial class DnsOptionsJson : JsonSerializerContext;

/// <summary>
/// What a host's resolv.conf says (resolv.conf(5)): nameservers, search domains, options. Unknown lines are ignored.
/// </summary>
public sealed record ResolvConf(IReadOnlyList<IPAddress> Nameservers, IReadOnlyList<string> Search, IReadOnlyList<string> Options)
{
    /// <summary>The resolv.conf Tether treats as the host's: <c>TETHER_RESOLV_CONF</c> when set (tests point it at a lab's
    /// upstream), else /etc/resolv.conf.</summary>
    public static string HostPath => Environment.GetEnvironmentVariable("TETHER_RESOLV_CONF") is { Length: > 0 } p ? p : "/etc/resolv.conf";

    /// <summary>Reads and parses <paramref name="path"/>; a missing file is an empty config.</summary>
    public static ResolvConf Read(string path) => File.Exists(path) ? Parse(File.ReadAllText(path)) : new([], [], []);

    public static ResolvConf Parse(string text)
    {
        var ns = new List<IPAddress>();
        var search = new List<string>();
        var options = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            switch (parts[0])
            {
                case "nameserver" when parts.Length > 1:
                    // "fe80::1%eth0": a zone index is kept by IPAddress.TryParse.
                    if (IPAddress.TryParse(parts[1], out var a)) ns.Add(a);
                    break;
                case "search" or "domain":   // the last of them wins (resolv.conf(5))
                    search.Clear();
                    search.AddRange(parts.Skip(1));
                    break;
                case "options":
                    options.AddRange(parts.Skip(1));
                    break;
            }
        }
        return new(ns, search, options);
    }
}

/// <summary>
/// The per-sandbox files that <c>run</c> and <c>exec</c> bind-mount over /etc/resolv.conf and /etc/hosts in the
/// process's private mount namespace, kept under RUN_DIR/sandboxes/NAME with the sandbox's <see cref="DnsOptions"/>
/// (options.json). Written at create, rewritten on connect and disconnect, removed with the sandbox.
/// </summary>
public static class SandboxFiles
{
    /// <summary>The address of the embedded DNS server inside each sandbox (Docker's).</summary>
    public static readonly IPAddress EmbeddedDns = IPAddress.Parse("127.0.0.11");

    public static string Dir(TetherPaths paths, string sandboxName) => Path.Combine(paths.RunDir, "sandboxes", sandboxName);
    public static string ResolvConfPath(TetherPaths paths, string sandboxName) => Path.Combine(Dir(paths, sandboxName), "resolv.conf");
    public static string HostsPath(TetherPaths paths, string sandboxName) => Path.Combine(Dir(paths, sandboxName), "hosts");
    public static string OptionsPath(TetherPaths paths, string sandboxName) => Path.Combine(Dir(paths, sandboxName), "options.json");

    /// <summary>The sandbox's options, or <see cref="DnsOptions.None"/> when it has none recorded.</summary>
    public static DnsOptions ReadOptions(TetherPaths paths, string sandboxName)
    {
        var p = OptionsPath(paths, sandboxName);
        if (!File.Exists(p)) return DnsOptions.None;
        try { return JsonSerializer.Deserialize(File.ReadAllText(p), DnsOptionsJson.Default.DnsOptions) ?? DnsOptions.None; }
        catch (JsonException) { return DnsOptions.None; }
    }

    /// <summary>Writes options.json, resolv.conf and hosts for the sandbox as it is now. The files are rewritten in place
    /// (same inode), so processes that already have them bind-mounted see the new content.</summary>
    public static void Write(TetherPaths paths, SandboxDetails sandbox, DnsOptions options, ResolvConf host)
    {
        var dir = Dir(paths, sandbox.Sandbox.Name);
        Directory.CreateDirectory(dir);
        Replace(OptionsPath(paths, sandbox.Sandbox.Name), JsonSerializer.Serialize(options, DnsOptionsJson.Default.DnsOptions));
        Replace(ResolvConfPath(paths, sandbox.Sandbox.Name), RenderResolvConf(sandbox, options, host));
        Replace(HostsPath(paths, sandbox.Sandbox.Name), RenderHosts(sandbox, options));
    }

    /// <summary>Writes the files of a sandbox whose resolver is not Tether's embedded server (a CNI attachment in a
    /// container runtime's namespace, where tetherd runs no listener): resolv.conf names <paramref name="resolver"/>'s
    /// nameservers, search domains and options as given.</summary>
    public static void WriteOwnResolver(TetherPaths paths, SandboxDetails sandbox, DnsOptions options, ResolvConf resolver)
    {
        var dir = Dir(paths, sandbox.Sandbox.Name);
        Directory.CreateDirectory(dir);
        var sb = new StringBuilder("# Generated by tether for sandbox ").Append(sandbox.Sandbox.Name).Append('\n');
        foreach (var s in resolver.Nameservers) sb.Append("nameserver ").Append(s).Append('\n');
        if (resolver.Search.Count > 0) sb.Append("search ").AppendJoin(' ', resolver.Search).Append('\n');
        if (resolver.Options.Count > 0) sb.Append("options ").AppendJoin(' ', resolver.Options).Append('\n');
        // options.json in DnsOptionsJson's shape, written with Utf8JsonWriter: tether-cni, which calls this on every ADD,
        // then loads none of the serializer (about 1 MB of its peak RSS).
        using (var buffer = new MemoryStream())
        {
            using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                foreach (var (name, list) in new[] { ("Dns", options.Dns), ("DnsSearch", options.DnsSearch), ("ExtraHosts", options.ExtraHosts) })
                {
                    w.WriteStartArray(name);
                    foreach (var v in list) w.WriteStringValue(v);
                    w.WriteEndArray();
                }
                if (options.Hostname is null) w.WriteNull("Hostname");
                else w.WriteString("Hostname", options.Hostname);
                w.WriteEndObject();
            }
            Replace(OptionsPath(paths, sandbox.Sandbox.Name), Encoding.UTF8.GetString(buffer.ToArray()));
        }
        Replace(ResolvConfPath(paths, sandbox.Sandbox.Name), sb.ToString());
        Replace(HostsPath(paths, sandbox.Sandbox.Name), RenderHosts(sandbox, options));
    }

    /// <summary>Rewrites the files after the sandbox's endpoints changed, keeping its recorded options.</summary>
    public static void Refresh(TetherPaths paths, SandboxDetails sandbox) =>
        Write(paths, sandbox, ReadOptions(paths, sandbox.Sandbox.Name), ResolvConf.Read(ResolvConf.HostPath));

    /// <summary>Removes the sandbox's files (missing: success).</summary>
    public static void Remove(TetherPaths paths, string sandboxName)
    {
        var dir = Dir(paths, sandboxName);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    /// <summary>The host name of the sandbox: <c>--hostname</c>, else the first 12 digits of its id (as docker).</summary>
    public static string Hostname(SandboxDetails sandbox, DnsOptions options) => options.Hostname ?? sandbox.Sandbox.Id[..12];

    /// <summary>Docker's fallback resolvers (Google Public DNS), written when no usable nameserver is left: IPv4 always,
    /// IPv6 too when the sandbox has an IPv6 address (moby libnetwork/internal/resolvconf defaultIPv4NSs/defaultIPv6NSs).
    /// Only written into the file; Tether itself never sends them anything.</summary>
    public static readonly IReadOnlyList<string> DefaultNameserversV4 = ["8.8.8.8", "8.8.4.4"], DefaultNameserversV6 = ["2001:4860:4860::8888", "2001:4860:4860::8844"];

    /// <summary>
    /// resolv.conf of a sandbox, as Docker makes it.
    /// <para>With an endpoint on a network with embedded DNS: "nameserver 127.0.0.11" (the server forwards the rest to
    /// <c>--dns</c> or the host's nameservers); the host's options, less ill-formed ndots ones, plus "ndots:0" unless
    /// the host sets ndots.</para>
    /// <para>Otherwise: <c>--dns</c> as given, else the host's nameservers without loopback ones (unreachable from the
    /// sandbox) and, unless the sandbox has an IPv6 address, without IPv6 ones; when none is left, Docker's defaults
    /// (<see cref="DefaultNameserversV4"/>); the host's options as they are.</para>
    /// <para>Search domains: <c>--dns-search</c> (where "." means none at all), else the host's.</para>
    /// </summary>
    public static string RenderResolvConf(SandboxDetails sandbox, DnsOptions options, ResolvConf host)
    {
        var sb = new StringBuilder("# Generated by tether for sandbox ").Append(sandbox.Sandbox.Name).Append('\n');
        var embedded = sandbox.Endpoints.Any(e => NameTable.HasNameResolution(e.Network));
        var search = options.DnsSearch.Count > 0 ? options.DnsSearch.Where(s => s != ".").ToList() : host.Search;
        List<string> servers, opts;
        string? comment = null;
        if (embedded)
        {
            servers = [EmbeddedDns.ToString()];
            opts = host.Options.Where(o => !IsNdots(o, out var valid) || valid).ToList();
            if (!opts.Any(o => IsNdots(o, out _))) opts.Add("ndots:0");
            var upstream = options.Dns.Count > 0 ? options.Dns : host.Nameservers.Select(a => a.ToString()).ToList();
            comment = "# upstream: " + string.Join(' ', upstream) + "\n";
        }
        else
        {
            var ipv6 = sandbox.Endpoints.Any(e => IPAddress.TryParse(e.Endpoint.Ip, out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6);
            servers = options.Dns.Count > 0 ? [.. options.Dns]
                : host.Nameservers.Where(a => !IPAddress.IsLoopback(a) && (ipv6 || a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6))
                    .Select(a => a.ToString()).ToList();
            if (servers.Count == 0)
            {
                servers = [.. DefaultNameserversV4, .. ipv6 ? DefaultNameserversV6 : []];
                comment = "# no usable nameserver in the host's resolv.conf: Docker's defaults\n";
            }
            opts = [.. host.Options];
        }
        foreach (var s in servers) sb.Append("nameserver ").Append(s).Append('\n');
        if (search.Count > 0) sb.Append("search ").AppendJoin(' ', search).Append('\n');
        if (opts.Count > 0) sb.Append("options ").AppendJoin(' ', opts).Append('\n');
        if (comment is not null) sb.Append(comment);
        return sb.ToString();
    }

    /// <summary>True when <paramref name="option"/> is an ndots option; <paramref name="valid"/>: its value is a number
    /// of 0 or more (resolv.conf(5) "ndots:n").</summary>
    static bool IsNdots(string option, out bool valid)
    {
        valid = false;
        if (!option.StartsWith("ndots", StringComparison.Ordinal) || (option.Length > 5 && option[5] != ':')) return false;
        valid = option.Length > 6 && int.TryParse(option.AsSpan(6), System.Globalization.NumberStyles.None, null, out _);
        return true;
    }

    /// <summary>/etc/hosts of a sandbox: localhost lines, its own addresses with its host name and name, then <c>--add-host</c>.</summary>
    public static string RenderHosts(SandboxDetails sandbox, DnsOptions options)
    {
        var sb = new StringBuilder();
        sb.Append("127.0.0.1\tlocalhost\n");
        sb.Append("::1\tlocalhost ip6-localhost ip6-loopback\n");
        sb.Append("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n");
        var hostname = Hostname(sandbox, options);
        var names = hostname == sandbox.Sandbox.Name ? hostname : $"{hostname} {sandbox.Sandbox.Name}";
        foreach (var e in sandbox.Endpoints.OrderBy(e => e.Endpoint.Seq)) sb.Append(e.Endpoint.Ip).Append('\t').Append(names).Append('\n');
        foreach (var h in options.ExtraHosts)
        {
            var (name, address) = DnsOptions.ParseHost(h);
            sb.Append(address).Append('\t').Append(name).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Writes <paramref name="text"/> over the file's contents in place (a running process has it bind-mounted),
    /// creating it when missing. Not File.WriteAllText: its FileMode.Create truncates to 0 before writing, and ext4
    /// (auto_da_alloc) then writes the new data out to disk when the file is closed, so that every create paid for
    /// block allocation and I/O, and every rm for freeing the blocks (bench/files/run.sh: removing three files took
    /// 0.4-1.0 ms against 0.12-0.18 ms on a quiet machine, 6 ms against 0.6 ms on a busy one). Written first, then cut
    /// to its new length.</summary>
    static void Replace(string path, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        using var file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.Write);
        RandomAccess.Write(file, bytes, 0);
        if (RandomAccess.GetLength(file) != bytes.Length) RandomAccess.SetLength(file, bytes.Length);
    }
}
