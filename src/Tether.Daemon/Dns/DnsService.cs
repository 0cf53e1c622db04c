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
public sealed class DnsService(TetherPaths paths, string resolvConfPath) : IDisposable
{
    readonly Dictionary<string, SandboxDnsServer> servers = new();
    readonly Dictionary<string, Forwarder> forwarders = new();   // by server list: shared, kept for the daemon's life
    // The --dns servers of each sandbox, read once from its options.json (fixed at create): a sync then reads no file per
    // sandbox, which kept its cost growing with the number of sandboxes.
    readonly Dictionary<string, IReadOnlyList<IPAddress>> sandboxDns = new();
    readonly Lock gate = new();
    volatile NameTable table = NameTable.Empty;

    /// <summary>Current table (read lock-free by the servers on every query).</summary>
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
            var host = ResolvConf.Read(resolvConfPath);
            var started = new List<string>();
            var stopped = new List<string>();
            var errors = new List<string>();
            // Stop first: a sandbox removed and made again under the same name gets a new namespace and a new listener.
            foreach (var (id, s) in servers.ToList())
            {
                if (next.Served.TryGetValue(id, out var d) && d.Sandbox.NsPath == s.NsPath && listensIn(d.Sandbox)) continue;
                s.Dispose();
                servers.Remove(id);
                sandboxDns.Remove(id);
                stopped.Add(id);
            }
            table = next;
            foreach (var (id, d) in next.Served)
            {
                if (!listensIn(d.Sandbox)) continue;
                var forwarder = ForwarderFor(d, host);
                if (servers.TryGetValue(id, out var running))
                {
                    running.Forwarder = forwarder;
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
                    servers[id] = SandboxDnsServer.Start(id, d.Sandbox.NsPath, () => table, forwarder);
                    started.Add(id);
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
                {
                    errors.Add($"sandbox {d.Sandbox.Name}: DNS listener on {SandboxFiles.EmbeddedDns}:{SandboxDnsServer.Port}: {e.Message}");
                }
            }
            return new SyncResult(servers.Count, started, stopped, errors);
        }
    }

    /// <summary>The sandbox's <c>--dns</c> servers when it has them, else the host's (resolv.conf).</summary>
    Forwarder ForwarderFor(SandboxDetails d, ResolvConf host)
    {
        if (!sandboxDns.TryGetValue(d.Sandbox.Id, out var own))
            sandboxDns[d.Sandbox.Id] = own = SandboxFiles.ReadOptions(paths, d.Sandbox.Name).Dns.Select(IPAddress.Parse).ToList();
        var list = own.Count > 0 ? own : host.Nameservers.ToList();
        var key = string.Join(' ', list);
        if (!forwarders.TryGetValue(key, out var f)) forwarders[key] = f = new Forwarder(list);
        return f;
    }

    public void Dispose()
    {
        lock (gate)
        {
            foreach (var s in servers.Values) s.Dispose();
            servers.Clear();
            foreach (var f in forwarders.Values) f.Dispose();
            forwarders.Clear();
        }
    }
}
