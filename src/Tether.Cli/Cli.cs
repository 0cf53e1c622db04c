using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Spectre.Console;
using Tether.Dns;
using Tether.Engine;
using Tether.Linux;

namespace Tether.Cli;

/// <summary>
/// The <c>tether</c> command line: flags and output modelled on <c>docker network</c> and <c>docker run</c>.
/// A thin front end: parses, calls the engine, prints. Errors print one line <c>tether: MESSAGE</c> and exit 1
/// (2 for usage errors).
/// </summary>
static class Cli
{
    static readonly Option<string> StateDir = new("--state-dir")
    {
        Description = "State directory (SQLite file); env TETHER_STATE_DIR", Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TETHER_STATE_DIR") is { Length: > 0 } v ? v : "/var/lib/tether",
    };
    static readonly Option<string> RunDir = new("--run-dir")
    {
        Description = "Run-time directory (namespace bind mounts, logs); env TETHER_RUN_DIR", Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TETHER_RUN_DIR") is { Length: > 0 } v ? v : "/run/tether",
    };

    public static int Run(string[] args)
    {
        const string about = "Tether: container networking for Linux (networks, IPAM, sandboxes, NAT, published ports)";
        Console.SetOut(new ConsoleWriter());
        Console.SetError(new ConsoleWriter(stderr: true));
        // A plain command named tether, not RootCommand, which takes its name from argv[0] (tether-cli, as the front execs
        // it, or nothing: an empty argv[0] made it throw). --help and --version are added only to a line that may ask for
        // them (a response file, @FILE, may): the help option reads its description from System.CommandLine's resources,
        // and that lookup (reflection over assembly attributes) was 10-15% of the CPU of a create or rm.
        var root = new Command("tether", about);
        if (args.Any(a => a is "-h" or "--help" or "-?" or "/h" or "/?" or "--version" || a.StartsWith('@')))
        {
            root.Options.Add(new System.CommandLine.Help.HelpOption());
            root.Options.Add(new VersionOption());
        }
        root.Options.Add(StateDir);
        root.Options.Add(RunDir);
        // Only the command named on the line is built when there is one (every tether process builds its command tree
        // before it does anything, and create/rm are on the hot path); help, and a word that names no command, get all.
        if (Commands.TryGetValue(CommandWord(args) ?? "", out var only)) root.Subcommands.Add(only());
        else
            foreach (var make in Commands.Values.Distinct()) root.Subcommands.Add(make());

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // "Unrecognized command or argument 'x'" names the bad value; "Required command was not provided" does not.
            var error = parsed.Errors.FirstOrDefault(e => e.Message.Contains('\'')) ?? parsed.Errors[0];
            Console.Error.WriteLine($"tether: {error.Message} (see tether --help)");
            return 2;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (CommandNotFound e)
        {
            Console.Error.WriteLine($"tether: {e.Message}");
            return 127;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"tether: {OneLine(e.Message)}");
            return 1;
        }
    }

    /// <summary>The top-level commands by name and alias.</summary>
    static readonly Dictionary<string, Func<Command>> Commands = new()
    {
        ["network"] = NetworkCommand, ["create"] = CreateCommand, ["run"] = RunCommand, ["exec"] = ExecCommand,
        ["ls"] = LsCommand, ["ps"] = LsCommand, ["inspect"] = InspectCommand, ["port"] = PortCommand, ["rm"] = RmCommand,
        ["reconcile"] = ReconcileCommand, ["info"] = InfoCommand, ["__exec-in"] = ExecInCommand, ["daemon"] = DaemonCommand,
    };

    /// <summary>The first word that is neither an option nor the value of a global option: the command's name.</summary>
    static string? CommandWord(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is "--state-dir" or "--run-dir") { i++; continue; }
            if (!args[i].StartsWith('-')) return args[i];
        }
        return null;
    }

    /// <summary>One line, without .NET's " (Parameter 'x')" suffix of argument exceptions.</summary>
    static string OneLine(string s) => System.Text.RegularExpressions.Regex.Replace(s.ReplaceLineEndings(" ").Trim(), @" \(Parameter '[^']*'\)$", "");

    static TetherPaths PathsOf(ParseResult p) => TetherPaths.Canonical(p.GetValue(StateDir)!, p.GetValue(RunDir)!);

    static TetherEngine Engine(ParseResult p) => new(PathsOf(p));

    static Option<string> FormatOption() => new("--format") { Description = "Output format: table or json", DefaultValueFactory = _ => "table" };

    static bool IsJson(ParseResult p, Option<string> format) => p.GetValue(format) switch
    {
        "json" or "{{json .}}" => true,
        "table" => false,
        var other => throw new TetherException($"unknown format \"{other}\" (use table or json)"),
    };

    /// <summary>Prints a docker-style table: no borders, columns three spaces apart, no trailing blanks.</summary>
    static void PrintTable(string[] headers, IEnumerable<string[]> rows)
    {
        var table = new Table().NoBorder().HideRowSeparators();
        table.Border = TableBorder.None;
        foreach (var h in headers) table.AddColumn(new TableColumn(Markup.Escape(h)).PadLeft(0).PadRight(3));
        foreach (var r in rows) table.AddRow(r.Select(c => new Text(c)).ToArray());
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(text), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 400;
        console.Write(table);
        foreach (var line in text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)) Console.WriteLine(line.TrimEnd());
    }

    // ---------------------------------------------------------------- network

    static Command NetworkCommand()
    {
        var cmd = new Command("network", "Manage networks");

        {
            var driver = new Option<string>("--driver", "-d") { Description = "Driver: bridge, macvlan or ipvlan (see tether info)", DefaultValueFactory = _ => "bridge" };
            var subnet = new Option<string?>("--subnet") { Description = "Subnet in CIDR form, e.g. 10.10.0.0/24" };
            var gateway = new Option<string?>("--gateway") { Description = "Gateway address inside the subnet" };
            var ipRange = new Option<string?>("--ip-range") { Description = "Lease addresses from this sub-range (CIDR)" };
            var @internal = new Option<bool>("--internal") { Description = "No access to anything outside the network" };
            var opts = new Option<string[]>("--opt", "-o") { Description = "Driver option key=value (bridge: bridge.name, mtu; macvlan: parent, macvlan_mode; ipvlan: parent, ipvlan_mode, ipvlan_flag)", AllowMultipleArgumentsPerToken = false };
            var name = new Argument<string>("NAME");
            var create = new Command("create", "Create a network") { driver, subnet, gateway, ipRange, @internal, opts, name };
            create.SetAction(p =>
            {
                var options = new Dictionary<string, string>();
                foreach (var o in p.GetValue(opts) ?? [])
                {
                    var eq = o.IndexOf('=');
                    if (eq <= 0) throw new TetherException($"invalid option \"{o}\": expected key=value");
                    options[o[..eq]] = o[(eq + 1)..];
                }
                using var engine = Engine(p);
                var n = engine.CreateNetwork(new NetworkCreateRequest(p.GetValue(name)!, p.GetValue(driver)!, p.GetValue(subnet),
                    p.GetValue(gateway), p.GetValue(ipRange), p.GetValue(@internal), options));
                Console.WriteLine(n.Id);
                return 0;
            });
            cmd.Subcommands.Add(create);
        }
        {
            var format = FormatOption();
            var quiet = new Option<bool>("--quiet", "-q") { Description = "Only network IDs" };
            var ls = new Command("ls", "List networks") { format, quiet };
            ls.Aliases.Add("list");
            ls.SetAction(p =>
            {
                using var engine = Engine(p);
                var networks = engine.Networks();
                if (IsJson(p, format))
                    Console.WriteLine(JsonSerializer.Serialize(networks.Select(n => Views.Network(n, engine.NetworkEndpoints(n))).ToList(), ViewJson.Default.ListNetworkView));
                else if (p.GetValue(quiet))
                    foreach (var n in networks) Console.WriteLine(n.Id[..12]);
                else
                    PrintTable(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], networks.Select(n => new[] { n.Id[..12], n.Name, n.Driver, "local" }));
                return 0;
            });
            cmd.Subcommands.Add(ls);
        }
        {
            var format = new Option<string>("--format") { Description = "Output format: json", DefaultValueFactory = _ => "json" };
            var names = new Argument<string[]>("NETWORK") { Arity = ArgumentArity.OneOrMore };
            var inspect = new Command("inspect", "Show networks in detail (JSON)") { format, names };
            inspect.SetAction(p =>
            {
                if (p.GetValue(format) is not ("json" or "{{json .}}")) throw new TetherException($"unknown format \"{p.GetValue(format)}\" (use json)");
                using var engine = Engine(p);
                var found = Lookup(p.GetValue(names)!, engine.GetNetwork, out var failed);
                Console.WriteLine(JsonSerializer.Serialize(found.Select(n => Views.Network(n, engine.NetworkEndpoints(n))).ToList(), ViewJson.Default.ListNetworkView));
                return failed ? 1 : 0;
            });
            cmd.Subcommands.Add(inspect);
        }
        {
            var force = new Option<bool>("--force", "-f") { Description = "Do not fail when the network does not exist" };
            var names = new Argument<string[]>("NETWORK") { Arity = ArgumentArity.OneOrMore };
            var rm = new Command("rm", "Remove networks") { force, names };
            rm.Aliases.Add("remove");
            rm.SetAction(p =>
            {
                using var engine = Engine(p);
                var failed = 0;
                foreach (var n in p.GetValue(names)!)
                {
                    try
                    {
                        if (engine.RemoveNetwork(n)) Console.WriteLine(n);
                        else if (!p.GetValue(force)) throw new TetherException($"network {n} not found");
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        Console.Error.WriteLine($"tether: {OneLine(e.Message)}");
                        failed++;
                    }
                }
                return failed == 0 ? 0 : 1;
            });
            cmd.Subcommands.Add(rm);
        }
        {
            var force = new Option<bool>("--force", "-f") { Description = "Do not prompt (tether never prompts)" };
            var prune = new Command("prune", "Remove all networks without endpoints") { force };
            prune.SetAction(p =>
            {
                using var engine = Engine(p);
                var removed = engine.PruneNetworks();
                if (removed.Count == 0) return 0;
                try
                {
                    Console.WriteLine("Deleted Networks:");
                    foreach (var n in removed) Console.WriteLine(n);
                }
                catch (IOException e)
                {
                    // Removed all the same: say which, as rm does for each name it could not print.
                    throw new IOException($"{e.Message} (removed: {string.Join(", ", removed)})", e);
                }
                return 0;
            });
            cmd.Subcommands.Add(prune);
        }
        {
            var ip = new Option<string?>("--ip") { Description = "IPv4 address for the endpoint" };
            var alias = new Option<string[]>("--alias") { Description = "Network-scoped alias" };
            var network = new Argument<string>("NETWORK");
            var sandbox = new Argument<string>("SANDBOX");
            var connect = new Command("connect", "Connect a sandbox to a network") { ip, alias, network, sandbox };
            connect.SetAction(p =>
            {
                using var engine = Engine(p);
                engine.Connect(p.GetValue(sandbox)!, new AttachRequest(p.GetValue(network)!, p.GetValue(ip), p.GetValue(alias) ?? [], []));
                var d = engine.Details(engine.GetSandbox(p.GetValue(sandbox)!));
                SandboxFiles.Refresh(engine.Paths, d);
                DaemonClient.Sync(engine.Paths, start: NameTable.HasNameResolution(engine.GetNetwork(p.GetValue(network)!)));
                return 0;
            });
            cmd.Subcommands.Add(connect);
        }
        {
            var network = new Argument<string>("NETWORK");
            var sandbox = new Argument<string>("SANDBOX");
            var disconnect = new Command("disconnect", "Disconnect a sandbox from a network") { network, sandbox };
            disconnect.SetAction(p =>
            {
                using var engine = Engine(p);
                engine.Disconnect(p.GetValue(network)!, p.GetValue(sandbox)!);
                SandboxFiles.Refresh(engine.Paths, engine.Details(engine.GetSandbox(p.GetValue(sandbox)!)));
                DaemonClient.Sync(engine.Paths, start: false);
                return 0;
            });
            cmd.Subcommands.Add(disconnect);
        }
        return cmd;
    }

    // ---------------------------------------------------------------- sandboxes

    sealed record AttachOptions(Option<string> Name, Option<string> Network, Option<string?> Ip, Option<string[]> Publish, Option<string[]> Alias,
        Option<string[]> Dns, Option<string[]> DnsSearch, Option<string[]> AddHost, Option<string?> Hostname)
    {
        public static AttachOptions Make() => new(
            new Option<string>("--name") { Description = "Sandbox name", Required = true },
            new Option<string>("--network") { Description = "Network to connect to (default: bridge)", DefaultValueFactory = _ => TetherEngine.DefaultNetwork },
            new Option<string?>("--ip") { Description = "IPv4 address on that network" },
            new Option<string[]>("--publish", "-p") { Description = "Publish ports: [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]" },
            new Option<string[]>("--alias") { Description = "Network-scoped alias" },
            new Option<string[]>("--dns") { Description = "Upstream DNS server (the embedded server forwards to it; on the default network, the nameserver)" },
            new Option<string[]>("--dns-search") { Description = "DNS search domain" },
            new Option<string[]>("--add-host") { Description = "Extra /etc/hosts line: NAME:IP" },
            new Option<string?>("--hostname") { Description = "Host name (UTS namespace) of processes run in the sandbox" });

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { Name, Network, Ip, Publish, Alias, Dns, DnsSearch, AddHost, Hostname }) c.Options.Add(o);
        }

        /// <summary>The request as typed; checked (bad input fails here, before anything is asked or made).</summary>
        public SandboxCreateRequest Request(ParseResult p)
        {
            var r = new SandboxCreateRequest(p.GetValue(Name)!, p.GetValue(Network)!, p.GetValue(Ip), p.GetValue(Alias) ?? [],
                p.GetValue(Publish) ?? [], p.GetValue(Dns) ?? [], p.GetValue(DnsSearch) ?? [], p.GetValue(AddHost) ?? [], p.GetValue(Hostname),
                File.Exists(ResolvConf.HostPath) ? File.ReadAllText(ResolvConf.HostPath) : null);
            r.Parse();
            return r;
        }
    }

    static Command CreateCommand()
    {
        var o = AttachOptions.Make();
        var create = new Command("create", "Create a sandbox (network namespace) attached to a network");
        o.AddTo(create);
        create.SetAction(p =>
        {
            var request = o.Request(p);
            var paths = PathsOf(p);
            // tetherd, when it runs, makes the sandbox in its warm engine (and updates its DNS in the same step).
            var id = DaemonClient.TryCreate(paths, request);
            if (id is null)
            {
                using var engine = new TetherEngine(paths);
                id = Prepare(engine, request).Id;
            }
            Console.WriteLine(id);
            return 0;
        });
        return create;
    }

    static Command RunCommand()
    {
        var o = AttachOptions.Make();
        var detach = new Option<bool>("--detach", "-d") { Description = "Run in the background and print the sandbox ID" };
        var rm = new Option<bool>("--rm") { Description = "Remove the sandbox when the command exits" };
        var command = new Argument<string[]>("COMMAND") { Arity = ArgumentArity.OneOrMore, Description = "Command and arguments, after --" };
        var run = new Command("run", "Create a sandbox and run a command inside it") { detach, rm, command };
        o.AddTo(run);
        run.SetAction(p =>
        {
            if (p.GetValue(detach) && p.GetValue(rm)) throw new TetherException("--rm and -d cannot be combined");
            CheckExecutable(p.GetValue(command)![0]);
            var request = o.Request(p);
            using var engine = Engine(p);
            var sandbox = Prepare(engine, request);
            string? log = null;
            if (p.GetValue(detach))
            {
                Directory.CreateDirectory(engine.Paths.LogDir);
                log = Path.Combine(engine.Paths.LogDir, sandbox.Name + ".log");
            }
            Process child;
            try { child = StartInside(engine.Paths, sandbox, p.GetValue(command)!, log); }
            catch
            {
                engine.RemoveSandbox(sandbox.Id, force: true);
                throw;
            }
            engine.SetPid(sandbox, child.Id);
            if (log is not null)
            {
                Console.WriteLine(sandbox.Id);
                return 0;
            }
            using (PosixSignalRegistration.Create(PosixSignal.SIGINT, c => c.Cancel = true))
            using (PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => c.Cancel = true))
                child.WaitForExit();
            if (p.GetValue(rm))
            {
                Sandboxes.Remove(engine, sandbox.Id, force: true);
                DaemonClient.Sync(engine.Paths, start: false);
            }
            return child.ExitCode;
        });
        return run;
    }

    /// <summary><c>create</c>/<c>run</c> without tetherd doing it: makes the sandbox with its resolv.conf and hosts, and has
    /// tetherd serve its names (starting tetherd when the sandbox is on a network with name resolution).</summary>
    static Tether.State.SandboxRecord Prepare(TetherEngine engine, SandboxCreateRequest request)
    {
        var (details, needsDns, _) = Sandboxes.Create(engine, request, ResolvConf.Parse(request.HostResolvConf ?? ""));
        DaemonClient.Sync(engine.Paths, start: needsDns);
        return details.Sandbox;
    }

    /// <summary>Arguments of <c>__exec-in</c> that give the process the sandbox's /etc/resolv.conf, /etc/hosts and host name.</summary>
    static IEnumerable<string> FileArgs(TetherPaths paths, Tether.State.SandboxRecord sandbox)
    {
        var resolv = SandboxFiles.ResolvConfPath(paths, sandbox.Name);
        if (!File.Exists(resolv)) yield break;   // made by a tether without per-sandbox files
        yield return "--resolv-conf"; yield return resolv;
        yield return "--hosts"; yield return SandboxFiles.HostsPath(paths, sandbox.Name);
        var options = SandboxFiles.ReadOptions(paths, sandbox.Name);
        yield return "--hostname"; yield return options.Hostname ?? sandbox.Id[..12];
    }

    /// <summary>Starts COMMAND inside the sandbox through the hidden <c>__exec-in</c> helper (this same binary).</summary>
    static Process StartInside(TetherPaths paths, Tether.State.SandboxRecord sandbox, string[] command, string? log)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        psi.ArgumentList.Add("__exec-in");
        if (log is not null) { psi.ArgumentList.Add("--log"); psi.ArgumentList.Add(log); }
        foreach (var a in FileArgs(paths, sandbox)) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(sandbox.NsPath);
        psi.ArgumentList.Add("--");
        foreach (var a in command) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>Fails like docker (exit 127) when the command cannot be found, before anything is made.</summary>
    static void CheckExecutable(string program)
    {
        bool Runnable(string path) => File.Exists(path) && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        var found = program.Contains('/')
            ? Runnable(program)
            : (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':').Any(d => d.Length > 0 && Runnable(Path.Combine(d, program)));
        if (!found) throw new CommandNotFound($"exec: \"{program}\": executable file not found in $PATH");
    }

    /// <summary>The command to run does not exist: exit code 127, as in docker and shells.</summary>
    sealed class CommandNotFound(string message) : Exception(message);

    static Command DaemonCommand()
    {
        var cmd = new Command("daemon", "Manage tetherd, the daemon of the REST API and the embedded DNS (default: start)");
        int StartIt(ParseResult p)
        {
            var paths = PathsOf(p);
            if (DaemonClient.Health(paths) is { } h)
                throw new TetherException($"tetherd is already running for run dir {paths.RunDir} (pid {h.GetProperty("Pid").GetInt32()})");
            var pid = DaemonClient.Start(paths);
            Console.WriteLine($"tetherd started (pid {pid}, socket {Path.Combine(paths.RunDir, DaemonClient.SocketName)})");
            return 0;
        }
        cmd.SetAction(StartIt);
        var start = new Command("start", "Start tetherd in the background; fails when it is already running");
        start.SetAction(StartIt);
        var stop = new Command("stop", "Stop tetherd (SIGTERM) and wait until it is gone");
        stop.SetAction(p =>
        {
            var paths = PathsOf(p);
            Console.WriteLine(DaemonClient.Stop(paths) ? "tetherd stopped" : "tetherd is not running");
            return 0;
        });
        var status = new Command("status", "Show whether tetherd runs (exit 0) or not (exit 3)");
        status.SetAction(p =>
        {
            var paths = PathsOf(p);
            if (DaemonClient.Health(paths) is not { } h)
            {
                Console.WriteLine($"tetherd is not running (run dir {paths.RunDir})");
                return 3;
            }
            // The pid as this process numbers it (tetherd's own number is of its pid namespace).
            var pid = UnixStream.ListenerPid(Path.Combine(paths.RunDir, DaemonClient.SocketName)) is > 0 and var seen ? $"{seen}" : $"{h.GetProperty("Pid").GetInt32()} in another pid namespace";
            Console.WriteLine($"tetherd is running (pid {pid}, socket {Path.Combine(paths.RunDir, DaemonClient.SocketName)}, {h.GetProperty("Listeners").GetInt32()} DNS listeners)");
            return 0;
        });
        cmd.Subcommands.Add(start);
        cmd.Subcommands.Add(stop);
        cmd.Subcommands.Add(status);
        return cmd;
    }

    static Command ReconcileCommand()
    {
        var c = new Command("reconcile", "Make the kernel match Tether's state again (firewall, bridges, stale namespaces)");
        c.SetAction(p =>
        {
            using var engine = Engine(p);
            foreach (var line in engine.Reconcile()) Console.WriteLine(line);
            return 0;
        });
        return c;
    }

    static Command InfoCommand()
    {
        var format = FormatOption();
        var c = new Command("info", "Show the drivers and which kernel features this host has") { format };
        c.SetAction(p =>
        {
            var json = IsJson(p, format);
            using var engine = Engine(p);
            var info = Views.Info(engine.Drivers);
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(info, ViewJson.Default.InfoView));
                return 0;
            }
            Console.WriteLine($"Kernel: {info.KernelRelease}");
            Console.WriteLine("Drivers:");
            PrintTable(["  NAME", "AVAILABLE", "NEEDS", "CAPABILITIES"], info.Drivers.Select(d => new[]
            {
                "  " + d.Name, d.Available ? "yes" : "no", d.KernelFeatures.Count == 0 ? "-" : string.Join(",", d.KernelFeatures), string.Join(",", d.Capabilities),
            }));
            Console.WriteLine("Kernel features (probed in a throwaway network namespace):");
            PrintTable(["  FEATURE", "PRESENT", "MODULE"], info.KernelFeatures.Select(f => new[]
            {
                "  " + f.Name, f.Present switch { true => "yes", false => "no", null => "unknown" }, f.Module,
            }));
            return 0;
        });
        return c;
    }

    static Command ExecInCommand()
    {
        var log = new Option<string?>("--log");
        var resolv = new Option<string?>("--resolv-conf");
        var hosts = new Option<string?>("--hosts");
        var hostname = new Option<string?>("--hostname");
        var ns = new Argument<string>("NSPATH");
        var command = new Argument<string[]>("COMMAND") { Arity = ArgumentArity.OneOrMore };
        var c = new Command("__exec-in", "internal: exec COMMAND inside a namespace") { log, resolv, hosts, hostname, ns, command };
        c.Hidden = true;
        c.SetAction(p =>
        {
            var logFile = p.GetValue(log);
            try
            {
                NetNs.ExecInside(p.GetValue(ns)!, p.GetValue(command)!, logFile, newSession: logFile is not null,
                    PrivateFiles(p.GetValue(resolv), p.GetValue(hosts), p.GetValue(hostname)));
            }
            catch (IOException e) { Console.Error.WriteLine($"tether: {OneLine(e.Message)}"); }
            return 127;
        });
        return c;
    }

    /// <summary>The step before exec that gives the process its own mount and UTS namespaces with the sandbox's files.</summary>
    static Action? PrivateFiles(string? resolvConf, string? hosts, string? hostname)
    {
        if (resolvConf is null && hosts is null && hostname is null) return null;
        var binds = new List<(string, string)>();
        if (resolvConf is not null) binds.Add((resolvConf, "/etc/resolv.conf"));
        if (hosts is not null) binds.Add((hosts, "/etc/hosts"));
        return () => MountNs.EnterPrivate(binds, hostname);
    }

    static Command ExecCommand()
    {
        var name = new Argument<string>("SANDBOX");
        var command = new Argument<string[]>("COMMAND") { Arity = ArgumentArity.OneOrMore, Description = "Command and arguments, after --" };
        var exec = new Command("exec", "Run a command inside an existing sandbox") { name, command };
        exec.SetAction(p =>
        {
            string nsPath;
            string[] files;
            using (var engine = Engine(p))
            {
                var sandbox = engine.GetSandbox(p.GetValue(name)!);
                nsPath = sandbox.NsPath;
                files = FileArgs(engine.Paths, sandbox).ToArray();
                // A sandbox with name resolution needs tetherd: (re)start it when it died, as create does. Checked with
                // one connect on its socket; the store is only read further when nothing answers.
                if (!DaemonClient.Answers(engine.Paths) && engine.Details(sandbox).Endpoints.Any(e => NameTable.HasNameResolution(e.Network)))
                    DaemonClient.Sync(engine.Paths, start: true);
            }
            if (!NetNs.Exists(nsPath)) throw new TetherException($"namespace of sandbox {p.GetValue(name)} is gone ({nsPath})");
            CheckExecutable(p.GetValue(command)![0]);
            string? Arg(string key) => Array.IndexOf(files, key) is var i and >= 0 ? files[i + 1] : null;
            NetNs.ExecInside(nsPath, p.GetValue(command)!, null, newSession: false,
                PrivateFiles(Arg("--resolv-conf"), Arg("--hosts"), Arg("--hostname")));
            return 127;
        });
        return exec;
    }

    static Command LsCommand()
    {
        var format = FormatOption();
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only sandbox IDs" };
        var ls = new Command("ls", "List sandboxes") { format, quiet };
        ls.Aliases.Add("ps");
        ls.SetAction(p =>
        {
            using var engine = Engine(p);
            var all = engine.AllDetails();
            if (IsJson(p, format))
                Console.WriteLine(JsonSerializer.Serialize(all.Select(Views.Summary).ToList(), ViewJson.Default.ListSandboxSummaryView));
            else if (p.GetValue(quiet))
                foreach (var d in all) Console.WriteLine(d.Sandbox.Id[..12]);
            else
                PrintTable(["SANDBOX ID", "NAME", "STATUS", "NETWORKS", "IP ADDRESSES", "PORTS"], all.Select(Views.Summary).Select(v => new[]
                {
                    v.Id[..12], v.Name, v.Status, string.Join(",", v.Networks), string.Join(",", v.IPAddresses), string.Join(", ", v.Ports),
                }));
            return 0;
        });
        return ls;
    }

    static Command InspectCommand()
    {
        var format = new Option<string>("--format") { Description = "Output format: json", DefaultValueFactory = _ => "json" };
        var names = new Argument<string[]>("SANDBOX") { Arity = ArgumentArity.OneOrMore };
        var inspect = new Command("inspect", "Show sandboxes in detail (JSON, shaped like docker inspect)") { format, names };
        inspect.SetAction(p =>
        {
            if (p.GetValue(format) is not ("json" or "{{json .}}")) throw new TetherException($"unknown format \"{p.GetValue(format)}\" (use json)");
            using var engine = Engine(p);
            var found = Lookup(p.GetValue(names)!, engine.GetSandbox, out var failed);
            Console.WriteLine(JsonSerializer.Serialize(found.Select(engine.Details).Select(Views.Sandbox).ToList(), ViewJson.Default.ListSandboxView));
            return failed ? 1 : 0;
        });
        return inspect;
    }

    /// <summary>Looks up each name like docker inspect: the ones found are printed, each missing one is an error line.</summary>
    static List<T> Lookup<T>(IEnumerable<string> names, Func<string, T> get, out bool failed)
    {
        var found = new List<T>();
        failed = false;
        foreach (var name in names)
        {
            try { found.Add(get(name)); }
            catch (TetherException e)
            {
                Console.Error.WriteLine($"tether: {e.Message}");
                failed = true;
            }
        }
        return found;
    }

    static Command PortCommand()
    {
        var name = new Argument<string>("SANDBOX");
        var port = new Command("port", "List a sandbox's published ports") { name };
        port.SetAction(p =>
        {
            using var engine = Engine(p);
            foreach (var b in engine.Details(engine.GetSandbox(p.GetValue(name)!)).Endpoints.SelectMany(e => e.Ports))
                Console.WriteLine(Views.PortLine(b));
            return 0;
        });
        return port;
    }

    static Command RmCommand()
    {
        var force = new Option<bool>("--force", "-f") { Description = "Kill the processes inside first; succeed when the sandbox does not exist" };
        var names = new Argument<string[]>("SANDBOX") { Arity = ArgumentArity.OneOrMore };
        var rm = new Command("rm", "Remove sandboxes") { force, names };
        rm.SetAction(p =>
        {
            var paths = PathsOf(p);
            TetherEngine? engine = null;   // opened only when tetherd does not do the work
            try
            {
                var failed = 0;
                var removedLocally = false;
                foreach (var n in p.GetValue(names)!)
                {
                    try
                    {
                        var removed = DaemonClient.TryRemove(paths, n, p.GetValue(force));
                        if (removed is null)
                        {
                            engine ??= new TetherEngine(paths);
                            removed = Sandboxes.Remove(engine, n, p.GetValue(force));
                            removedLocally |= removed.Value;
                        }
                        if (removed.Value) Console.WriteLine(n);
                        else if (!p.GetValue(force)) throw new TetherException($"no such sandbox: {n}");
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        Console.Error.WriteLine($"tether: {OneLine(e.Message)}");
                        failed++;
                    }
                }
                if (removedLocally) DaemonClient.Sync(paths, start: false);
                return failed == 0 ? 0 : 1;
            }
            finally { engine?.Dispose(); }
        });
        return rm;
    }
}
