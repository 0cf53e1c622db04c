using System.Text.RegularExpressions;
using Tether.Tests.Support;

namespace Tether.Tests.Kernel;

/// <summary>
/// One boot of Debian's current kernel under qemu (<c>tests/kernel/run.sh</c>) runs every guest script of
/// <c>tests/kernel/guest/</c>, for what this machine's kernel lacks (ipvlan, 802.1Q sub-interfaces), plus a control script
/// that must fail, which shows that the harness reports a failing script and a non-zero exit status.
/// </summary>
public sealed class KernelHarnessTests(KernelHarnessTests.Boot boot) : IClassFixture<KernelHarnessTests.Boot>
{
    const string Control = "zz-control-must-fail";

    /// <summary>The guest scripts, by name (file name without .sh).</summary>
    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(Paths.Root, "tests", "kernel", "guest"), "*.sh").Order())
            data.Add(Path.GetFileNameWithoutExtension(f));
        return data;
    }

    /// <summary>Runs tests/kernel/run.sh once for the whole class: every guest script and the control, in one boot.</summary>
    public sealed class Boot : IDisposable
    {
        readonly string dir = Directory.CreateTempSubdirectory("tether-kernel-").FullName;
        public int ExitCode { get; }
        public string Console { get; }
        public string Log { get; }

        public Boot()
        {
            var control = Path.Combine(dir, Control + ".sh");
            File.WriteAllText(control, "# Control: a guest script that fails must be reported as failed.\necho control running\nexit 3\n");
            var scripts = Directory.GetFiles(Path.Combine(Paths.Root, "tests", "kernel", "guest"), "*.sh").Order().Append(control);
            var r = Sh.Try([Path.Combine(Paths.Root, "tests", "kernel", "run.sh"), .. scripts]);
            ExitCode = r.ExitCode;
            Console = r.Stdout;
            Log = r.Stderr;
        }

        /// <summary>The console lines of one script: from its START marker to its PASS/FAIL marker.</summary>
        public string Section(string name)
        {
            var m = Regex.Match(Console, $"^KERNEL-TEST START {Regex.Escape(name)} .*?^KERNEL-TEST (PASS|FAIL) {Regex.Escape(name)}.*?$",
                RegexOptions.Multiline | RegexOptions.Singleline);
            return m.Success ? m.Value : $"(no section for {name})\n{Log}\n{Console}";
        }

        public void Dispose() => Directory.Delete(dir, true);
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void GuestScriptPasses(string name)
    {
        var section = boot.Section(name);
        Assert.True(Regex.IsMatch(boot.Console, $"^KERNEL-TEST PASS {Regex.Escape(name)}$", RegexOptions.Multiline), section);
        Assert.DoesNotContain("not ok - ", section);
        Assert.Matches(new Regex("^ok - ", RegexOptions.Multiline), section);
    }

    [Fact]
    public void GuestBootedDebiansKernelAndLoadedEveryModule()
    {
        Assert.Matches(new Regex(@"^KERNEL-TEST BOOTED \S+-amd64 at", RegexOptions.Multiline), boot.Console);
        Assert.DoesNotContain("KERNEL-TEST MODULE-FAIL", boot.Console);
        Assert.DoesNotContain("KERNEL-TEST LEFTOVER", boot.Console);
    }

    [Fact]
    public void FailingScriptIsReportedAndTheExitStatusIsNonZero()
    {
        Assert.Contains($"KERNEL-TEST FAIL {Control} status=3", boot.Console);
        Assert.Contains("KERNEL-TEST DONE status=1", boot.Console);
        Assert.Equal(1, boot.ExitCode);
    }
}
