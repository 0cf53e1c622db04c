using Tether.Cli;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

return Cli.Run(args);
