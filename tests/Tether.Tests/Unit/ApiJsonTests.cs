using System.Text.Json;
using Tether.Engine;
using Xunit;

namespace Tether.Tests.Unit;

/// <summary>The CLI writes tetherd's create request by hand (<see cref="SandboxCreateRequest.ToJson"/>); tetherd reads it with
/// the source-generated <see cref="ApiJson"/>. Both must agree on every field, including nulls, empty lists and escaping.</summary>
public class ApiJsonTests
{
    [Fact]
    public void CreateRequestRoundTripsThroughTheDaemonsReader()
    {
        var full = new SandboxCreateRequest("web-1", "front\"end", "10.0.0.5", ["a", "b.c"], ["8080:80", "127.0.0.1:53:53/udp"],
            ["10.0.0.53"], ["example.org"], ["db:10.0.0.9"], "héllo");
        var empty = new SandboxCreateRequest("x", "bridge", null, [], [], [], [], [], null);
        foreach (var r in new[] { full, empty })
        {
            var back = JsonSerializer.Deserialize(r.ToJson(), ApiJson.Default.SandboxCreateRequest)!;
            Assert.Equal(r.Name, back.Name);
            Assert.Equal(r.Network, back.Network);
            Assert.Equal(r.IPAddress, back.IPAddress);
            Assert.Equal(r.Aliases, back.Aliases);
            Assert.Equal(r.Publish, back.Publish);
            Assert.Equal(r.Dns, back.Dns);
            Assert.Equal(r.DnsSearch, back.DnsSearch);
            Assert.Equal(r.AddHost, back.AddHost);
            Assert.Equal(r.Hostname, back.Hostname);
        }
    }
}
