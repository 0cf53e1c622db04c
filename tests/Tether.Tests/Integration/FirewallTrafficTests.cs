using System.Diagnostics;
using System.Net;
using Tether.Firewall;
using Tether.Tests.Support;

namespace Tether.Tests.Integration;

/// <summary>
/// Real traffic through Tether's ruleset. The lab plays the host: bridges tb-a (10.201.1.0/24, sandboxes a1, a2),
/// tb-b (10.201.2.0/24, sandbox b1) and tb-i (10.201.3.0/24, internal, sandbox i1), and a "wan" namespace on
/// 198.51.100.0/24 that routes 10.201.0.0/16 back to the lab (so only the source address a server sees proves
/// masquerade, and only the ruleset stops forwarding). Every namespace runs busybox httpd whose CGI answers
/// "NAME REMOTE_ADDR". Clients are curl run in the namespaces. Needs root and busybox.
/// </summary>
public class FirewallTrafficTests
{
    static readonly FirewallNetwork NetA = new("tb-a", IPNetwork.Parse("10.201.1.0/24"), false);
    static readonly FirewallNetwork NetB = new("tb-b", IPNetwork.Parse("10.201.2.0/24"), false);
    static readonly FirewallNetwork NetI = new("tb-i", IPNetwork.Parse("10.201.3.0/24"), true);
    static readonly FirewallNetwork[] Networks = [NetA, NetB, NetI];

    static PortMapping Tcp(int hostPort, string ip, int port, string bridge, string? hostIp = null) =>
        new(hostIp == null ? null : IPAddress.Parse(hostIp), Protocol.Tcp, hostPort, IPAddress.Parse(ip), port, bridge);

    static readonly PortMapping AnyTo_a1 = Tcp(8080, "10.201.1.2", 80, "tb-a");
    static readonly PortMapping WanIpTo_b1 = Tcp(8081, "10.201.2.2", 80, "tb-b", hostIp: "198.51.100.1");
    static readonly PortMapping BridgeIpTo_a1 = Tcp(8082, "10.201.1.2", 80, "tb-a", hostIp: "10.201.1.1");
    static readonly PortMapping AnyTo_i1 = Tcp(8083, "10.201.3.2", 80, "tb-i");

    [Fact]
    public void MasqueradeIsolationAndInternalNetworks()
    {
        using var t = new Topology();
        // Baseline without Tether's rules: everything reaches everything, nothing is masqueraded.
        Assert.Equal("wan 10.201.1.2", t.Get("a1", "198.51.100.2"));
        Assert.Equal("b1 10.201.1.2", t.Get("a1", "10.201.2.2"));
        Assert.Equal("wan 10.201.3.2", t.Get("i1", "198.51.100.2"));
        Assert.Equal("a1 198.51.100.2", t.Get("wan", "10.201.1.2"));
        Assert.Equal("a1 10.201.3.2", t.Get("i1", "10.201.1.2"));

        t.Fw.Apply(FirewallChange.Empty with { AddNetworks = Networks });

        // Masquerade: the wan server sees the lab's address.
        Assert.Equal("wan 198.51.100.1", t.Get("a1", "198.51.100.2"));
        Assert.Equal("wan 198.51.100.1", t.Get("b1", "198.51.100.2"));
        // Same bridge: allowed (br_netfilter sends bridged IPv4 through the forward hook) and not masqueraded.
        Assert.Equal("a1 10.201.1.3", t.Get("a2", "10.201.1.2"));
        // Networks are isolated from each other in both directions.
        Assert.Null(t.Get("a1", "10.201.2.2"));
        Assert.Null(t.Get("b1", "10.201.1.2"));
        // Internal: nothing outside its bridge, in or out.
        Assert.Null(t.Get("i1", "198.51.100.2"));
        Assert.Null(t.Get("i1", "10.201.1.2"));
        Assert.Null(t.Get("a1", "10.201.3.2"));
        // Nothing from outside reaches a sandbox directly.
        Assert.Null(t.Get("wan", "10.201.1.2"));

        // Removing a network takes it out of Tether's rules: tb-a's traffic is no longer masqueraded.
        t.Fw.Apply(FirewallChange.Empty with { RemoveNetworks = [NetA] });
        Assert.Equal("wan 10.201.1.2", t.Get("a1", "198.51.100.2"));
        Assert.Equal("wan 198.51.100.1", t.Get("b1", "198.51.100.2"));
    }

    [Fact]
    public void PublishedPortsDnatFromWanHostOtherNetworksAndHairpin()
    {
        using var t = new Topology();
        Assert.Null(t.Get("wan", "198.51.100.1:8080")); // nothing listens on the lab itself
        t.Fw.Apply(FirewallChange.Empty with { AddNetworks = Networks, AddPorts = [AnyTo_a1, WanIpTo_b1, BridgeIpTo_a1, AnyTo_i1] });

        // From the wan: the sandbox sees the real client address.
        Assert.Equal("a1 198.51.100.2", t.Get("wan", "198.51.100.1:8080"));
        Assert.Equal("b1 198.51.100.2", t.Get("wan", "198.51.100.1:8081"));
        Assert.Equal("i1 198.51.100.2", t.Get("wan", "198.51.100.1:8083"));
        // Host-IP bindings answer only on their address.
        Assert.Null(t.Get("wan", "198.51.100.1:8082"));
        Assert.Equal("a1 198.51.100.2", t.Get("wan", "10.201.1.1:8082"));
        Assert.Null(t.Get("wan", "10.201.1.1:8081"));
        // Hairpin: a sandbox reaching a port published by its own network (itself or a neighbour) is masqueraded.
        Assert.Equal("a1 10.201.1.1", t.Get("a2", "10.201.1.1:8080"));
        Assert.Equal("a1 10.201.1.1", t.Get("a1", "198.51.100.1:8080")); // needs hairpin mode on the bridge port
        // Another (non-internal) network reaches published ports through the host, with its own address.
        Assert.Equal("a1 10.201.2.2", t.Get("b1", "198.51.100.1:8080"));
        // An internal network does not.
        Assert.Null(t.Get("i1", "10.201.3.1:8080"));
        // The host itself: its own addresses and localhost (route_localnet on tb-a, then masquerade).
        Assert.Equal("a1 198.51.100.1", t.Get("lab", "198.51.100.1:8080"));
        Assert.Equal("a1 10.201.1.1", t.Get("lab", "127.0.0.1:8080"));

        // Unpublishing stops it; the other bindings stay.
        t.Fw.Apply(FirewallChange.Empty with { RemovePorts = [AnyTo_a1] });
        Assert.Null(t.Get("wan", "198.51.100.1:8080"));
        Assert.Equal("b1 198.51.100.2", t.Get("wan", "198.51.100.1:8081"));
    }

    [Fact]
    public void UserChainRulesComeFirstAndSurvive()
    {
        using var t = new Topology();
        t.Fw.Apply(FirewallChange.Empty with { AddNetworks = Networks, AddPorts = [AnyTo_a1] });
        Assert.Equal("a1 198.51.100.2", t.Get("wan", "198.51.100.1:8080"));
        Assert.Null(t.Get("b1", "10.201.1.2"));

        t.Lab.Exec("nft", "add", "rule", "inet", "tether", "user", "ip", "daddr", "10.201.1.2", "tcp", "dport", "80", "drop");
        t.Lab.Exec("nft", "add", "rule", "inet", "tether", "user", "iifname", "tb-b", "oifname", "tb-a", "accept");
        Assert.Null(t.Get("wan", "198.51.100.1:8080"));
        Assert.Equal("wan 198.51.100.1", t.Get("a1", "198.51.100.2"));

        t.Fw.Apply(FirewallChange.Empty with { AddPorts = [Tcp(8090, "10.201.1.2", 80, "tb-a")] });
        t.Fw.Reconcile(Networks, [AnyTo_a1]);
        Assert.Null(t.Get("wan", "198.51.100.1:8080"));
        Assert.Null(t.Get("b1", "10.201.1.2")); // the admin's accept is also evaluated first, but a1:80 is dropped before it

        t.Lab.Exec("nft", "flush", "chain", "inet", "tether", "user");
        t.Lab.Exec("nft", "add", "rule", "inet", "tether", "user", "iifname", "tb-b", "oifname", "tb-a", "accept");
        Assert.Equal("a1 10.201.2.2", t.Get("b1", "10.201.1.2"));
        Assert.Equal("a1 198.51.100.2", t.Get("wan", "198.51.100.1:8080"));
    }

    /// <summary>The lab topology described on the class; Dispose kills the servers and removes every namespace.</summary>
    sealed class Topology : IDisposable
    {
        readonly FirewallLab fl;
        readonly List<Process> servers = [];
        readonly Dictionary<string, string> ns = [];
        readonly string www;
        public Lab Lab => fl.Lab;
        public FirewallLab Fw => fl;

        public Topology()
        {
            fl = new FirewallLab("fwt");
            www = Path.Combine(Path.GetDirectoryName(Lab.StateDir)!, "www");
            try
            {
                ns["lab"] = Lab.Name;
                Lab.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
                ns["wan"] = Lab.AddNamespace("wan");
                Lab.Wire(ns["wan"], "wan0", "198.51.100.1/24", "up0", "198.51.100.2/24");
                Sh.Run("ip", "-n", ns["wan"], "route", "add", "10.201.0.0/16", "via", "198.51.100.1");
                Bridge("tb-a", "10.201.1.1/24");
                Bridge("tb-b", "10.201.2.1/24");
                Bridge("tb-i", "10.201.3.1/24");
                Lab.Exec("sysctl", "-qw", "net.ipv4.conf.tb-a.route_localnet=1");
                Sandbox("a1", "tb-a", "10.201.1.2/24", "10.201.1.1");
                Sandbox("a2", "tb-a", "10.201.1.3/24", "10.201.1.1");
                Sandbox("b1", "tb-b", "10.201.2.2/24", "10.201.2.1");
                Sandbox("i1", "tb-i", "10.201.3.2/24", "10.201.3.1");
                foreach (var name in new[] { "wan", "a1", "a2", "b1", "i1" }) Serve(name);
                // Bridged traffic must cross the forward hook for the same-bridge rule to matter.
                Assert.Equal("1", Lab.Exec("cat", "/proc/sys/net/bridge/bridge-nf-call-iptables").Trim());
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        void Bridge(string name, string cidr)
        {
            Sh.Run("ip", "-n", Lab.Name, "link", "add", name, "type", "bridge");
            Sh.Run("ip", "-n", Lab.Name, "addr", "add", cidr, "dev", name);
            Sh.Run("ip", "-n", Lab.Name, "link", "set", name, "up");
        }

        void Sandbox(string name, string bridge, string cidr, string gateway)
        {
            var n = ns[name] = Lab.AddNamespace(name);
            var hostSide = "v" + name;
            Sh.Run("ip", "-n", Lab.Name, "link", "add", hostSide, "type", "veth", "peer", "name", "eth0", "netns", n);
            Sh.Run("ip", "-n", Lab.Name, "link", "set", hostSide, "master", bridge, "up");
            // As the bridge driver does: a sandbox reaching its own published port comes back out the port it entered.
            Sh.Run("ip", "-n", Lab.Name, "link", "set", hostSide, "type", "bridge_slave", "hairpin", "on");
            Sh.Run("ip", "-n", n, "addr", "add", cidr, "dev", "eth0");
            Sh.Run("ip", "-n", n, "link", "set", "eth0", "up");
            Sh.Run("ip", "-n", n, "route", "add", "default", "via", gateway);
        }

        void Serve(string name)
        {
            var root = Path.Combine(www, name);
            Directory.CreateDirectory(Path.Combine(root, "cgi-bin"));
            var cgi = Path.Combine(root, "cgi-bin", "ip");
            File.WriteAllText(cgi, $"#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"{name} $REMOTE_ADDR\"\n");
            Sh.Run("chmod", "0755", cgi);
            var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "netns", "exec", ns[name], "busybox", "httpd", "-f", "-p", "0.0.0.0:80", "-h", root }) psi.ArgumentList.Add(a);
            servers.Add(Process.Start(psi)!);
            for (var i = 0; i < 50; i++)
            {
                if (Get(name, "127.0.0.1") == $"{name} 127.0.0.1") return;
                Thread.Sleep(100);
            }
            throw new Exception($"httpd in {name} did not start");
        }

        /// <summary>GET http://HOSTPORT/cgi-bin/ip from namespace <paramref name="from"/>; null when it fails or times out.</summary>
        public string? Get(string from, string hostPort)
        {
            var r = Sh.Try("ip", "netns", "exec", ns[from], "curl", "--noproxy", "*", "-sf", "--connect-timeout", "1", "-m", "2", $"http://{hostPort}/cgi-bin/ip");
            return r.ExitCode == 0 ? r.Stdout.Trim() : null;
        }

        public void Dispose()
        {
            foreach (var p in servers)
            {
                try { p.Kill(); p.WaitForExit(2000); } catch (InvalidOperationException) { }
                p.Dispose();
            }
            fl.Dispose();
        }
    }
}
