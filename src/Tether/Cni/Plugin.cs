using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Tether.Dns;
using Tether.Engine;
using Tether.Ipam;

namespace Tether.Cni;

/// <summary>A CNI error result: well-known codes of SPEC.md "Error" (1-11, 50-51); 100+ are tether-cni's own.</summary>
public sealed class CniException(int code, string msg, string? details = null) : Exception(msg)
{
    public const int IncompatibleVersion = 1, UnsupportedField = 2, UnknownContainer = 3, InvalidEnvironment = 4, IoFailure = 5,
        DecodeFailure = 6, InvalidNetworkConfig = 7, TryAgainLater = 11, NotAvailable = 50, LimitedConnectivity = 51;
    /// <summary>The engine refused the request (address or port in use, subnet full, ...): the message says which value.</summary>
    public const int Refused = 100;
    /// <summary>CHECK found the attachment different from the kernel: the message names each difference.</summary>
    public const int CheckFailed = 101;
    public int Code { get; } = code;
    public string? Details { get; } = details;
}

/// <summary>An error result returned by a delegated plugin: printed as the plugin printed it.</summary>
public sealed class DelegateException(string output, string plugin) : Exception($"{plugin} failed: {output}")
{
    public string Output { get; } = output;
}

/// <summary>
/// tether-cni: the CNI plugin front end over Tether's engine (CNI spec 1.1.0). Reads CNI_* variables and the
/// network config on stdin, runs one command, prints its result (or the error object) on stdout. Exit 0 on success, 1 on error.
/// </summary>
public static partial class Plugin
{
    public static string[] SupportedVersions => CniProtocol.SupportedVersions;
    const string LatestVersion = CniProtocol.LatestVersion;

    /// <summary>CNI_CONTAINERID (SPEC.md "Parameters"): <c>^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$</c>, checked by a loop (no Regex
    /// engine in the binary: it costs start-up time and memory in every call).</summary>
    static bool ValidContainerId(string s) => s.Length > 0 && char.IsAsciiLetterOrDigit(s[0]) && s.AsSpan(1).IndexOfAnyExcept(ContainerIdChars) < 0;

    static readonly System.Buffers.SearchValues<char> ContainerIdChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

    /// <summary>tether-cni's command in its own process: the process's CNI_* variables, stdin and stdout, a fresh engine per command.</summary>
    public static int Run()
    {
        // Run below turns every failure into the spec's error object on stdout, but for stdout itself failing (closed, a
        // full disk): the runtime gets no result then, so it hears of it by the exit code and stderr.
        try
        {
            using var stdout = new LazyStdout();
            return Run(Environment.GetEnvironmentVariable, ReadStdin(), stdout, CniEngineHost.Own);
        }
        catch (StdoutException e)
        {
            try { Console.Error.WriteLine($"tether-cni: cannot write to stdout: {e.Message}"); }
            catch (Exception gone) when (gone is IOException or UnauthorizedAccessException) { }   // stderr gone too: the exit code tells
            return 1;
        }
    }

    /// <summary>
    /// Runs one CNI command. <paramref name="env"/> looks up the request's variables (CNI_COMMAND, CNI_CONTAINERID,
    /// CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH, TETHER_STATE_DIR, TETHER_RUN_DIR; null or empty for unset),
    /// <paramref name="stdin"/> is the network config, and what a plugin prints (the result or the error object) is
    /// written to <paramref name="stdout"/>. <paramref name="host"/> gives the engine (a new one per command, or tetherd's
    /// warm one) and hears of the sandboxes a command adds or removes. Returns the exit code: 0 on success, 1 on error.
    /// </summary>
    public static int Run(Func<string, string?> env, byte[] stdin, Stream stdout, CniEngineHost host)
    {
        string? version = null;
        try
        {
            var command = Env(env, "CNI_COMMAND");
            if (command == "VERSION")
            {
                CniJsonText.Write(stdout, new VersionResult { CniVersion = LatestVersion, SupportedVersions = [.. SupportedVersions] });
                return 0;
            }
            if (command is null) throw new CniException(CniException.InvalidEnvironment, "CNI_COMMAND is not set");
            var conf = Decode(stdin);
            version = conf.CniVersion;
            if (version is null || !SupportedVersions.Contains(version))
                throw new CniException(CniException.IncompatibleVersion, $"cniVersion \"{version}\" is not supported (supported: {string.Join(", ", SupportedVersions)})");
            var run = new Invocation(conf, stdin, env, host);
            var result = command switch
            {
                "ADD" => run.Add(),
                "DEL" => run.Del(),
                "CHECK" => run.Check(),
                "GC" => run.Gc(),
                "STATUS" => run.Status(),
                _ => throw new CniException(CniException.InvalidEnvironment, $"CNI_COMMAND \"{command}\" is not one of ADD, DEL, CHECK, GC, STATUS, VERSION"),
            };
            if (result is not null) CniJsonText.Write(stdout, result);
            return 0;
        }
        catch (DelegateException e)
        {
            stdout.Write(Encoding.UTF8.GetBytes(e.Output));
            return 1;
        }
        catch (Exception e) when (e is not (OutOfMemoryException or StdoutException))
        {
            var (code, msg, details) = Classify(e);
            CniJsonText.Write(stdout, new ErrorResult { CniVersion = version is not null && SupportedVersions.Contains(version) ? version : LatestVersion, Code = code, Msg = msg, Details = details });
            return 1;
        }
    }

    /// <summary>Standard output, opened at the first write: a command that prints nothing (a DEL that succeeds, SPEC.md
    /// "DEL") does not need it, so a closed stdout does not stop it. What cannot be written (a result, an error object, a
    /// delegated plugin's output) goes to stderr instead, for the runtime's log, before <see cref="StdoutException"/>.</summary>
    sealed class LazyStdout : Stream
    {
        Stream? stdout;
        Stream Out => stdout ??= Console.OpenStandardOutput();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            try { Out.Write(buffer); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                try
                {
                    using var stderr = Console.OpenStandardError();
                    stderr.Write(buffer);
                    if (buffer.Length > 0 && buffer[^1] != (byte)'\n') stderr.WriteByte((byte)'\n');
                }
                catch (Exception gone) when (gone is IOException or UnauthorizedAccessException) { }   // stderr gone too: the exit code is all that is left
                throw new StdoutException(e);
            }
        }
        public override void Flush() => stdout?.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) stdout?.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Standard output failed (closed: .NET's UnauthorizedAccessException for EBADF; a full disk); the message is
    /// the system's (e.g. "Bad file descriptor").</summary>
    sealed class StdoutException(Exception cause) : IOException((cause.InnerException ?? cause).Message, cause);

    static NetConf Decode(byte[] stdin)
    {
        try { return CniJsonText.NetConf(CniJsonText.Parse(stdin)); }
        catch (JsonException e) { throw new CniException(CniException.DecodeFailure, $"decoding the network config on stdin: {e.Message}"); }
    }

    /// <summary>Tether's state and run dirs a command works on, canonical (<see cref="TetherPaths.Canonical"/>): the config's
    /// <c>stateDir</c>/<c>runDir</c>, else TETHER_STATE_DIR/TETHER_RUN_DIR, else /var/lib/tether and /run/tether.
    /// Null when the config cannot be decoded (the command then fails before it needs them).</summary>
    public static TetherPaths? PathsOf(Func<string, string?> env, byte[] stdin)
    {
        NetConf conf;
        try { conf = CniJsonText.NetConf(CniJsonText.Parse(stdin)); }
        catch (JsonException) { return null; }
        return PathsOf(env, conf);
    }

    static TetherPaths PathsOf(Func<string, string?> env, NetConf conf) =>
        TetherPaths.Canonical(conf.StateDir ?? Env(env, "TETHER_STATE_DIR") ?? "/var/lib/tether", conf.RunDir ?? Env(env, "TETHER_RUN_DIR") ?? "/run/tether");

    static (int, string, string?) Classify(Exception e) => e switch
    {
        CniException c => (c.Code, c.Message, c.Details),
        CniInputException => (CniException.InvalidNetworkConfig, OneLine(e.Message), null),
        SqliteException { SqliteErrorCode: 5 or 6 } => (CniException.TryAgainLater, $"Tether's store is busy: {e.Message}", null),
        TetherException or IpamException or ArgumentException or FormatException => (CniException.Refused, OneLine(e.Message), null),
        IOException or UnauthorizedAccessException or SqliteException => (CniException.IoFailure, OneLine(e.Message), null),
        _ => (CniException.IoFailure, OneLine(e.Message), e.GetType().Name),
    };

    static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    static byte[] ReadStdin()
    {
        using var stdin = Console.OpenStandardInput();
        using var buffer = new MemoryStream();
        stdin.CopyTo(buffer);
        return buffer.ToArray();
    }

    static string? Env(Func<string, string?> env, string name) => env(name) is { Length: > 0 } v ? v : null;

    /// <summary>Version a &lt; b for the dotted versions of <see cref="SupportedVersions"/>.</summary>
    static bool Before(string a, string b) => Version.Parse(a) < Version.Parse(b);

    /// <summary>One command with its config.</summary>
    sealed class Invocation(NetConf conf, byte[] stdin, Func<string, string?> env, CniEngineHost host)
    {
        string? Env(string name) => Plugin.Env(env, name);

        string RequireEnv(string name) => Env(name) ?? throw new CniException(CniException.InvalidEnvironment, $"{name} is not set");

        readonly string version = conf.CniVersion!;
        readonly string name = conf.Name is { Length: > 0 } n ? n : throw new CniException(CniException.InvalidNetworkConfig, "the network config has no \"name\"");
        readonly IpamSection ipam = IpamSection.Parse(conf.Ipam);

        T WithEngine<T>(Func<TetherEngine, T> fn) => host.WithEngine(PathsOf(env, conf), fn);

        CniKey Key()
        {
            var cid = RequireEnv("CNI_CONTAINERID");
            if (!ValidContainerId(cid))
                throw new CniException(CniException.InvalidEnvironment, $"CNI_CONTAINERID \"{cid}\" is invalid: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
            var ifName = RequireEnv("CNI_IFNAME");
            if (ifName.Length > 15 || ifName is "." or ".." || ifName.Any(c => c is '/' or ':' || char.IsWhiteSpace(c)))
                throw new CniException(CniException.InvalidEnvironment, $"CNI_IFNAME \"{ifName}\" is not a valid interface name (at most 15 bytes, no '/', ':' or spaces, not . or ..)");
            return new CniKey(name, cid, ifName);
        }

        /// <summary>The Tether network: the named one, or one defined inline under the CNI network's name.</summary>
        (string Network, NetworkCreateRequest? Inline) Network()
        {
            if (conf.Network is { } existing)
            {
                if (conf.Driver is not null || conf.Options is not null)
                    throw new CniException(CniException.InvalidNetworkConfig, $"\"network\": \"{existing}\" names an existing network: \"driver\" and \"options\" define one inline, use one or the other");
                return (existing, null);
            }
            return (name, new NetworkCreateRequest(name, conf.Driver ?? "bridge", ipam.Subnet, ipam.Gateway, ipam.IpRange, conf.Internal ?? false,
                conf.Options ?? new Dictionary<string, string>()));
        }

        public Result? Add()
        {
            var key = Key();
            var netns = RequireEnv("CNI_NETNS");
            // The container's namespace must not be the one the plugin runs in (the host's): its links and default route
            // would land on the host.
            if (Tether.Linux.NetNs.Exists(netns) && Tether.Linux.NetNs.Inode(netns) == Tether.Linux.NetNs.Inode("/proc/self/ns/net"))
                throw new CniException(CniException.InvalidEnvironment, $"CNI_NETNS {netns} is the plugin's own (the host's) network namespace");
            if (!Tether.Linux.NetNs.Exists(netns))
                throw new CniException(CniException.InvalidEnvironment, $"CNI_NETNS {netns} is not a network namespace");
            var args = CniArgs.Parse(Env("CNI_ARGS"));
            var rc = conf.RuntimeConfig;
            var (network, inline) = Network();
            var ip = (rc?.Ips is { Count: > 0 } ips ? One(ips, "runtimeConfig.ips") : null) ?? ArgsCni("ips");
            var ipFromEnv = ip is null && args.Ip is not null;
            ip ??= args.Ip;
            var mac = rc?.Mac ?? ArgsCni("mac");
            var macFromEnv = mac is null && args.Mac is not null;
            mac ??= args.Mac;
            var resolver = Resolver();
            var aliases = rc?.Aliases?.GetValueOrDefault(name) ?? [];
            var ports = (rc?.PortMappings ?? []).Select(ToBinding).ToList();

            Result? ipamResult = null;
            if (ipam.Delegate is { } plugin)
            {
                if (ip is not null) throw new CniException(CniException.UnsupportedField, $"a requested address ({ip}) goes to the IPAM plugin {plugin}, not to tether-cni");
                ipamResult = Delegate(plugin, "ADD");
                ip = ipamResult.Ips?.Select(x => x.Address).FirstOrDefault(a => a is not null)
                     ?? throw new CniException(CniException.InvalidNetworkConfig, $"IPAM plugin {plugin} returned no address");
            }
            try
            {
                var request = new CniAddRequest(key, netns, network, inline, ip is null ? null : ip.Split('/')[0], mac, aliases, ports, resolver);
                CniAttachment a;
                try { a = WithEngine(engine => { var added = engine.CniAdd(request); host.Added(engine, added); return added; }); }
                catch (CniInputException e)
                {
                    // A value from CNI_ARGS is the environment's (4); anything else came with the network config (7).
                    var fromEnv = e.Input == CniInput.Address && ipFromEnv || e.Input == CniInput.Mac && macFromEnv;
                    throw new CniException(fromEnv ? CniException.InvalidEnvironment : CniException.InvalidNetworkConfig, (fromEnv ? "CNI_ARGS: " : "") + e.Message);
                }
                return Merge(Results.Of(a, version, netns, ipamResult?.Routes, Dns()), conf.PrevResult);
            }
            catch when (ipam.Delegate is not null)
            {
                try { Delegate(ipam.Delegate, "DEL"); } catch (Exception) { /* the ADD's error is the one to report */ }
                throw;
            }
        }

        public Result? Del()
        {
            var key = Key();
            _ = CniArgs.Parse(Env("CNI_ARGS"));
            WithEngine(engine => { var removed = engine.CniDel(key); host.Removed(engine, removed); return 0; });
            if (ipam.Delegate is { } plugin) Delegate(plugin, "DEL", expectResult: false);
            return null;
        }

        public Result? Check()
        {
            if (Before(version, "0.4.0")) throw new CniException(CniException.IncompatibleVersion, $"CHECK needs cniVersion 0.4.0 or later, the config has {version}");
            var key = Key();
            var netns = RequireEnv("CNI_NETNS");
            if (ipam.Delegate is { } plugin) Delegate(plugin, "CHECK", expectResult: false);
            var (a, problems) = WithEngine(engine =>
            {
                var found = engine.CniFind(key) ?? throw new CniException(CniException.UnknownContainer, $"container {key.ContainerId} has no interface {key.IfName} on network {name}");
                return (found, engine.CniCheck(found, netns).ToList());
            });
            if (conf.PrevResult is { } prevJson)
            {
                var prev = Results.Parse(prevJson);
                var mine = prev.Interfaces?.FindIndex(i => i.Name == key.IfName && i.Sandbox == netns) ?? -1;
                if (mine < 0) problems.Add($"prevResult has no interface {key.IfName} in {netns}");
                else if (!string.Equals(prev.Interfaces![mine].Mac, a.Endpoint.Mac, StringComparison.OrdinalIgnoreCase))
                    problems.Add($"prevResult gives {key.IfName} MAC {prev.Interfaces[mine].Mac}, Tether has {a.Endpoint.Mac}");
                var want = $"{a.Endpoint.Ip}/{a.Endpoint.PrefixLength}";
                if (mine >= 0 && !(prev.Ips ?? []).Any(x => x.Address == want && x.Interface == mine))
                    problems.Add($"prevResult has no address {want} on {key.IfName}");
            }
            if (problems.Count > 0) throw new CniException(CniException.CheckFailed, string.Join("; ", problems));
            return null;
        }

        public Result? Gc()
        {
            if (Before(version, "1.1.0")) throw new CniException(CniException.IncompatibleVersion, $"GC needs cniVersion 1.1.0, the config has {version}");
            // Absent is not "nothing is valid": a GC without the list would remove every attachment (CNI SPEC.md, GC).
            if (conf.ValidAttachments is null)
                throw new CniException(CniException.InvalidNetworkConfig, "cni.dev/valid-attachments is missing: GC needs the attachments to keep ([] keeps none)");
            var valid = new HashSet<(string, string)>();
            foreach (var v in conf.ValidAttachments)
            {
                if (v.ContainerId is null || v.IfName is null) throw new CniException(CniException.InvalidNetworkConfig, "cni.dev/valid-attachments: every entry needs containerID and ifname");
                valid.Add((v.ContainerId, v.IfName));
            }
            WithEngine(engine => { var removed = engine.CniGc(name, valid); if (removed.Count > 0) host.Collected(engine); return 0; });
            if (ipam.Delegate is { } plugin) DelegateTolerant(plugin, "GC");
            return null;
        }

        public Result? Status()
        {
            if (Before(version, "1.1.0")) throw new CniException(CniException.IncompatibleVersion, $"STATUS needs cniVersion 1.1.0, the config has {version}");
            var (network, inline) = Network();
            // A bad definition is an invalid config (7, from CniStatus); a missing network or a full subnet is
            // "not available" (50): the plugin cannot serve an ADD now.
            if (WithEngine(engine => engine.CniStatus(network, inline)) is { } why) throw new CniException(CniException.NotAvailable, why);
            if (ipam.Delegate is { } plugin) DelegateTolerant(plugin, "STATUS");
            return null;
        }

        Dns? Dns()
        {
            var d = conf.Dns;
            var r = conf.RuntimeConfig?.Dns;
            if (d is null && r is null) return null;
            return new Dns
            {
                Nameservers = r?.Servers ?? d?.Nameservers, Domain = d?.Domain, Search = r?.Searches ?? d?.Search, Options = r?.Options ?? d?.Options,
            };
        }

        /// <summary>The ADD's resolver for the sandbox's resolv.conf: runtimeConfig <c>dns</c> over the config's <c>dns</c>
        /// (<c>domain</c> as the search list when there is none), null when neither is given.</summary>
        ResolvConf? Resolver()
        {
            if (Dns() is not { } d) return null;
            var servers = new List<IPAddress>();
            foreach (var s in d.Nameservers ?? [])
                servers.Add(Cidr.TryParseAddress(s) ?? throw new CniException(CniException.InvalidNetworkConfig, $"dns: nameserver \"{s}\" is not an IP address"));
            var search = d.Search is { Count: > 0 } list ? list : d.Domain is { Length: > 0 } domain ? [domain] : [];
            foreach (var s in search)
                if (s.Length is 0 or > 253 || s.Any(char.IsWhiteSpace)) throw new CniException(CniException.InvalidNetworkConfig, $"dns: search domain \"{s}\" is not a domain name");
            foreach (var o in d.Options ?? [])
                if (o.Length == 0 || o.Any(char.IsWhiteSpace)) throw new CniException(CniException.InvalidNetworkConfig, $"dns: option \"{o}\" is not a resolv.conf option");
            return new ResolvConf(servers, search, d.Options ?? []);
        }

        string? ArgsCni(string field) =>
            conf.Args is { ValueKind: JsonValueKind.Object } a && a.TryGetProperty("cni", out var cni) && cni.ValueKind == JsonValueKind.Object && cni.TryGetProperty(field, out var v)
                ? v.ValueKind switch
                {
                    JsonValueKind.String => v.GetString(),
                    JsonValueKind.Array => One(v.EnumerateArray().Select(x => x.GetString() ?? "").ToList(), $"args.cni.{field}"),
                    _ => throw new CniException(CniException.InvalidNetworkConfig, $"args.cni.{field} must be a string or a list"),
                }
                : null;

        static string? One(List<string> values, string what) => values.Count switch
        {
            0 => null,
            1 => values[0],
            _ => throw new CniException(CniException.UnsupportedField, $"{what}: {string.Join(", ", values)}: a Tether network has one subnet, so one address"),
        };

        static PortBinding ToBinding(PortMapping p)
        {
            var proto = (p.Protocol ?? "tcp").ToLowerInvariant() switch
            {
                "tcp" => PortProtocol.Tcp,
                "udp" => PortProtocol.Udp,
                var other => throw new CniException(CniException.UnsupportedField, $"portMappings: protocol \"{other}\" is not supported (tcp, udp)"),
            };
            if (p.HostPort is < 1 or > 65535 || p.ContainerPort is < 1 or > 65535)
                throw new CniException(CniException.InvalidNetworkConfig, $"portMappings: port {p.HostPort}->{p.ContainerPort} is out of range 1-65535");
            IPAddress? hostIp = null;
            if (p.HostIp is { Length: > 0 } h && (hostIp = Cidr.TryParseAddress(h)) is null)
                throw new CniException(CniException.InvalidNetworkConfig, $"portMappings: hostIP \"{h}\" is not an address");
            if (hostIp is { IsIPv4MappedToIPv6: true })
                throw new CniException(CniException.InvalidNetworkConfig, $"portMappings: hostIP \"{p.HostIp}\" is an IPv4-mapped IPv6 address; give the IPv4 address ({hostIp.MapToIPv4()})");
            if (hostIp is not null && (hostIp.Equals(IPAddress.Any) || hostIp.Equals(IPAddress.IPv6Any))) hostIp = null;
            return new PortBinding(hostIp, p.HostPort, p.ContainerPort, proto);
        }

        /// <summary>Runs the IPAM plugin <paramref name="plugin"/> from CNI_PATH with this invocation's variables (CNI_COMMAND
        /// set to <paramref name="cmd"/>) and stdin, as SPEC.md "Delegated plugin protocol" asks. Its error is passed on as it is.</summary>
        Result Delegate(string plugin, string cmd, bool expectResult = true)
        {
            var (exit, output) = Exec(plugin, cmd);
            if (exit != 0) throw new DelegateException(output, plugin);
            if (!expectResult) return new Result();
            try { return CniJsonText.Result(CniJsonText.Parse(output)); }
            catch (JsonException e) { throw new CniException(CniException.DecodeFailure, $"decoding the result of IPAM plugin {plugin}: {e.Message}"); }
        }

        /// <summary>GC and STATUS of a delegated plugin that predates them (error code 1 or 4 for an unknown command) are skipped.</summary>
        void DelegateTolerant(string plugin, string cmd)
        {
            var (exit, output) = Exec(plugin, cmd);
            if (exit == 0) return;
            try
            {
                var err = CniJsonText.ErrorResult(CniJsonText.Parse(output));
                if (err is { Code: CniException.IncompatibleVersion or CniException.InvalidEnvironment }) return;
            }
            catch (JsonException) { }
            throw new DelegateException(output, plugin);
        }

        (int Exit, string Output) Exec(string plugin, string cmd)
        {
            var path = (Env("CNI_PATH") ?? throw new CniException(CniException.InvalidEnvironment, $"CNI_PATH is not set: needed to find IPAM plugin {plugin}"))
                .Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, plugin)).FirstOrDefault(File.Exists)
                ?? throw new CniException(CniException.InvalidNetworkConfig, $"IPAM plugin {plugin} not found in CNI_PATH {Env("CNI_PATH")}");
            var psi = new ProcessStartInfo(path) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
            // The request's CNI_* variables, not those of the process that runs the command (tetherd has none of its own).
            foreach (var k in psi.Environment.Keys.Where(k => k.StartsWith("CNI_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(k);
            foreach (var k in CniProtocol.Variables)
                if (Env(k) is { } v) psi.Environment[k] = v;
            psi.Environment["CNI_COMMAND"] = cmd;
            using var p = Process.Start(psi) ?? throw new CniException(CniException.IoFailure, $"cannot start IPAM plugin {path}");
            p.StandardInput.BaseStream.Write(stdin);
            p.StandardInput.Close();
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }

        /// <summary>With a prevResult (tether-cni later in a chain), the result is the previous one with this plugin's
        /// interfaces, addresses and routes appended (address interface indexes shifted) and its DNS when it has one.</summary>
        Result Merge(Result mine, JsonElement? prevJson)
        {
            if (prevJson is not { ValueKind: JsonValueKind.Object } pj) return mine;
            var prev = Results.Parse(pj);
            var offset = prev.Interfaces?.Count ?? 0;
            foreach (var ip in mine.Ips ?? []) if (ip.Interface is { } i) ip.Interface = i + offset;
            return new Result
            {
                CniVersion = version,
                Interfaces = [.. prev.Interfaces ?? [], .. mine.Interfaces ?? []],
                Ips = [.. (prev.Ips ?? []).Select(x => { x.Version = Before(version, "1.0.0") ? x.Version ?? Results.Family(x.Address) : null; return x; }), .. mine.Ips ?? []],
                Routes = [.. prev.Routes ?? [], .. mine.Routes ?? []],
                Dns = mine.Dns ?? prev.Dns,
            };
        }
    }

    /// <summary>The <c>ipam</c> section: Tether's own (absent or type "tether"), or a plugin to delegate to.</summary>
    sealed record IpamSection(string? Delegate, string? Subnet, string? Gateway, string? IpRange)
    {
        public static IpamSection Parse(JsonElement? json)
        {
            if (json is not { ValueKind: JsonValueKind.Object } j) return new(null, null, null, null);
            IpamConf c;
            try { c = CniJsonText.IpamConf(j); }
            catch (JsonException e) { throw new CniException(CniException.DecodeFailure, $"decoding ipam: {e.Message}"); }
            var ranges = c.Ranges?.SelectMany(r => r).ToList() ?? [];
            if (ranges.Count > 1) throw new CniException(CniException.UnsupportedField, "ipam.ranges: a Tether network has one subnet; give one range");
            var r0 = ranges.FirstOrDefault();
            var subnet = c.Subnet ?? r0?.Subnet;
            var gateway = c.Gateway ?? r0?.Gateway;
            var start = c.RangeStart ?? r0?.RangeStart;
            var end = c.RangeEnd ?? r0?.RangeEnd;
            if (c.Type is null or "tether")
            {
                if (c.Routes is { Count: > 0 }) throw new CniException(CniException.UnsupportedField, "ipam.routes: Tether's IPAM sets the default route through the gateway, not extra routes");
                return new(null, subnet, gateway, start is null && end is null ? null : RangeToCidr(subnet, start, end));
            }
            return new(c.Type, subnet, gateway, null);
        }

        /// <summary>host-local's rangeStart/rangeEnd as the one CIDR block they span (Tether's --ip-range is a CIDR);
        /// null when they span the whole subnet.</summary>
        static string? RangeToCidr(string? subnet, string? start, string? end)
        {
            if (subnet is null) throw new CniException(CniException.InvalidNetworkConfig, "ipam.rangeStart/rangeEnd need ipam.subnet");
            IPNetwork net;
            try { net = Cidr.ParseSubnet(subnet); }
            catch (Exception e) when (e is FormatException or ArgumentException or IpamException) { throw new CniException(CniException.InvalidNetworkConfig, $"ipam.subnet: {e.Message}"); }
            var bits = net.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
            var first = Num(net.BaseAddress);
            var last = first + ((UInt128.One << (bits - net.PrefixLength)) - 1);
            foreach (var (field, value) in new[] { ("rangeStart", start), ("rangeEnd", end) })
                if (value is not null && Cidr.TryParseAddress(value) is null)
                    throw new CniException(CniException.InvalidNetworkConfig, $"ipam.{field} \"{value}\" is not an address");
            var lo = start is null ? first : Num(IPAddress.Parse(start));
            var hi = end is null ? last : Num(IPAddress.Parse(end));
            if (lo < first || hi > last || hi < lo)
                throw new CniException(CniException.InvalidNetworkConfig, $"ipam.rangeStart/rangeEnd {start}-{end} are not inside {net} in order");
            // host-local leaves out the network and broadcast addresses itself: a range from .1 to .254 of a /24 is the whole /24.
            if (lo <= first + 1 && hi >= last - 1 && bits == 32) return null;
            var size = hi - lo + 1;
            if (size == last - first + 1) return null;
            if (UInt128.IsPow2(size) && lo % size == UInt128.Zero)
            {
                var prefix = bits - (int)UInt128.Log2(size);
                return new IPNetwork(IPAddress.Parse(start ?? net.BaseAddress.ToString()), prefix).ToString();
            }
            throw new CniException(CniException.UnsupportedField, $"ipam.rangeStart/rangeEnd {start}-{end}: Tether leases from a CIDR block, and this range is not one");
        }

        static UInt128 Num(IPAddress a)
        {
            UInt128 n = 0;
            foreach (var b in a.GetAddressBytes()) n = (n << 8) | b;
            return n;
        }
    }
}

/// <summary>CNI_ARGS (CONVENTIONS.md "CNI_ARGS"): <c>K=V;K=V</c>. Known keys: IgnoreUnknown, IP, MAC and the
/// Kubernetes pod keys; any other key is an error unless IgnoreUnknown is 1 or true.</summary>
public sealed record CniArgs(string? Ip, string? Mac)
{
    static readonly string[] Known = ["IgnoreUnknown", "IP", "MAC", "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"];

    public static CniArgs Parse(string? text)
    {
        if (string.IsNullOrEmpty(text)) return new(null, null);
        var pairs = new List<(string K, string V)>();
        foreach (var item in text.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = item.IndexOf('=');
            if (eq <= 0) throw new CniException(CniException.InvalidEnvironment, $"CNI_ARGS: \"{item}\" is not KEY=VALUE");
            pairs.Add((item[..eq], item[(eq + 1)..]));
        }
        var ignore = pairs.Any(p => p.K == "IgnoreUnknown" && p.V.ToLowerInvariant() is "1" or "true");
        if (!ignore && pairs.FirstOrDefault(p => !Known.Contains(p.K)) is { K: not null } bad)
            throw new CniException(CniException.InvalidEnvironment, $"CNI_ARGS: unknown key \"{bad.K}\" (add IgnoreUnknown=1 to ignore unknown keys)");
        return new(pairs.LastOrDefault(p => p.K == "IP").V, pairs.LastOrDefault(p => p.K == "MAC").V);
    }
}
