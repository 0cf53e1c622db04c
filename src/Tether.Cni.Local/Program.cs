namespace Tether.Cni.Local;

static class Program
{
    static int Main() => Plugin.Run();
}
