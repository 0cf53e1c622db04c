using System.Diagnostics;
using System.Text.Json.Nodes;
using Tether.Tests.Support;

namespace Tether.Tests.Cni;

/// <summary>
/// A lab for driving tether-cni the way a runtime does: each call is a fresh process inside the lab namespace
/// (<c>nsenter --net</c>) with only the CNI_* variables a runtime sets (as recorded from Podman 4.3, see
/// recorded-podman/) and the network config on stdin. "Containers" are namespaces made by the test, like a runtime's.
/// </summary>
public sealed class CniLab : IDisposable
{
    public Lab Lab { get; }
    public static string Binary => Environment.GetEnvironmentVariable("TETHER_CNI_BIN") ?? Path.Combine(Paths.Root, "artifacts", "bin", "tether-cni");
    public const string RefPlugins = "/usr/lib/cni";
    readonly List<Process> started = new();

    /// <summary>Whether tetherd runs for the lab (<see cref="CniLab(string, bool)"/>).</summary>
    public bool ViaTetherd { get; }

    /// <summary>Variables added to every plugin call.</summary>
    public Dictionary<string, string> Env { get; } = new();

    /// <summary>A lab; with <paramref name="viaTetherd"/>, tetherd is started for the lab's state and run dirs and every
    /// call must be served by it: TETHER_CNI_LOCAL points at nothing, so a call the front did not hand to tetherd fails
    /// with the spec's I/O error (5) instead of silently doing the work itself.</summary>
    public CniLab(string tag, bool viaTetherd = false)
    {
        Lab = new Lab(tag);
        ViaTetherd = viaTetherd;
        if (!viaTetherd) return;
        Lab.Env["TETHER_RESOLV_CONF"] = "/dev/null";   // no upstream: tetherd forwards nothing
        Lab.TetherOk("daemon", "start");
        Env["TETHER_CNI_LOCAL"] = "/nonexistent/tether-cni-local";
        // A config the front cannot read (the decode-error cases) still finds the lab's tetherd through these.
        Env["TETHER_STATE_DIR"] = Lab.StateDir;
        Env["TETHER_RUN_DIR"] = Lab.RunDir;
    }

    /// <summary>tetherd's log (the lab's run dir).</summary>
    public string DaemonLog => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "";
    string LogPath => Path.Combine(Lab.RunDir, "tetherd.log");

    /// <summary>How many CNI commands tetherd has served (its log lines "tetherd: cni COMMAND ...").</summary>
    public int Served(string command) => DaemonLog.Split('\n').Count(l => l.StartsWith($"tetherd: cni {command} ", StringComparison.Ordinal));

    /// <summary>A new "container" namespace; returns its path /run/netns/LAB-SUFFIX.</summary>
    public string Container(string suffix) => "/run/netns/" + Lab.AddNamespace(suffix);

    /// <summary>A plugin config for one network with the lab's state and run dirs, as a JSON object to adjust.</summary>
    public JsonObject Conf(string version = "1.1.0", string name = "cn", string subnet = "10.77.0.0/24") => new()
    {
        ["cniVersion"] = version, ["name"] = name, ["type"] = "tether-cni",
        ["ipam"] = new JsonObject { ["subnet"] = subnet },
        ["stateDir"] = Lab.StateDir, ["runDir"] = Lab.RunDir,
    };

    public sealed record Call(int Exit, string Stdout, string Stderr)
    {
        public JsonNode? Json => Stdout.Trim().Length == 0 ? null : JsonNode.Parse(Stdout);
        public int Code => (int)Json!["code"]!;
    }

    /// <summary>Runs a CNI plugin (tether-cni by default) with a runtime's environment and the config on stdin.</summary>
    public Call Run(string command, JsonNode conf, string? containerId = "c1", string? netns = null, string? ifName = "eth0",
        string? args = null, string? plugin = null, string? cniPath = null)
    {
        var env = new List<string> { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", $"CNI_COMMAND={command}", $"CNI_PATH={cniPath ?? RefPlugins}" };
        if (containerId is not null) env.Add($"CNI_CONTAINERID={containerId}");
        if (netns is not null) env.Add($"CNI_NETNS={netns}");
        if (ifName is not null) env.Add($"CNI_IFNAME={ifName}");
        if (args is not null) env.Add($"CNI_ARGS={args}");
        env.AddRange(Env.Select(kv => $"{kv.Key}={kv.Value}"));
        var r = Sh.TryWithInput(conf.ToJsonString(), ["nsenter", $"--net={Lab.NsPath}", "--", "env", "-i", .. env, plugin ?? Binary]);
        return new Call(r.ExitCode, r.Stdout, r.Stderr);
    }

    /// <summary>Runs tether-cni and throws unless it exits 0; returns the parsed result (null for empty output).</summary>
    public JsonNode? Ok(string command, JsonNode conf, string containerId, string? netns, string ifName = "eth0", string? args = null)
    {
        var r = Run(command, conf, containerId, netns, ifName, args);
        if (r.Exit != 0) throw new Exception($"tether-cni {command} failed ({r.Exit}): {r.Stdout}{r.Stderr}");
        return r.Json;
    }

    /// <summary>The config as a runtime sends it to a later call: with the ADD result as prevResult.</summary>
    public static JsonObject WithPrev(JsonObject conf, JsonNode? prev)
    {
        var c = (JsonObject)conf.DeepClone();
        if (prev is not null) c["prevResult"] = prev.DeepClone();
        return c;
    }

    /// <summary>Runs a program inside a container namespace (ip netns exec: fine for programs that make no bind mounts).</summary>
    public Sh.Result In(string netns, params string[] args) => Sh.Try(["ip", "netns", "exec", Path.GetFileName(netns), .. args]);

    /// <summary>Starts a long-running program inside a container namespace; killed on Dispose (and by the lab).</summary>
    public void Start(string netns, params string[] args)
    {
        var p = Process.Start("nsenter", [$"--net={netns}", "--", .. args])!;
        started.Add(p);
    }

    public void Dispose()
    {
        foreach (var p in started) { try { p.Kill(true); p.WaitForExit(2000); } catch (InvalidOperationException) { } p.Dispose(); }
        if (ViaTetherd) Lab.Tether("daemon", "stop");
        Lab.Dispose();
    }
}
