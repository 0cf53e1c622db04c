using System.Text.Json.Nodes;
using Tether.Tests.Support;

namespace Tether.Tests.Cni;

/// <summary>
/// tether-cni driven directly like a runtime (env + stdin, one process per call) in a lab: every command and result
/// version, the spec's error codes, idempotent DEL, CHECK against the kernel, GC, STATUS, runtimeConfig capabilities.
/// The kernel (ip, nft) is the oracle.
/// </summary>
public class CniCommandTests : IDisposable
{
    readonly CniLab cni;
    Lab Lab => cni.Lab;

    public CniCommandTests() : this(false) { }

    protected CniCommandTests(bool viaTetherd) => cni = new(viaTetherd ? "ct" : "cc", viaTetherd);

    public void Dispose()
    {
        cni.Dispose();
        GC.SuppressFinalize(this);
    }

    static string IpJ(string netns, params string[] args) => Sh.Run(["ip", "-n", Path.GetFileName(netns), "-j", .. args]);

    static JsonArray Addresses(string netns, string ifName) =>
        JsonNode.Parse(IpJ(netns, "addr", "show", "dev", ifName))!.AsArray()[0]!["addr_info"]!.AsArray();

    [Theory]
    [InlineData("0.3.0")]
    [InlineData("0.3.1")]
    [InlineData("0.4.0")]
    [InlineData("1.0.0")]
    [InlineData("1.1.0")]
    public void AddReturnsTheResultShapeOfEachVersionAndDelRemovesEverything(string version)
    {
        var c1 = cni.Container("c1");
        var conf = cni.Conf(version);
        var r = cni.Ok("ADD", conf, "ctr1", c1)!;

        Assert.Equal(version, (string)r["cniVersion"]!);
        var ifs = r["interfaces"]!.AsArray();
        var container = ifs[^1]!;
        Assert.Equal("eth0", (string)container["name"]!);
        Assert.Equal(c1, (string)container["sandbox"]!);
        Assert.All(ifs.Take(ifs.Count - 1), i => Assert.Null(i!["sandbox"]));
        Assert.Equal(version == "1.1.0", container["mtu"] is not null);
        var ip = r["ips"]!.AsArray().Single()!;
        Assert.Equal(ifs.Count - 1, (int)ip["interface"]!);
        Assert.Equal("10.77.0.1", (string)ip["gateway"]!);
        if (version is "1.0.0" or "1.1.0") Assert.Null(ip["version"]);
        else Assert.Equal("4", (string)ip["version"]!);
        Assert.Equal("0.0.0.0/0", (string)r["routes"]![0]!["dst"]!);

        // The kernel has what the result says.
        var address = (string)ip["address"]!;
        Assert.Contains(Addresses(c1, "eth0"), a => $"{a!["local"]}/{a["prefixlen"]}" == address);
        var link = JsonNode.Parse(IpJ(c1, "link", "show", "dev", "eth0"))!.AsArray()[0]!;
        Assert.Equal((string)container["mac"]!, (string)link["address"]!);
        Assert.Contains("default via 10.77.0.1 dev eth0", Sh.Run("ip", "-n", Path.GetFileName(c1), "route"));
        var hostIf = (string)ifs[^2]!["name"]!;
        var bridge = (string)ifs[0]!["name"]!;
        Assert.Contains($"master {bridge}", Lab.Exec("ip", "link", "show", hostIf));

        if (version is not ("0.3.0" or "0.3.1")) cni.Ok("CHECK", CniLab.WithPrev(conf, r), "ctr1", c1);
        cni.Ok("DEL", CniLab.WithPrev(conf, r), "ctr1", c1);
        Assert.Empty(Lab.LinksAfterSettling("veth"));
        Assert.DoesNotContain("eth0", Sh.Run("ip", "-n", Path.GetFileName(c1), "-o", "link"));
        Assert.True(NetNsExists(c1), "DEL must leave the runtime's namespace alone");
        Assert.Empty(Lab.TetherJson("ls").AsArray());
    }

    static bool NetNsExists(string path) => File.Exists(path) && Sh.Try("ip", "netns", "exec", Path.GetFileName(path), "true").ExitCode == 0;

    [Fact]
    public void VersionListsEverySupportedVersion()
    {
        var r = cni.Run("VERSION", new JsonObject { ["cniVersion"] = "1.0.0" }, containerId: null, ifName: null);
        Assert.Equal(0, r.Exit);
        Assert.Equal("1.1.0", (string)r.Json!["cniVersion"]!);
        Assert.Equal(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"], r.Json["supportedVersions"]!.AsArray().Select(v => (string)v!));
    }

    [Theory]
    [InlineData("tether-cni", ">/dev/full", "No space left on device")]
    [InlineData("tether-cni", ">&-", "Bad file descriptor")]
    [InlineData("tether-cni-local", ">/dev/full", "No space left on device")]
    [InlineData("tether-cni-local", ">&-", "Bad file descriptor")]
    public void AResultThatCannotBeWrittenIsAFailure(string plugin, string redirect, string error)
    {
        var path = Path.Combine(Path.GetDirectoryName(CniLab.Binary)!, plugin);
        var r = Sh.TryWithInput("{\"cniVersion\":\"1.0.0\"}", ["env", "-i", "CNI_COMMAND=VERSION", "sh", "-c", $"exec \"$0\" {redirect}", path]);
        Assert.Equal(1, r.ExitCode);
        Assert.EndsWith($"\ntether-cni: cannot write to stdout: {error}", "\n" + r.Stderr.Trim());
    }

    /// <summary>Runs tether-cni like <see cref="CniLab.Run"/>, its stdout redirected by the shell (<c>&gt;&amp;-</c>, <c>&gt;/dev/full</c>).</summary>
    Sh.Result RunRedirected(string command, JsonNode conf, string containerId, string netns, string redirect)
    {
        var env = new List<string> { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", $"CNI_COMMAND={command}", $"CNI_PATH={CniLab.RefPlugins}",
            $"CNI_CONTAINERID={containerId}", $"CNI_NETNS={netns}", "CNI_IFNAME=eth0" };
        env.AddRange(cni.Env.Select(kv => $"{kv.Key}={kv.Value}"));
        return Sh.TryWithInput(conf.ToJsonString(), ["nsenter", $"--net={Lab.NsPath}", "--", "env", "-i", .. env, "sh", "-c", $"exec \"$0\" {redirect}", CniLab.Binary]);
    }

    [Fact]
    public void ADelNeedsNoStdout()
    {
        // A DEL that succeeds prints nothing (SPEC.md "DEL"), so a closed stdout is no reason to leave the attachment:
        // through tetherd it is removed and the exit is 0; tether-cni-local refused before it did anything.
        var c1 = cni.Container("c1");
        var conf = cni.Conf();
        var r = cni.Ok("ADD", conf, "ctr1", c1);
        var del = RunRedirected("DEL", CniLab.WithPrev(conf, r), "ctr1", c1, ">&-");
        Assert.True(del.ExitCode == 0, $"DEL with a closed stdout: exit {del.ExitCode}: {del.Stderr}");
        Assert.Empty(Lab.TetherJson("ls").AsArray());
    }

    [Fact]
    public void AnErrorThatCannotBeWrittenToStdoutIsStillSaidOnStderr()
    {
        // The runtime gets no error object: stderr is all it (and its log) has, and "cannot write to stdout" alone
        // drops why the ADD failed.
        var c1 = cni.Container("c1");
        var conf = cni.Conf();
        conf["dns"] = JsonNode.Parse("""{"nameservers":["10.1"]}""");
        var r = RunRedirected("ADD", conf, "ctr1", c1, ">/dev/full");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("nameserver", r.Stderr);
        Assert.Contains("10.1", r.Stderr);
    }

    [Fact]
    public void AResultThatCannotBeWrittenToStdoutIsStillSaidOnStderr()
    {
        // The ADD happened (the attachment exists) but the runtime gets no result: stderr is all its log has. Through
        // tetherd the front writes the result there; tether-cni-local said only "cannot write to stdout" (break2).
        var c1 = cni.Container("c1");
        var r = RunRedirected("ADD", cni.Conf(), "ctr1", c1, ">/dev/full");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("\"10.77.0.", r.Stderr);
        Assert.Contains("\"interfaces\"", r.Stderr);
    }

    [Fact]
    public void ADelegatedIpamErrorThatCannotBeWrittenToStdoutIsStillSaidOnStderr()
    {
        // host-local's own error object (here its version refusal or its range check) is passed through as the plugin's
        // output; with stdout full, tether-cni-local dropped it and said only "cannot write to stdout" (break2).
        var c1 = cni.Container("c1");
        var conf = cni.Conf("1.0.0");
        conf["ipam"] = JsonNode.Parse($$"""{"type":"host-local","ranges":[[{"subnet":"10.78.0.0/24","rangeStart":"10.79.0.5"}]],"dataDir":"{{Lab.StateDir}}/hl"}""");
        var shown = cni.Run("ADD", conf, "ctr1", c1);
        Assert.Equal(1, shown.Exit);
        var msg = (string)shown.Json!["msg"]!;
        var r = RunRedirected("ADD", conf, "ctr1", c1, ">/dev/full");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(msg, r.Stderr);
    }


    public static TheoryData<string, int> BadAdds() => new()
    {
        { "version 0.2.0", 1 },
        { "version 2.0.0", 1 },
        { "no version", 1 },
        { "bad json", 6 },
        { "v4-mapped hostIP", 7 },
        { "wrong json type", 6 },
        { "wrong json type nested", 6 },
        { "no container id", 4 },
        { "bad container id", 4 },
        { "no netns", 4 },
        { "no ifname", 4 },
        { "long ifname", 4 },
        { "unknown command", 4 },
        { "missing network", 7 },
        { "no name", 7 },
        { "unknown CNI_ARGS key", 4 },
        { "sctp port", 2 },
        { "two ips", 2 },
        { "range not a block", 2 },
        { "ipam routes", 2 },
        { "ip outside subnet", 7 },
        { "bad mac", 7 },
        { "netns not a namespace", 4 },
        { "netns missing", 4 },
        { "missing ipam plugin", 7 },
        { "CNI_ARGS ip outside subnet", 4 },
        { "CNI_ARGS bad mac", 4 },
        { "args.cni ip outside subnet", 7 },
        { "ip is the gateway", 7 },
        { "network host", 7 },
        { "network none", 7 },
        { "inline network named host", 7 },
        { "inline network named none", 7 },
        { "unknown driver", 7 },
        { "unknown option", 7 },
        { "bad mtu", 7 },
        { "bad subnet", 7 },
        { "gateway outside subnet", 7 },
        { "bad alias", 7 },
        { "ports on internal network", 7 },
        { "bad network name", 7 },
    };

    [Theory]
    [MemberData(nameof(BadAdds))]
    public void BadAddsFailWithTheSpecsErrorCodeAndChangeNothing(string what, int code)
    {
        var c1 = cni.Container("c1");
        // A first good ADD makes the network, so the failed one has state to leave alone.
        cni.Ok("ADD", cni.Conf(), "base", cni.Container("base"));
        var before = Lab.StableKernelSnapshot() + Sh.Run("ip", "-n", Path.GetFileName(c1), "-o", "link") + Lab.TetherOk("ls");
        var conf = cni.Conf();
        string? cid = "c1", netns = c1, ifName = "eth0", args = null, command = "ADD";
        JsonNode input = conf;
        switch (what)
        {
            case "version 0.2.0": conf["cniVersion"] = "0.2.0"; break;
            case "version 2.0.0": conf["cniVersion"] = "2.0.0"; break;
            case "no version": conf.Remove("cniVersion"); break;
            case "bad json": input = JsonValue.Create("{\"cniVersion\": ")!; break;
            // Refused as a bad config (7), not as the generic failure 100 with .NET's "(Parameter 'HostIp')".
            case "v4-mapped hostIP": conf["runtimeConfig"] = JsonNode.Parse("""{"portMappings":[{"hostPort":8080,"containerPort":80,"hostIP":"::ffff:127.0.0.1"}]}"""); break;
            case "wrong json type": conf["name"] = 5; break;
            case "wrong json type nested": conf["runtimeConfig"] = JsonNode.Parse("""{"portMappings":[{"hostPort":"80","containerPort":80}]}"""); break;
            case "no container id": cid = null; break;
            case "bad container id": cid = "../x"; break;
            case "no netns": netns = null; break;
            case "no ifname": ifName = null; break;
            case "long ifname": ifName = "a-very-long-interface"; break;
            case "unknown command": command = "FROB"; break;
            case "missing network": conf["network"] = "nope"; break;
            case "no name": conf.Remove("name"); break;
            case "unknown CNI_ARGS key": args = "K8S_POD_NAME=x;FOO=bar"; break;
            case "sctp port": conf["runtimeConfig"] = JsonNode.Parse("""{"portMappings":[{"hostPort":80,"containerPort":80,"protocol":"sctp"}]}"""); break;
            case "two ips": conf["runtimeConfig"] = JsonNode.Parse("""{"ips":["10.77.0.9/24","10.77.0.10/24"]}"""); break;
            case "range not a block": conf["ipam"]!["rangeStart"] = "10.77.0.10"; conf["ipam"]!["rangeEnd"] = "10.77.0.20"; break;
            case "ipam routes": conf["ipam"]!["routes"] = JsonNode.Parse("""[{"dst":"0.0.0.0/0"}]"""); break;
            case "ip outside subnet": conf["runtimeConfig"] = JsonNode.Parse("""{"ips":["10.99.0.9/24"]}"""); break;
            case "bad mac": conf["runtimeConfig"] = JsonNode.Parse("""{"mac":"01:00:5e:00:00:01"}"""); break;
            case "netns not a namespace": netns = Lab.StateDir + "/tether.db"; break;
            case "missing ipam plugin": conf["ipam"] = JsonNode.Parse("""{"type":"no-such-ipam","subnet":"10.77.0.0/24"}"""); break;
            case "netns missing": netns = "/run/netns/" + Lab.Name + "-nosuch"; break;
            case "CNI_ARGS ip outside subnet": args = "IP=10.99.0.9"; break;
            case "CNI_ARGS bad mac": args = "MAC=zz:00:00:00:00:01"; break;
            case "args.cni ip outside subnet": conf["args"] = JsonNode.Parse("""{"cni":{"ips":["10.99.0.9"]}}"""); break;
            case "ip is the gateway": conf["runtimeConfig"] = JsonNode.Parse("""{"ips":["10.77.0.1/24"]}"""); break;
            case "network host": conf["network"] = "host"; break;
            case "network none": conf["network"] = "none"; break;
            case "inline network named host": conf["name"] = "host"; break;
            case "inline network named none": conf["name"] = "none"; break;
            case "unknown driver": conf["name"] = "n2"; conf["driver"] = "nosuch"; conf["ipam"] = JsonNode.Parse("""{"subnet":"10.78.0.0/24"}"""); break;
            case "unknown option": conf["name"] = "n2"; conf["options"] = JsonNode.Parse("""{"frob":"1"}"""); conf["ipam"] = JsonNode.Parse("""{"subnet":"10.78.0.0/24"}"""); break;
            case "bad mtu": conf["name"] = "n2"; conf["options"] = JsonNode.Parse("""{"mtu":"9"}"""); conf["ipam"] = JsonNode.Parse("""{"subnet":"10.78.0.0/24"}"""); break;
            case "bad subnet": conf["name"] = "n2"; conf["ipam"] = JsonNode.Parse("""{"subnet":"10.78.0.0/33"}"""); break;
            case "gateway outside subnet": conf["name"] = "n2"; conf["ipam"] = JsonNode.Parse("""{"subnet":"10.78.0.0/24","gateway":"10.79.0.1"}"""); break;
            case "bad alias": conf["runtimeConfig"] = JsonNode.Parse("""{"aliases":{"cn":["-bad alias"]}}"""); break;
            case "ports on internal network":
                conf["name"] = "n2"; conf["internal"] = true; conf["ipam"] = JsonNode.Parse("""{"subnet":"10.78.0.0/24"}""");
                conf["runtimeConfig"] = JsonNode.Parse("""{"portMappings":[{"hostPort":80,"containerPort":80}]}"""); break;
            case "bad network name": conf["name"] = "bad name"; break;
        }
        var r = what == "bad json"
            ? RunRaw(command, "{\"cniVersion\": ", cid!, netns!)
            : cni.Run(command, input, cid, netns, ifName, args);
        Assert.NotEqual(0, r.Exit);
        Assert.Equal(code, r.Code);
        Assert.False(string.IsNullOrWhiteSpace((string?)r.Json!["msg"]), r.Stdout);
        Assert.NotNull(r.Json["cniVersion"]);
        Assert.Equal(before, Lab.StableKernelSnapshot() + Sh.Run("ip", "-n", Path.GetFileName(c1), "-o", "link") + Lab.TetherOk("ls"));
    }

    CniLab.Call RunRaw(string command, string stdin, string cid, string netns)
    {
        var r = Sh.TryWithInput(stdin, ["nsenter", $"--net={Lab.NsPath}", "--", "env", "-i", $"CNI_COMMAND={command}", $"CNI_CONTAINERID={cid}",
            $"CNI_NETNS={netns}", "CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni", .. cni.Env.Select(kv => $"{kv.Key}={kv.Value}"), CniLab.Binary]);
        return new CniLab.Call(r.ExitCode, r.Stdout, r.Stderr);
    }

    [Fact]
    public void CommandsOfLaterVersionsAreRefusedForOlderConfigs()
    {
        var c1 = cni.Container("c1");
        Assert.Equal(1, cni.Run("CHECK", cni.Conf("0.3.1"), "c1", c1).Code);
        Assert.Equal(1, cni.Run("GC", cni.Conf("1.0.0"), null, null, null).Code);
        Assert.Equal(1, cni.Run("STATUS", cni.Conf("1.0.0"), null, null, null).Code);
    }

    [Fact]
    public void DelIsIdempotentWithoutAddRepeatedAndWithTheNamespaceGone()
    {
        var conf = cni.Conf("1.0.0");
        var c1 = cni.Container("c1");
        cni.Ok("DEL", conf, "never-added", c1);
        cni.Ok("DEL", conf, "never-added", null);
        var r = cni.Ok("ADD", conf, "c1", c1);
        cni.Ok("DEL", CniLab.WithPrev(conf, r), "c1", c1);
        cni.Ok("DEL", CniLab.WithPrev(conf, r), "c1", c1);

        // The runtime deletes the namespace first (crash, or a DEL after the container died): DEL still releases the lease.
        var c2 = cni.Container("c2");
        var r2 = cni.Ok("ADD", conf, "c2", c2)!;
        var leased = ((string)r2["ips"]![0]!["address"]!).Split('/')[0];
        Sh.Run("ip", "netns", "del", Path.GetFileName(c2));
        cni.Ok("DEL", CniLab.WithPrev(conf, r2), "c2", c2);
        cni.Ok("DEL", CniLab.WithPrev(conf, r2), "c2", null);
        Assert.Empty(Lab.LinksAfterSettling("veth"));
        Assert.Empty(Lab.TetherJson("network", "inspect", "cn").AsArray()[0]!["Containers"]!.AsObject());
        // The address is free again (asked for explicitly).
        conf["runtimeConfig"] = new JsonObject { ["ips"] = new JsonArray(leased + "/24") };
        var c3 = cni.Container("c3");
        Assert.Equal(leased + "/24", (string)cni.Ok("ADD", conf, "c3", c3)!["ips"]![0]!["address"]!);
    }

    [Theory]
    [InlineData("interface")]
    [InlineData("address")]
    [InlineData("default route")]
    [InlineData("host end")]
    [InlineData("down")]
    public void CheckFailsWhenTheKernelLosesPartOfTheAttachment(string what)
    {
        var conf = cni.Conf();
        var c1 = cni.Container("c1");
        var r = cni.Ok("ADD", conf, "c1", c1)!;
        var prev = CniLab.WithPrev(conf, r);
        cni.Ok("CHECK", prev, "c1", c1);
        var ns = Path.GetFileName(c1);
        var address = (string)r["ips"]![0]!["address"]!;
        var hostIf = (string)r["interfaces"]![1]!["name"]!;
        switch (what)
        {
            case "interface": Sh.Run("ip", "-n", ns, "link", "del", "eth0"); break;
            case "address": Sh.Run("ip", "-n", ns, "addr", "del", address, "dev", "eth0"); break;
            case "default route": Sh.Run("ip", "-n", ns, "route", "del", "default"); break;
            case "host end": Lab.Exec("ip", "link", "set", hostIf, "nomaster"); break;
            case "down": Sh.Run("ip", "-n", ns, "link", "set", "eth0", "down"); break;
        }
        var check = cni.Run("CHECK", prev, "c1", c1);
        Assert.NotEqual(0, check.Exit);
        Assert.Equal(101, check.Code);
        var msg = (string)check.Json!["msg"]!;
        Assert.Contains(what switch { "interface" => "eth0 is missing", "address" => address, "default route" => "default route", "host end" => hostIf, _ => "down" }, msg);
        // DEL still cleans up what is left.
        cni.Ok("DEL", prev, "c1", c1);
        Assert.Empty(Lab.LinksAfterSettling("veth"));
    }

    [Fact]
    public void CheckOfAnUnknownContainerIsErrorThree()
    {
        var c1 = cni.Container("c1");
        cni.Ok("ADD", cni.Conf(), "other", cni.Container("other"));
        Assert.Equal(3, cni.Run("CHECK", cni.Conf(), "c1", c1).Code);
    }

    [Fact]
    public void GcRemovesEveryAttachmentNotInValidAttachments()
    {
        var conf = cni.Conf();
        var results = new Dictionary<string, JsonNode>();
        foreach (var c in new[] { "k1", "k2", "k3" })
        {
            conf["runtimeConfig"] = JsonNode.Parse($$"""{"portMappings":[{"hostPort":{{8000 + c[1]}},"containerPort":80,"protocol":"tcp"}]}""");
            results[c] = cni.Ok("ADD", conf, c, cni.Container(c))!;
        }
        // Another network's attachment is not GC's business.
        var other = cni.Conf(name: "other", subnet: "10.78.0.0/24");
        cni.Ok("ADD", other, "k9", cni.Container("k9"));
        Assert.Equal(4, Lab.TetherJson("ls").AsArray().Count);
        var gc = cni.Conf();
        var missing = cni.Run("GC", gc, null, null, null);   // no list is not "nothing is valid"
        Assert.Equal(7, missing.Code);
        Assert.Contains("valid-attachments", (string)missing.Json!["msg"]!);
        Assert.Equal(4, Lab.TetherJson("ls").AsArray().Count);
        gc["cni.dev/valid-attachments"] = JsonNode.Parse("""[{"containerID":"k1","ifname":"eth0"},{"containerID":"k9","ifname":"eth0"}]""");
        Assert.Equal(0, cni.Run("GC", gc, null, null, null).Exit);

        var left = Lab.TetherJson("ls").AsArray().Select(s => (string)s!["IPAddresses"]![0]!).Order().ToList();
        Assert.Equal([((string)results["k1"]["ips"]![0]!["address"]!).Split('/')[0], "10.78.0.2"], left);
        Assert.Equal(2, Lab.Links("veth").Length);
        var ruleset = Lab.Exec("nft", "list", "table", "inet", "tether");
        Assert.Contains(": 10.77.0.2 . 80", ruleset);
        Assert.DoesNotContain("10.77.0.3 . 80", ruleset);
        Assert.DoesNotContain("10.77.0.4 . 80", ruleset);
        Assert.Equal(0, cni.Run("CHECK", CniLab.WithPrev(cni.Conf(), results["k1"]), "k1", "/run/netns/" + Lab.Name + "-k1").Exit);
    }

    [Fact]
    public void StatusIsReadyForInlineNetworksAndNotAvailableForMissingOnes()
    {
        Assert.Equal(0, cni.Run("STATUS", cni.Conf(), null, null, null).Exit);
        var named = cni.Conf();
        named["network"] = "absent";
        named.Remove("ipam");
        var r = cni.Run("STATUS", named, null, null, null);
        Assert.Equal(50, r.Code);
        Lab.TetherOk("network", "create", "absent");
        Assert.Equal(0, cni.Run("STATUS", named, null, null, null).Exit);
    }

    [Fact]
    public void RuntimeConfigIpsMacAliasesDnsAndCniArgs()
    {
        var conf = cni.Conf("1.0.0");
        conf["runtimeConfig"] = JsonNode.Parse("""
            {"ips":["10.77.0.50/24"],"mac":"02:00:00:aa:bb:cc","aliases":{"cn":["web","www"]},
             "dns":{"servers":["10.77.0.1"],"searches":["lab.example"],"options":["ndots:2"]}}
            """);
        var c1 = cni.Container("c1");
        var r = cni.Ok("ADD", conf, "c1", c1, args: "IgnoreUnknown=1;K8S_POD_NAME=x;FOO=bar")!;
        Assert.Equal("10.77.0.50/24", (string)r["ips"]![0]!["address"]!);
        Assert.Equal("02:00:00:aa:bb:cc", (string)r["interfaces"]![2]!["mac"]!);
        Assert.Equal("02:00:00:aa:bb:cc", (string)JsonNode.Parse(IpJ(c1, "link", "show", "dev", "eth0"))!.AsArray()[0]!["address"]!);
        Assert.Equal("10.77.0.1", (string)r["dns"]!["nameservers"]![0]!);
        Assert.Equal("lab.example", (string)r["dns"]!["search"]![0]!);
        var inspect = Lab.TetherJson("inspect", "cni-c1-eth0-cn").AsArray()[0]!;
        Assert.Equal(["web", "www"], inspect["NetworkSettings"]!["Networks"]!["cn"]!["Aliases"]!.AsArray().Select(a => (string)a!));

        // CNI_ARGS IP= (CONVENTIONS.md) asks for an address too.
        var c2 = cni.Container("c2");
        var r2 = cni.Ok("ADD", cni.Conf("1.0.0"), "c2", c2, args: "IP=10.77.0.60")!;
        Assert.Equal("10.77.0.60/24", (string)r2["ips"]![0]!["address"]!);
        // An address in use is refused, naming it.
        var c3 = cni.Container("c3");
        var clash = cni.Run("ADD", cni.Conf("1.0.0"), "c3", c3, args: "IP=10.77.0.60");
        Assert.Equal(100, clash.Code);
        Assert.Contains("10.77.0.60", (string)clash.Json!["msg"]!);
    }

    [Fact]
    public void AddTwiceForTheSameKeyIsRefusedAndAStaleOneIsReplaced()
    {
        var conf = cni.Conf();
        var c1 = cni.Container("c1");
        cni.Ok("ADD", conf, "c1", c1);
        var again = cni.Run("ADD", conf, "c1", c1);
        Assert.Equal(100, again.Code);
        // The runtime lost the container (namespace gone) and reuses its id with a new namespace.
        Sh.Run("ip", "netns", "del", Path.GetFileName(c1));
        var c1b = cni.Container("c1b");
        cni.Ok("ADD", conf, "c1", c1b);
        Assert.Single(Lab.TetherJson("ls").AsArray());
    }

    [Fact]
    public void DelegatesIpamToAHostLocalPluginInCniPath()
    {
        var data = Path.Combine(Lab.StateDir, "host-local");
        var conf = cni.Conf("1.0.0");
        conf["ipam"] = JsonNode.Parse($$"""{"type":"host-local","subnet":"10.77.0.0/24","rangeStart":"10.77.0.100","rangeEnd":"10.77.0.120","dataDir":"{{data}}"}""");
        var c1 = cni.Container("c1");
        var r = cni.Ok("ADD", conf, "c1", c1)!;
        Assert.Equal("10.77.0.100/24", (string)r["ips"]![0]!["address"]!);
        Assert.True(File.Exists(Path.Combine(data, "cn", "10.77.0.100")), "host-local recorded its lease");
        Assert.Contains(Addresses(c1, "eth0"), a => (string)a!["local"]! == "10.77.0.100");
        cni.Ok("CHECK", CniLab.WithPrev(conf, r), "c1", c1);
        cni.Ok("DEL", CniLab.WithPrev(conf, r), "c1", c1);
        Assert.False(File.Exists(Path.Combine(data, "cn", "10.77.0.100")), "DEL was delegated to host-local");
    }

    [Fact]
    public void ReplaysTheCallsRecordedFromPodman()
    {
        // recorded-podman/: env and stdin of a real Podman 4.3 ADD/DEL of `podman run -p 8080:80 --network tn`,
        // with the state/run dirs and the namespace replaced by this lab's.
        var dir = Path.Combine(Paths.Root, "tests", "Tether.Tests", "Cni", "recorded-podman");
        var c1 = cni.Container("pod");
        (JsonNode Conf, Dictionary<string, string> Env) Load(string name)
        {
            var env = File.ReadAllLines(Path.Combine(dir, name + ".env")).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
            env["CNI_NETNS"] = c1;
            env["CNI_PATH"] = CniLab.RefPlugins;
            var conf = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, name + ".stdin")))!;
            conf["stateDir"] = Lab.StateDir;
            conf["runDir"] = Lab.RunDir;
            if (conf["prevResult"] is JsonObject prev) prev["interfaces"]![2]!["sandbox"] = c1;
            return (conf, env);
        }
        Sh.Result Replay((JsonNode Conf, Dictionary<string, string> Env) call) =>
            Sh.TryWithInput(call.Conf.ToJsonString(), ["nsenter", $"--net={Lab.NsPath}", "--", "env", "-i", .. call.Env.Concat(cni.Env).Select(kv => $"{kv.Key}={kv.Value}"), CniLab.Binary]);

        var version = Replay(Load("version"));
        Assert.Equal(0, version.ExitCode);
        Assert.Contains("1.0.0", JsonNode.Parse(version.Stdout)!["supportedVersions"]!.AsArray().Select(v => (string)v!));
        var add = Replay(Load("add"));
        Assert.Equal(0, add.ExitCode);
        var result = JsonNode.Parse(add.Stdout)!;
        Assert.Equal("1.0.0", (string)result["cniVersion"]!);
        Assert.Equal("10.89.0.2/24", (string)result["ips"]![0]!["address"]!);
        Assert.Contains("80/tcp -> 0.0.0.0:8080", Lab.TetherOk("port", "cni-ad366651c769-eth0-tn"));
        Assert.Equal(["ad366651c769"], Lab.TetherJson("inspect", "cni-ad366651c769-eth0-tn").AsArray()[0]!["NetworkSettings"]!["Networks"]!["tn"]!["Aliases"]!.AsArray().Select(a => (string)a!));
        var del = Replay(Load("del"));
        Assert.Equal(0, del.ExitCode);
        Assert.Empty(Lab.TetherJson("ls").AsArray());
        Assert.DoesNotContain("8080", Lab.Exec("nft", "list", "table", "inet", "tether"));
    }
    [Fact]
    public void TwoNetworksInOneContainerKeepOneDefaultRoute()
    {
        var c1 = cni.Container("c1");
        var a = cni.Conf("1.0.0", "neta", "10.77.0.0/24");
        var b = cni.Conf("1.0.0", "netb", "10.78.0.0/24");
        var ra = cni.Ok("ADD", a, "c1", c1, "eth0")!;
        var rb = cni.Ok("ADD", b, "c1", c1, "eth1")!;
        Assert.Equal("10.78.0.2/24", (string)rb["ips"]![0]!["address"]!);
        var routes = Sh.Run("ip", "-n", Path.GetFileName(c1), "route");
        Assert.Contains("default via 10.77.0.1 dev eth0", routes);
        Assert.Single(routes.Split('\n'), l => l.StartsWith("default", StringComparison.Ordinal));
        cni.Ok("CHECK", CniLab.WithPrev(b, rb), "c1", c1, "eth1");
        cni.Ok("DEL", CniLab.WithPrev(a, ra), "c1", c1, "eth0");
        Assert.Contains("eth1", Sh.Run("ip", "-n", Path.GetFileName(c1), "-o", "link"));
        Assert.DoesNotContain("eth0", Sh.Run("ip", "-n", Path.GetFileName(c1), "-o", "link"));
        Assert.Single(Lab.TetherJson("ls").AsArray());
    }

    [Theory]
    [InlineData("10.77.0.128", "10.77.0.255", "10.77.0.128/25", "10.77.0.128/24")]
    [InlineData("10.77.0.1", "10.77.0.254", null, "10.77.0.2/24")]
    public void HostLocalRangesBecomeTheNetworksIpRange(string start, string end, string? ipRange, string first)
    {
        var conf = cni.Conf();
        conf["ipam"] = JsonNode.Parse($$"""{"type":"tether","ranges":[[{"subnet":"10.77.0.0/24","gateway":"10.77.0.1","rangeStart":"{{start}}","rangeEnd":"{{end}}"}]]}""");
        var r = cni.Ok("ADD", conf, "c1", cni.Container("c1"))!;
        Assert.Equal(first, (string)r["ips"]![0]!["address"]!);
        var ipam = Lab.TetherJson("network", "inspect", "cn").AsArray()[0]!["IPAM"]!["Config"]![0]!;
        Assert.Equal(ipRange, (string?)ipam["IPRange"]);
    }

    [Fact]
    public void AddIntoThePluginsOwnNamespaceIsRefused()
    {
        var before = Lab.StableKernelSnapshot();
        var r = cni.Run("ADD", cni.Conf(), "self", Lab.NsPath, "ceth");   // the lab plays the host the plugin runs in
        Assert.Equal(4, r.Code);
        Assert.Contains(Lab.NsPath, (string)r.Json!["msg"]!);
        Assert.Equal(before, Lab.KernelSnapshot());
        Assert.Empty(Lab.TetherJson("ls").AsArray());
    }
}

/// <summary>
/// <see cref="CniCommandTests"/> again with tetherd running for the lab: tether-cni hands every command to it (a call it
/// did not hand over fails, see <see cref="CniLab(string, bool)"/>), and every result, error code and kernel state must
/// be the same as when the plugin does the work itself.
/// </summary>
public sealed class CniCommandTestsViaTetherd() : CniCommandTests(true);
