using Tether.Cli;

return Cli.Run(args);
