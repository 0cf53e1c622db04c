#!/usr/bin/env bash
# Publishes Tether's NativeAOT binaries to artifacts/bin/ (tether, tetherd).
set -euo pipefail
cd "$(dirname "$0")"
dotnet publish src/Tether.Cli/Tether.Cli.csproj -c Release -r linux-x64 -o artifacts/publish/tether -p:DebugType=none -nologo -v:q "$@"
dotnet publish src/Tether.Daemon/Tether.Daemon.csproj -c Release -r linux-x64 -o artifacts/publish/tetherd -p:DebugType=none -nologo -v:q "$@"
mkdir -p artifacts/bin
cp artifacts/publish/tether/Tether.Cli artifacts/bin/tether
cp artifacts/publish/tetherd/Tether.Daemon artifacts/bin/tetherd
echo "built artifacts/bin/tether artifacts/bin/tetherd"
