using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Tether.Firewall;
using Tether.Tests.Support;
using Xunit.Abstractions;

namespace Tether.Tests.Integration;

/// <summary>
/// <see cref="Firewall.ApplyElements"/> on port bindings, which sends Tether's own nf_tables netlink batch, checked in a
/// lab namespace with <c>nft -j list map</c> as the oracle. The base ruleset is made by the <c>nft</c> binary, so the
/// libnftables context factory is only called when the code falls back to the full batch. Needs root.
/// </summary>
public class NfTablesNetlinkTests(ITestOutputHelper output)
{
    static PortMapping Map(string? hostIp, Protocol proto, int hostPort, string ip, int port) =>
        new(hostIp == null ? null : IPAddress.Parse(hostIp), proto, hostPort, IPAddress.Parse(ip), port, "tb-net1");

    static readonly PortMapping V4All = Map(null, Protocol.Tcp, 8080, "172.30.0.2", 80);
    static readonly PortMapping V4Host = Map("10.0.0.1", Protocol.Udp, 53, "172.30.0.3", 5353);
    static readonly PortMapping V6All = Map(null, Protocol.Tcp, 8443, "fd00:7e7::2", 443);
    static readonly PortMapping V6Host = Map("fd00::1", Protocol.Udp, 500, "fd00:7e7::3", 4500);

    /// <summary>A lab, a thread inside it, and a Firewall whose libnftables context is made on demand (and counted).</summary>
    sealed class Fixture : IDisposable
    {
        public Lab Lab { get; } = new("nfnl");
        public NsThread Thread { get; }
        public Tether.Firewall.Firewall Firewall { get; }
        public int ContextsCreated { get; private set; }
        Nftables? nft;

        public Fixture()
        {
            try
            {
                Thread = new NsThread(Lab.NsPath);
                Firewall = new Tether.Firewall.Firewall(() =>
                {
                    ContextsCreated++;
                    return nft ??= new Nftables();
                });
            }
            catch
            {
                Thread?.Dispose();
                Lab.Dispose();
                throw;
            }
        }

        /// <summary>Writes Tether's base ruleset (no elements) with the nft binary.</summary>
        public void MakeBase()
        {
            var r = Sh.TryWithInput(Ruleset.Render(FirewallChange.Empty), "ip", "netns", "exec", Lab.Name, "nft", "-f", "-");
            Assert.True(r.ExitCode == 0, r.Stderr);
        }

        public void ApplyElements(FirewallChange c) => Thread.Run(() => Firewall.ApplyElements(c));

        /// <summary>Oracle: the elements of one map in Tether's script syntax, e.g. "tcp . 8080 : 172.30.0.2 . 80".</summary>
        public SortedSet<string> Elements(string map)
        {
            var json = JsonNode.Parse(Lab.Exec("nft", "-j", "list", "map", "inet", "tether", map))!["nftables"]!.AsArray();
            var m = json.Select(x => x!["map"]).Single(x => x != null)!;
            return new((m["elem"]?.AsArray() ?? []).Select(FirewallLab.Norm), StringComparer.Ordinal);
        }

        public bool HasTable() => Lab.TryExec("nft", "list", "table", "inet", "tether").ExitCode == 0;

        public void Dispose()
        {
            try { Thread.Run(() => { Firewall.Dispose(); nft?.Dispose(); }); }
            finally
            {
                Thread.Dispose();
                Lab.Dispose();
            }
        }
    }

    [Fact]
    public void Adds_and_removes_v4_v6_all_address_and_host_ip_bindings_without_libnftables()
    {
        using var f = new Fixture();
        f.MakeBase();
        f.ApplyElements(FirewallChange.Empty with { AddPorts = [V4All, V4Host, V6All, V6Host] });
        Assert.Equal(["tcp . 8080 : 172.30.0.2 . 80"], f.Elements("v4_ports"));
        Assert.Equal(["10.0.0.1 . udp . 53 : 172.30.0.3 . 5353"], f.Elements("v4_host_ports"));
        Assert.Equal(["tcp . 8443 : fd00:7e7::2 . 443"], f.Elements("v6_ports"));
        Assert.Equal(["fd00::1 . udp . 500 : fd00:7e7::3 . 4500"], f.Elements("v6_host_ports"));

        // Adding the same bindings again is not an error.
        f.ApplyElements(FirewallChange.Empty with { AddPorts = [V4All, V6Host] });
        Assert.Single(f.Elements("v4_ports"));

        // Remove two, then the rest plus the already removed ones (absent elements are not an error).
        f.ApplyElements(FirewallChange.Empty with { RemovePorts = [V4All, V6Host] });
        Assert.Empty(f.Elements("v4_ports"));
        Assert.Empty(f.Elements("v6_host_ports"));
        Assert.Single(f.Elements("v4_host_ports"));
        f.ApplyElements(FirewallChange.Empty with { RemovePorts = [V4All, V4Host, V6All, V6Host] });
        foreach (var map in new[] { "v4_ports", "v4_host_ports", "v6_ports", "v6_host_ports" }) Assert.Empty(f.Elements(map));

        // Re-pointing a binding: remove the old target and add the new one in one call.
        f.ApplyElements(FirewallChange.Empty with { AddPorts = [V4All] });
        var moved = V4All with { ContainerIp = IPAddress.Parse("172.30.0.9") };
        f.ApplyElements(new FirewallChange([], [], [moved], [V4All]));
        Assert.Equal(["tcp . 8080 : 172.30.0.9 . 80"], f.Elements("v4_ports"));

        Assert.Equal(0, f.ContextsCreated);
    }

    [Fact]
    public void A_conflicting_key_fails_the_whole_batch_and_names_the_element()
    {
        using var f = new Fixture();
        f.MakeBase();
        f.ApplyElements(FirewallChange.Empty with { AddPorts = [V4All] });
        var other = Map(null, Protocol.Tcp, 9090, "172.30.0.5", 90);
        var clash = V4All with { ContainerIp = IPAddress.Parse("172.30.0.7") };

        // The netlink batch itself: the error names the element, and the other element of the batch is not applied.
        var e = Assert.Throws<FirewallException>(() => f.Thread.Run(() =>
        {
            using var nl = NfTablesNetlink.Open();
            nl.Apply(NfTablesNetlink.PortOperations(FirewallChange.Empty with { AddPorts = [other, clash, V6All] })!);
        }));
        output.WriteLine(e.Message);
        Assert.Equal("nft: add element v4_ports tcp . 8080: File exists", e.Summary);
        Assert.Equal(["tcp . 8080 : 172.30.0.2 . 80"], f.Elements("v4_ports"));
        Assert.Empty(f.Elements("v6_ports"));

        // Through the Firewall: the fallback full batch fails the same way, and nothing changes either.
        var before = f.Lab.Exec("nft", "list", "ruleset");
        Assert.Throws<FirewallException>(() => f.ApplyElements(FirewallChange.Empty with { AddPorts = [other, clash] }));
        Assert.Equal(before, f.Lab.Exec("nft", "list", "ruleset"));
        Assert.Equal(1, f.ContextsCreated);
    }

    [Fact]
    public void Without_the_table_it_falls_back_to_the_full_batch()
    {
        using var f = new Fixture();
        Assert.False(f.HasTable());
        var e = Assert.Throws<FirewallException>(() => f.Thread.Run(() =>
        {
            using var nl = NfTablesNetlink.Open();
            nl.Apply(NfTablesNetlink.PortOperations(FirewallChange.Empty with { AddPorts = [V4All] })!);
        }));
        Assert.Equal("nft: add element v4_ports tcp . 8080: No such file or directory", e.Summary);

        f.ApplyElements(FirewallChange.Empty with { AddPorts = [V4All, V6Host] });
        Assert.True(f.HasTable());
        Assert.Equal(["tcp . 8080 : 172.30.0.2 . 80"], f.Elements("v4_ports"));
        Assert.Equal(["fd00::1 . udp . 500 : fd00:7e7::3 . 4500"], f.Elements("v6_host_ports"));
        Assert.Equal(1, f.ContextsCreated);

        // The table now exists: the next call is netlink only again.
        f.ApplyElements(FirewallChange.Empty with { RemovePorts = [V4All] });
        Assert.Empty(f.Elements("v4_ports"));
        Assert.Equal(1, f.ContextsCreated);
    }

    [Fact]
    public void Thousands_of_bindings_in_one_batch()
    {
        using var f = new Fixture();
        f.MakeBase();
        var many = Enumerable.Range(1, 4000).Select(i => Map(null, Protocol.Tcp, i, "172.30.0.2", i)).ToList();
        f.ApplyElements(FirewallChange.Empty with { AddPorts = many });
        Assert.Equal(4000, f.Elements("v4_ports").Count);
        f.ApplyElements(FirewallChange.Empty with { RemovePorts = many });
        Assert.Empty(f.Elements("v4_ports"));
        Assert.Equal(0, f.ContextsCreated);
    }

    [Fact]
    public void Cost_of_ApplyElements_netlink_versus_libnftables()
    {
        using var f = new Fixture();
        f.MakeBase();
        var add = FirewallChange.Empty with { AddPorts = [V4All, V6Host] };
        var remove = FirewallChange.Empty with { RemovePorts = [V4All, V6Host] };
        f.Thread.Run(() =>
        {
            var sw = Stopwatch.StartNew();
            using (var nl = NfTablesNetlink.Open())
            {
                nl.Apply(NfTablesNetlink.PortOperations(add)!);
                var first = sw.Elapsed;
                sw.Restart();
                const int n = 200;
                for (int i = 0; i < n; i++)
                {
                    nl.Apply(NfTablesNetlink.PortOperations(remove)!);
                    nl.Apply(NfTablesNetlink.PortOperations(add)!);
                }
                output.WriteLine($"netlink: open + first apply {first.TotalMilliseconds:F2} ms; warm apply {sw.Elapsed.TotalMilliseconds / (2 * n):F3} ms");
            }
            sw.Restart();
            using (var nft = new Nftables())
            {
                nft.Run(Ruleset.RenderElements(remove));
                var first = sw.Elapsed;
                sw.Restart();
                const int n = 50;
                for (int i = 0; i < n; i++)
                {
                    nft.Run(Ruleset.RenderElements(add));
                    nft.Run(Ruleset.RenderElements(remove));
                }
                output.WriteLine($"libnftables: new context (loads the library if this process has not yet) + first run {first.TotalMilliseconds:F2} ms; warm run {sw.Elapsed.TotalMilliseconds / (2 * n):F3} ms");
            }
        });
        Assert.Empty(f.Elements("v4_ports"));
    }
}
