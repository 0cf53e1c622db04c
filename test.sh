#!/usr/bin/env bash
# Runs every test: unit, integration and end-to-end (root: each kernel test makes its own lab namespace).
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
dotnet test tests/Tether.Tests/Tether.Tests.csproj -c Release -nologo "$@"
