using Tether.Drivers.Bridge;
using Tether.Drivers.Host;
using Tether.Drivers.Ipvlan;
using Tether.Drivers.Macvlan;
using Tether.Drivers.Null;

namespace Tether.Drivers;

/// <summary>The drivers Tether offers. Adding a driver: its folder under <c>Drivers/</c> and one line here.</summary>
public static class DriverRegistry
{
    /// <summary>One instance of every driver, sharing the host's kernel handles.</summary>
    public static IReadOnlyList<INetworkDriver> Create(HostKernel host) =>
    [
        new BridgeDriver(host),
        new HostDriver(),
        new NullDriver(),
        new MacvlanDriver(host),
        new IpvlanDriver(host),
    ];
}
