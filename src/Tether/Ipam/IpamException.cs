namespace Tether.Ipam;

/// <summary>
/// An IPAM error: a bad subnet, gateway, range or address, or an exhausted pool or subnet.
/// <see cref="Exception.Message"/> is always one line that names the offending value, ready to show
/// to a user, e.g. <c>gateway 10.1.0.1 is not in subnet 10.0.0.0/24</c>.
/// </summary>
public sealed class IpamException : Exception
{
    public IpamException(string message) : base(message) { }
    public IpamException(string message, Exception inner) : base(message, inner) { }
}
