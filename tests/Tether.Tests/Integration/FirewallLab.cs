using System.Text.Json.Nodes;
using Tether.Firewall;
using Tether.Tests.Support;

namespace Tether.Tests.Integration;

/// <summary>
/// A lab namespace with a <see cref="Nftables"/> context created (and always used) on a thread inside it, plus
/// <c>nft</c> run in the lab as the independent oracle. Dispose frees the context and removes the lab.
/// </summary>
sealed class FirewallLab : IDisposable
{
    public Lab Lab { get; }
    readonly NsThread thread;
    readonly Nftables nft;
    readonly Tether.Firewall.Firewall firewall;

    public FirewallLab(string tag)
    {
        Lab = new Lab(tag);
        try
        {
            thread = new NsThread(Lab.NsPath);
            nft = thread.Run(() => new Nftables());
            firewall = new Tether.Firewall.Firewall(nft);
        }
        catch
        {
            thread?.Dispose();
            Lab.Dispose();
            throw;
        }
    }

    public void Apply(FirewallChange change) => thread.Run(() => firewall.Apply(change));
    public void Reconcile(IEnumerable<FirewallNetwork> n, IEnumerable<PortMapping> p) => thread.Run(() => firewall.Reconcile(n, p));
    public void RemoveAll() => thread.Run(firewall.RemoveAll);
    public FirewallState Read() => thread.Run(firewall.Read);
    public string Run(string script) => thread.Run(() => nft.Run(script));
    public string ListJson(string command = "list ruleset") => thread.Run(() => nft.ListJson(command));

    /// <summary>Oracle: <c>nft list ruleset</c> text in the lab (no handles, so it compares across rewrites).</summary>
    public string NftText() => Lab.Exec("nft", "list", "ruleset");
    /// <summary>Oracle: <c>nft -j list ruleset</c> in the lab, the "nftables" array.</summary>
    public JsonArray NftJson() => JsonNode.Parse(Lab.Exec("nft", "-j", "list", "ruleset"))!["nftables"]!.AsArray();

    /// <summary>Elements of a set or map, normalised to Tether's script syntax without quotes ("tcp . 80 : 10.0.0.2 . 80").</summary>
    public SortedSet<string> Elements(string name)
    {
        var o = NftJson().Select(x => x!["set"] ?? x!["map"]).FirstOrDefault(s => s != null && (string?)s["table"] == "tether" && (string?)s["name"] == name)
                ?? throw new Xunit.Sdk.XunitException($"set {name} not found in the lab's ruleset");
        return new((o["elem"]?.AsArray() ?? []).Select(Norm), StringComparer.Ordinal);
    }

    /// <summary>The rules of chain <paramref name="chain"/> of table inet tether, as JSON "expr" arrays.</summary>
    public List<JsonArray> Rules(string chain) => NftJson().Select(x => x!["rule"]).Where(r => r != null && (string?)r["table"] == "tether" && (string?)r["chain"] == chain)
        .Select(r => r!["expr"]!.AsArray()).ToList();

    public bool HasTable() => NftJson().Any(x => x!["table"] is JsonNode t && (string?)t["name"] == "tether" && (string?)t["family"] == "inet");

    public static string Norm(JsonNode? n) => n switch
    {
        JsonValue v => v.ToString(),
        JsonArray a when a.Count == 2 => $"{Norm(a[0])} : {Norm(a[1])}",
        JsonObject o when o["concat"] is JsonArray c => string.Join(" . ", c.Select(Norm)),
        JsonObject o when o["prefix"] is JsonObject p => $"{p["addr"]}/{p["len"]}",
        JsonObject o when o["range"] is JsonArray r => $"{Norm(r[0])}-{Norm(r[1])}",
        JsonObject o when o["elem"] is JsonObject e => Norm(e["val"]),
        _ => n?.ToJsonString() ?? "null",
    };

    public void Dispose()
    {
        try { thread.Run(nft.Dispose); }
        finally
        {
            thread.Dispose();
            Lab.Dispose();
        }
    }
}
