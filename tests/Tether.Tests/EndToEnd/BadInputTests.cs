using Tether.Tests.Support;
using static Tether.Tests.Support.Rejected;

namespace Tether.Tests.EndToEnd;

/// <summary>
/// Every bad input: one clear line on stderr naming the bad value, a non-zero exit, and links, addresses, routes,
/// nftables, sandboxes and the store exactly as they were.
/// </summary>
public class BadInputTests
{


    [Fact]
    public void NetworkCreateErrors()
    {
        using var lab = new Lab("bn");
        lab.TetherOk("network", "create", "--subnet", "10.40.0.0/24", "taken");
        AssertRejected(lab, "10.0.0.300/24", "network", "create", "--subnet", "10.0.0.300/24", "x");
        AssertRejected(lab, "10.41.0.1/24", "network", "create", "--subnet", "10.41.0.1/24", "x");
        AssertRejected(lab, "10.99.0.1", "network", "create", "--subnet", "10.41.0.0/24", "--gateway", "10.99.0.1", "x");
        AssertRejected(lab, "nonsense", "network", "create", "--subnet", "10.41.0.0/24", "--gateway", "nonsense", "x");
        AssertRejected(lab, "10.42.0.0/24", "network", "create", "--subnet", "10.41.0.0/24", "--ip-range", "10.42.0.0/24", "x");
        AssertRejected(lab, "10.40.0.0/25", "network", "create", "--subnet", "10.40.0.0/25", "x");   // overlaps "taken"
        AssertRejected(lab, "taken", "network", "create", "taken");                                  // name already used
        AssertRejected(lab, "averyveryverylongname", "network", "create", "-o", "bridge.name=averyveryverylongname", "x");
        AssertRejected(lab, "nosuch", "network", "create", "-d", "nosuch", "x");
        AssertRejected(lab, "mtu", "network", "create", "-o", "mtu=12", "x");
        AssertRejected(lab, "bad name!", "network", "create", "bad name!");
        AssertRejected(lab, "127.0.0.0/8", "network", "create", "--subnet", "127.0.0.0/8", "x");
        AssertRejected(lab, "224.0.0.0/24", "network", "create", "--subnet", "224.0.0.0/24", "x");
        AssertRejected(lab, "10.43.0.0/31", "network", "create", "--subnet", "10.43.0.0/31", "x");
        AssertRejected(lab, "host", "network", "create", "host");
        AssertRejected(lab, "bogus", "bogus");
        lab.TetherOk("create", "--name", "d");          // makes the default network
        AssertRejected(lab, "bridge", "network", "rm", "bridge");
        lab.TetherOk("rm", "d");
        Assert.DoesNotContain("bridge", lab.TetherOk("network", "prune"));
    }

    [Fact]
    public void SandboxErrors()
    {
        using var lab = new Lab("bs");
        lab.TetherOk("network", "create", "--subnet", "10.50.0.0/30", "tiny");   // one usable address: .2
        lab.TetherOk("network", "create", "--subnet", "10.51.0.0/24", "n");
        lab.TetherOk("create", "--name", "a", "--network", "n", "--ip", "10.51.0.10", "-p", "8080:80");
        AssertRejected(lab, "10.51.0.10", "create", "--name", "b", "--network", "n", "--ip", "10.51.0.10");      // address already leased
        AssertRejected(lab, "10.52.0.10", "create", "--name", "b", "--network", "n", "--ip", "10.52.0.10");      // --ip outside the subnet
        AssertRejected(lab, "10.51.0.x", "create", "--name", "b", "--network", "n", "--ip", "10.51.0.x");        // malformed IP
        AssertRejected(lab, "8080", "create", "--name", "b", "--network", "n", "-p", "8080:80");                 // port already published
        AssertRejected(lab, "8080", "create", "--name", "b", "--network", "n", "-p", "127.0.0.1:8080:80");       // clashes with 0.0.0.0:8080
        AssertRejected(lab, "80:abc", "create", "--name", "b", "--network", "n", "-p", "80:abc");
        AssertRejected(lab, "nowhere", "create", "--name", "b", "--network", "nowhere");                          // unknown network
        AssertRejected(lab, "\"a\"", "create", "--name", "a", "--network", "n");                                  // name already used
        lab.TetherOk("create", "--name", "full1", "--network", "tiny");
        AssertRejected(lab, "full", "create", "--name", "b", "--network", "tiny");                                // full subnet
        AssertRejected(lab, "ghost", "exec", "ghost", "--", "true");                                              // unknown sandbox
        AssertRejected(lab, "ghost", "network", "connect", "n", "ghost");
        AssertRejected(lab, "ghost", "inspect", "ghost");
        AssertRejected(lab, "ghost", "rm", "ghost");
        lab.TetherOk("network", "create", "--internal", "--subnet", "10.53.0.0/24", "int");
        AssertRejected(lab, "internal", "create", "--name", "b", "--network", "int", "-p", "7070:80");         // publishing on an internal network
        AssertRejected(lab, "10.99.0.1", "create", "--name", "b", "--network", "n", "-p", "10.99.0.1:7071:80"); // not a host address
        AssertRejected(lab, "nonexistent-program", "run", "--name", "b", "--network", "n", "--", "nonexistent-program");
        Assert.Equal(127, lab.Tether("run", "--name", "b", "--network", "n", "--", "nonexistent-program").ExitCode);
        // The same port on another protocol or another specific host address is fine.
        lab.TetherOk("create", "--name", "b", "--network", "n", "-p", "8080:80/udp");
    }
}
