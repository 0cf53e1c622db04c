using Tether.State;

namespace Tether.Tests.Unit;

/// <summary>The SQLite store on a real file: records round-trip, constraints hold, transactions roll back.</summary>
public sealed class StoreTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("tether-store").FullName;

    static NetworkRecord Net(string id, string name) => new(id, name, "bridge", false, "tb-" + id, 1500,
        new Dictionary<string, string> { ["mtu"] = "1500" }, new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc),
        [new SubnetRecord("10.0.0.0/24", "10.0.0.1", "10.0.0.128/25", null)]);

    [Fact]
    public void RecordsRoundTripAcrossConnections()
    {
        using (var s = SqliteStore.Open(dir))
        {
            s.Write(() =>
            {
                s.InsertNetwork(Net("aaaa1111", "front"));
                s.InsertSandbox(new SandboxRecord("bbbb2222", "web", "/run/x/netns/web", DateTime.UtcNow, 42));
                s.InsertEndpoint(new EndpointRecord("cccc3333", "aaaa1111", "bbbb2222", "eth0", "tvcccc", "02:00:00:00:00:01", "10.0.0.128", 24, ["api", "www"], 0));
                s.InsertPortBinding(new PortBindingRecord("cccc3333", "", "tcp", 8080, 80));
                s.SetLastAllocated("aaaa1111", "10.0.0.0/24", "10.0.0.128");
                return 0;
            });
        }
        using var again = SqliteStore.Open(dir);
        var n = again.FindNetwork("front")!;
        Assert.Equal(Net("aaaa1111", "front").Options, n.Options);
        Assert.Equal("10.0.0.128", n.Subnets[0].LastAllocated);
        Assert.Equal("10.0.0.128/25", n.Subnets[0].IpRange);
        Assert.Null(again.FindNetwork("aa"));                 // prefix shorter than 3 does not match
        Assert.Equal("front", again.FindNetwork("aaaa")!.Name);     // unique id prefix
        Assert.Equal(42, again.FindSandbox("web")!.Pid);
        var e = again.EndpointsOfSandbox("bbbb2222").Single();
        Assert.Equal(["api", "www"], e.Aliases);
        Assert.True(again.IsLeased("aaaa1111", "10.0.0.128"));
        Assert.Equal(8080, again.PortBindingsOfEndpoint("cccc3333").Single().HostPort);
    }

    [Fact]
    public void PortConflictsCountEveryAddressAsClashingWithSpecificOnes()
    {
        using var s = SqliteStore.Open(dir);
        s.Write(() =>
        {
            s.InsertNetwork(Net("n1", "a"));
            s.InsertSandbox(new SandboxRecord("s1", "x", "/x", DateTime.UtcNow, null));
            s.InsertEndpoint(new EndpointRecord("e1", "n1", "s1", "eth0", null, "", "10.0.0.2", 24, [], 0));
            s.InsertPortBinding(new PortBindingRecord("e1", "127.0.0.1", "tcp", 8080, 80));
            return 0;
        });
        Assert.NotNull(s.ConflictingPortBinding("", "tcp", 8080));
        Assert.NotNull(s.ConflictingPortBinding("127.0.0.1", "tcp", 8080));
        Assert.Null(s.ConflictingPortBinding("10.0.0.9", "tcp", 8080));
        Assert.Null(s.ConflictingPortBinding("", "udp", 8080));
    }

    [Fact]
    public void AFailedWriteLeavesNothingAndCascadesRemoveChildren()
    {
        using var s = SqliteStore.Open(dir);
        Assert.Throws<InvalidOperationException>(() => s.Write<int>(() =>
        {
            s.InsertNetwork(Net("n1", "a"));
            throw new InvalidOperationException("later step failed");
        }));
        Assert.Empty(s.Networks());

        s.Write(() =>
        {
            s.InsertNetwork(Net("n1", "a"));
            s.InsertSandbox(new SandboxRecord("s1", "x", "/x", DateTime.UtcNow, null));
            s.InsertEndpoint(new EndpointRecord("e1", "n1", "s1", "eth0", null, "", "10.0.0.2", 24, ["al"], 0));
            s.InsertPortBinding(new PortBindingRecord("e1", "", "tcp", 1, 1));
            return 0;
        });
        s.Write(() => { s.DeleteSandbox("s1"); return 0; });
        Assert.Empty(s.Endpoints());
        Assert.Empty(s.PortBindings());
        Assert.Empty(s.Leases("n1"));
    }

    [Fact]
    public void ConcurrentWritersFromManyConnectionsAllLand()
    {
        using (var s = SqliteStore.Open(dir)) s.Write(() => { s.InsertNetwork(Net("n1", "a")); return 0; });
        Parallel.For(0, 16, i =>
        {
            using var s = SqliteStore.Open(dir);
            s.Write(() =>
            {
                var n = s.Leases("n1").Count;
                s.InsertSandbox(new SandboxRecord($"s{i}", $"x{i}", "/x", DateTime.UtcNow, null));
                s.InsertEndpoint(new EndpointRecord($"e{i}", "n1", $"s{i}", "eth0", null, "", $"10.0.0.{n + 2}", 24, [], 0));
                return 0;
            });
        });
        using var check = SqliteStore.Open(dir);
        Assert.Equal(16, check.Leases("n1").Count);   // read-then-insert under BEGIN IMMEDIATE never collides
    }

    public void Dispose() => Directory.Delete(dir, true);
}
