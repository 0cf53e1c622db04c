#!/usr/bin/env bash
# Runs every test: unit, integration, end to end, CNI (with Podman) and the qemu kernel harness (root: each kernel
# test makes its own lab namespace). Installs the Debian packages it needs first (scripts/deps.sh, idempotent).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/deps.sh
./build.sh
dotnet test tests/Tether.Tests/Tether.Tests.csproj -c Release -nologo "$@"
