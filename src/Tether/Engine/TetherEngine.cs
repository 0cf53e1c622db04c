using System.Net;
using System.Net.Sockets;
using Tether.Drivers;
using Tether.Ipam;
using Tether.Linux;
using Tether.State;

namespace Tether.Engine;

/// <summary>Where Tether keeps its state (SQLite file) and run-time files (sandbox namespace bind mounts).</summary>
/// <param name="StateDir">Default /var/lib/tether (<c>--state-dir</c>, <c>TETHER_STATE_DIR</c>).</param>
/// <param name="RunDir">Default /run/tether (<c>--run-dir</c>, <c>TETHER_RUN_DIR</c>).</param>
public sealed record TetherPaths(string StateDir, string RunDir)
{
    /// <summary>The paths made absolute and without a trailing separator: the one spelling under which the CLI and tetherd
    /// compare the state dir they work on.</summary>
    public static TetherPaths Canonical(string stateDir, string runDir) => new(Canon(stateDir), Canon(runDir));

    static string Canon(string dir) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)) is { Length: > 0 } d ? d : "/";

    /// <summary>Directory of the sandboxes' network namespace bind mounts.</summary>
    public string NetnsDir => Path.Combine(RunDir, "netns");
    /// <summary>Directory of the logs of processes started with <c>run -d</c>.</summary>
    public string LogDir => Path.Combine(RunDir, "logs");
}

/// <summary>Request of <c>network create</c>.</summary>
public sealed record NetworkCreateRequest(string Name, string Driver, string? Subnet, string? Gateway, string? IpRange, bool Internal,
    IReadOnlyDictionary<string, string> Options);

/// <summary>One network attachment asked for by <c>create</c>/<c>run</c>/<c>network connect</c>.</summary>
public sealed record AttachRequest(string Network, string? Ip, IReadOnlyList<string> Aliases, IReadOnlyList<PortBinding> Ports);

/// <summary>
/// Tether's use cases: networks, sandboxes, connect/disconnect, published ports. Each runs inside one write transaction
/// of the store with an undo log for its kernel steps: when a step fails, the steps before it are undone and the store
/// is left unchanged. The store is the one truth; the kernel is made to match it.
/// </summary>
public sealed partial class TetherEngine : IDisposable
{
    /// <summary>Name of the default network, as in Docker.</summary>
    public const string DefaultNetwork = "bridge";
    /// <summary>Predefined networks, as in Docker: a sandbox on <c>host</c> is the namespace Tether runs in, one on
    /// <c>none</c> has only its loopback. Each is made once per state dir and cannot be removed.</summary>
    public static readonly IReadOnlyDictionary<string, string> PredefinedNetworks = new Dictionary<string, string> { ["host"] = "host", ["none"] = "null" };

    /// <summary>Names of networks and sandboxes: <c>[a-zA-Z0-9][a-zA-Z0-9_.-]*</c> (docker's). A loop rather than a Regex:
    /// the Regex engine alone adds hundreds of KB of code and start-up work to every short-lived process.</summary>
    static class NameRule
    {
        public static bool IsMatch(string s) => s.Length > 0 && char.IsAsciiLetterOrDigit(s[0]) && s.AsSpan(1).IndexOfAnyExcept(Allowed) < 0;
        internal static readonly System.Buffers.SearchValues<char> Allowed =
            System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
    }

    /// <summary>Network-scoped aliases: <c>[a-zA-Z0-9]([a-zA-Z0-9_.-]*[a-zA-Z0-9])?</c>.</summary>
    static class AliasRule
    {
        public static bool IsMatch(string s) => NameRule.IsMatch(s) && char.IsAsciiLetterOrDigit(s[^1]);
    }

    readonly SqliteStore store;
    readonly HostKernel host = new();
    readonly Dictionary<string, INetworkDriver> drivers;

    public TetherPaths Paths { get; }

    public TetherEngine(TetherPaths paths)
    {
        Paths = paths;
        store = SqliteStore.Open(paths.StateDir);
        drivers = DriverRegistry.Create(host).ToDictionary(d => d.Name);
        EnsurePredefined();
    }

    /// <summary>For a long-lived engine (tetherd's): an endpoint's host link is deleted after the use case answers, on a
    /// thread of its own (<see cref="LinkReaper"/>), and the next interface made in the same sandbox namespace waits for it.
    /// <paramref name="log"/> gets a line per such deletion that failed. Disposing the engine waits for them all.</summary>
    public void DeferLinkDeletions(Action<string> log) => host.DeferLinkDeletions(log);

    /// <summary>The registered drivers, by name.</summary>
    public IReadOnlyCollection<INetworkDriver> Drivers => drivers.Values;

    /// <summary>Makes the predefined networks host and none when the store lacks them (once per state dir).</summary>
    void EnsurePredefined()
    {
        bool Missing() => PredefinedNetworks.Keys.Any(name => store.FindNetwork(name) is not { } n || n.Name != name);
        if (!store.Read(Missing)) return;
        store.Write(() =>
        {
            foreach (var (name, driver) in PredefinedNetworks)
                if (store.FindNetwork(name) is not { } n || n.Name != name)
                    store.InsertNetwork(new NetworkRecord(NewId(), name, driver, false, null, 0, new Dictionary<string, string>(), DateTime.UtcNow, []));
            return 0;
        });
    }

    INetworkDriver DriverOf(NetworkRecord n) => drivers[n.Driver];

    static bool Has(INetworkDriver d, DriverCapabilities c) => (d.Capabilities & c) == c;

    // ------------------------------------------------------------------ networks

    /// <summary><c>network create</c>: validates, picks a subnet (or checks the given one), makes the driver's kernel objects.</summary>
    public NetworkRecord CreateNetwork(NetworkCreateRequest req) => store.Write(() => CreateNetworkLocked(req));

    NetworkRecord CreateNetworkLocked(NetworkCreateRequest req)
    {
        CheckName("network", req.Name);
        if (req.Name is "host" or "none") throw new TetherException($"network name {req.Name} is reserved for the {req.Name} driver");
        if (store.FindNetwork(req.Name) is { } same && same.Name == req.Name) throw new TetherException($"network with name {req.Name} already exists");
        if (!drivers.TryGetValue(req.Driver, out var driver))
            throw new TetherException($"unknown driver \"{req.Driver}\" (available: {string.Join(", ", drivers.Values.Where(d => Has(d, DriverCapabilities.UserNetworks)).Select(d => d.Name).Order())})");
        if (!Has(driver, DriverCapabilities.UserNetworks)) throw new TetherException($"only one instance of \"{driver.Name}\" network is allowed");
        if (req.Internal && !Has(driver, DriverCapabilities.Internal)) throw new TetherException($"driver {driver.Name} does not support --internal");
        var existing = store.Networks();

        IPNetwork subnet;
        if (req.Subnet is not null)
        {
            subnet = Cidr.ParseSubnet(req.Subnet);
            CheckUsable(subnet);
            var clash = existing.FirstOrDefault(n => n.Subnets.Any(s => Cidr.Overlaps(IPNetwork.Parse(s.Subnet), subnet)));
            if (clash is not null) throw new TetherException($"subnet {subnet} overlaps network {clash.Name} ({string.Join(", ", clash.Subnets.Select(s => s.Subnet))})");
        }
        else
        {
            if (req.Gateway is not null || req.IpRange is not null) throw new TetherException("--gateway and --ip-range need --subnet");
            subnet = req.Name == DefaultNetwork && !existing.Any(n => n.Subnets.Any(s => Cidr.Overlaps(IPNetwork.Parse(s.Subnet), DefaultPools.DefaultBridgeSubnet)))
                ? DefaultPools.DefaultBridgeSubnet
                : DefaultPools.NextSubnet(existing.SelectMany(n => n.Subnets.Select(s => IPNetwork.Parse(s.Subnet))).Concat(HostRoutes()));
        }
        var config = SubnetConfig.Create(subnet,
            req.Gateway is null ? null : Cidr.ParseAddress(req.Gateway),
            req.IpRange is null ? null : Cidr.ParseSubnet(req.IpRange));

        var network = new NetworkRecord(NewId(), req.Name, driver.Name, req.Internal, null, 0, req.Options, DateTime.UtcNow,
            [new SubnetRecord(config.Subnet.ToString(), config.Gateway.ToString(), config.IpRange?.ToString(), null)]);
        network = driver.Prepare(network, existing);
        return UndoLog.Run(undo =>
        {
            driver.CreateNetwork(network, undo);
            store.InsertNetwork(network);
            ReconcileFirewallLocked();
            return network;
        });
    }

    /// <summary>Runs a use case in one write transaction; when the firewall found its ruleset changed behind Tether's back
    /// during it, rewrites the whole ruleset from the store (as the transaction sees it) before committing.</summary>
    T Write<T>(Func<T> useCase)
    {
        try
        {
            return store.Write(() =>
            {
                var result = useCase();
                if (host.FirewallDrifted) ReconcileFirewallLocked();
                return result;
            });
        }
        finally { host.ReleaseSandboxes(); }
    }

    /// <summary><c>reconcile</c>: makes the kernel match the store again after changes behind Tether's back: rewrites
    /// the whole nftables ruleset (keeping the user chain), recreates missing bridges with their gateway addresses,
    /// removes namespace bind mounts under the run dir that belong to no sandbox (left by a killed <c>tether</c>),
    /// reclaims CNI attachments whose runtime namespace is gone (as their DEL would), and deletes veth pairs of endpoints
    /// no longer in the store. Returns one line per repair.</summary>
    public IReadOnlyList<string> Reconcile() => store.Write(() =>
    {
        var repairs = new List<string>();
        store.EnsureCniSchema();
        repairs.AddRange(ReclaimOrphanedCniLocked());
        foreach (var n in store.Networks())
            repairs.AddRange(UndoLog.Run(undo => DriverOf(n).Repair(n, undo)));
        var known = store.Sandboxes().Select(s => s.NsPath).ToHashSet();
        if (Directory.Exists(Paths.NetnsDir))
            foreach (var path in Directory.GetFiles(Paths.NetnsDir).Where(p => !known.Contains(p)))
            {
                NetNs.Delete(path);
                repairs.Add($"removed stale namespace {path}");
            }
        repairs.AddRange(RemoveStrayHostLinksLocked());
        ReconcileFirewallLocked();
        repairs.Add("rewrote the nftables ruleset from the store");
        return repairs;
    });

    /// <summary>Part of <c>reconcile</c>: deletes the host end of a veth pair that Tether made (named tv + 12 hex digits,
    /// a port of one of its networks' bridges) for an endpoint that is no longer in the store, with its peer: left when
    /// tetherd was killed between answering a disconnect or DEL and the kernel's deletion of the pair.</summary>
    IEnumerable<string> RemoveStrayHostLinksLocked()
    {
        var bridges = store.Networks().Where(n => n.Bridge is not null).Select(n => n.Bridge!).ToHashSet();
        var known = store.Endpoints().Select(e => e.HostIfName).OfType<string>().ToHashSet();
        var links = host.Netlink.ListLinks();
        var bridgeIndexes = links.Where(l => bridges.Contains(l.Name)).Select(l => l.Index).ToHashSet();
        var repairs = new List<string>();
        foreach (var l in links.Where(l => l.Kind == "veth" && StrayHostLinkName.IsMatch(l.Name) && bridgeIndexes.Contains(l.MasterIndex) && !known.Contains(l.Name)))
        {
            host.Netlink.DeleteLink(l.Name);
            repairs.Add($"removed veth {l.Name}, whose endpoint is gone");
        }
        return repairs;
    }

    static readonly System.Text.RegularExpressions.Regex StrayHostLinkName = new("^tv[0-9a-f]{12}$");

    /// <summary>Rewrites Tether's whole ruleset from the store: every network's firewall view (per its driver) and every
    /// published port.</summary>
    void ReconcileFirewallLocked()
    {
        var networks = store.Networks().ToDictionary(n => n.Id);
        var addresses = store.Endpoints().ToDictionary(e => e.Id);
        var ports = store.PortBindings().GroupBy(p => p.EndpointId).SelectMany(g =>
        {
            var e = addresses[g.Key];
            return networks.TryGetValue(e.NetworkId, out var n) ? DriverOf(n).Mappings(n, IPAddress.Parse(e.Ip), g) : [];
        });
        host.Firewall.Reconcile(networks.Values.SelectMany(n => DriverOf(n).FirewallNetworks(n)), ports);
    }

    /// <summary>Routes the host already has (except default routes): new default subnets must not overlap them.</summary>
    IEnumerable<IPNetwork> HostRoutes() =>
        host.Netlink.ListRoutes(AddressFamily.InterNetwork).Where(r => r.Destination is { PrefixLength: > 0 }).Select(r => r.Destination!.Value);

    /// <summary><c>network rm</c>: refuses while sandboxes are attached. Returns false when the network does not exist.</summary>
    public bool RemoveNetwork(string nameOrId) => store.Write(() =>
    {
        var n = store.FindNetwork(nameOrId);
        if (n is null) return false;
        if (n.Name == DefaultNetwork) throw new TetherException($"{DefaultNetwork} is the default network and cannot be removed");
        if (!Has(DriverOf(n), DriverCapabilities.UserNetworks)) throw new TetherException($"{n.Name} is a pre-defined network and cannot be removed");
        var attached = store.EndpointsOfNetwork(n.Id);
        if (attached.Count > 0)
        {
            var names = attached.Select(e => store.Sandboxes().First(s => s.Id == e.SandboxId).Name);
            throw new TetherException($"network {n.Name} has active endpoints (sandboxes: {string.Join(", ", names)})");
        }
        DriverOf(n).DeleteNetwork(n, store.Networks().Where(x => x.Id != n.Id).ToList());
        store.DeleteNetwork(n.Id);
        ReconcileFirewallLocked();
        return true;
    });

    /// <summary><c>network prune</c>: removes every network without endpoints; returns their names.</summary>
    public IReadOnlyList<string> PruneNetworks()
    {
        var unused = store.Read(() => store.Networks().Where(n => n.Name != DefaultNetwork && Has(DriverOf(n), DriverCapabilities.UserNetworks) && store.EndpointsOfNetwork(n.Id).Count == 0).Select(n => n.Name).ToList());
        var removed = new List<string>();
        foreach (var name in unused)
        {
            try { if (RemoveNetwork(name)) removed.Add(name); }
            catch (TetherException) { /* gained an endpoint meanwhile: not unused any more */ }
        }
        return removed;
    }

    public IReadOnlyList<NetworkRecord> Networks() => store.Read(store.Networks);

    /// <summary>Finds a network by name, id or unique id prefix; throws when there is none.</summary>
    public NetworkRecord GetNetwork(string nameOrId) => store.Read(() => store.FindNetwork(nameOrId)) ?? throw new TetherException($"network {nameOrId} not found");

    // ------------------------------------------------------------------ sandboxes

    /// <summary><c>create</c>: a new sandbox (network namespace, loopback up) attached to one network.</summary>
    public SandboxRecord CreateSandbox(string name, AttachRequest? attach) => Write(() =>
    {
        CheckName("sandbox", name);
        if (attach is not null) CheckAliases(attach.Aliases);
        if (store.FindSandbox(name) is { } same && same.Name == name) throw new TetherException($"sandbox name \"{name}\" is already in use by sandbox {same.Id[..12]}");
        var network = attach is null ? null : ResolveNetworkForAttach(attach.Network);
        var exclusive = network is not null && Has(DriverOf(network), DriverCapabilities.Exclusive) ? network : null;
        if (exclusive is not null) CheckExclusiveAttach(exclusive, attach!);
        return UndoLog.Run(undo =>
        {
            var sandbox = new SandboxRecord(NewId(), name, Path.Combine(Paths.NetnsDir, name), DateTime.UtcNow, null, exclusive?.Name);
            // No sandbox of this name exists and we hold the store's write lock: a namespace at its path was left
            // by a tether process killed half-way through, and is removed.
            NetNs.Delete(sandbox.NsPath);
            if (exclusive is not null && Has(DriverOf(exclusive), DriverCapabilities.HostNamespace))
            {
                // The sandbox is the namespace Tether runs in: only named at the sandbox's path, nothing in it changes.
                NetNs.BindCurrent(sandbox.NsPath);
                undo.Add($"namespace {sandbox.NsPath}", () => NetNs.Delete(sandbox.NsPath));
                store.InsertSandbox(sandbox);
                return sandbox;
            }
            NetNs.Create(sandbox.NsPath);
            undo.Add($"namespace {sandbox.NsPath}", () => NetNs.Delete(sandbox.NsPath));
            var inside = host.Sandbox(sandbox.NsPath);
            inside.SetUp(inside.FindLink("lo")!.Index);
            store.InsertSandbox(sandbox);
            if (network is not null && exclusive is null) Attach(sandbox, network, attach!, undo);
            return sandbox;
        });
    });

    /// <summary><c>rm</c>: removes the sandbox's endpoints, published ports, leases and namespace. With
    /// <paramref name="force"/>, kills the processes inside first; without it, refuses while processes run.
    /// Works when the namespace was already deleted behind Tether's back. Returns false when no such sandbox exists.</summary>
    public bool RemoveSandbox(string nameOrId, bool force) => Write(() =>
    {
        var s = store.FindSandbox(nameOrId);
        if (s is null)
        {
            if (NameRule.IsMatch(nameOrId)) NetNs.Delete(Path.Combine(Paths.NetnsDir, nameOrId));   // stale, see CreateSandbox
            return false;
        }
        if (IsRuntimeNamespace(s)) { RemoveCniSandboxLocked(s); return true; }   // the namespace is the runtime's: only our links go
        var nsExists = NetNs.Exists(s.NsPath);
        var pids = nsExists ? PidsOf(s) : [];
        if (pids.Count > 0)
        {
            if (!force) throw new TetherException($"sandbox {s.Name} has running processes (PIDs {string.Join(", ", pids)}): stop them or use rm -f");
            KillAll(s);
        }
        var errors = new List<string>();
        foreach (var e in store.EndpointsOfSandbox(s.Id).Reverse())
        {
            var n = store.Networks().First(x => x.Id == e.NetworkId);
            try { DriverOf(n).DeleteEndpoint(n, s, e, store.PortBindingsOfEndpoint(e.Id), namespaceGoing: nsExists); }
            catch (Exception ex) { errors.Add(ex.Message); }
        }
        try { NetNs.Delete(s.NsPath); }
        catch (Exception ex) { errors.Add(ex.Message); }
        if (errors.Count > 0) throw new TetherException($"removing sandbox {s.Name}: {string.Join("; ", errors)}");
        store.DeleteSandbox(s.Id);
        if (Directory.Exists(Paths.LogDir)) File.Delete(Path.Combine(Paths.LogDir, s.Name + ".log"));
        return true;
    });

    /// <summary>The sandbox's processes: every process in its namespace; for a sandbox that is the host's namespace, only
    /// the process <c>run</c> started and its descendants.</summary>
    IReadOnlyList<int> PidsOf(SandboxRecord s) => IsHostMode(s)
        ? s.Pid is { } pid ? NetNs.ProcessTree(pid).Where(p => p != Environment.ProcessId).ToList() : []
        : NetNs.Pids(s.NsPath);

    bool IsHostMode(SandboxRecord s) =>
        s.NetworkMode is { } mode && PredefinedNetworks.TryGetValue(mode, out var d) && Has(drivers[d], DriverCapabilities.HostNamespace);

    /// <summary>SIGKILLs the sandbox's processes (see <see cref="PidsOf"/>) and waits (up to 5 s) until they are gone.</summary>
    void KillAll(SandboxRecord s)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        IReadOnlyList<int> pids;
        while ((pids = PidsOf(s)).Count > 0)
        {
            if (DateTime.UtcNow > deadline) throw new TetherException($"processes {string.Join(", ", pids)} of sandbox {s.Name} did not exit after SIGKILL");
            foreach (var pid in pids) Signals.Kill(pid, 9);
            Thread.Sleep(10);
        }
    }

    public IReadOnlyList<SandboxRecord> Sandboxes() => store.Read(store.Sandboxes);

    /// <summary>Finds a sandbox by name, id or unique id prefix; throws when there is none.</summary>
    public SandboxRecord GetSandbox(string nameOrId) => store.Read(() => store.FindSandbox(nameOrId)) ?? throw new TetherException($"no such sandbox: {nameOrId}");

    /// <summary>Finds a sandbox by name, id or unique id prefix; null when there is none.</summary>
    public SandboxRecord? FindSandbox(string nameOrId) => store.Read(() => store.FindSandbox(nameOrId));

    /// <summary>Records the PID of the main process <c>run</c> started in the sandbox.</summary>
    public void SetPid(SandboxRecord s, int? pid) => store.Write(() => { store.SetSandboxPid(s.Id, pid); return 0; });

    /// <summary>Everything about one sandbox: its record, endpoints with their networks, and published ports.</summary>
    public SandboxDetails Details(SandboxRecord s) => DetailsOf([s])[0];

    /// <summary><see cref="Details"/> without the /proc scan for its processes (Pids empty): what writing the sandbox's
    /// files needs, at a cost that does not grow with the number of processes on the machine.</summary>
    public SandboxDetails Attachments(SandboxRecord s) => DetailsOf([s], withPids: false)[0];

    /// <summary>Details of every sandbox, read in one snapshot.</summary>
    public IReadOnlyList<SandboxDetails> AllDetails() => DetailsOf(null);

    /// <summary>Details of the given sandboxes (all when null): one store snapshot and one scan of /proc.</summary>
    IReadOnlyList<SandboxDetails> DetailsOf(IReadOnlyList<SandboxRecord>? only, bool withPids = true) => store.Read(() =>
    {
        var sandboxes = only ?? store.Sandboxes();
        var networks = store.Networks().ToDictionary(n => n.Id);
        var pids = withPids ? NetNs.Pids(sandboxes.Where(s => !IsHostMode(s)).Select(s => s.NsPath).ToList()) : null;
        return sandboxes.Select(s => new SandboxDetails(s,
            store.EndpointsOfSandbox(s.Id).Select(e => new EndpointDetails(e, networks[e.NetworkId], store.PortBindingsOfEndpoint(e.Id))).ToList(),
            pids is null ? [] : IsHostMode(s) ? PidsOf(s) : pids[s.NsPath],
            s.NetworkMode is null ? null : networks.Values.FirstOrDefault(n => n.Name == s.NetworkMode))).ToList();
    });

    /// <summary>Every sandbox with its endpoints and their networks, read in one store snapshot, without the /proc scan of
    /// <see cref="AllDetails"/> (Pids are empty): what the embedded DNS server builds its name table from.</summary>
    public IReadOnlyList<SandboxDetails> Topology() => store.Read(() =>
    {
        var networks = store.Networks().ToDictionary(n => n.Id);
        var endpoints = store.Endpoints().ToLookup(e => e.SandboxId);
        return store.Sandboxes().Select(s => new SandboxDetails(s,
            endpoints[s.Id].Select(e => new EndpointDetails(e, networks[e.NetworkId], [])).ToList(), [])).ToList();
    });

    /// <summary>Endpoints of a network with their sandboxes, for <c>network inspect</c>.</summary>
    public IReadOnlyList<(EndpointRecord Endpoint, SandboxRecord Sandbox)> NetworkEndpoints(NetworkRecord n) => store.Read(() =>
    {
        var sandboxes = store.Sandboxes().ToDictionary(s => s.Id);
        // Sandboxes owned by a predefined network (host, none) have no endpoint record: shown with empty addresses.
        return store.EndpointsOfNetwork(n.Id).Select(e => (e, sandboxes[e.SandboxId]))
            .Concat(sandboxes.Values.Where(s => s.NetworkMode == n.Name).Select(s => (new EndpointRecord("", n.Id, s.Id, "", null, "", "", 0, [], 0), s)))
            .ToList();
    });

    // ------------------------------------------------------------------ connect / disconnect

    /// <summary><c>network connect</c>: attaches an existing sandbox to one more network (interface eth N).</summary>
    public EndpointRecord Connect(string sandboxNameOrId, AttachRequest attach) => Write(() =>
    {
        CheckAliases(attach.Aliases);
        var s = store.FindSandbox(sandboxNameOrId) ?? throw new TetherException($"no such sandbox: {sandboxNameOrId}");
        CheckNotRuntimeOwned(s, "connected to another network");
        if (!NetNs.Exists(s.NsPath)) throw new TetherException($"namespace of sandbox {s.Name} is gone ({s.NsPath}); remove it with tether rm");
        var n = ResolveNetworkForAttach(attach.Network);
        CheckConnect(s, n);
        if (store.EndpointsOfSandbox(s.Id).Any(e => e.NetworkId == n.Id)) throw new TetherException($"sandbox {s.Name} is already connected to network {n.Name}");
        return UndoLog.Run(undo => Attach(s, n, attach, undo));
    });

    /// <summary><c>network disconnect</c>: removes the sandbox's endpoint on the network; moves the default route
    /// to the next network (in connect order) that has a gateway.</summary>
    public void Disconnect(string networkNameOrId, string sandboxNameOrId) => Write(() =>
    {
        var n = store.FindNetwork(networkNameOrId) ?? throw new TetherException($"network {networkNameOrId} not found");
        var s = store.FindSandbox(sandboxNameOrId) ?? throw new TetherException($"no such sandbox: {sandboxNameOrId}");
        CheckNotRuntimeOwned(s, "disconnected");
        if (s.NetworkMode == n.Name)
        {
            if (IsHostMode(s)) throw new TetherException(HostConflict);
            // Off the none network the sandbox keeps its loopback and may be connected to other networks.
            store.SetSandboxNetworkMode(s.Id, null);
            return 0;
        }
        var eps = store.EndpointsOfSandbox(s.Id);
        var e = eps.FirstOrDefault(x => x.NetworkId == n.Id) ?? throw new TetherException($"sandbox {s.Name} is not connected to network {n.Name}");
        var hadDefault = DefaultRouteHolder(eps)?.Id == e.Id;
        DriverOf(n).DeleteEndpoint(n, s, e, store.PortBindingsOfEndpoint(e.Id), namespaceGoing: false);
        store.DeleteEndpoint(e.Id);
        if (hadDefault && NetNs.Exists(s.NsPath) && DefaultRouteHolder(store.EndpointsOfSandbox(s.Id)) is { } next)
            SetDefaultRoute(s, next, new UndoLog());
        return 0;
    });

    // ------------------------------------------------------------------ internals

    /// <summary>Docker's error for any change of a sandbox's attachment to the host network.</summary>
    const string HostConflict = "container cannot be disconnected from host network or connected to host network";

    /// <summary>Refuses connect/disconnect of a CNI attachment: its namespace and interfaces belong to the container
    /// runtime, which adds and removes them through CNI ADD/DEL (an interface made behind its back could clash with its
    /// next CNI_IFNAME, one removed behind its back breaks its DEL and CHECK).</summary>
    void CheckNotRuntimeOwned(SandboxRecord s, string what)
    {
        if (IsRuntimeNamespace(s))
            throw new TetherException($"sandbox {s.Name} is a CNI attachment in the container runtime's namespace {s.NsPath}: it cannot be {what} by tether; use the runtime (its network connect/disconnect, CNI ADD/DEL)");
    }

    /// <summary>Refuses connecting a sandbox on a predefined network elsewhere, or any sandbox to a predefined network.</summary>
    void CheckConnect(SandboxRecord s, NetworkRecord n)
    {
        var exclusive = Has(DriverOf(n), DriverCapabilities.Exclusive);
        if (IsHostMode(s) || exclusive && Has(DriverOf(n), DriverCapabilities.HostNamespace)) throw new TetherException(HostConflict);
        if (s.NetworkMode is not null || exclusive)
            throw new TetherException($"container cannot be connected to multiple networks with one of the networks in private (none) mode (sandbox {s.Name}, network {n.Name})");
    }

    /// <summary>A sandbox on host or none has no address, alias or published port.</summary>
    void CheckExclusiveAttach(NetworkRecord n, AttachRequest req)
    {
        if (req.Ports.Count > 0)
            throw new TetherException($"ports cannot be published on network {n.Name} (-p {req.Ports[0].HostPort}): " +
                (Has(DriverOf(n), DriverCapabilities.HostNamespace) ? "the sandbox uses the host's own ports" : "the sandbox has no network"));
        if (req.Ip is not null) throw new TetherException($"--ip {req.Ip}: network {n.Name} leases no addresses");
        if (req.Aliases.Count > 0) throw new TetherException($"--alias {req.Aliases[0]}: network-scoped aliases need a user-defined network, not {n.Name}");
    }

    NetworkRecord ResolveNetworkForAttach(string nameOrId)
    {
        var n = store.FindNetwork(nameOrId);
        if (n is not null) return n;
        if (nameOrId == DefaultNetwork)
            return CreateNetworkLocked(new NetworkCreateRequest(DefaultNetwork, "bridge", null, null, null, false, new Dictionary<string, string>()));
        throw new TetherException($"network {nameOrId} not found");
    }

    /// <summary>Leases an address, makes the endpoint through the driver, records it, and sets the default route
    /// when this is the sandbox's first network with a gateway.</summary>
    EndpointRecord Attach(SandboxRecord s, NetworkRecord n, AttachRequest req, UndoLog undo, EndpointOptions? opts = null)
    {
        CheckAliases(req.Aliases);
        var driver = DriverOf(n);
        if (req.Ports.Count > 0 && !Has(driver, DriverCapabilities.PortBindings))
            throw new TetherException($"ports cannot be published on network {n.Name} (-p {req.Ports[0].HostPort}): driver {driver.Name} has no published ports");
        var sub = n.Subnets[0];
        var config = SubnetConfig.Create(IPNetwork.Parse(sub.Subnet), IPAddress.Parse(sub.Gateway), sub.IpRange is null ? null : IPNetwork.Parse(sub.IpRange));
        IPAddress ip;
        if (req.Ip is not null)
        {
            ip = Cidr.ParseAddress(req.Ip);
            AddressAllocator.ValidateStatic(config, ip);
            if (store.IsLeased(n.Id, ip.ToString())) throw new TetherException($"address {ip} is already in use on network {n.Name}");
        }
        else
        {
            ip = AddressAllocator.Next(config, sub.LastAllocated is null ? null : IPAddress.Parse(sub.LastAllocated), LeaseProbe(n.Id));
            store.SetLastAllocated(n.Id, sub.Subnet, ip.ToString());
        }

        var ports = new List<PortBindingRecord>();
        var id = NewId();
        if (req.Ports.Count > 0 && n.Internal) throw new TetherException($"network {n.Name} is internal: ports cannot be published on it");
        var local = req.Ports.Any(p => p.HostIp is not null) ? host.Netlink.ListAddresses().Select(a => a.Ip).ToHashSet() : [];
        foreach (var p in req.Ports)
        {
            if (p.HostIp is { } hip && !IPAddress.IsLoopback(hip) && !hip.Equals(IPAddress.Any) && !hip.Equals(IPAddress.IPv6Any) && !local.Contains(hip))
                throw new TetherException($"cannot publish on {hip}:{p.HostPort}: {hip} is not an address of this host");
            var hostIp = p.HostIp?.ToString() ?? "";
            var proto = p.Protocol == PortProtocol.Udp ? "udp" : "tcp";
            // Like docker's port proxy failing to bind: a host service already owns that port.
            if (Sockets.InUse(proto, p.HostIp, p.HostPort))
                throw new TetherException($"port {(hostIp == "" ? "0.0.0.0" : hostIp)}:{p.HostPort}/{proto} is already in use on the host (bind: address already in use)");
            var clash = store.ConflictingPortBinding(hostIp, proto, p.HostPort) ?? ports.FirstOrDefault(x => x.Protocol == proto && x.HostPort == p.HostPort && (x.HostIp == hostIp || x.HostIp == "" || hostIp == ""));
            if (clash is not null)
                throw new TetherException($"port {(hostIp == "" ? "0.0.0.0" : hostIp)}:{p.HostPort}/{proto} is already published{(clash.EndpointId == id ? " by this request" : "")}");
            ports.Add(new PortBindingRecord(id, hostIp, proto, p.HostPort, p.ContainerPort));
        }

        var existing = store.EndpointsOfSandbox(s.Id);
        // ethN numbering continues after the highest ethN in use; names a runtime chose (CNI_IFNAME) do not count.
        var ifIndex = existing.Select(e => e.IfName.StartsWith("eth", StringComparison.Ordinal) && int.TryParse(e.IfName.AsSpan(3),
            System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n + 1 : 0).DefaultIfEmpty(0).Max();
        var ifName = opts?.IfName ?? $"eth{ifIndex}";
        var hostIf = "tv" + id[..12];
        var prefix = IPNetwork.Parse(sub.Subnet).PrefixLength;
        var made = driver.CreateEndpoint(n, new EndpointSpec(s, ifName, hostIf, ip, prefix, ports), undo);
        var mac = opts?.Mac is { } wanted ? SetEndpointMac(s, ifName, wanted) : made.Mac;
        var endpoint = new EndpointRecord(id, n.Id, s.Id, ifName, made.HostIfName, mac, ip.ToString(), prefix, req.Aliases, store.NextEndpointSeq(s.Id));
        store.InsertEndpoint(endpoint);
        foreach (var p in ports) store.InsertPortBinding(p);
        if (DefaultRouteHolder(store.EndpointsOfSandbox(s.Id))?.Id == endpoint.Id && !(opts?.KeepExistingDefaultRoute == true && HasDefaultRoute(s)))
            SetDefaultRoute(s, endpoint, undo);
        return endpoint;
    }

    /// <summary>The endpoint whose gateway is the sandbox's default route: the first in connect order on a non-internal network.</summary>
    EndpointRecord? DefaultRouteHolder(IReadOnlyList<EndpointRecord> endpoints)
    {
        var networks = store.Networks().ToDictionary(n => n.Id);
        return endpoints.OrderBy(e => e.Seq).FirstOrDefault(e => !networks[e.NetworkId].Internal);
    }

    void SetDefaultRoute(SandboxRecord s, EndpointRecord e, UndoLog undo)
    {
        var n = store.Networks().First(x => x.Id == e.NetworkId);
        var inside = host.Sandbox(s.NsPath);
        var link = inside.FindLink(e.IfName) ?? throw new TetherException($"interface {e.IfName} is missing in sandbox {s.Name}");
        var route = DriverOf(n).DefaultRoute(n, link.Index);
        inside.AddRoute(route);
        undo.Add($"default route of {s.Name}", () => inside.DeleteRoute(route));
    }

    static readonly IPNetwork[] Unusable = [IPNetwork.Parse("0.0.0.0/8"), IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("224.0.0.0/3"),
        IPNetwork.Parse("::1/128"), IPNetwork.Parse("ff00::/8")];

    /// <summary>Refuses subnets that cannot carry a network: "this network", loopback, multicast and reserved ranges
    /// (RFC 1122 3.2.1.3, RFC 5771, RFC 1112), and subnets too small for a gateway and one endpoint.</summary>
    static void CheckUsable(IPNetwork subnet)
    {
        if (Unusable.FirstOrDefault(u => Cidr.Overlaps(u, subnet)) is { PrefixLength: > 0 } bad)
            throw new TetherException($"subnet {subnet} overlaps {bad}, which is not usable for a network");
        var hostBits = (subnet.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128) - subnet.PrefixLength;
        if (hostBits < 2) throw new TetherException($"subnet {subnet} is too small: it needs room for a gateway and an endpoint (at most /30 for IPv4, /126 for IPv6)");
    }

    /// <summary>
    /// An alias is a DNS name the embedded server answers: labels of 1 to 63 octets (RFC 1035 2.3.4, so no empty label
    /// between dots), at most 253 characters in all (255 octets in wire form, RFC 1035 2.3.4, less the length of the
    /// first label and the root), letters, digits, '-' and '_' (as Docker), starting and ending with a letter or digit.
    /// Throws naming the first bad alias and what is wrong with it.
    /// </summary>
    public static void CheckAliases(IEnumerable<string> aliases)
    {
        foreach (var a in aliases)
        {
            if (a.Length > 253) throw new TetherException($"invalid alias \"{a}\": {a.Length} characters, a DNS name has at most 253");
            if (a.Split('.').FirstOrDefault(l => l.Length == 0) is not null)
                throw new TetherException($"invalid alias \"{a}\": empty label (a DNS name has no \"..\" and no leading or trailing dot)");
            if (a.Split('.').FirstOrDefault(l => l.Length > 63) is { } longLabel)
                throw new TetherException($"invalid alias \"{a}\": label of {longLabel.Length} characters, a DNS label has at most 63 (RFC 1035 2.3.4)");
            if (!AliasRule.IsMatch(a)) throw new TetherException($"invalid alias \"{a}\": only letters, digits, '-', '_' and '.', starting and ending with a letter or digit");
        }
    }

    static void CheckName(string what, string name)
    {
        if (!NameRule.IsMatch(name) || name.Length > 128)
            throw new TetherException($"invalid {what} name \"{name}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 128 characters");
    }

    /// <summary>A 64-hex-digit ID like docker's. Random.Shared is seeded from the kernel's entropy per process, which is
    /// enough for uniqueness and avoids loading OpenSSL (RandomNumberGenerator), which alone costs tens of ms at start.</summary>
    static string NewId()
    {
        Span<byte> bytes = stackalloc byte[32];
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    public void Dispose()
    {
        host.Dispose();
        store.Dispose();
    }

    /// <summary>Whether an address is leased in the network, for the allocator's probes. The first probes are indexed
    /// lookups (UNIQUE(network_id, ip); leases go out sequentially, so the first candidate is nearly always free and a create
    /// does not read every lease of the network); past 16 probes, one read of every lease (a nearly full subnet would
    /// otherwise cost a query per address).</summary>
    Func<IPAddress, bool> LeaseProbe(string networkId)
    {
        int probes = 0;
        HashSet<string>? all = null;
        return a => ++probes <= 16 ? store.IsLeased(networkId, a.ToString()) : (all ??= store.Leases(networkId)).Contains(a.ToString());
    }
}

/// <summary>An endpoint with its network and published ports.</summary>
public sealed record EndpointDetails(EndpointRecord Endpoint, NetworkRecord Network, IReadOnlyList<PortBindingRecord> Ports);

/// <summary>A sandbox with its endpoints and the PIDs of the processes inside it.</summary>
/// <param name="ModeNetwork">The predefined network (host, none) that owns the whole sandbox, or null.</param>
public sealed record SandboxDetails(SandboxRecord Sandbox, IReadOnlyList<EndpointDetails> Endpoints, IReadOnlyList<int> Pids,
    NetworkRecord? ModeNetwork = null);
