using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Tether.State;

/// <summary>
/// Tether's local state: one SQLite file (<c>tether.db</c>) in the state dir, in WAL mode, safe for many
/// <c>tether</c> processes at once. Writers take the database lock up front (<c>BEGIN IMMEDIATE</c>) and hold it
/// for the whole use case, so the store and the kernel change together and concurrent writers are serialised.
/// </summary>
public sealed class SqliteStore : IDisposable
{
    const int SchemaVersion = 2;
    readonly SqliteConnection db;

    static SqliteStore()
    {
        // Use the system's libsqlite3 (Debian's libsqlite3-0 ships only the versioned name).
        NativeLibrary.SetDllImportResolver(typeof(SQLitePCL.SQLite3Provider_sqlite3).Assembly,
            (name, _, _) => name == "sqlite3" ? NativeLibrary.Load("libsqlite3.so.0") : IntPtr.Zero);
        SQLitePCL.raw.SetProvider(new SQLitePCL.SQLite3Provider_sqlite3());
    }

    SqliteStore(SqliteConnection db) => this.db = db;

    /// <summary>Opens (creating if needed) <c>STATEDIR/tether.db</c>.</summary>
    public static SqliteStore Open(string stateDir)
    {
        Directory.CreateDirectory(stateDir);
        var db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(stateDir, "tether.db"),
            Pooling = false,
            DefaultTimeout = 120,
        }.ToString());
        db.Open();
        var store = new SqliteStore(db);
        store.Exec("PRAGMA busy_timeout=120000");
        if (store.Scalar<string>("PRAGMA journal_mode") != "wal") store.Exec("PRAGMA journal_mode=WAL");
        if (store.Scalar<long>("PRAGMA user_version") != SchemaVersion) store.CreateSchema();
        store.Exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON");
        return store;
    }

    void CreateSchema()
    {
        using var tx = db.BeginTransaction(deferred: false);
        Exec("""
            CREATE TABLE IF NOT EXISTS networks(
              id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, driver TEXT NOT NULL, internal INTEGER NOT NULL,
              bridge TEXT UNIQUE, mtu INTEGER NOT NULL, created TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS network_options(
              network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE, key TEXT NOT NULL, value TEXT NOT NULL,
              PRIMARY KEY(network_id, key));
            CREATE TABLE IF NOT EXISTS subnets(
              network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE, subnet TEXT NOT NULL, gateway TEXT NOT NULL,
              ip_range TEXT, last_allocated TEXT, PRIMARY KEY(network_id, subnet));
            CREATE TABLE IF NOT EXISTS sandboxes(
              id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, ns_path TEXT NOT NULL, created TEXT NOT NULL, pid INTEGER, network_mode TEXT);
            CREATE TABLE IF NOT EXISTS endpoints(
              id TEXT PRIMARY KEY, network_id TEXT NOT NULL REFERENCES networks(id),
              sandbox_id TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
              ifname TEXT NOT NULL, host_ifname TEXT UNIQUE, mac TEXT NOT NULL, ip TEXT NOT NULL, prefix INTEGER NOT NULL,
              seq INTEGER NOT NULL, UNIQUE(network_id, ip), UNIQUE(network_id, sandbox_id));
            CREATE TABLE IF NOT EXISTS endpoint_aliases(
              endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE, alias TEXT NOT NULL, PRIMARY KEY(endpoint_id, alias));
            CREATE TABLE IF NOT EXISTS port_bindings(
              endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE, host_ip TEXT NOT NULL, protocol TEXT NOT NULL,
              host_port INTEGER NOT NULL, container_port INTEGER NOT NULL, UNIQUE(host_ip, protocol, host_port));
            """);
        // Version 1 -> 2: sandboxes owned by the host or null driver.
        if (Scalar<long>("SELECT count(*) FROM pragma_table_info('sandboxes') WHERE name='network_mode'") == 0)
            Exec("ALTER TABLE sandboxes ADD COLUMN network_mode TEXT");
        Exec($"PRAGMA user_version={SchemaVersion}");
        tx.Commit();
    }

    /// <summary>Runs <paramref name="fn"/> in a write transaction (BEGIN IMMEDIATE); commits when it returns, rolls back when it throws.</summary>
    public T Write<T>(Func<T> fn)
    {
        using var tx = db.BeginTransaction(deferred: false);
        var result = fn();
        tx.Commit();
        return result;
    }

    /// <summary>Runs <paramref name="fn"/> in a read transaction: one consistent snapshot.</summary>
    public T Read<T>(Func<T> fn)
    {
        using var tx = db.BeginTransaction(deferred: true);
        return fn();
    }

    // ---- networks ----

    public IReadOnlyList<NetworkRecord> Networks() => LoadNetworks("SELECT id, name, driver, internal, bridge, mtu, created FROM networks ORDER BY created, name");

    /// <summary>Finds a network by exact name, exact id, or unique id prefix (like docker).</summary>
    public NetworkRecord? FindNetwork(string nameOrId) =>
        LoadNetworks("SELECT id, name, driver, internal, bridge, mtu, created FROM networks WHERE name=$k OR id=$k", ("$k", nameOrId)).FirstOrDefault()
        ?? Unique(LoadNetworks("SELECT id, name, driver, internal, bridge, mtu, created FROM networks WHERE length($k) >= 3 AND substr(id, 1, length($k)) = $k", ("$k", nameOrId)));

    public void InsertNetwork(NetworkRecord n)
    {
        Exec("INSERT INTO networks(id, name, driver, internal, bridge, mtu, created) VALUES($id,$name,$driver,$internal,$bridge,$mtu,$created)",
            ("$id", n.Id), ("$name", n.Name), ("$driver", n.Driver), ("$internal", n.Internal ? 1 : 0), ("$bridge", n.Bridge),
            ("$mtu", n.Mtu), ("$created", n.Created.ToString("O", CultureInfo.InvariantCulture)));
        foreach (var (k, v) in n.Options) Exec("INSERT INTO network_options VALUES($n,$k,$v)", ("$n", n.Id), ("$k", k), ("$v", v));
        foreach (var s in n.Subnets)
            Exec("INSERT INTO subnets VALUES($n,$s,$g,$r,$l)", ("$n", n.Id), ("$s", s.Subnet), ("$g", s.Gateway), ("$r", s.IpRange), ("$l", s.LastAllocated));
    }

    public void DeleteNetwork(string id) => Exec("DELETE FROM networks WHERE id=$id", ("$id", id));

    public void SetLastAllocated(string networkId, string subnet, string address) =>
        Exec("UPDATE subnets SET last_allocated=$a WHERE network_id=$n AND subnet=$s", ("$a", address), ("$n", networkId), ("$s", subnet));

    IReadOnlyList<NetworkRecord> LoadNetworks(string sql, params (string, object?)[] args)
    {
        var rows = Query(sql, r => (Id: r.GetString(0), Name: r.GetString(1), Driver: r.GetString(2), Internal: r.GetInt64(3) != 0,
            Bridge: r.IsDBNull(4) ? null : r.GetString(4), Mtu: r.GetInt32(5),
            Created: DateTime.Parse(r.GetString(6), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind)), args);
        return rows.Select(r => new NetworkRecord(r.Id, r.Name, r.Driver, r.Internal, r.Bridge, r.Mtu,
            Query("SELECT key, value FROM network_options WHERE network_id=$n ORDER BY key", x => (x.GetString(0), x.GetString(1)), ("$n", r.Id))
                .ToDictionary(kv => kv.Item1, kv => kv.Item2),
            r.Created,
            Query("SELECT subnet, gateway, ip_range, last_allocated FROM subnets WHERE network_id=$n ORDER BY subnet",
                x => new SubnetRecord(x.GetString(0), x.GetString(1), x.IsDBNull(2) ? null : x.GetString(2), x.IsDBNull(3) ? null : x.GetString(3)),
                ("$n", r.Id)))).ToList();
    }

    // ---- sandboxes ----

    public IReadOnlyList<SandboxRecord> Sandboxes() => LoadSandboxes("SELECT id, name, ns_path, created, pid, network_mode FROM sandboxes ORDER BY created, name");

    /// <summary>Finds a sandbox by exact name, exact id, or unique id prefix.</summary>
    public SandboxRecord? FindSandbox(string nameOrId) =>
        LoadSandboxes("SELECT id, name, ns_path, created, pid, network_mode FROM sandboxes WHERE name=$k OR id=$k", ("$k", nameOrId)).FirstOrDefault()
        ?? Unique(LoadSandboxes("SELECT id, name, ns_path, created, pid, network_mode FROM sandboxes WHERE length($k) >= 3 AND substr(id, 1, length($k)) = $k", ("$k", nameOrId)));

    public void InsertSandbox(SandboxRecord s) =>
        Exec("INSERT INTO sandboxes(id, name, ns_path, created, pid, network_mode) VALUES($id,$name,$ns,$c,$pid,$mode)",
            ("$id", s.Id), ("$name", s.Name), ("$ns", s.NsPath), ("$c", s.Created.ToString("O", CultureInfo.InvariantCulture)), ("$pid", s.Pid),
            ("$mode", s.NetworkMode));

    /// <summary>Sets or clears (null) the predefined network that owns the whole sandbox.</summary>
    public void SetSandboxNetworkMode(string id, string? mode) => Exec("UPDATE sandboxes SET network_mode=$m WHERE id=$id", ("$m", mode), ("$id", id));

    public void SetSandboxPid(string id, int? pid) => Exec("UPDATE sandboxes SET pid=$p WHERE id=$id", ("$p", pid), ("$id", id));

    public void DeleteSandbox(string id) => Exec("DELETE FROM sandboxes WHERE id=$id", ("$id", id));

    IReadOnlyList<SandboxRecord> LoadSandboxes(string sql, params (string, object?)[] args) =>
        Query(sql, r => new SandboxRecord(r.GetString(0), r.GetString(1), r.GetString(2),
            DateTime.Parse(r.GetString(3), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind), r.IsDBNull(4) ? null : r.GetInt32(4),
            r.IsDBNull(5) ? null : r.GetString(5)), args);

    // ---- endpoints ----

    const string EndpointColumns = "id, network_id, sandbox_id, ifname, host_ifname, mac, ip, prefix, seq";

    public IReadOnlyList<EndpointRecord> Endpoints() => LoadEndpoints($"SELECT {EndpointColumns} FROM endpoints ORDER BY sandbox_id, seq");

    public IReadOnlyList<EndpointRecord> EndpointsOfSandbox(string sandboxId) =>
        LoadEndpoints($"SELECT {EndpointColumns} FROM endpoints WHERE sandbox_id=$s ORDER BY seq", ("$s", sandboxId));

    public IReadOnlyList<EndpointRecord> EndpointsOfNetwork(string networkId) =>
        LoadEndpoints($"SELECT {EndpointColumns} FROM endpoints WHERE network_id=$n ORDER BY seq", ("$n", networkId));

    /// <summary>Whether <paramref name="ip"/> is leased in the network.</summary>
    public bool IsLeased(string networkId, string ip) =>
        Scalar<long>("SELECT count(*) FROM endpoints WHERE network_id=$n AND ip=$ip", ("$n", networkId), ("$ip", ip)) > 0;

    /// <summary>All addresses leased in the network.</summary>
    public HashSet<string> Leases(string networkId) =>
        Query("SELECT ip FROM endpoints WHERE network_id=$n", r => r.GetString(0), ("$n", networkId)).ToHashSet();

    public int NextEndpointSeq(string sandboxId) =>
        (int)Scalar<long>("SELECT coalesce(max(seq), -1) + 1 FROM endpoints WHERE sandbox_id=$s", ("$s", sandboxId));

    public void InsertEndpoint(EndpointRecord e)
    {
        Exec("INSERT INTO endpoints(id, network_id, sandbox_id, ifname, host_ifname, mac, ip, prefix, seq) VALUES($id,$n,$s,$if,$hif,$mac,$ip,$p,$seq)",
            ("$id", e.Id), ("$n", e.NetworkId), ("$s", e.SandboxId), ("$if", e.IfName), ("$hif", e.HostIfName), ("$mac", e.Mac),
            ("$ip", e.Ip), ("$p", e.PrefixLength), ("$seq", e.Seq));
        foreach (var a in e.Aliases) Exec("INSERT OR IGNORE INTO endpoint_aliases VALUES($e,$a)", ("$e", e.Id), ("$a", a));
    }

    public void DeleteEndpoint(string id) => Exec("DELETE FROM endpoints WHERE id=$id", ("$id", id));

    IReadOnlyList<EndpointRecord> LoadEndpoints(string sql, params (string, object?)[] args) =>
        Query(sql, r => new EndpointRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4),
            r.GetString(5), r.GetString(6), r.GetInt32(7), [], r.GetInt32(8)), args)
        .Select(e => e with { Aliases = Query("SELECT alias FROM endpoint_aliases WHERE endpoint_id=$e ORDER BY alias", x => x.GetString(0), ("$e", e.Id)) })
        .ToList();

    // ---- port bindings ----

    public IReadOnlyList<PortBindingRecord> PortBindings() =>
        Query("SELECT endpoint_id, host_ip, protocol, host_port, container_port FROM port_bindings ORDER BY host_port, protocol", ReadPort);

    public IReadOnlyList<PortBindingRecord> PortBindingsOfEndpoint(string endpointId) =>
        Query("SELECT endpoint_id, host_ip, protocol, host_port, container_port FROM port_bindings WHERE endpoint_id=$e ORDER BY rowid",
            ReadPort, ("$e", endpointId));

    /// <summary>The binding that already holds <paramref name="hostPort"/>/<paramref name="protocol"/> on
    /// <paramref name="hostIp"/>, counting "every address" ("") as clashing with any specific address.</summary>
    public PortBindingRecord? ConflictingPortBinding(string hostIp, string protocol, int hostPort) =>
        Query("SELECT endpoint_id, host_ip, protocol, host_port, container_port FROM port_bindings WHERE protocol=$p AND host_port=$hp AND (host_ip=$ip OR host_ip='' OR $ip='') LIMIT 1",
            ReadPort, ("$p", protocol), ("$hp", hostPort), ("$ip", hostIp)).FirstOrDefault();

    public void InsertPortBinding(PortBindingRecord p) =>
        Exec("INSERT INTO port_bindings VALUES($e,$ip,$p,$hp,$cp)", ("$e", p.EndpointId), ("$ip", p.HostIp), ("$p", p.Protocol), ("$hp", p.HostPort), ("$cp", p.ContainerPort));

    static PortBindingRecord ReadPort(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetInt32(4));

    // ---- helpers ----

    static T? Unique<T>(IReadOnlyList<T> matches) where T : class => matches.Count == 1 ? matches[0] : null;

    SqliteCommand Command(string sql, (string, object?)[] args)
    {
        var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    void Exec(string sql, params (string, object?)[] args)
    {
        using var cmd = Command(sql, args);
        cmd.ExecuteNonQuery();
    }

    T Scalar<T>(string sql, params (string, object?)[] args)
    {
        using var cmd = Command(sql, args);
        return (T)cmd.ExecuteScalar()!;
    }

    List<T> Query<T>(string sql, Func<SqliteDataReader, T> read, params (string, object?)[] args)
    {
        using var cmd = Command(sql, args);
        using var r = cmd.ExecuteReader();
        var list = new List<T>();
        while (r.Read()) list.Add(read(r));
        return list;
    }

    public void Dispose() => db.Dispose();
}
