using System.Net;
using Tether.Dns;
using Tether.Engine;
using Tether.Linux;
using Tether.State;

namespace Tether.Daemon.Dns;

/// <summary>
/// Keeps one <see cref="SandboxDnsServer"/> per sandbox that is attached to a network with name resolution, and the
/// <see cref="NameTable"/> they answer from, in step with the store. <see cref="Sync"/> is the whole protocol with the
/// CLI: after each change the CLI calls it (POST /v1/dns/sync) and waits; it rereads the store (the one truth), swaps in
/// the new table, stops the listeners of sandboxes that are gone and starts those of new ones, then returns. A daemon
/// that starts calls it once, which brings back every listener without touching the sandboxes.
/// </summary>
public sealed class DnsService : IDisposable
{
    readonly TetherPaths paths;
    readonly string resolvConfPath;
    readonly Dictionary<string, SandboxDnsServer> servers = new();
    readonly DatagramLoop udpLoop = new("dns-udp");   // every listener's UDP socket, on one thread
    readonly Dictionary<string, Forwarder> forwarders = new();   // by server list: shared, closed when no listener uses one
    // The key of the host's forwarder as the last read of its resolv.conf gave it: kept while no listener uses it.
    string hostKey = "";
    // The --dns servers of each sandbox, read once from its options.json (fixed at create): a sync then reads no file per
    // sandbox, which kept its cost growing with the number of sandboxes.
    readonly Dictionary<string, IReadOnlyList<IPAddress>> sandboxDns = new();
    readonly Lock gate = new();
    volatile NameTable table = new();

    /// <summary>Reads the host's resolv.conf (<paramref name="resolvConfPath"/>) and opens the forwarder to its nameservers,
    /// in the daemon's network namespace: most sandboxes use it, and making it (sockets, receive threads) at the first
    /// create put that cost on the first sandbox. A server it cannot reach yet is connected to at a later query.</summary>
    public DnsService(TetherPaths paths, string resolvConfPath)
    {
        this.paths = paths;
        this.resolvConfPath = resolvConfPath;
        lock (gate) HostForwarder(ResolvConf.Read(resolvConfPath));
    }

    /// <summary>Current table (the servers read it on every query).</summary>
    public NameTable Table => table;

    /// <summary>Sandbox ids with a running listener.</summary>
    public IReadOnlyList<string> Listeners { get { lock (gate) return servers.Keys.ToList(); } }

    /// <summary>Result of one <see cref="Sync"/>: listeners started and stopped, and failures (one line each).</summary>
    public sealed record SyncResult(int Listeners, IReadOnlyList<string> Started, IReadOnlyList<string> Stopped, IReadOnlyList<string> Errors);

    /// <summary>Rebuilds the table and the listeners from <paramref name="topology"/> (a store snapshot). Listeners run only
    /// in the sandboxes <paramref name="listensIn"/> accepts (the namespaces Tether made): a container runtime's namespace
    /// (a CNI attachment) has the runtime's own resolver, and a socket held there would outlive the runtime's DEL; its
    /// names still answer in Tether's sandboxes.</summary>
    public SyncResult Sync(IReadOnlyList<SandboxDetails> topology, Func<SandboxRecord, bool> listensIn)
    {
        lock (gate)
        {
            var next = new NameTable(topology);
            var served = next.Served;
            var host = ResolvConf.Read(resolvConfPath);
            var started = new List<string>();
            var stopped = new List<string>();
            var errors = new List<string>();
            // Stop first: a sandbox removed and made again under the same name gets a new namespace and a new listener.
            foreach (var (id, s) in servers.ToList())
            {
                if (served.TryGetValue(id, out var d) && d.Sandbox.NsPath == s.NsPath && listensIn(d.Sandbox)) continue;
                StopLocked(id);
                stopped.Add(id);
            }
            table = next;
            foreach (var id in sandboxDns.Keys.Where(k => !served.ContainsKey(k)).ToList()) sandboxDns.Remove(id);
            foreach (var (id, d) in served)
            {
                if (!listensIn(d.Sandbox)) continue;
                if (servers.TryGetValue(id, out var running))
                {
                    running.Forwarder = ForwarderFor(d, host);
                    continue;
                }
                if (!NetNs.Exists(d.Sandbox.NsPath))
                {
                    // Being removed by another process right now (its store row goes last), or deleted behind Tether's
                    // back: not the asker's business; the daemon's log has it.
                    Console.Error.WriteLine($"tetherd: sandbox {d.Sandbox.Name}: namespace {d.Sandbox.NsPath} is gone; no DNS listener");
                    continue;
                }
                try
                {
                    servers[id] = SandboxDnsServer.Start(id, d.Sandbox.NsPath, () => table, ForwarderFor(d, host), udpLoop);
                    started.Add(id);
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
                {
                    errors.Add($"sandbox {d.Sandbox.Name}: DNS listener on {SandboxFiles.EmbeddedDns}:{SandboxDnsServer.Port}: {e.Message}");
                }
            }
            PruneForwarders();
            return new SyncResult(servers.Count, started, stopped, errors);
        }
    }

    /// <summary>
    /// One sandbox made by this daemon (<paramref name="d"/>, as the engine returned it): its names join the table and it
    /// gets a listener when it is on a network with name resolution and <paramref name="listensIn"/> accepts it. O(its
    /// endpoints): the rest of the table and the other listeners are not looked at. Failures are in the result.
    /// </summary>
    /// <param name="dnsServers">The sandbox's <c>--dns</c> servers as its create gave them; null: read them from its options.json.</param>
    public SyncResult Added(SandboxDetails d, Func<SandboxRecord, bool> listensIn, IReadOnlyList<string>? dnsServers = null)
    {
        ArgumentNullException.ThrowIfNull(d);
        lock (gate)
        {
            var started = new List<string>();
            var errors = new List<string>();
            var id = d.Sandbox.Id;
            StopLocked(id);
            if (table.Add(d) && listensIn(d.Sandbox))
            {
                if (dnsServers is not null) sandboxDns[id] = Addresses(dnsServers);
                try
                {
                    servers[id] = SandboxDnsServer.Start(id, d.Sandbox.NsPath, () => table, ForwarderFor(d, ResolvConf.Read(resolvConfPath)), udpLoop);
                    started.Add(id);
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
                {
                    errors.Add($"sandbox {d.Sandbox.Name}: DNS listener on {SandboxFiles.EmbeddedDns}:{SandboxDnsServer.Port}: {e.Message}");
                }
            }
            return new SyncResult(servers.Count, started, [], errors);
        }
    }

    /// <summary>One sandbox removed by this daemon: its names leave the table and its listener stops. O(its endpoints).</summary>
    public SyncResult Removed(string sandboxId)
    {
        lock (gate)
        {
            table.Remove(sandboxId);
            var stopped = StopLocked(sandboxId) ? new[] { sandboxId } : [];
            PruneForwarders();
            return new SyncResult(servers.Count, [], stopped, []);
        }
    }

    bool StopLocked(string sandboxId)
    {
        sandboxDns.Remove(sandboxId);
        if (!servers.Remove(sandboxId, out var s)) return false;
        s.Dispose();
        return true;
    }

    /// <summary>resolv.conf(5): a resolver uses at most MAXNS (3) nameservers; a forwarder asks no more, in order.</summary>
    public const int MaxNameservers = 3;

    /// <summary>The sandbox's <c>--dns</c> servers when it has them, else the host's (resolv.conf).</summary>
    Forwarder ForwarderFor(SandboxDetails d, ResolvConf host)
    {
        if (!sandboxDns.TryGetValue(d.Sandbox.Id, out var own))
            sandboxDns[d.Sandbox.Id] = own = Addresses(SandboxFiles.ReadOptions(paths, d.Sandbox.Name).Dns);
        return own.Count > 0 ? Forwarder(own) : HostForwarder(host);
    }

    /// <summary>The addresses among <paramref name="servers"/> (a create checked them; a hand-edited options.json may hold
    /// anything, and is not worth a daemon that cannot start).</summary>
    static List<IPAddress> Addresses(IEnumerable<string> servers) =>
        servers.Select(x => IPAddress.TryParse(x, out var a) ? a : null).OfType<IPAddress>().ToList();

    Forwarder HostForwarder(ResolvConf host)
    {
        var f = Forwarder(host.Nameservers);
        hostKey = Key(host.Nameservers);
        return f;
    }

    static string Key(IReadOnlyList<IPAddress> list) => string.Join(' ', list.Take(MaxNameservers));

    Forwarder Forwarder(IReadOnlyList<IPAddress> list)
    {
        var key = Key(list);
        if (!forwarders.TryGetValue(key, out var f)) forwarders[key] = f = new Forwarder(list.Take(MaxNameservers).ToList());
        return f;
    }

    /// <summary>Closes the forwarders no listener uses any more (a sandbox's own <c>--dns</c> list, or the host's servers of
    /// an older resolv.conf), keeping the host's current one: each holds sockets and receive threads.</summary>
    void PruneForwarders()
    {
        var used = servers.Values.Select(s => s.Forwarder).ToHashSet();
        foreach (var (key, f) in forwarders.ToList())
        {
            if (key == hostKey || used.Contains(f)) continue;
            forwarders.Remove(key);
            f.Dispose();
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var s in servers.Values) s.Dispose();
            servers.Clear();
            foreach (var f in forwarders.Values) f.Dispose();
            forwarders.Clear();
            udpLoop.Dispose();
        }
    }
}
