using System.Net;
using System.Net.Sockets;
using Tether.Ipam;

// Lives in the Ipam folder to keep work areas disjoint; it belongs to the engine's vocabulary.
namespace Tether.Engine;

/// <summary>Transport protocol of a port binding.</summary>
public enum PortProtocol { Tcp, Udp }

/// <summary>
/// One published port: traffic to <paramref name="HostIp"/>:<paramref name="HostPort"/> over
/// <paramref name="Protocol"/> is forwarded to the endpoint's <paramref name="ContainerPort"/>.
/// </summary>
/// <param name="HostIp">Host address to listen on; null means every host address.</param>
/// <param name="HostPort">Host port, 1-65535.</param>
/// <param name="ContainerPort">Container (endpoint) port, 1-65535.</param>
/// <param name="Protocol">tcp or udp.</param>
public sealed record PortBinding(IPAddress? HostIp, int HostPort, int ContainerPort, PortProtocol Protocol);

/// <summary>A malformed port spec. The message is one line that quotes the spec and says what is wrong.</summary>
public sealed class PortSpecException : ArgumentException
{
    public PortSpecException(string message) : base(message) { }
}

/// <summary>Parses and formats port bindings in the syntax of <c>docker run -p</c>.</summary>
public static class PortSpec
{
    const string Shape = "[hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]";

    /// <summary>
    /// Parses <c>[hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]</c> into one binding per port, e.g.
    /// <c>8080:80</c>, <c>127.0.0.1:8080:80/udp</c>, <c>[::1]:8080:80</c>, <c>8000-8002:9000-9002</c>.
    /// The protocol defaults to tcp (case-insensitive). Ranges are expanded pairwise (hostStart+i -> containerStart+i)
    /// and must have the same length; ports are 1-65535; an IPv6 host IP must be in brackets.
    /// Not accepted (unlike Docker): a missing host port (<c>80</c>, <c>127.0.0.1::80</c>) and a host port range
    /// with a single container port; protocols other than tcp and udp.
    /// </summary>
    /// <exception cref="PortSpecException">
    /// <c>invalid port spec "80:abc": container port "abc" is not a number</c>, and similar.
    /// </exception>
    public static IReadOnlyList<PortBinding> Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string body = spec;
        var protocol = PortProtocol.Tcp;
        int slash = spec.IndexOf('/');
        if (slash >= 0)
        {
            string proto = spec[(slash + 1)..];
            body = spec[..slash];
            if (proto.Equals("tcp", StringComparison.OrdinalIgnoreCase))
                protocol = PortProtocol.Tcp;
            else if (proto.Equals("udp", StringComparison.OrdinalIgnoreCase))
                protocol = PortProtocol.Udp;
            else if (proto.Length == 0)
                throw Error(spec, "protocol is empty (use tcp or udp)");
            else
                throw Error(spec, $"protocol \"{proto}\" is not supported (use tcp or udp)");
        }

        IPAddress? hostIp = null;
        string ports;
        if (body.StartsWith('['))
        {
            int close = body.IndexOf(']');
            if (close < 0)
                throw Error(spec, "missing \"]\" after the IPv6 host IP");
            string ipText = body[1..close];
            var ip = Cidr.TryParseAddress(ipText);
            if (ip is null || ip.AddressFamily != AddressFamily.InterNetworkV6)
                throw Error(spec, $"host IP \"{ipText}\" is not an IPv6 address");
            if (ip.IsIPv4MappedToIPv6)
                throw Error(spec, $"host IP \"{ipText}\" is an IPv4-mapped IPv6 address; give the IPv4 address ({ip.MapToIPv4()}) without brackets");
            hostIp = ip;
            if (close + 1 >= body.Length || body[close + 1] != ':')
                throw Error(spec, $"expected \":\" after \"[{ipText}]\"; the form is {Shape}");
            ports = body[(close + 2)..];
            if (ports.Split(':').Length != 2)
                throw Error(spec, $"expected {Shape}");
        }
        else
        {
            var parts = body.Split(':');
            switch (parts.Length)
            {
                case 1:
                    throw Error(spec, $"a host port is required; expected {Shape}");
                case 2:
                    ports = body;
                    break;
                case 3:
                    if (parts[0].Length == 0)
                        throw Error(spec, "host IP is empty (omit it, with its \":\", to listen on every address)");
                    hostIp = Cidr.TryParseAddress(parts[0])
                        ?? throw Error(spec, $"host IP \"{parts[0]}\" is not an IPv4 address");
                    ports = body[(parts[0].Length + 1)..];
                    break;
                default:
                    throw Error(spec, $"an IPv6 host IP must be in brackets, e.g. [::1]:8080:80; expected {Shape}");
            }
        }

        int colon = ports.IndexOf(':');
        var (hostStart, hostEnd) = ParseRange(spec, ports[..colon], "host");
        var (ctrStart, ctrEnd) = ParseRange(spec, ports[(colon + 1)..], "container");
        int hostCount = hostEnd - hostStart + 1, ctrCount = ctrEnd - ctrStart + 1;
        if (hostCount == 1 && ctrCount > 1)
            throw Error(spec, $"a single host port {hostStart} cannot map container port range {ctrStart}-{ctrEnd}; give a host range of {ctrCount} ports");
        if (hostCount != ctrCount)
            throw Error(spec, $"host port range {hostStart}-{hostEnd} ({hostCount} ports) and container port {Describe(ctrStart, ctrEnd)} ({ctrCount} {(ctrCount == 1 ? "port" : "ports")}) differ in length");

        var result = new PortBinding[hostCount];
        for (int i = 0; i < hostCount; i++)
            result[i] = new PortBinding(hostIp, hostStart + i, ctrStart + i, protocol);
        return result;
    }

    /// <summary>
    /// Formats a binding the way <c>docker port</c> prints it: <c>80/tcp -> 0.0.0.0:8080</c>, or
    /// <c>80/udp -> [::1]:8080</c> for an IPv6 host IP. A null host IP prints as 0.0.0.0.
    /// </summary>
    public static string Format(PortBinding b)
    {
        ArgumentNullException.ThrowIfNull(b);
        string proto = b.Protocol == PortProtocol.Udp ? "udp" : "tcp";
        string host = b.HostIp switch
        {
            null => "0.0.0.0",
            { AddressFamily: AddressFamily.InterNetworkV6 } v6 => $"[{v6}]",
            var v4 => v4.ToString(),
        };
        return $"{b.ContainerPort}/{proto} -> {host}:{b.HostPort}";
    }

    static string Describe(int start, int end) => start == end ? $"{start}" : $"range {start}-{end}";

    static (int Start, int End) ParseRange(string spec, string text, string which)
    {
        if (text.Length == 0)
            throw Error(spec, $"{which} port is empty");
        int dash = text.IndexOf('-');
        if (dash < 0)
        {
            int p = ParsePort(spec, text, which);
            return (p, p);
        }
        int start = ParsePort(spec, text[..dash], which);
        int end = ParsePort(spec, text[(dash + 1)..], which);
        if (end < start)
            throw Error(spec, $"{which} port range \"{text}\" ends before it starts");
        return (start, end);
    }

    static int ParsePort(string spec, string text, string which)
    {
        if (text.Length == 0)
            throw Error(spec, $"{which} port is empty");
        foreach (char c in text)
        {
            if (c is < '0' or > '9')
                throw Error(spec, $"{which} port \"{text}\" is not a number");
        }
        var trimmed = text.TrimStart('0');
        if (trimmed.Length > 5 || (trimmed.Length > 0 && int.Parse(trimmed) > 65535) || trimmed.Length == 0)
            throw Error(spec, $"{which} port {text} is out of range 1-65535");
        return int.Parse(trimmed);
    }

    static PortSpecException Error(string spec, string what) => new($"invalid port spec \"{spec}\": {what}");
}
