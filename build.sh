#!/usr/bin/env bash
# Publishes Tether's NativeAOT binaries to artifacts/bin/ (tether and tether-cli, tetherd, tether-cni and tether-cni-local).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p artifacts/bin
for p in tether:Tether.Front tether-cli:Tether.Cli tetherd:Tether.Daemon tether-cni:Tether.Cni tether-cni-local:Tether.Cni.Local; do
  bin=${p%%:*} proj=${p##*:}
  dotnet publish "src/$proj/$proj.csproj" -c Release -r linux-x64 -o "artifacts/publish/$bin" -p:DebugType=none -nologo -v:q "$@"
  cp --remove-destination "artifacts/publish/$bin/$proj" "artifacts/bin/$bin"   # a running tetherd keeps its old file
done
echo "built artifacts/bin/tether artifacts/bin/tether-cli artifacts/bin/tetherd artifacts/bin/tether-cni artifacts/bin/tether-cni-local"
