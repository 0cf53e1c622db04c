using Tether.Tests.Support;

namespace Tether.Tests.EndToEnd;

/// <summary>Help, version and usage errors of the tether binary: they change nothing, so no lab is needed.</summary>
public sealed class CliHelpTests
{
    static Sh.Result Tether(params string[] args) => Sh.Try([Paths.TetherBinary, .. args]);

    [Fact]
    public void HelpAndVersionWhereverAsked()
    {
        var root = Tether("--help");
        Assert.Equal(0, root.ExitCode);
        Assert.Contains("Commands:", root.Stdout);
        Assert.Contains("network", root.Stdout);
        Assert.Contains("\n  tether [command] [options]\n", root.Stdout);   // the front hands tether-cli its own argv[0]
        foreach (var args in new[] { new[] { "create", "--help" }, ["create", "-h"], ["network", "ls", "-?"] })
        {
            var r = Tether(args);
            Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stderr);
            Assert.Contains("Usage:", r.Stdout);
        }
        Assert.Contains("--name", Tether("create", "--help").Stdout);
        var version = Tether("--version");
        Assert.Equal(0, version.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", version.Stdout);
        // Asked for through a response file: the words are not on the command line itself.
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "--help\n");
            var r = Tether("@" + file);
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("Commands:", r.Stdout);
        }
        finally { File.Delete(file); }
    }

    [Theory]
    [InlineData("")]     // what the kernel gives a program started with an empty argv (Linux 5.18+), or exec -a ''
    [InlineData("/")]
    [InlineData(".")]
    public void HelpWhateverArgv0(string argv0)
    {
        // The front hands tether-cli its own argv[0]; one System.CommandLine cannot take as a command name must not
        // abort the help with an unhandled exception (exit 134 and a stack trace).
        foreach (var args in new[] { "--help", "network --help", "--version" })
        {
            var r = Sh.Try("bash", "-c", $"exec -a '{argv0}' \"$0\" {args}", Paths.TetherBinary);
            Assert.True(r.ExitCode == 0, $"argv[0] \"{argv0}\", {args}: exit {r.ExitCode}: {r.Stderr}");
            Assert.DoesNotContain("Unhandled exception", r.Stderr);
        }
    }

    [Fact]
    public void UsageErrorsAreOneLineAndExit2()
    {
        foreach (var (args, says) in new[] { (new[] { "nosuch" }, "'nosuch'"), ([], "Required command"), (["create"], "--name"), (["create", "--name", "x", "--bogus"], "'--bogus'") })
        {
            var r = Tether(args);
            Assert.Equal(2, r.ExitCode);
            var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("tether: ", line);
            Assert.Contains(says, line);
        }
    }
}
