using System.Text.Json.Nodes;
using Tether.Tests.Support;

namespace Tether.Tests.EndToEnd;

/// <summary><c>tether network ...</c> as a subprocess in a lab: what a user would check with docker-like commands and `ip`.</summary>
public class NetworkCliTests
{
    [Fact]
    public void DefaultPoolsAreHandedOutInDockerOrderAndSkipHostRoutes()
    {
        using var lab = new Lab("np");
        // The host already routes 172.19.5.0/24: the pool 172.19.0.0/16 must be skipped.
        var wan = lab.AddNamespace("w");
        lab.Wire(wan, "up0", "172.19.5.1/24", "w0", "172.19.5.2/24");

        lab.TetherOk("create", "--name", "s0");   // makes the default network `bridge`
        lab.TetherOk("network", "create", "n1");
        lab.TetherOk("network", "create", "n2");
        var nets = lab.TetherJson("network", "inspect", "bridge", "n1", "n2").AsArray();
        Assert.Equal("172.17.0.0/16", (string?)nets[0]!["IPAM"]!["Config"]![0]!["Subnet"]);
        Assert.Equal("172.17.0.1", (string?)nets[0]!["IPAM"]!["Config"]![0]!["Gateway"]);
        Assert.Equal("172.18.0.0/16", (string?)nets[1]!["IPAM"]!["Config"]![0]!["Subnet"]);
        Assert.Equal("172.20.0.0/16", (string?)nets[2]!["IPAM"]!["Config"]![0]!["Subnet"]);
        // As docker network inspect: the networks found are printed, each missing one is an error line, exit 1.
        var partly = lab.Tether("network", "inspect", "n1", "nosuch", "n2", "--format", "json");
        Assert.Equal(1, partly.ExitCode);
        Assert.Equal(["n1", "n2"], JsonNode.Parse(partly.Stdout)!.AsArray().Select(n => (string)n!["Name"]!));
        Assert.Equal("tether: network nosuch not found", partly.Stderr.Trim());

        // The default network's bridge is tether0 and holds the gateway address.
        var addrs = JsonNode.Parse(lab.Exec("ip", "-j", "addr", "show", "dev", "tether0"))!.AsArray();
        Assert.Contains(addrs[0]!["addr_info"]!.AsArray(), a => (string?)a!["local"] == "172.17.0.1" && (int)a["prefixlen"]! == 16);
    }

    [Fact]
    public void CreateWithOptionsMakesTheBridgeAsAsked()
    {
        using var lab = new Lab("no");
        lab.TetherOk("network", "create", "--subnet", "10.20.0.0/24", "--gateway", "10.20.0.254", "--ip-range", "10.20.0.128/25",
            "-o", "bridge.name=br-custom", "-o", "mtu=1400", "custom");
        var link = JsonNode.Parse(lab.Exec("ip", "-j", "-d", "link", "show", "br-custom"))!.AsArray()[0]!;
        Assert.Equal(1400, (int)link["mtu"]!);
        Assert.Equal("bridge", (string?)link["linkinfo"]!["info_kind"]);
        var net = lab.TetherJson("network", "inspect", "custom").AsArray()[0]!;
        Assert.Equal("bridge", (string?)net["Driver"]);
        Assert.False((bool)net["Internal"]!);
        Assert.Equal("10.20.0.128/25", (string?)net["IPAM"]!["Config"]![0]!["IPRange"]);

        lab.TetherOk("create", "--name", "a", "--network", "custom");
        var sb = lab.TetherJson("inspect", "a").AsArray()[0]!["NetworkSettings"]!["Networks"]!["custom"]!;
        Assert.Equal("10.20.0.128", (string?)sb["IPAddress"]);   // first of the ip-range (network address of the range is usable)
        Assert.Equal("10.20.0.254", (string?)sb["Gateway"]);
        Assert.Equal(24, (int)sb["IPPrefixLen"]!);
        var inspect = lab.TetherJson("network", "inspect", "custom").AsArray()[0]!;
        Assert.Equal("a", (string?)inspect["Containers"]!.AsObject().Single().Value!["Name"]);
    }

    [Fact]
    public void DefaultMtuIsTheMtuOfTheDefaultRouteInterface()
    {
        using var lab = new Lab("nm");
        lab.TetherOk("network", "create", "plain");
        Assert.Equal(1500, (int)JsonNode.Parse(lab.Exec("ip", "-j", "link", "show", "tb-" + NetworkId(lab, "plain")[..12]))!.AsArray()[0]!["mtu"]!);
        var wan = lab.AddNamespace("w");
        lab.Wire(wan, "up0", "198.51.100.1/24", "w0", "198.51.100.2/24");
        lab.Exec("ip", "link", "set", "up0", "mtu", "1380");
        lab.Exec("ip", "route", "add", "default", "via", "198.51.100.2");
        lab.TetherOk("network", "create", "-o", "bridge.name=br-mtu", "small");
        Assert.Equal(1380, (int)JsonNode.Parse(lab.Exec("ip", "-j", "link", "show", "br-mtu"))!.AsArray()[0]!["mtu"]!);
        lab.TetherOk("create", "--name", "a", "--network", "small");
        var ns = (string)lab.TetherJson("inspect", "a").AsArray()[0]!["NetworkSettings"]!["SandboxKey"]!;
        Assert.Contains("mtu 1380", Sh.Run("nsenter", $"--net={ns}", "ip", "link", "show", "eth0"));
    }

    static string NetworkId(Lab lab, string name) => (string)lab.TetherJson("network", "inspect", name).AsArray()[0]!["Id"]!;

    [Fact]
    public void LsRmAndPruneBehaveLikeDocker()
    {
        using var lab = new Lab("nl");
        lab.TetherOk("network", "create", "keep");
        lab.TetherOk("network", "create", "gone");
        lab.TetherOk("create", "--name", "s", "--network", "keep");
        var ls = lab.TetherJson("network", "ls").AsArray();
        // The predefined networks come first, as in docker.
        Assert.Equal(["host", "none", "keep", "gone"], ls.Select(n => (string)n!["Name"]!).ToArray());
        Assert.Equal(["host", "null"], ls.Take(2).Select(n => (string)n!["Driver"]!).ToArray());
        Assert.Contains("NETWORK ID", lab.TetherOk("network", "ls"));

        var busy = lab.Tether("network", "rm", "keep");
        Assert.NotEqual(0, busy.ExitCode);
        Assert.Contains("active endpoints", busy.Stderr);

        var pruned = lab.TetherOk("network", "prune", "-f");
        Assert.Contains("gone", pruned);
        Assert.DoesNotContain("keep", pruned);
        Assert.DoesNotContain("host", pruned);
        Assert.DoesNotContain("none", pruned);
        Assert.Single(lab.TryExec("ip", "-o", "link", "show", "type", "bridge").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        lab.TetherOk("rm", "s");
        Assert.Equal("keep\n", lab.TetherOk("network", "rm", "keep"));
        Assert.Equal(["host", "none"], lab.TetherJson("network", "ls").AsArray().Select(n => (string)n!["Name"]!).ToArray());
        Assert.Equal("", lab.Exec("ip", "-o", "link", "show", "type", "bridge"));
        Assert.Equal(0, lab.Tether("network", "rm", "-f", "keep").ExitCode);     // already gone: -f succeeds
        Assert.NotEqual(0, lab.Tether("network", "rm", "keep").ExitCode);         // without -f: docker's error
    }
}
