using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tether.Firewall;
using Tether.Tests.Support;

namespace Tether.Tests.Integration;

/// <summary>
/// Real traffic through Tether's ruleset. The lab plays the host: bridges tb-a (10.201.1.0/24, sandboxes a1, a2),
/// tb-b (10.201.2.0/24, sandbox b1) and tb-i (10.201.3.0/24, internal, sandbox i1), and a "wan" namespace on
/// 198.51.100.0/24 that routes 10.201.0.0/16 back to the lab (so only the source address a server sees proves
/// masquerade, and only the ruleset stops forwarding). IPv6 mirrors it: fd00:201:N::/64 on the bridges,
/// 2001:db8:ff::/64 to the wan. Every namespace runs busybox httpd on [::]:80 whose CGI answers "NAME REMOTE_ADDR",
/// and a UDP responder (a socket made on a thread inside the namespace) answering the same.
/// Clients are curl run in the namespaces. Needs root and busybox.
/// </summary>
public class FirewallTrafficTests
{
    static readonly FirewallNetwork NetA = new("tb-a", IPNetwork.Parse("10.201.1.0/24"), false);
    static readonly FirewallNetwork NetB = new("tb-b", IPNetwork.Parse("10.201.2.0/24"), false);
    static readonly FirewallNetwork NetI = new("tb-i", IPNetwork.Parse("10.201.3.0/24"), true);
    static readonly FirewallNetwork[] Networks = [NetA, NetB, NetI];
    static readonly FirewallNetwork NetA6 = new("tb-a", IPNetwork.Parse("fd00:201:1::/64"), false);
    static readonly FirewallNetwork NetB6 = new("tb-b", IPNetwork.Parse("fd00:201:2::/64"), false);
    static readonly FirewallNetwork NetI6 = new("tb-i", IPNetwork.Parse("fd00:201:3::/64"), true);

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

    [Fact]
    public void UdpPortsAndMasquerade()
    {
        using var t = new Topology();
        Assert.Equal("wan 10.201.1.2", t.Udp("a1", "198.51.100.2", 5300));
        t.Fw.Apply(FirewallChange.Empty with
        {
            AddNetworks = Networks,
            AddPorts = [new PortMapping(null, Protocol.Udp, 5353, IPAddress.Parse("10.201.1.2"), 5300, "tb-a"), AnyTo_a1],
        });
        Assert.Equal("wan 198.51.100.1", t.Udp("a1", "198.51.100.2", 5300));
        Assert.Equal("a1 198.51.100.2", t.Udp("wan", "198.51.100.1", 5353));
        // The protocol is part of the key: tcp/8080 is published, udp/8080 and tcp/5353 are not.
        Assert.Null(t.Udp("wan", "198.51.100.1", 8080));
        Assert.Null(t.Get("wan", "198.51.100.1:5353"));
    }

    [Fact]
    public void Ipv6MasqueradeIsolationAndPublishedPorts()
    {
        using var t = new Topology();
        Assert.Equal("wan fd00:201:1::2", t.Get("a1", "[2001:db8:ff::2]"));
        Assert.Equal("b1 fd00:201:1::2", t.Get("a1", "[fd00:201:2::2]"));
        Assert.Equal("wan fd00:201:1::2", t.Udp("a1", "2001:db8:ff::2", 5300));

        t.Fw.Apply(FirewallChange.Empty with
        {
            AddNetworks = [.. Networks, NetA6, NetB6, NetI6],
            AddPorts =
            [
                Tcp(8080, "fd00:201:1::2", 80, "tb-a"),
                Tcp(9090, "fd00:201:2::2", 80, "tb-b", hostIp: "2001:db8:ff::1"),
                new PortMapping(null, Protocol.Udp, 5353, IPAddress.Parse("fd00:201:1::2"), 5300, "tb-a"),
            ],
        });

        Assert.Equal("wan 2001:db8:ff::1", t.Get("a1", "[2001:db8:ff::2]"));
        Assert.Equal("wan 2001:db8:ff::1", t.Udp("a1", "2001:db8:ff::2", 5300));
        Assert.Null(t.Get("a1", "[fd00:201:2::2]"));
        Assert.Null(t.Get("i1", "[2001:db8:ff::2]"));
        Assert.Null(t.Get("wan", "[fd00:201:1::2]"));
        Assert.Equal("a1 2001:db8:ff::2", t.Get("wan", "[2001:db8:ff::1]:8080"));
        Assert.Equal("b1 2001:db8:ff::2", t.Get("wan", "[2001:db8:ff::1]:9090"));
        Assert.Null(t.Get("wan", "[fd00:201:1::1]:9090"));
        Assert.Equal("a1 2001:db8:ff::2", t.Udp("wan", "2001:db8:ff::1", 5353));
        Assert.Equal("a1 fd00:201:1::1", t.Get("a2", "[fd00:201:1::1]:8080"));
        // The IPv4 binding on the same port is a separate element: without one, IPv4 8080 answers nothing.
        Assert.Null(t.Get("wan", "198.51.100.1:8080"));
    }

    /// <summary>The lab topology described on the class; Dispose kills the servers and removes every namespace.</summary>
    sealed class Topology : IDisposable
    {
        readonly FirewallLab fl;
        readonly List<Process> servers = [];
        readonly List<UdpResponder> udp = [];
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
                Lab.Exec("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
                ns["wan"] = Lab.AddNamespace("wan");
                Lab.Wire(ns["wan"], "wan0", "198.51.100.1/24", "up0", "198.51.100.2/24");
                Sh.Run("ip", "-n", ns["wan"], "route", "add", "10.201.0.0/16", "via", "198.51.100.1");
                Sh.Run("ip", "-n", Lab.Name, "addr", "add", "2001:db8:ff::1/64", "dev", "wan0", "nodad");
                Sh.Run("ip", "-n", ns["wan"], "addr", "add", "2001:db8:ff::2/64", "dev", "up0", "nodad");
                Sh.Run("ip", "-n", ns["wan"], "route", "add", "fd00:201::/32", "via", "2001:db8:ff::1");
                Bridge("tb-a", "10.201.1.1/24", "fd00:201:1::1/64");
                Bridge("tb-b", "10.201.2.1/24", "fd00:201:2::1/64");
                Bridge("tb-i", "10.201.3.1/24", "fd00:201:3::1/64");
                Lab.Exec("sysctl", "-qw", "net.ipv4.conf.tb-a.route_localnet=1");
                Sandbox("a1", "tb-a", "10.201.1.2/24", "10.201.1.1", "fd00:201:1::2/64", "fd00:201:1::1");
                Sandbox("a2", "tb-a", "10.201.1.3/24", "10.201.1.1", "fd00:201:1::3/64", "fd00:201:1::1");
                Sandbox("b1", "tb-b", "10.201.2.2/24", "10.201.2.1", "fd00:201:2::2/64", "fd00:201:2::1");
                Sandbox("i1", "tb-i", "10.201.3.2/24", "10.201.3.1", "fd00:201:3::2/64", "fd00:201:3::1");
                foreach (var name in new[] { "wan", "a1", "a2", "b1", "i1" }) Serve(name);
                foreach (var name in new[] { "wan", "a1" }) udp.Add(new UdpResponder($"/run/netns/{ns[name]}", name, 5300));
                // Bridged traffic must cross the forward hook for the same-bridge rule to matter.
                Assert.Equal("1", Lab.Exec("cat", "/proc/sys/net/bridge/bridge-nf-call-iptables").Trim());
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        void Bridge(string name, string cidr, string cidr6)
        {
            Sh.Run("ip", "-n", Lab.Name, "link", "add", name, "type", "bridge");
            Sh.Run("ip", "-n", Lab.Name, "addr", "add", cidr, "dev", name);
            Sh.Run("ip", "-n", Lab.Name, "addr", "add", cidr6, "dev", name, "nodad");
            Sh.Run("ip", "-n", Lab.Name, "link", "set", name, "up");
        }

        void Sandbox(string name, string bridge, string cidr, string gateway, string cidr6, string gateway6)
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
            Sh.Run("ip", "-n", n, "addr", "add", cidr6, "dev", "eth0", "nodad");
            Sh.Run("ip", "-n", n, "-6", "route", "add", "default", "via", gateway6);
        }

        void Serve(string name)
        {
            var root = Path.Combine(www, name);
            Directory.CreateDirectory(Path.Combine(root, "cgi-bin"));
            var cgi = Path.Combine(root, "cgi-bin", "ip");
            File.WriteAllText(cgi, $"#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"{name} $REMOTE_ADDR\"\n");
            Sh.Run("chmod", "0755", cgi);
            var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "netns", "exec", ns[name], "busybox", "httpd", "-f", "-p", "[::]:80", "-h", root }) psi.ArgumentList.Add(a);
            servers.Add(Process.Start(psi)!);
            for (var i = 0; i < 50; i++)
            {
                if (Get(name, "127.0.0.1") == $"{name} 127.0.0.1") return;
                Thread.Sleep(100);
            }
            throw new Exception($"httpd in {name} did not start");
        }

        /// <summary>
        /// GET http://HOSTPORT/cgi-bin/ip from namespace <paramref name="from"/> ("[v6]:port" for IPv6); the answer
        /// "NAME ADDRESS" with the address unbracketed and IPv4-mapped addresses shown as IPv4; null on failure or timeout.
        /// </summary>
        public string? Get(string from, string hostPort)
        {
            var r = Sh.Try("ip", "netns", "exec", ns[from], "curl", "--noproxy", "*", "-sf", "--connect-timeout", "1", "-m", "2", $"http://{hostPort}/cgi-bin/ip");
            return r.ExitCode == 0 ? r.Stdout.Trim().Replace("[::ffff:", "").Replace("[", "").Replace("]", "") : null;
        }

        /// <summary>Sends one UDP datagram from namespace <paramref name="from"/> and returns the answer, or null after 1 s.</summary>
        public string? Udp(string from, string address, int port) => NsThread.RunIn($"/run/netns/{ns[from]}", () =>
        {
            var to = new IPEndPoint(IPAddress.Parse(address), port);
            using var s = new Socket(to.AddressFamily, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 1000 };
            s.SendTo("?"u8, to);
            var buf = new byte[512];
            try { return Encoding.ASCII.GetString(buf, 0, s.Receive(buf)); }
            catch (SocketException) { return null; }
        });

        public void Dispose()
        {
            foreach (var u in udp) u.Dispose();
            foreach (var p in servers)
            {
                try { p.Kill(); p.WaitForExit(2000); } catch (InvalidOperationException) { }
                p.Dispose();
            }
            fl.Dispose();
        }
    }

    /// <summary>
    /// Answers every UDP datagram on [::]:PORT (dual-stack) with "NAME SOURCE-ADDRESS". The socket is made on a thread
    /// inside the namespace, so it lives there; the loop itself runs on an ordinary thread.
    /// </summary>
    sealed class UdpResponder : IDisposable
    {
        readonly Socket socket;
        readonly Thread loop;
        volatile bool stop;

        public UdpResponder(string nsPath, string name, int port)
        {
            socket = NsThread.RunIn(nsPath, () =>
            {
                var s = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp) { DualMode = true, ReceiveTimeout = 200 };
                s.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
                return s;
            });
            loop = new Thread(() =>
            {
                var buf = new byte[512];
                while (!stop)
                {
                    EndPoint from = new IPEndPoint(IPAddress.IPv6Any, 0);
                    try { socket.ReceiveFrom(buf, ref from); }
                    catch (SocketException) { continue; }
                    var remote = (IPEndPoint)from;
                    var shown = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
                    socket.SendTo(Encoding.ASCII.GetBytes($"{name} {shown}"), remote);
                }
            }) { IsBackground = true, Name = "udp:" + name };
            loop.Start();
        }

        public void Dispose()
        {
            stop = true;
            loop.Join();
            socket.Dispose();
        }
    }
}
