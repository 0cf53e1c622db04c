using Tether.Daemon;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

return Daemon.Run(args);
