#!/usr/bin/env bash
# Publishes Tether's NativeAOT binaries to artifacts/bin/ (tether, tether-cni).
set -euo pipefail
cd "$(dirname "$0")"
dotnet publish src/Tether.Cli/Tether.Cli.csproj -c Release -r linux-x64 -o artifacts/publish/tether -p:DebugType=none -nologo -v:q "$@"
mkdir -p artifacts/bin
cp artifacts/publish/tether/Tether.Cli artifacts/bin/tether
dotnet publish src/Tether.Cni/Tether.Cni.csproj -c Release -r linux-x64 -o artifacts/publish/tether-cni -p:DebugType=none -nologo -v:q "$@"
cp artifacts/publish/tether-cni/Tether.Cni artifacts/bin/tether-cni
echo "built artifacts/bin/tether and artifacts/bin/tether-cni"
