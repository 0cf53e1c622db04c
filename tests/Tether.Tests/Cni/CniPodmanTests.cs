using System.Text.Json.Nodes;
using Tether.Tests.Support;

namespace Tether.Tests.Cni;

/// <summary>
/// A real client: rootful Podman 4.3 (Debian) with <c>network_backend = "cni"</c> drives tether-cni, confined to a lab
/// by podman-lab.sh (lab network namespace, private mount namespace, temp storage and config). Podman sends VERSION,
/// ADD with CNI_ARGS and runtimeConfig portMappings/aliases, and DEL with the cached result; the kernel and `tether`
/// are the oracles. Run/rm cycles: TETHER_PODMAN_CYCLES (default 20 here; 200 by bench/cni/podman-cycles.sh).
/// </summary>
public sealed class CniPodmanTests : IDisposable
{
    const string LabIp = "203.0.113.1";
    const string WanIp = "203.0.113.2";
    readonly Lab lab = new("pm");
    readonly string work = Directory.CreateTempSubdirectory("tether-podman").FullName;
    readonly string wan;

    public CniPodmanTests()
    {
        wan = lab.AddNamespace("wan");
        lab.Wire(wan, "uplink", $"{LabIp}/24", "wan0", $"{WanIp}/24");
        Directory.CreateDirectory(Path.Combine(work, "conf", "net.d"));
        File.WriteAllText(Path.Combine(work, "conf", "net.d", "tn.conflist"), new JsonObject
        {
            ["cniVersion"] = "1.0.0", ["name"] = "tn",
            ["plugins"] = new JsonArray(new JsonObject
            {
                ["type"] = "tether-cni", ["ipam"] = new JsonObject { ["subnet"] = "10.89.0.0/24" },
                ["stateDir"] = lab.StateDir, ["runDir"] = lab.RunDir,
                ["capabilities"] = new JsonObject { ["portMappings"] = true, ["aliases"] = true },
            }),
        }.ToJsonString());
    }

    public void Dispose()
    {
        lab.Dispose();
        try { Directory.Delete(work, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    Sh.Result Podman(string snippet) =>
        Sh.Try(Path.Combine(Paths.Root, "tests", "Tether.Tests", "Cni", "podman-lab.sh"), lab.NsPath, work, CniLab.Binary, snippet);

    [Fact]
    public void PodmanRunPublishesAPortReachedFromWanAndFromAnotherContainerAndRmLeavesNothing()
    {
        var cycles = int.TryParse(Environment.GetEnvironmentVariable("TETHER_PODMAN_CYCLES"), out var n) ? n : 20;
        var tether = $"{Paths.TetherBinary} --state-dir {lab.StateDir} --run-dir {lab.RunDir}";
        var r = Podman($$$"""
            podman run -d --name web --network tn -p 8080:80 localhost/bb httpd -f -p 80 -h /www >/dev/null
            ip=$(podman inspect -f '{{.NetworkSettings.Networks.tn.IPAddress}}' web)
            echo "IP=$ip"
            for i in $(seq 50); do nsenter --net=$WORK/labns/{{{wan}}} curl -sf -m 2 http://{{{LabIp}}}:8080/ > $WORK/wan.out && break; sleep 0.1; done
            echo "WAN=$(cat $WORK/wan.out)"
            echo "PEER=$(podman run --rm --network tn localhost/bb wget -q -O- http://$ip/)"
            {{{tether}}} ls --format json > $WORK/ls.json
            {{{tether}}} network inspect tn --format json > $WORK/inspect.json
            {{{tether}}} port "$({{{tether}}} ls --format json | jq -r '.[] | select(.Ports | length > 0) | .Name')" > $WORK/port.out
            podman rm -f -t 0 web >/dev/null
            echo "AFTER_RM=$({{{tether}}} ls --format json | jq length)"
            """);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        var ip = Line(r.Stdout, "IP=");
        Assert.StartsWith("10.89.0.", ip);
        Assert.Equal("hello from podman", Line(r.Stdout, "WAN="));
        Assert.Equal("hello from podman", Line(r.Stdout, "PEER="));
        Assert.Equal("0", Line(r.Stdout, "AFTER_RM="));

        // While it ran, the container was a sandbox in Tether's store: ls, network inspect and port showed it.
        var ls = JsonNode.Parse(File.ReadAllText(Path.Combine(work, "ls.json")))!.AsArray();
        var web = ls.Single(s => s!["Ports"]!.AsArray().Count > 0)!;
        Assert.Equal(ip, (string)web["IPAddresses"]![0]!);
        Assert.Equal("running", (string)web["Status"]!);
        var members = JsonNode.Parse(File.ReadAllText(Path.Combine(work, "inspect.json")))!.AsArray()[0]!["Containers"]!.AsObject();
        Assert.Equal($"{ip}/24", (string)members.Single().Value!["IPv4Address"]!);   // the peer ran with --rm and was gone
        Assert.Contains("80/tcp -> 0.0.0.0:8080", File.ReadAllText(Path.Combine(work, "port.out")));

        // podman rm left no lease, link or rule.
        var settled = Settled();
        Assert.DoesNotContain(" tv", settled);
        Assert.DoesNotContain("8080", lab.Exec("nft", "list", "table", "inet", "tether"));
        Assert.Empty(lab.TetherJson("network", "inspect", "tn").AsArray()[0]!["Containers"]!.AsObject());

        // Run/rm cycles with a published port leak nothing: the lab's kernel state and Tether's store are as before.
        var cycle = Podman($$$"""
            for i in $(seq {{{cycles}}}); do podman run --rm --network tn -p 8081:80 localhost/bb true; done
            echo "CYCLES_DONE"
            """);
        Assert.True(cycle.ExitCode == 0, cycle.Stdout + cycle.Stderr);
        Assert.Contains("CYCLES_DONE", cycle.Stdout);
        Assert.Equal(settled, Settled());
        Assert.Empty(lab.TetherJson("ls").AsArray());
        Assert.Empty(Sh.Try("ip", "netns", "pids", lab.Name).Stdout.Trim());
    }

    /// <summary>Links, addresses, routes and ruleset of the lab once the kernel settled; the next free lease is not
    /// compared (leases are sequential without immediate reuse).</summary>
    string Settled()
    {
        lab.LinksAfterSettling("none");
        return lab.StableKernelSnapshot();
    }

    static string Line(string output, string prefix) =>
        output.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..].Trim() ?? $"(no {prefix} line)";
}
