namespace Tether.Linux;

/// <summary>
/// Deletes links of the namespace it was made in on a thread of its own, so that the caller does not wait for the kernel.
/// An RTM_DELLINK is acknowledged only after <c>netdev_run_todo</c> (net/core/dev.c) has run <c>rcu_barrier()</c>,
/// 15-40 ms on this kind of machine, although the link left the namespace's name and index lists earlier, in
/// <c>unregister_netdevice_many</c> under RTNL.
/// </summary>
/// <remarks>
/// tetherd hands it the host end of a veth pair when an endpoint goes (CNI DEL, <c>network disconnect</c>); a veth takes
/// its peer with it. Each deletion is keyed by the sandbox namespace the peer is in (its nsfs inode), and work that could
/// clash with a peer still there (a new interface of the same name in that namespace) first waits with
/// <see cref="AwaitNamespace"/>. <see cref="Dispose"/> returns when every queued deletion is done. A link already gone
/// (the runtime deleted the namespace, and the kernel the pair with it) counts as deleted; any other failure is
/// reported to the log callback, since the caller has already had its answer.
/// </remarks>
public sealed class LinkReaper : IDisposable
{
    readonly object gate = new();
    readonly Queue<(string Name, ulong? Namespace)> queue = new();
    readonly Dictionary<ulong, int> pending = new();   // namespace inode -> deletions queued or running
    readonly RtNetlink netlink;
    readonly Action<string> log;
    readonly Thread worker;
    bool stopping;

    /// <summary>Opens an rtnetlink socket in the calling thread's network namespace, the one whose links it deletes.</summary>
    /// <param name="log">Receives one line per deletion that failed.</param>
    public LinkReaper(Action<string> log)
    {
        netlink = RtNetlink.Open();
        this.log = log;
        worker = new Thread(Work) { IsBackground = true, Name = "tether link reaper" };
        worker.Start();
    }

    /// <summary>Queues the deletion of link <paramref name="name"/>, whose peer (if any) is in the namespace at
    /// <paramref name="peerNamespace"/> (null, or a path that is no longer a namespace: nothing waits for it).</summary>
    public void Delete(string name, string? peerNamespace)
    {
        InterfaceName.Validate(name);
        var ns = InodeOf(peerNamespace);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(stopping, this);
            queue.Enqueue((name, ns));
            if (ns is { } key) pending[key] = pending.GetValueOrDefault(key) + 1;
            Monitor.PulseAll(gate);
        }
    }

    /// <summary>Returns once no deletion of a link whose peer is in the namespace at <paramref name="path"/> is queued or
    /// running.</summary>
    public void AwaitNamespace(string path)
    {
        if (InodeOf(path) is not { } key) return;
        lock (gate)
            while (pending.ContainsKey(key)) Monitor.Wait(gate);
    }

    static ulong? InodeOf(string? path)
    {
        if (path is null) return null;
        try { return NetNs.Inode(path); }
        catch (IOException) { return null; }
    }

    void Work()
    {
        while (true)
        {
            (string Name, ulong? Namespace) job;
            lock (gate)
            {
                while (queue.Count == 0)
                {
                    if (stopping) return;
                    Monitor.Wait(gate);
                }
                job = queue.Peek();
            }
            try { netlink.DeleteLink(job.Name); }
            catch (Exception e) when (e is NetlinkException or IOException) { log(e.Message); }
            lock (gate)
            {
                queue.Dequeue();
                if (job.Namespace is { } key && --pending[key] == 0) pending.Remove(key);
                Monitor.PulseAll(gate);
            }
        }
    }

    /// <summary>Waits for every queued deletion, then closes the socket.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (stopping) return;
            stopping = true;
            Monitor.PulseAll(gate);
        }
        worker.Join();
        netlink.Dispose();
    }
}
