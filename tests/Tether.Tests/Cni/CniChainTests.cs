using System.Text.Json.Nodes;
using Tether.Tests.Support;

namespace Tether.Tests.Cni;

/// <summary>
/// tether-cni in conflists with the reference plugins of /usr/lib/cni (Debian containernetworking-plugins), run the
/// way libcni runs a chain: ADD in order, each plugin given the previous result as prevResult; DEL in reverse order
/// with the cached result. Plus real traffic to published ports from a wan namespace, shared state in `tether`,
/// and 20 concurrent ADDs.
/// </summary>
public sealed class CniChainTests : IDisposable
{
    const string LabIp = "203.0.113.1";
    const string WanIp = "203.0.113.2";
    readonly CniLab cni = new("ch");
    Lab Lab => cni.Lab;
    readonly string www = Directory.CreateTempSubdirectory("tether-cni-www").FullName;

    public CniChainTests() => File.WriteAllText(Path.Combine(www, "index.html"), "cni-page\n");

    public void Dispose()
    {
        cni.Dispose();
        Directory.Delete(www, true);
    }

    /// <summary>Runs a conflist's plugins like libcni: the entry's fields plus name, cniVersion, runtimeConfig and
    /// prevResult. Returns the final result; throws naming the plugin that failed.</summary>
    JsonNode? Chain(string command, JsonArray plugins, string version, string name, string cid, string netns, JsonNode? cached = null,
        JsonObject? runtimeConfig = null)
    {
        var list = plugins.Select(p => (JsonObject)p!.DeepClone()).ToList();
        if (command == "DEL") list.Reverse();
        JsonNode? prev = command == "ADD" ? null : cached;
        foreach (var p in list)
        {
            p["cniVersion"] = version;
            p["name"] = name;
            if (runtimeConfig is not null) p["runtimeConfig"] = runtimeConfig.DeepClone();
            if (prev is not null) p["prevResult"] = prev.DeepClone();
            var type = (string)p["type"]!;
            var r = cni.Run(command, p, cid, netns, "eth0", "IgnoreUnknown=1", type == "tether-cni" ? null : Path.Combine(CniLab.RefPlugins, type));
            if (r.Exit != 0) throw new Exception($"{type} {command} failed ({r.Exit}): {r.Stdout}{r.Stderr}");
            if (command == "ADD") prev = r.Json;
        }
        return prev;
    }

    JsonObject Tether(string subnet = "10.66.0.0/24") => new()
    {
        ["type"] = "tether-cni", ["ipam"] = new JsonObject { ["subnet"] = subnet }, ["stateDir"] = Lab.StateDir, ["runDir"] = Lab.RunDir,
    };

    void Wan()
    {
        var wan = Lab.AddNamespace("wan");
        Lab.Wire(wan, "uplink", $"{LabIp}/24", "wan0", $"{WanIp}/24");
    }

    Sh.Result FromWan(string url) => Sh.Try("ip", "netns", "exec", $"{Lab.Name}-wan", "curl", "-sf", "-m", "2", url);

    static Sh.Result Retry(Func<Sh.Result> f)
    {
        var r = f();
        for (var i = 0; i < 50 && r.ExitCode != 0; i++) { Thread.Sleep(50); r = f(); }
        return r;
    }

    [Theory]
    [InlineData("0.4.0")]
    [InlineData("1.0.0")]
    public void TetherFirstThenTuningFirewallPortmap(string version)
    {
        var plugins = new JsonArray(Tether(),
            new JsonObject { ["type"] = "tuning", ["mtu"] = 1400, ["sysctl"] = new JsonObject { ["net.ipv4.conf.eth0.arp_notify"] = "1" } },
            new JsonObject { ["type"] = "firewall", ["backend"] = "iptables" },
            new JsonObject { ["type"] = "portmap", ["capabilities"] = new JsonObject { ["portMappings"] = true }, ["snat"] = true });
        var rc = new JsonObject { ["portMappings"] = JsonNode.Parse("""[{"hostPort":9090,"containerPort":80,"protocol":"tcp"}]""") };
        var c1 = cni.Container("c1");
        var result = Chain("ADD", plugins, version, "chained", "c1", c1, runtimeConfig: rc)!;

        // prevResult flowed through every plugin: the final result is still tether-cni's attachment.
        Assert.Equal("eth0", (string)result["interfaces"]![2]!["name"]!);
        Assert.Equal(c1, (string)result["interfaces"]![2]!["sandbox"]!);
        Assert.Equal("10.66.0.2/24", (string)result["ips"]![0]!["address"]!);
        var ns = Path.GetFileName(c1);
        Assert.Contains("mtu 1400", Sh.Run("ip", "-n", ns, "link", "show", "eth0"));
        Assert.Equal("1", Sh.Run("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify").Trim());
        Assert.Contains("CNI-FORWARD", Lab.Exec("iptables", "-S"));
        // tether-cni published the port itself (it declares portMappings too): the rule is in Tether's map.
        Assert.Contains("9090", Lab.Exec("nft", "list", "table", "inet", "tether"));

        Wan();
        cni.Start(c1, "busybox", "httpd", "-f", "-p", "80", "-h", www);
        Assert.Equal("cni-page\n", Retry(() => FromWan($"http://{LabIp}:9090/")).Stdout);

        // CHECK through tether-cni, tuning and firewall. (portmap 1.1.1's CHECK fails on hosts without IPv6 NAT chains:
        // "could not check ipv6 dnat: chain CNI-DN-... not found", with any main plugin, so it is left out.)
        Chain("CHECK", new JsonArray(plugins.Take(3).Select(p => p!.DeepClone()).ToArray()), version, "chained", "c1", c1, result, rc);
        Chain("DEL", plugins, version, "chained", "c1", c1, result, rc);
        Assert.DoesNotContain("9090", Lab.Exec("nft", "list", "table", "inet", "tether"));
        Assert.DoesNotContain("10.66.0.2", Lab.Exec("iptables-save"));
        Assert.Empty(Lab.TetherJson("ls").AsArray());
        Assert.DoesNotContain(Lab.Links("veth"), l => l.Contains((string)result["interfaces"]![1]!["name"]!));
    }

    [Fact]
    public void TetherLaterInAChainMergesThePrevResult()
    {
        // A first plugin that made a dummy interface in the container and reported it (what a host-device style plugin does).
        var c1 = cni.Container("c1");
        var ns = Path.GetFileName(c1);
        Sh.Run("ip", "-n", ns, "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1");
        var prev = JsonNode.Parse($$$"""
            {"cniVersion":"1.0.0","interfaces":[{"name":"dummy0","mac":"02:00:00:00:00:01","sandbox":"{{{c1}}}"}],
             "ips":[{"address":"192.0.2.5/24","interface":0}],"routes":[{"dst":"192.0.2.0/24"}],"dns":{"nameservers":["192.0.2.53"]}}
            """);
        var conf = Tether();
        conf["cniVersion"] = "1.0.0";
        conf["name"] = "later";
        conf["prevResult"] = prev;
        var r = cni.Ok("ADD", conf, "c1", c1)!;
        var ifs = r["interfaces"]!.AsArray();
        Assert.Equal("dummy0", (string)ifs[0]!["name"]!);
        Assert.Equal("eth0", (string)ifs[^1]!["name"]!);
        var ips = r["ips"]!.AsArray();
        Assert.Equal("192.0.2.5/24", (string)ips[0]!["address"]!);
        Assert.Equal(0, (int)ips[0]!["interface"]!);
        Assert.Equal("10.66.0.2/24", (string)ips[1]!["address"]!);
        Assert.Equal(ifs.Count - 1, (int)ips[1]!["interface"]!);
        Assert.Equal("192.0.2.0/24", (string)r["routes"]![0]!["dst"]!);
        Assert.Equal("192.0.2.53", (string)r["dns"]!["nameservers"]![0]!);
        // Older versions get the older shape for every address, the previous plugin's too.
        var c2 = cni.Container("c2");
        conf["cniVersion"] = "0.4.0";
        ((JsonObject)conf["prevResult"]!)["cniVersion"] = "0.4.0";
        var old = cni.Ok("ADD", conf, "c2", c2)!;
        Assert.All(old["ips"]!.AsArray(), ip => Assert.Equal("4", (string)ip!["version"]!));
        cni.Ok("CHECK", CniLab.WithPrev(conf, old), "c2", c2);
    }

    [Fact]
    public void PublishedPortsAreReachedFromWanAndSharedStateShowsInTether()
    {
        Wan();
        var conf = Tether();
        conf["cniVersion"] = "1.1.0";
        conf["name"] = "shared";
        conf["runtimeConfig"] = JsonNode.Parse("""{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}""");
        var c1 = cni.Container("web");
        var r = cni.Ok("ADD", conf, "web", c1)!;
        cni.Start(c1, "busybox", "httpd", "-f", "-p", "80", "-h", www);
        Assert.Equal("cni-page\n", Retry(() => FromWan($"http://{LabIp}:8080/")).Stdout);

        // A second container reaches the first by address; both are visible to tether.
        var plain = Tether();
        plain["cniVersion"] = "1.1.0";
        plain["name"] = "shared";
        var c2 = cni.Container("peer");
        cni.Ok("ADD", plain, "peer", c2);
        Assert.Equal("cni-page\n", cni.In(c2, "curl", "-sf", "-m", "2", "http://10.66.0.2/").Stdout);

        var ls = Lab.TetherJson("ls").AsArray();
        Assert.Equal(2, ls.Count);
        var web = ls.First(s => (string)s!["Name"]! == "cni-web-eth0-shared")!;
        Assert.Equal("running", (string)web["Status"]!);
        Assert.Equal(["shared"], web["Networks"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(["0.0.0.0:8080->80/tcp"], web["Ports"]!.AsArray().Select(n => (string)n!));
        Assert.Contains("80/tcp -> 0.0.0.0:8080", Lab.TetherOk("port", "cni-web-eth0-shared"));
        var net = Lab.TetherJson("network", "inspect", "shared").AsArray()[0]!;
        Assert.Equal(2, net["Containers"]!.AsObject().Count);
        Assert.Contains("shared", Lab.TetherOk("network", "ls"));
        var rm = Lab.Tether("network", "rm", "shared");
        Assert.NotEqual(0, rm.ExitCode);
        Assert.Contains("active endpoints", rm.Stderr);

        // A Tether sandbox on the same network reaches the CNI container too.
        Lab.TetherOk("create", "--name", "native", "--network", "shared");
        Assert.Equal("cni-page\n", Lab.Tether("exec", "native", "--", "curl", "-sf", "-m", "2", "http://10.66.0.2/").Stdout);
        Lab.TetherOk("rm", "native");

        // `tether rm` of a CNI sandbox removes Tether's links and records only, never the runtime's namespace.
        Lab.TetherOk("rm", "-f", "cni-peer-eth0-shared");
        Assert.True(File.Exists(c2));
        Assert.DoesNotContain("eth0", Sh.Run("ip", "-n", Path.GetFileName(c2), "-o", "link"));

        cni.Ok("DEL", CniLab.WithPrev(conf, r), "web", c1);
        cni.Ok("DEL", plain, "peer", c2);
        Assert.NotEqual(0, FromWan($"http://{LabIp}:8080/").ExitCode);
        Lab.TetherOk("network", "rm", "shared");
        Assert.Empty(Lab.TetherJson("ls").AsArray());
    }

    [Fact]
    public void TwentyConcurrentAddsGetDistinctAddresses()
    {
        var conf = Tether("10.66.0.0/24");
        conf["cniVersion"] = "1.0.0";
        conf["name"] = "busy";
        var containers = Enumerable.Range(0, 20).Select(i => cni.Container($"p{i}")).ToList();
        var results = containers.AsParallel().WithDegreeOfParallelism(20)
            .Select((netns, i) => cni.Run("ADD", conf, $"p{i}", netns)).ToList();
        Assert.All(results, r => Assert.True(r.Exit == 0, r.Stdout + r.Stderr));
        var addresses = results.Select(r => (string)r.Json!["ips"]![0]!["address"]!).ToList();
        Assert.Equal(20, addresses.Distinct().Count());
        Assert.Equal(20, Lab.TetherJson("ls").AsArray().Count);
        for (var i = 0; i < 20; i++)
            Assert.Contains(addresses[i].Split('/')[0], Sh.Run("ip", "-n", Path.GetFileName(containers[i]), "-o", "addr", "show", "eth0"));
        var dels = containers.AsParallel().WithDegreeOfParallelism(20).Select((netns, i) => cni.Run("DEL", conf, $"p{i}", netns)).ToList();
        Assert.All(dels, r => Assert.Equal(0, r.Exit));
        Assert.Empty(Lab.TetherJson("ls").AsArray());
    }
}
