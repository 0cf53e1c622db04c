#!/usr/bin/env bash
# Publishes Tether's NativeAOT binaries to artifacts/bin/ (now: tether).
set -euo pipefail
cd "$(dirname "$0")"
dotnet publish src/Tether.Cli/Tether.Cli.csproj -c Release -r linux-x64 -o artifacts/publish/tether -p:DebugType=none -nologo -v:q "$@"
mkdir -p artifacts/bin
cp artifacts/publish/tether/Tether.Cli artifacts/bin/tether
echo "built artifacts/bin/tether"
