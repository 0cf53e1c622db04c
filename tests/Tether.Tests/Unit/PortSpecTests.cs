using System.Net;
using Tether.Engine;

namespace Tether.Tests.Unit;

public class PortSpecTests
{
    static PortBinding B(string? ip, int host, int ctr, PortProtocol p = PortProtocol.Tcp) =>
        new(ip is null ? null : IPAddress.Parse(ip), host, ctr, p);

    [Fact]
    public void Host_and_container_port()
    {
        Assert.Equal([B(null, 8080, 80)], PortSpec.Parse("8080:80"));
    }

    [Theory]
    [InlineData("8080:80/tcp", PortProtocol.Tcp)]
    [InlineData("8080:80/udp", PortProtocol.Udp)]
    [InlineData("8080:80/UDP", PortProtocol.Udp)]
    [InlineData("8080:80/Tcp", PortProtocol.Tcp)]
    public void Protocol_suffix(string spec, PortProtocol protocol)
    {
        Assert.Equal([B(null, 8080, 80, protocol)], PortSpec.Parse(spec));
    }

    [Fact]
    public void IPv4_host_ip()
    {
        Assert.Equal([B("127.0.0.1", 8080, 80)], PortSpec.Parse("127.0.0.1:8080:80"));
        Assert.Equal([B("0.0.0.0", 53, 53, PortProtocol.Udp)], PortSpec.Parse("0.0.0.0:53:53/udp"));
    }

    [Fact]
    public void Bracketed_IPv6_host_ip()
    {
        Assert.Equal([B("::1", 8080, 80)], PortSpec.Parse("[::1]:8080:80"));
        Assert.Equal([B("fd00::1", 5000, 5001, PortProtocol.Udp), B("fd00::1", 5001, 5002, PortProtocol.Udp)],
            PortSpec.Parse("[fd00::1]:5000-5001:5001-5002/udp"));
    }

    [Fact]
    public void Ranges_expand_pairwise()
    {
        Assert.Equal([B(null, 8000, 9000), B(null, 8001, 9001), B(null, 8002, 9002)], PortSpec.Parse("8000-8002:9000-9002"));
        Assert.Equal([B("10.0.0.1", 1, 2, PortProtocol.Udp)], PortSpec.Parse("10.0.0.1:1-1:2-2/udp"));
    }

    [Fact]
    public void Full_range_and_bounds()
    {
        var all = PortSpec.Parse("1-65535:1-65535");
        Assert.Equal(65535, all.Count);
        Assert.Equal(B(null, 65535, 65535), all[^1]);
        Assert.Equal([B(null, 65535, 1)], PortSpec.Parse("65535:1"));
        Assert.Equal([B(null, 8080, 80)], PortSpec.Parse("08080:0080")); // leading zeros are just decimal
    }

    [Theory]
    [InlineData("", "a host port is required; expected [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]")]
    [InlineData("80", "a host port is required; expected [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]")]
    [InlineData("80/tcp", "a host port is required; expected [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]")]
    [InlineData("80:abc", "container port \"abc\" is not a number")]
    [InlineData("abc:80", "host port \"abc\" is not a number")]
    [InlineData("-1:80", "host port is empty")]
    [InlineData("8080:+80", "container port \"+80\" is not a number")]
    [InlineData(" 8080:80", "host port \" 8080\" is not a number")]
    [InlineData("8080:80 ", "container port \"80 \" is not a number")]
    [InlineData("8080:", "container port is empty")]
    [InlineData(":80", "host port is empty")]
    [InlineData("0:80", "host port 0 is out of range 1-65535")]
    [InlineData("80:0", "container port 0 is out of range 1-65535")]
    [InlineData("65536:80", "host port 65536 is out of range 1-65535")]
    [InlineData("80:99999999999999999999", "container port 99999999999999999999 is out of range 1-65535")]
    [InlineData("8080-:80", "host port is empty")]
    [InlineData("8080-8081-8082:80-81-82", "host port \"8081-8082\" is not a number")]
    [InlineData("8081-8080:81-80", "host port range \"8081-8080\" ends before it starts")]
    [InlineData("8080-8081:81-80", "container port range \"81-80\" ends before it starts")]
    [InlineData("8080:80-81", "a single host port 8080 cannot map container port range 80-81; give a host range of 2 ports")]
    [InlineData("8080-8082:80-81", "host port range 8080-8082 (3 ports) and container port range 80-81 (2 ports) differ in length")]
    [InlineData("8080-8081:80", "host port range 8080-8081 (2 ports) and container port 80 (1 port) differ in length")]
    [InlineData("8080:80/sctp", "protocol \"sctp\" is not supported (use tcp or udp)")]
    [InlineData("8080:80/", "protocol is empty (use tcp or udp)")]
    [InlineData("8080:80/tcp/udp", "protocol \"tcp/udp\" is not supported (use tcp or udp)")]
    [InlineData("1.2.3:8080:80", "host IP \"1.2.3\" is not an IPv4 address")]
    [InlineData("localhost:8080:80", "host IP \"localhost\" is not an IPv4 address")]
    [InlineData(":8080:80", "host IP is empty (omit it, with its \":\", to listen on every address)")]
    [InlineData("127.0.0.1::80", "host port is empty")]
    [InlineData("::1:8080:80", "an IPv6 host IP must be in brackets, e.g. [::1]:8080:80; expected [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]")]
    [InlineData("1.2.3.4:5:6:7", "an IPv6 host IP must be in brackets, e.g. [::1]:8080:80; expected [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]")]
    [InlineData("[::1:8080:80", "missing \"]\" after the IPv6 host IP")]
    [InlineData("[::1]8080:80", "expected \":\" after \"[::1]\"; the form is [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]")]
    [InlineData("[::1]", "expected \":\" after \"[::1]\"; the form is [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]")]
    [InlineData("[::1]:80", "expected [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]")]
    [InlineData("[::1]:1:2:3", "expected [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]")]
    [InlineData("[127.0.0.1]:8080:80", "host IP \"127.0.0.1\" is not an IPv6 address")]
    [InlineData("[]:8080:80", "host IP \"\" is not an IPv6 address")]
    [InlineData("[fe80::1%eth0]:8080:80", "host IP \"fe80::1%eth0\" is not an IPv6 address")]
    [InlineData("[::ffff:127.0.0.1]:8080:80", "host IP \"::ffff:127.0.0.1\" is an IPv4-mapped IPv6 address; give the IPv4 address (127.0.0.1) without brackets")]
    public void Errors_name_the_spec_and_the_problem(string spec, string problem)
    {
        var e = Assert.Throws<PortSpecException>(() => PortSpec.Parse(spec));
        Assert.Equal($"invalid port spec \"{spec}\": {problem}", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.IsAssignableFrom<ArgumentException>(e);
    }

    [Theory]
    [InlineData(null, 8080, 80, PortProtocol.Tcp, "80/tcp -> 0.0.0.0:8080")]
    [InlineData("127.0.0.1", 8080, 80, PortProtocol.Udp, "80/udp -> 127.0.0.1:8080")]
    [InlineData("::1", 8443, 443, PortProtocol.Tcp, "443/tcp -> [::1]:8443")]
    [InlineData("::", 53, 53, PortProtocol.Udp, "53/udp -> [::]:53")]
    public void Format_is_docker_port_style(string? ip, int host, int ctr, PortProtocol p, string expected)
    {
        Assert.Equal(expected, PortSpec.Format(B(ip, host, ctr, p)));
    }

    [Theory]
    [InlineData("127.0.0.1:8080:80/udp")]
    [InlineData("[::1]:8080:80")]
    [InlineData("9000-9001:80-81")]
    public void Format_round_trips_through_parse(string spec)
    {
        foreach (var b in PortSpec.Parse(spec))
        {
            var formatted = PortSpec.Format(b); // "80/tcp -> host:port" -> "host:port:80/tcp"
            var parts = formatted.Split(" -> ");
            var again = PortSpec.Parse($"{parts[1]}:{parts[0]}");
            var expected = b.HostIp is null ? b with { HostIp = IPAddress.Any } : b;
            Assert.Equal([expected], again);
        }
    }
}
