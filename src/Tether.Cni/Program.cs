using Tether.Linux;

namespace Tether.Cni;

static class Program
{
    static int Main()
    {
        var command = FrontProcess.Env("CNI_COMMAND");
        // VERSION needs no state: answered here, never by tetherd.
        if (command == "VERSION") return ThinClient.Version();
        var stdin = FrontProcess.ReadAll(0);
        if (command is not null && ThinClient.TryDelegate(stdin) is { } exit) return exit;
        return ThinClient.ExecLocal(stdin);
    }
}
