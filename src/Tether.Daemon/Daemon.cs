using System.Diagnostics;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Json;
using Tether.Daemon.Dns;
using Tether.Dns;
using Tether.Engine;
using Tether.Linux;
using Tether.State;

namespace Tether.Daemon;

/// <summary>Request of POST /v1/networks/{network}/connect.</summary>
public sealed record ConnectRequest(string Sandbox, string? IPAddress, IReadOnlyList<string>? Aliases);
/// <summary>Request of POST /v1/networks/{network}/disconnect.</summary>
public sealed record DisconnectRequest(string Sandbox);
/// <summary>Answer of GET /health.</summary>
public sealed record HealthView(string Status, int Pid, string RunDir, int Listeners);
/// <summary>Answer of POST /v1/dns/sync.</summary>
public sealed record SyncView(int Listeners, IReadOnlyList<string> Started, IReadOnlyList<string> Stopped, IReadOnlyList<string> Errors);

[JsonSerializable(typeof(ConnectRequest))]
[JsonSerializable(typeof(DisconnectRequest))]
[JsonSerializable(typeof(HealthView))]
[JsonSerializable(typeof(SyncView))]
[JsonSerializable(typeof(ErrorView))]
[JsonSerializable(typeof(SandboxCreateRequest))]
[JsonSerializable(typeof(SandboxCreatedView))]
[JsonSerializable(typeof(SandboxView))]
[JsonSerializable(typeof(NetworkView))]
[JsonSerializable(typeof(List<SandboxSummaryView>))]
[JsonSerializable(typeof(List<NetworkView>))]
[JsonSerializable(typeof(EndpointView))]
internal sealed partial class DaemonJson : JsonSerializerContext;

/// <summary>
/// tetherd: the REST API over the engine on a unix socket in the run dir (RUN_DIR/tetherd.sock, mode 0660) and the
/// embedded DNS servers. One daemon per run dir: it holds an exclusive lock on RUN_DIR/tetherd.lock (flock, taken by .NET
/// for FileShare.None) for its whole life and writes its pid to RUN_DIR/tetherd.pid; a second one exits 1 naming the first's pid. SIGTERM (and
/// <c>tether daemon stop</c>) stop it cleanly: listeners closed, socket and pid file removed.
/// </summary>
public static class Daemon
{
    public const string SocketName = "tetherd.sock", PidName = "tetherd.pid", LockName = "tetherd.lock", LogName = "tetherd.log";

    const string Usage = "usage: tetherd [--state-dir DIR] [--run-dir DIR] [--resolv-conf FILE] [--detach] | --version | --help";

    public static int Run(string[] args)
    {
        // Strict: a word it does not know (a typo, or --version, which it once took for nothing and started serving
        // /run/tether) is refused before anything is made.
        var values = new Dictionary<string, string>();
        var detach = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--help" or "-h":
                    Console.WriteLine(Usage);
                    return 0;
                case "--version":
                    Console.WriteLine(typeof(Daemon).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
                        is [System.Reflection.AssemblyInformationalVersionAttribute v] ? v.InformationalVersion : "unknown");
                    return 0;
                case "--detach":
                    detach = true;
                    break;
                // A value is not empty and not an option: "--run-dir --help" lacks one (as tether reads it), rather than
                // serving ./--help and the default state dir.
                case "--state-dir" or "--run-dir" or "--resolv-conf" when i + 1 < args.Length && args[i + 1] is [not '-', ..]:
                    values[args[i]] = args[++i];
                    break;
                case "--state-dir" or "--run-dir" or "--resolv-conf":
                    Console.Error.WriteLine($"tetherd: {args[i]} needs a value (tetherd --help)");
                    return 2;
                default:
                    Console.Error.WriteLine($"tetherd: unknown argument \"{args[i]}\" (tetherd --help)");
                    return 2;
            }
        }
        string Arg(string name, string env, string fallback) =>
            values.GetValueOrDefault(name) ?? (Environment.GetEnvironmentVariable(env) is { Length: > 0 } v ? v : fallback);
        var paths = TetherPaths.Canonical(Arg("--state-dir", "TETHER_STATE_DIR", "/var/lib/tether"), Arg("--run-dir", "TETHER_RUN_DIR", "/run/tether"));
        var resolvConf = Arg("--resolv-conf", "TETHER_RESOLV_CONF", "/etc/resolv.conf");
        Directory.CreateDirectory(paths.RunDir);
        var pidPath = Path.Combine(paths.RunDir, PidName);
        var socketPath = Path.Combine(paths.RunDir, SocketName);

        // The lock file stays (removing it would let a daemon that opened it just before and one that makes it anew both
        // hold "the" lock); the pid file is plain, so anyone can read it.
        FileStream runLock;
        try { runLock = new FileStream(Path.Combine(paths.RunDir, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException)
        {
            var other = "?";
            try { other = File.ReadAllText(pidPath).Trim(); } catch (IOException) { }
            Console.Error.WriteLine($"tetherd: already running for run dir {paths.RunDir} (pid {other})");
            return 1;
        }
        if (detach) ProcessSetup.Detach(Path.Combine(paths.RunDir, LogName));
        File.WriteAllText(pidPath, Environment.ProcessId + "\n");

        try { return Serve(paths, resolvConf, socketPath); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"tetherd: {e.Message.ReplaceLineEndings(" ")}");
            return 1;
        }
        finally
        {
            File.Delete(socketPath);
            File.Delete(pidPath);
            runLock.Dispose();
        }
    }

    /// <summary>A request body without its Sandbox field is the caller's error (400), not a missing sandbox (404).</summary>
    static void RequireSandbox(string? sandbox)
    {
        if (string.IsNullOrEmpty(sandbox)) throw new TetherException("missing field \"Sandbox\" in the request body (the sandbox's name or id)");
    }

    /// <summary>The inodes of the network and mount namespaces of the process that opened the request's connection;
    /// null when they cannot be known: the connection is not a unix socket (no peer to ask), the peer is gone, or it
    /// lives in a pid namespace this daemon cannot see (SO_PEERCRED then gives pid 0, socket(7)).</summary>
    static (ulong Net, ulong Mnt)? PeerNamespaces(HttpContext context)
    {
        if (context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionSocketFeature>()?.Socket is not { } socket) return null;
        try
        {
            var pid = UnixStream.PeerPid(socket.Handle);
            if (pid <= 0) return null;
            return (NetNs.Inode($"/proc/{pid}/ns/net"), NetNs.Inode($"/proc/{pid}/ns/mnt"));
        }
        catch (IOException) { return null; }
    }

    static int Serve(TetherPaths paths, string resolvConf, string socketPath)
    {
        File.Delete(socketPath);   // left by a daemon that was killed: we hold the lock, so it is not in use
        // No appsettings.json to read, and above all none to watch: with reloading on, the host watches its content root
        // (the current directory) recursively with inotify, and processed an event for every file a create wrote when
        // that directory held the run dir (and a daemon started in / would watch the whole tree).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"], ContentRootPath = paths.RunDir });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(socketPath));
        builder.Services.Configure<JsonOptions>(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, DaemonJson.Default);
            o.SerializerOptions.WriteIndented = true;
            o.SerializerOptions.PropertyNamingPolicy = null;   // property names as the CLI prints them (docker's)
        });
        var app = builder.Build();
        var (ownNetNs, ownMntNs) = (NetNs.Inode("/proc/self/ns/net"), NetNs.Inode("/proc/self/ns/mnt"));

        using var engine = new TetherEngine(paths);
        // A CNI DEL or a disconnect answers before the kernel has finished deleting the veth pair (15-40 ms of rcu_barrier).
        engine.DeferLinkDeletions(line => Console.Error.WriteLine($"tetherd: {line}"));
        var engineLock = new Lock();
        using var dns = new DnsService(paths, resolvConf);
        T WithEngine<T>(Func<TetherEngine, T> fn) { lock (engineLock) return fn(engine); }
        // DNS follows the store: a change another process made is announced by POST /v1/dns/sync, which rereads every
        // sandbox; a create or remove this daemon serves itself updates the table and the listeners for that one sandbox
        // (rereading, or rebuilding from a list of, every sandbox per change made a create's cost grow with their number).
        // Both run under the engine lock, so the table never goes back to an older snapshot.
        bool ListensIn(SandboxRecord s) => !engine.IsRuntimeNamespace(s);
        SyncView Report(DnsService.SyncResult r)
        {
            foreach (var line in r.Errors) Console.Error.WriteLine($"tetherd: {line}");
            return new SyncView(r.Listeners, r.Started, r.Stopped, r.Errors);
        }
        SyncView Sync() => Report(WithEngine(e => dns.Sync(e.Topology(), ListensIn)));

        app.Use(async (context, next) =>
        {
            // The CLI (and tether-cni) names the state dir it works on, and so asks tetherd to act for it as it would act
            // itself. The kernel says which process is asking (SO_PEERCRED), and so its network namespace (the "host"
            // its sandboxes are made in) and its mount namespace (where the namespace bind mounts under the run dir are
            // seen): a daemon of the same run dir serving another state dir, or living in other namespaces (`ip netns
            // exec` gives each command a mount namespace of its own), must not act for it. Other API clients get answers
            // from wherever they are.
            // /health is asked by `tether daemon start|stop|status` (there is one daemon per run dir, wherever it runs), and
            // /v1/dns/sync makes nothing: tetherd rereads the store and enters the sandboxes' namespaces by their bind
            // mounts (reporting those it cannot see), so neither depends on the caller's mount namespace; refusing them
            // left a daemon started under `ip netns exec` unstoppable, and a name (and the namespace its DNS listener
            // holds) alive after `rm`.
            var path = context.Request.Path.Value;
            bool anyNamespace = path == "/health", anyMountNamespace = anyNamespace || path == "/v1/dns/sync";
            string? refusal = null;
            if (context.Request.Headers["X-Tether-State-Dir"] is not [{ } stateDir]) { }
            else if (TetherPaths.Canonical(stateDir, paths.RunDir).StateDir != paths.StateDir)
                refusal = $"tetherd of run dir {paths.RunDir} serves state dir {paths.StateDir}, not {stateDir}";
            else if (anyNamespace) { }
            else if (PeerNamespaces(context) is not var (netNs, mntNs))
                // Fail closed: a caller whose namespaces cannot be read (another pid namespace) does the work itself.
                refusal = $"tetherd of run dir {paths.RunDir} cannot see the namespaces of the calling process (another pid namespace?)";
            else if (netNs != ownNetNs)
                refusal = $"tetherd of run dir {paths.RunDir} runs in another network namespace (inode {ownNetNs}, not {netNs})";
            else if (mntNs != ownMntNs && !anyMountNamespace)
                refusal = $"tetherd of run dir {paths.RunDir} runs in another mount namespace (inode {ownMntNs}, not {mntNs})";
            if (refusal is not null)
            {
                context.Response.StatusCode = 409;
                await context.Response.WriteAsJsonAsync(new ErrorView(refusal), DaemonJson.Default.ErrorView);
                return;
            }
            try { await next(context); }
            catch (TetherException e)
            {
                context.Response.StatusCode = e.Message.StartsWith("no such", StringComparison.Ordinal) || e.Message.EndsWith("not found", StringComparison.Ordinal) ? 404 : 400;
                await context.Response.WriteAsJsonAsync(new ErrorView(e.Message), DaemonJson.Default.ErrorView);
            }
            catch (Exception e) when (e is IOException or ArgumentException or FormatException or System.Text.Json.JsonException or BadHttpRequestException)
            {
                context.Response.StatusCode = 400;
                await context.Response.WriteAsJsonAsync(new ErrorView(e.Message.ReplaceLineEndings(" ")), DaemonJson.Default.ErrorView);
            }
            catch (Exception e) when (e is not OutOfMemoryException && !context.Response.HasStarted)
            {
                // A kernel or store failure: the engine rolled back what it did; the CLI prints this line.
                context.Response.StatusCode = 500;
                await context.Response.WriteAsJsonAsync(new ErrorView(e.Message.ReplaceLineEndings(" ")), DaemonJson.Default.ErrorView);
            }
        });

        // A route value keeps "/" escaped (ASP.NET Core decodes every other %XX in a path segment): a name holding one is
        // invalid, but the answer must name it as the caller wrote it ("no such sandbox: a/b", which rm -f passes over).
        static string Unescaped(string segment) => segment.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
        app.MapGet("/health", () => new HealthView("ok", Environment.ProcessId, paths.RunDir, dns.Listeners.Count));
        app.MapGet("/v1/networks", () => WithEngine(e => e.Networks().Select(n => Views.Network(n, e.NetworkEndpoints(n))).ToList()));
        app.MapGet("/v1/networks/{name}", (string name) => WithEngine(e => { var n = e.GetNetwork(Unescaped(name)); return Views.Network(n, e.NetworkEndpoints(n)); }));
        app.MapGet("/v1/sandboxes", () => WithEngine(e => e.AllDetails().Select(Views.Summary).ToList()));
        app.MapGet("/v1/sandboxes/{name}", (string name) => WithEngine(e => Views.Sandbox(e.Details(e.GetSandbox(Unescaped(name))))));
        app.MapPost("/v1/networks/{network}/connect", (string network, ConnectRequest r) =>
        {
            network = Unescaped(network);
            RequireSandbox(r.Sandbox);
            var view = WithEngine(e =>
            {
                e.Connect(r.Sandbox, new AttachRequest(network, r.IPAddress, r.Aliases ?? [], []));
                var d = e.Details(e.GetSandbox(r.Sandbox));
                SandboxFiles.Refresh(paths, d);
                return Views.Sandbox(d).NetworkSettings.Networks[e.GetNetwork(network).Name];
            });
            Sync();
            return view;
        });
        app.MapPost("/v1/networks/{network}/disconnect", (string network, DisconnectRequest r) =>
        {
            network = Unescaped(network);
            RequireSandbox(r.Sandbox);
            WithEngine(e =>
            {
                e.Disconnect(network, r.Sandbox);
                SandboxFiles.Refresh(paths, e.Details(e.GetSandbox(r.Sandbox)));
                return 0;
            });
            Sync();
            return Results.NoContent();
        });
        app.MapPost("/v1/sandboxes", (SandboxCreateRequest r) =>
        {
            var started = Stopwatch.GetTimestamp();
            var (sandbox, dnsResult) = WithEngine(e =>
            {
                var (details, _, options) = Sandboxes.Create(e, r, ResolvConf.Parse(r.HostResolvConf ?? ""));
                return (details.Sandbox, dns.Added(details, ListensIn, options.Dns));
            });
            Report(dnsResult);
            Console.Error.WriteLine($"tetherd: sandbox {sandbox.Name} created ({sandbox.Id[..12]}) in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F1} ms");
            return Results.Created($"/v1/sandboxes/{sandbox.Id}", new SandboxCreatedView(sandbox.Id));
        });
        app.MapDelete("/v1/sandboxes/{name}", (string name, bool? force) =>
        {
            name = Unescaped(name);
            var started = Stopwatch.GetTimestamp();
            var removed = WithEngine(e =>
            {
                var s = e.FindSandbox(name);
                if (!Sandboxes.Remove(e, name, force ?? false)) return false;
                if (s is not null) Report(dns.Removed(s.Id));
                return true;
            });
            if (!removed)
                return Results.Json(new ErrorView($"no such sandbox: {name}"), DaemonJson.Default.ErrorView, statusCode: 404);
            Console.Error.WriteLine($"tetherd: sandbox {name} removed in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F1} ms");
            return Results.NoContent();
        });
        app.MapPost("/v1/dns/sync", () => Sync());
        // A CNI command handed over by tether-cni (docs/DESIGN.md "tether-cni through tetherd"): the request's CNI_* and
        // TETHER_* variables as headers of the same names, the network config as the body. The answer's body is what the
        // plugin prints on stdout, its exit code in X-Cni-Exit. 409 when the config's state or run dir is not this daemon's.
        app.MapPost(Tether.Cni.CniProtocol.Endpoint, async (HttpContext context) =>
        {
            var started = Stopwatch.GetTimestamp();
            var vars = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var name in Tether.Cni.CniProtocol.Variables)
                if (context.Request.Headers[name] is [{ } value]) vars[name] = value;
            string? Env(string name) => vars.GetValueOrDefault(name);
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            var stdin = body.ToArray();
            // CNI_NETNS and the config's dirs are paths: served only for a caller in this daemon's network and mount
            // namespaces, whatever headers it sent (the check above runs only for callers that name a state dir).
            if (PeerNamespaces(context) is not var (netNs, mntNs) || netNs != ownNetNs || mntNs != ownMntNs)
                return Results.Json(new ErrorView($"tetherd of run dir {paths.RunDir} serves CNI commands only to callers in its own network and mount namespaces"), DaemonJson.Default.ErrorView, statusCode: 409);
            if (Tether.Cni.Plugin.PathsOf(Env, stdin) is { } wanted && wanted != paths)
            {
                return Results.Json(new ErrorView($"tetherd serves state dir {paths.StateDir} and run dir {paths.RunDir}, not {wanted.StateDir} and {wanted.RunDir}"), DaemonJson.Default.ErrorView, statusCode: 409);
            }
            var host = new CniHost(engine, paths);
            using var stdout = new MemoryStream();
            int exit;
            var dnsResults = new List<DnsService.SyncResult>();
            lock (engineLock)
            {
                exit = Tether.Cni.Plugin.Run(Env, stdin, stdout, host);
                // The names follow the change for that one sandbox, as for create and rm; GC rereads the store below.
                foreach (var id in host.Gone) dnsResults.Add(dns.Removed(id));
                if (host.New is { } details) dnsResults.Add(dns.Added(details, ListensIn));
            }
            foreach (var r in dnsResults) Report(r);
            if (host.GcRemoved) Sync();
            context.Response.Headers[Tether.Cni.CniProtocol.ExitHeader] = exit.ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = stdout.Length;
            await context.Response.Body.WriteAsync(stdout.GetBuffer().AsMemory(0, (int)stdout.Length), context.RequestAborted);
            Console.Error.WriteLine($"tetherd: cni {Env("CNI_COMMAND") ?? "(no command)"} container {Env("CNI_CONTAINERID") ?? "-"} ifname {Env("CNI_IFNAME") ?? "-"}: exit {exit} in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F1} ms");
            return Results.Empty;
        });

        app.Lifetime.ApplicationStopping.Register(dns.Dispose);
        app.Start();
        File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        Sync();   // a (re)started daemon brings back every sandbox's listener from the store
        Console.Error.WriteLine($"tetherd: listening on {socketPath} (pid {Environment.ProcessId})");
        app.WaitForShutdown();
        return 0;
    }
}

/// <summary>tetherd's engine for the CNI commands it serves (already under its engine lock), and what they changed.</summary>
sealed class CniHost(TetherEngine engine, TetherPaths paths) : Tether.Cni.CniEngineHost
{
    /// <summary>The sandbox an ADD made, as the DNS sandbox list holds it.</summary>
    public SandboxDetails? New { get; private set; }
    /// <summary>Sandboxes a DEL removed, or an ADD replaced.</summary>
    public List<string> Gone { get; } = [];
    /// <summary>A GC removed attachments.</summary>
    public bool GcRemoved { get; private set; }

    public override T WithEngine<T>(TetherPaths p, Func<TetherEngine, T> fn) =>
        p == paths ? fn(engine) : throw new InvalidOperationException($"tetherd serves {paths}, not {p}");

    public override void Added(TetherEngine e, CniAttachment a)
    {
        New = new SandboxDetails(a.Sandbox, [new EndpointDetails(a.Endpoint, a.Network, [])], []);
        if (a.ReplacedSandboxId is { } old) Gone.Add(old);
    }

    public override void Removed(TetherEngine e, string? sandboxId)
    {
        if (sandboxId is not null) Gone.Add(sandboxId);
    }

    public override void Collected(TetherEngine e) => GcRemoved = true;
}
