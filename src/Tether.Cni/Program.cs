namespace Tether.Cni;

static class Program
{
    static int Main() => Plugin.Run();
}
