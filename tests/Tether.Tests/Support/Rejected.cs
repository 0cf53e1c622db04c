namespace Tether.Tests.Support;

/// <summary>The check every bad-input test makes: the command fails with one "tether: " line naming what is wrong, and the
/// lab's kernel and Tether's store are exactly as before.</summary>
public static class Rejected
{
    /// <summary>Runs a failing command; the error line must mention each of <paramref name="mustMention"/>. Returns that line.</summary>
    public static string AssertRejected(Lab lab, string[] mustMention, params string[] args)
    {
        var kernel = lab.StableKernelSnapshot();
        var store = StoreSnapshot(lab);
        var r = lab.Tether(args);
        Assert.True(r.ExitCode != 0, $"tether {string.Join(' ', args)} succeeded: {r.Stdout}");
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got: {r.Stderr}");
        Assert.StartsWith("tether: ", lines[0]);
        foreach (var m in mustMention) Assert.Contains(m, lines[0]);
        Assert.Equal(kernel, lab.KernelSnapshot());
        Assert.Equal(store, StoreSnapshot(lab));
        return lines[0];
    }

    /// <summary>As above, with one text the error line must mention.</summary>
    public static string AssertRejected(Lab lab, string mustMention, params string[] args) => AssertRejected(lab, [mustMention], args);

    static string StoreSnapshot(Lab lab) =>
        lab.TetherOk("network", "ls", "--format", "json") + lab.TetherOk("ls", "--format", "json");
}
