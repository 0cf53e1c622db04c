using Tether.Front;
using Tether.Linux;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

// tether: create and rm go straight to tetherd when it serves them; anything else, and any line the front does not read
// exactly as the full command line would, is tether-cli's, with the same arguments.
if (FastPath.TryRun(args) is { } exit) return exit;
var cli = FrontProcess.Env("TETHER_CLI_BIN") ?? FrontProcess.Beside("tether-cli");
var errno = FrontProcess.Exec(cli, args);
FrontProcess.WriteLine(2, $"tether: cannot run {cli} (the full command line): errno {errno}");
return 127;
