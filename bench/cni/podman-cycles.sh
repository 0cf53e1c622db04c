#!/usr/bin/env bash
# 200 podman run/rm cycles (with -p) through tether-cni in a lab, asserting nothing leaks (kernel snapshot, Tether's
# store, processes): the CniPodmanTests test with TETHER_PODMAN_CYCLES (the suite runs 20). Needs ./build.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
TETHER_PODMAN_CYCLES=${1:-200} dotnet test tests/Tether.Tests -c Release --filter "FullyQualifiedName~Tether.Tests.Cni.CniPodmanTests" "${@:2}"
