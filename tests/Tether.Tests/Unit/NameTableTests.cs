using System.Net;
using Tether.Dns;
using Tether.Engine;
using Tether.State;

namespace Tether.Tests.Unit;

public sealed class NameTableTests
{
    static NetworkRecord Net(string name) => new(name + "-id", name, "bridge", false, "br-" + name, 1500, new Dictionary<string, string>(), DateTime.UtcNow,
        [new SubnetRecord("10.1.0.0/24", "10.1.0.1", null, null)]);

    static SandboxDetails Box(string name, params (NetworkRecord Net, string Ip, string[] Aliases)[] eps) =>
        new(new SandboxRecord((name + "-id").PadRight(16, '0'), name, "/run/x/" + name, DateTime.UtcNow, null),
            eps.Select((e, i) => new EndpointDetails(new EndpointRecord($"{name}-{i}", e.Net.Id, (name + "-id").PadRight(16, '0'), $"eth{i}", null, "02:00:00:00:00:01", e.Ip, 24, e.Aliases, i), e.Net, [])).ToList(), []);

    [Fact]
    public void NamesAreScopedToSharedNetworksAndDefaultBridgeHasNone()
    {
        var a = Net("a");
        var b = Net("b");
        var bridge = Net(TetherEngine.DefaultNetwork);
        var t = new NameTable([
            Box("web", (a, "10.1.0.2", ["www"]), (b, "10.2.0.2", [])),
            Box("c1", (a, "10.1.0.3", [])),
            Box("c2", (b, "10.2.0.3", [])),
            Box("d1", (bridge, "172.17.0.2", [])),
            Box("d2", (bridge, "172.17.0.3", [])),
        ]);
        Assert.Equal([IPAddress.Parse("10.1.0.2")], t.Lookup("c1-id00000000000", "web"));
        Assert.Equal([IPAddress.Parse("10.1.0.2")], t.Lookup("c1-id00000000000", "WWW."));
        Assert.Equal([IPAddress.Parse("10.2.0.2")], t.Lookup("c2-id00000000000", "web"));
        Assert.Null(t.Lookup("c2-id00000000000", "www"));          // alias only on a
        Assert.Null(t.Lookup("c2-id00000000000", "c1"));
        Assert.Null(t.Lookup("d1-id00000000000", "d2"));           // default bridge: no names
        Assert.False(t.Served.ContainsKey("d1-id00000000000"));
        Assert.Equal(2, t.Lookup("web-id0000000000", "web")!.Count);   // on both networks
        Assert.Equal("web", t.Reverse("c1-id00000000000", IPAddress.Parse("10.1.0.2")));
        Assert.Null(t.Reverse("c1-id00000000000", IPAddress.Parse("10.2.0.3")));
    }

    [Fact]
    public void SharedAliasHasEveryAddress()
    {
        var a = Net("a");
        var t = new NameTable([Box("s1", (a, "10.1.0.2", ["svc"])), Box("s2", (a, "10.1.0.3", ["svc"])), Box("c", (a, "10.1.0.4", []))]);
        Assert.Equal(["10.1.0.2", "10.1.0.3"], t.Lookup("c-id000000000000", "svc")!.Select(x => x.ToString()));
    }

    [Fact]
    public void AddAndRemoveOneSandboxAtATimeMatchARebuild()
    {
        var a = Net("a");
        var b = Net("b");
        var bridge = Net(TetherEngine.DefaultNetwork);
        var s1 = Box("s1", (a, "10.1.0.2", ["svc", "S1"]));
        var s2 = Box("s2", (a, "10.1.0.3", ["svc"]), (b, "10.2.0.3", ["other"]));
        var c = Box("c", (a, "10.1.0.4", []), (b, "10.2.0.4", []));
        var d = Box("d", (bridge, "172.17.0.2", []));
        var t = new NameTable();
        Assert.True(t.Add(s1));
        Assert.True(t.Add(s2));
        Assert.True(t.Add(c));
        Assert.False(t.Add(d));   // default bridge only: not served
        Assert.Equal(["10.1.0.2", "10.1.0.3"], t.Lookup(c.Sandbox.Id, "svc")!.Select(x => x.ToString()));
        Assert.Equal(["10.2.0.3"], t.Lookup(c.Sandbox.Id, "other")!.Select(x => x.ToString()));

        // Removing s2 takes its name, its share of the alias and its PTRs, and leaves s1's.
        t.Remove(s2.Sandbox.Id);
        var rebuilt = new NameTable([s1, c, d]);
        foreach (var table in new[] { t, rebuilt })
        {
            Assert.Equal(["10.1.0.2"], table.Lookup(c.Sandbox.Id, "svc")!.Select(x => x.ToString()));
            Assert.Null(table.Lookup(c.Sandbox.Id, "s2"));
            Assert.Null(table.Lookup(c.Sandbox.Id, "other"));
            Assert.Null(table.Reverse(c.Sandbox.Id, IPAddress.Parse("10.1.0.3")));
            Assert.Null(table.Lookup(s2.Sandbox.Id, "s1"));   // a removed sandbox asks nothing
            Assert.Equal("s1", table.Reverse(c.Sandbox.Id, IPAddress.Parse("10.1.0.2")));
            Assert.Equal(new[] { s1.Sandbox.Id, c.Sandbox.Id }.Order(), table.Served.Keys.Order());
        }
        // Adding it again (same id) replaces rather than doubles; removing the unknown or the removed is a no-op.
        t.Add(s2);
        t.Add(s2);
        Assert.Equal(["10.1.0.2", "10.1.0.3"], t.Lookup(c.Sandbox.Id, "svc")!.Select(x => x.ToString()));
        t.Remove("nosuch");
        t.Remove(d.Sandbox.Id);
        t.Remove(s1.Sandbox.Id);
        t.Remove(s2.Sandbox.Id);
        t.Remove(c.Sandbox.Id);
        Assert.Empty(t.Served);
    }

    [Theory]
    [InlineData("4.3.2.1.in-addr.arpa.", "1.2.3.4")]
    [InlineData("4.3.2.1.IN-ADDR.ARPA", "1.2.3.4")]
    [InlineData("b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa", "4321:0:1:2:3:4:567:89ab")]
    [InlineData("3.2.1.in-addr.arpa", null)]
    [InlineData("256.3.2.1.in-addr.arpa", null)]
    [InlineData("04.3.2.1.in-addr.arpa", null)]
    [InlineData("example.com", null)]
    public void ReverseNames(string name, string? address) =>
        Assert.Equal(address is null ? null : IPAddress.Parse(address), NameTable.ParseReverseName(name));

    [Fact]
    public void ResolvConfOfEmbeddedAndDefaultNetworks()
    {
        var host = ResolvConf.Parse("# c\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch x.test y.test\noptions edns0 trust-ad\n");
        Assert.Equal(["127.0.0.53", "192.0.2.1"], host.Nameservers.Select(n => n.ToString()));
        var onA = SandboxFiles.RenderResolvConf(Box("c", (Net("a"), "10.1.0.2", [])), DnsOptions.None, host);
        Assert.Contains("nameserver 127.0.0.11\nsearch x.test y.test\noptions edns0 trust-ad ndots:0\n", onA);   // host's options kept
        var onBridge = SandboxFiles.RenderResolvConf(Box("d", (Net("bridge"), "172.17.0.2", [])), DnsOptions.None, host);
        Assert.DoesNotContain("127.0.0", onBridge);   // loopback resolvers are unreachable from a sandbox
        Assert.Contains("nameserver 192.0.2.1\nsearch x.test y.test\noptions edns0 trust-ad\n", onBridge);
        var custom = SandboxFiles.RenderResolvConf(Box("d", (Net("bridge"), "172.17.0.2", [])), new DnsOptions(["192.0.2.9"], ["z.test"], [], null), host);
        Assert.Contains("nameserver 192.0.2.9\nsearch z.test\n", custom);
    }

    static readonly NetworkRecord Bridge = Net(TetherEngine.DefaultNetwork);

    [Fact]
    public void DefaultBridgeFallsBackToDockersResolversWhenTheHostHasOnlyLoopbackOnes()
    {
        var d = Box("d", (Bridge, "172.17.0.2", []));
        // systemd-resolved's stub only, plus an IPv6 server the IPv4-only sandbox cannot use (Docker drops it too).
        var text = SandboxFiles.RenderResolvConf(d, DnsOptions.None, ResolvConf.Parse("nameserver 127.0.0.53\nnameserver ::1\nnameserver 2001:db8::53\noptions edns0\n"));
        Assert.Equal(["8.8.8.8", "8.8.4.4"], Nameservers(text));
        Assert.Contains("options edns0\n", text);
        // An IPv6 sandbox keeps the IPv6 server, and gets the IPv6 defaults when nothing is left.
        var v6 = Box("v6", (Bridge, "fd00::2", []));
        Assert.Equal(["2001:db8::53"], Nameservers(SandboxFiles.RenderResolvConf(v6, DnsOptions.None, ResolvConf.Parse("nameserver 127.0.0.1\nnameserver 2001:db8::53\n"))));
        Assert.Equal(["8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"],
            Nameservers(SandboxFiles.RenderResolvConf(v6, DnsOptions.None, ResolvConf.Parse("nameserver 127.0.0.53\n"))));
        // A routable host resolver is kept alone; --dns is written as given, even a loopback one (as Docker's override).
        Assert.Equal(["192.0.2.1"], Nameservers(SandboxFiles.RenderResolvConf(d, DnsOptions.None, ResolvConf.Parse("nameserver 127.0.0.53\nnameserver 192.0.2.1\n"))));
        Assert.Equal(["127.0.0.1"], Nameservers(SandboxFiles.RenderResolvConf(d, new DnsOptions(["127.0.0.1"], [], [], null), ResolvConf.Parse("nameserver 127.0.0.53\n"))));
        // With embedded DNS the file names 127.0.0.11 only, whatever the host has.
        Assert.Equal(["127.0.0.11"], Nameservers(SandboxFiles.RenderResolvConf(Box("c", (Net("a"), "10.1.0.2", [])), DnsOptions.None, ResolvConf.Parse("nameserver 127.0.0.53\n"))));
    }

    static string[] Nameservers(string resolvConf) =>
        resolvConf.Split('\n').Where(l => l.StartsWith("nameserver ", StringComparison.Ordinal)).Select(l => l[11..]).ToArray();

    static string? OptionsLine(string resolvConf) => resolvConf.Split('\n').SingleOrDefault(l => l.StartsWith("options", StringComparison.Ordinal));

    [Theory]
    // host options                       embedded DNS                          default bridge
    [InlineData("",                       "options ndots:0",                    null)]
    [InlineData("options edns0 rotate",   "options edns0 rotate ndots:0",       "options edns0 rotate")]
    [InlineData("options ndots:3 edns0",  "options ndots:3 edns0",              "options ndots:3 edns0")]   // the host's ndots wins
    [InlineData("options ndots:x edns0",  "options edns0 ndots:0",              "options ndots:x edns0")]   // ill-formed: replaced
    [InlineData("options ndots:-1",       "options ndots:0",                    "options ndots:-1")]
    [InlineData("options timeout:1\noptions attempts:2", "options timeout:1 attempts:2 ndots:0", "options timeout:1 attempts:2")]
    public void HostOptionsAreKeptAsDockerDoes(string hostOptions, string embedded, string? bridge)
    {
        var host = ResolvConf.Parse("nameserver 192.0.2.1\n" + hostOptions + "\n");
        Assert.Equal(embedded, OptionsLine(SandboxFiles.RenderResolvConf(Box("c", (Net("a"), "10.1.0.2", [])), DnsOptions.None, host)));
        Assert.Equal(bridge, OptionsLine(SandboxFiles.RenderResolvConf(Box("d", (Bridge, "172.17.0.2", [])), DnsOptions.None, host)));
    }

    [Fact]
    public void DnsSearchDotMeansNoSearchDomains()
    {
        var host = ResolvConf.Parse("nameserver 192.0.2.1\nsearch host.test\n");
        foreach (var d in new[] { Box("c", (Net("a"), "10.1.0.2", [])), Box("d", (Bridge, "172.17.0.2", [])) })
        {
            Assert.Contains("search host.test\n", SandboxFiles.RenderResolvConf(d, DnsOptions.None, host));
            var none = SandboxFiles.RenderResolvConf(d, new DnsOptions([], ["."], [], null), host);
            Assert.DoesNotContain("search", none);
            Assert.DoesNotContain(" .", none);
            Assert.Contains("search z.test\n", SandboxFiles.RenderResolvConf(d, new DnsOptions([], [".", "z.test"], [], null), host));
        }
        new DnsOptions([], ["."], [], null).Validate();
    }

    [Theory]
    [InlineData("10.77.0.010")]   // a leading zero: IPAddress.Parse reads the octet as octal, 10.77.0.8
    [InlineData("10.1")]
    [InlineData("0x0a.0.0.1")]
    [InlineData("fe80::1%eth0")]
    public void DnsAndAddHostTakeOnlyPlainAddresses(string address)
    {
        var dns = Assert.Throws<TetherException>(() => new DnsOptions([address], [], [], null).Validate());
        Assert.Equal($"invalid --dns \"{address}\": not an IP address", dns.Message);
        var host = Assert.Throws<TetherException>(() => new DnsOptions([], [], ["db:" + address], null).Validate());
        Assert.Equal($"invalid --add-host \"db:{address}\": \"{address}\" is not an IP address", host.Message);
        new DnsOptions(["10.77.0.10", "2001:db8::53"], [], ["db:10.77.0.10", "db6:[2001:db8::1]"], null).Validate();
    }

    [Theory]
    [InlineData("db:[10.77.0.10")]          // an unbalanced bracket: docker (opts.ValidateExtraHost) strips only a matched pair
    [InlineData("db:10.77.0.10]")]
    [InlineData("db:]10.77.0.10[")]
    [InlineData("db:[[2001:db8::1]]")]      // two pairs
    [InlineData("db:[2001:db8::1")]
    public void AddHostTakesBracketsOnlyAsOnePairAroundTheAddress(string spec)
    {
        var e = Assert.Throws<TetherException>(() => new DnsOptions([], [], [spec], null).Validate());
        Assert.StartsWith($"invalid --add-host \"{spec}\"", e.Message);
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("web.svc-1.example_x", true)]
    [InlineData("", false)]
    [InlineData("a..b", false)]
    [InlineData(".a", false)]
    [InlineData("a.", false)]
    [InlineData("-a", false)]
    [InlineData("a b", false)]
    public void AliasesAreDnsNames(string alias, bool ok)
    {
        if (ok) TetherEngine.CheckAliases([alias]);
        else Assert.Throws<TetherException>(() => TetherEngine.CheckAliases([alias]));
    }

    [Fact]
    public void AliasLengthLimitsOfRfc1035()
    {
        var label63 = new string('a', 63);
        TetherEngine.CheckAliases([label63]);
        var e = Assert.Throws<TetherException>(() => TetherEngine.CheckAliases([label63 + "a"]));
        Assert.Contains("63", e.Message);
        var name253 = string.Join('.', Enumerable.Repeat(label63, 3)) + "." + new string('b', 61);   // 3*64 + 61 = 253
        Assert.Equal(253, name253.Length);
        TetherEngine.CheckAliases([name253]);
        e = Assert.Throws<TetherException>(() => TetherEngine.CheckAliases([name253 + "b"]));
        Assert.Contains("253", e.Message);
    }

    [Fact]
    public void HostsFile()
    {
        var d = Box("c", (Net("a"), "10.1.0.2", []));
        var text = SandboxFiles.RenderHosts(d, new DnsOptions([], [], ["db:192.0.2.5", "v6:[2001:db8::1]"], "box"));
        Assert.Contains("127.0.0.1\tlocalhost\n", text);
        Assert.Contains("10.1.0.2\tbox c\n", text);
        Assert.Contains("192.0.2.5\tdb\n", text);
        Assert.Contains("2001:db8::1\tv6\n", text);
        Assert.Contains("10.1.0.2\tc-id00000000 c\n", SandboxFiles.RenderHosts(d, DnsOptions.None));   // default: 12 digits of the id
    }
}
