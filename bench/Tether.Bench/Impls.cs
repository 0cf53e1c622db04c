using System.Globalization;
using System.Text.Json.Nodes;

namespace Tether.Bench;

/// <summary>
/// One way of making sandboxes on one network with one published port each. Create(k) and Remove(k) are
/// timed as a whole by the driver: everything a user or an engine runs to make (or remove) the k-th sandbox.
/// Every implementation gets the same network (10.77.0.0/16, gateway 10.77.0.1), and sandbox k gets host
/// port 20000+k published to container port 80/tcp.
/// </summary>
public abstract class Impl(Lab lab)
{
    public const string Subnet = "10.77.0.0/16", Gateway = "10.77.0.1";
    public const int PortBase = 20000, ContainerPort = 80;
    protected const string Ip = "/usr/sbin/ip", Nft = "/usr/sbin/nft";

    protected Lab Lab { get; } = lab;
    protected Runner R => Lab.Run;

    /// <summary>The container address a caller-assigned implementation gives sandbox k: 10.77.0.2 for k = 1, then up.</summary>
    public static string AddressOf(int k) => $"10.77.{(k + 1) / 256}.{(k + 1) % 256}";

    /// <summary>Name of the bridge in the lab that sandboxes' veths are attached to.</summary>
    public abstract string Bridge { get; }
    /// <summary>Path of the k-th sandbox's network namespace.</summary>
    public virtual string SandboxPath(int k) => "/run/netns/" + Lab.SandboxNs(k);

    /// <summary>Untimed: whatever is done once per network (or nothing, when the first sandbox makes the network).</summary>
    public virtual void Setup() { }

    /// <summary>A long-running process the implementation's commands hand work to (not a child of any timed command, so
    /// not in the peak RSS column): its name, memory high-water mark (KiB) and CPU time so far (ms); null when none.</summary>
    public virtual (string Name, long PeakRssKiB, double CpuMs)? Resident() => null;
    public abstract void Create(int k);
    public abstract void Remove(int k);
}

/// <summary>Tether: <c>tether create --name sK --network benchnet -p PORT:80</c>, then <c>tether rm sK</c>.</summary>
public sealed class TetherImpl : Impl
{
    readonly string binary, stateDir, runDir;
    public override string Bridge => "tb-bench0";

    public TetherImpl(Lab lab, string binary) : base(lab)
    {
        if (!File.Exists(binary)) throw new FileNotFoundException($"tether binary not found at {binary} (run ./build.sh)");
        this.binary = binary;
        stateDir = Path.Combine(lab.Dir, "state");
        runDir = Path.Combine(lab.Dir, "run");
        Directory.CreateDirectory(stateDir);
        Directory.CreateDirectory(runDir);
        // Tether bind-mounts each sandbox namespace under RUN_DIR/netns: unmount whatever is left before the lab goes.
        lab.OnDispose(() =>
        {
            var dir = Path.Combine(runDir, "netns");
            if (!Directory.Exists(dir)) return;
            foreach (var f in Directory.GetFiles(dir))
            {
                R.Direct(["/usr/bin/umount", "-l", f], check: false);
                File.Delete(f);
            }
        });
    }

    string[] Tether(params string[] args) => [binary, "--state-dir", stateDir, "--run-dir", runDir, .. args];

    public override string SandboxPath(int k) => Path.Combine(runDir, "netns", "s" + k);

    /// <summary>The network, and tetherd: a CLI hands create/rm to a running tetherd, and the first sandbox on a network
    /// with name resolution would start it anyway (a one-off cost, like starting dockerd, kept out of the figures).</summary>
    public override void Setup()
    {
        R.InLab(Tether("network", "create", "--subnet", Subnet, "--gateway", Gateway, "-o", "bridge.name=" + Bridge, "benchnet"));
        R.InLab(Tether("daemon", "start"));
        Lab.OnDispose(() => R.InLab(Tether("daemon", "stop"), check: false));
    }

    public override (string Name, long PeakRssKiB, double CpuMs)? Resident()
    {
        var pid = File.ReadAllText(Path.Combine(runDir, "tetherd.pid")).Trim();
        var hwm = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');   // utime and stime: fields 14 and 15 of proc(5)
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ("tetherd", long.Parse(hwm.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture), ticks * 1000.0 / 100);
    }

    public override void Create(int k) =>
        R.InLab(Tether("create", "--name", "s" + k, "--network", "benchnet", "-p", $"{PortBase + k}:{ContainerPort}"));

    public override void Remove(int k) => R.InLab(Tether("rm", "s" + k));
}

/// <summary>
/// The CNI reference chain as an engine runs it (libcni's order and stdin/env protocol, written out here):
/// <c>ip netns add</c>; <c>bridge</c> ADD with <c>host-local</c> IPAM; <c>portmap</c> ADD with the bridge result as
/// prevResult and runtimeConfig.portMappings. Remove: <c>portmap</c> DEL, <c>bridge</c> DEL (both with the cached
/// result as prevResult), <c>ip netns del</c>. Bridge options are podman's CNI defaults (isGateway, ipMasq, hairpinMode).
/// </summary>
public sealed class CniImpl : Impl
{
    const string CniPath = "/usr/lib/cni";
    readonly JsonObject bridgeConf, portmapConf;
    readonly Dictionary<int, string> cached = new();
    public override string Bridge => "cni-bench0";

    public CniImpl(Lab lab) : base(lab)
    {
        var dataDir = Path.Combine(lab.Dir, "host-local");
        bridgeConf = new JsonObject
        {
            ["cniVersion"] = "1.0.0",
            ["name"] = "benchnet",
            ["type"] = "bridge",
            ["bridge"] = Bridge,
            ["isGateway"] = true,
            ["ipMasq"] = true,
            ["hairpinMode"] = true,
            ["ipam"] = new JsonObject
            {
                ["type"] = "host-local",
                ["dataDir"] = dataDir,
                ["ranges"] = new JsonArray(new JsonArray(new JsonObject { ["subnet"] = Subnet, ["gateway"] = Gateway })),
                ["routes"] = new JsonArray(new JsonObject { ["dst"] = "0.0.0.0/0" }),
            },
        };
        portmapConf = new JsonObject
        {
            ["cniVersion"] = "1.0.0",
            ["name"] = "benchnet",
            ["type"] = "portmap",
            ["capabilities"] = new JsonObject { ["portMappings"] = true },
        };
    }

    string[] Env(string command, int k) =>
        [.. Runner.BaseEnv, "CNI_COMMAND=" + command, $"CNI_CONTAINERID=bench-{k}", "CNI_NETNS=" + SandboxPath(k),
         "CNI_IFNAME=eth0", "CNI_PATH=" + CniPath];

    /// <summary>Writes a plugin's stdin: its config plus prevResult and runtimeConfig, as libcni injects them.</summary>
    string Stdin(string name, JsonObject conf, int k, string? prevResult)
    {
        var c = (JsonObject)conf.DeepClone();
        if (prevResult != null) c["prevResult"] = JsonNode.Parse(prevResult);
        if (ReferenceEquals(conf, portmapConf))
            c["runtimeConfig"] = new JsonObject
            {
                ["portMappings"] = new JsonArray(new JsonObject { ["hostPort"] = PortBase + k, ["containerPort"] = ContainerPort, ["protocol"] = "tcp" }),
            };
        var path = Path.Combine(Lab.Dir, name + ".json");
        File.WriteAllText(path, c.ToJsonString());
        return path;
    }

    public override void Create(int k)
    {
        R.InLab([Ip, "netns", "add", Lab.SandboxNs(k)]);
        var env = Env("ADD", k);
        var bridgeResult = R.InLab([CniPath + "/bridge"], Stdin("bridge-add", bridgeConf, k, null), env).Stdout;
        cached[k] = R.InLab([CniPath + "/portmap"], Stdin("portmap-add", portmapConf, k, bridgeResult), env).Stdout;
    }

    public override void Remove(int k)
    {
        var env = Env("DEL", k);
        R.InLab([CniPath + "/portmap"], Stdin("portmap-del", portmapConf, k, cached[k]), env);
        R.InLab([CniPath + "/bridge"], Stdin("bridge-del", bridgeConf, k, cached[k]), env);
        R.InLab([Ip, "netns", "del", Lab.SandboxNs(k)]);
        cached.Remove(k);
    }
}

/// <summary>
/// netavark (Debian's 1.4, iptables firewall driver forced with NETAVARK_FW=iptables so it can never reach a
/// firewalld on the host): <c>ip netns add</c>, <c>netavark --config DIR setup NS</c> with the network options on
/// stdin (the caller assigns the address, as podman does), then <c>netavark teardown</c> and <c>ip netns del</c>.
/// </summary>
public sealed class NetavarkImpl : Impl
{
    const string Netavark = "/usr/lib/podman/netavark";
    readonly string configDir;
    readonly string[] env = [.. Runner.BaseEnv, "NETAVARK_FW=iptables"];
    public override string Bridge => "nv-bench0";

    public NetavarkImpl(Lab lab) : base(lab)
    {
        configDir = Path.Combine(lab.Dir, "netavark");
        Directory.CreateDirectory(configDir);
    }

    string Options(int k)
    {
        var o = new JsonObject
        {
            ["container_id"] = $"{k:x8}".PadLeft(64, 'b'),
            ["container_name"] = "s" + k,
            ["port_mappings"] = new JsonArray(new JsonObject
            {
                ["host_ip"] = "", ["container_port"] = ContainerPort, ["host_port"] = PortBase + k, ["range"] = 1, ["protocol"] = "tcp",
            }),
            ["networks"] = new JsonObject
            {
                ["benchnet"] = new JsonObject { ["static_ips"] = new JsonArray(AddressOf(k)), ["interface_name"] = "eth0", ["aliases"] = new JsonArray() },
            },
            ["network_info"] = new JsonObject
            {
                ["benchnet"] = new JsonObject
                {
                    ["name"] = "benchnet",
                    ["id"] = new string('b', 64),
                    ["driver"] = "bridge",
                    ["network_interface"] = Bridge,
                    ["subnets"] = new JsonArray(new JsonObject { ["subnet"] = Subnet, ["gateway"] = Gateway }),
                    ["ipv6_enabled"] = false,
                    ["internal"] = false,
                    ["dns_enabled"] = false,
                    ["ipam_options"] = new JsonObject { ["driver"] = "host-local" },
                },
            },
        };
        var path = Path.Combine(Lab.Dir, "netavark-opts.json");
        File.WriteAllText(path, o.ToJsonString());
        return path;
    }

    public override void Create(int k)
    {
        R.InLab([Ip, "netns", "add", Lab.SandboxNs(k)]);
        R.InLab([Netavark, "--config", configDir, "setup", SandboxPath(k)], Options(k), env);
    }

    public override void Remove(int k)
    {
        R.InLab([Netavark, "--config", configDir, "teardown", SandboxPath(k)], Options(k), env);
        R.InLab([Ip, "netns", "del", Lab.SandboxNs(k)]);
    }
}

/// <summary>
/// Lower bound: the same plumbing with iproute2 and nft batch files, nothing else. Setup (once): bridge with the
/// gateway address, forwarding, and an nftables table with a port -> address . port DNAT map and a masquerade rule.
/// Create: <c>ip -batch</c> in the lab (netns add, veth with its peer in the sandbox, master, up), <c>ip -n NS -batch</c>
/// in the sandbox (lo up, address, eth0 up, default route: a link's IPv4 addresses do not survive a move between
/// namespaces, so one ip process cannot do both sides), <c>nft -f</c> (one map element). Remove: <c>nft -f</c>
/// (delete the element), <c>ip -batch</c> (link del, netns del).
/// </summary>
public sealed class LowerBoundImpl(Lab lab) : Impl(lab)
{
    const string Table = "benchlb";
    public override string Bridge => "lb-bench0";

    string Write(string name, string text)
    {
        var path = Path.Combine(Lab.Dir, name);
        File.WriteAllText(path, text.EndsWith('\n') ? text : text + "\n");
        return path;
    }

    public override void Setup()
    {
        R.InLab([Ip, "-batch", Write("setup.ip", $"""
            link add {Bridge} type bridge
            addr add {Gateway}/16 dev {Bridge}
            link set {Bridge} up
            """)]);
        R.InLab(["/usr/sbin/sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        R.InLab([Nft, "-f", Write("setup.nft", $$"""
            table ip {{Table}} {
              map ports { type inet_service : ipv4_addr . inet_service; }
              chain prerouting { type nat hook prerouting priority dstnat; fib daddr type local dnat ip to tcp dport map @ports; }
              chain output { type nat hook output priority -100; fib daddr type local dnat ip to tcp dport map @ports; }
              chain postrouting { type nat hook postrouting priority srcnat; ip saddr {{Subnet}} ip daddr != {{Subnet}} masquerade; }
            }
            """)]);
    }

    public override void Create(int k)
    {
        var ns = Lab.SandboxNs(k);
        R.InLab([Ip, "-batch", Write("host.ip", $"""
            netns add {ns}
            link add lbv{k} type veth peer name eth0 netns {ns}
            link set lbv{k} master {Bridge} up
            """)]);
        R.InLab([Ip, "-n", ns, "-batch", Write("sandbox.ip", $"""
            link set lo up
            addr add {AddressOf(k)}/16 dev eth0
            link set eth0 up
            route add default via {Gateway}
            """)]);
        R.InLab([Nft, "-f", Write("add.nft", $"add element ip {Table} ports {{ {PortBase + k} : {AddressOf(k)} . {ContainerPort} }}\n")]);
    }

    public override void Remove(int k)
    {
        R.InLab([Nft, "-f", Write("del.nft", $"delete element ip {Table} ports {{ {PortBase + k} }}\n")]);
        // Like Tether, leave the veth to the kernel: it goes with the sandbox's namespace (asynchronously).
        R.InLab([Ip, "netns", "del", Lab.SandboxNs(k)]);
    }
}
