#!/usr/bin/env bash
# Tether's benchmark: creates and removes 1, 100 and 500 sandboxes on one network, one published port each, with
# Tether, the CNI reference chain (bridge + host-local + portmap), netavark and an ip -batch + nft -f lower bound,
# each in its own throwaway lab namespace, in one run. Needs root; never touches the machine's own namespace.
#
#   sudo bench/run.sh [--counts 1,100,500] [--only tether,cni,netavark,lower] [--doc] [--enter setns|nsenter] [--pause MS]
#
# --pause MS: the pause after every timed command (default 25; the CPU the machine spends in it is reported).
# --doc writes the results into docs/PERFORMANCE.md (between its bench:results markers); the per-sandbox times go
# to bench/results/last.csv and the tables to bench/results/last.md either way.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

args=()
doc=0
only=tether,cni,netavark,lower
while [ $# -gt 0 ]; do
  case "$1" in
    --doc) doc=1 ;;
    --only|--counts|--enter|--pause) [ $# -ge 2 ] || { echo "bench/run.sh: $1 needs a value" >&2; exit 2; }
      [ "$1" = --only ] && only=$2
      args+=("$1" "$2"); shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "bench/run.sh needs root (it makes network namespaces)" >&2; exit 1; }

# Packages: the project's list, plus what the peers and the harness need on their own.
scripts/deps.sh
missing=()
for p in iptables gcc libc6-dev containernetworking-plugins netavark nftables iproute2 util-linux coreutils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Tether: build it when it is missing or older than its sources.
if [[ ",$only," == *",tether,"* ]]; then
  if [ ! -x artifacts/bin/tether ] || [ -n "$(find src \( -name obj -o -name bin \) -prune -o -newer artifacts/bin/tether -type f -print -quit)" ]; then ./build.sh; fi
fi

run_id=$$
work=$(mktemp -d /tmp/tether-bench.XXXXXX)
cleanup() {
  # The harness removes its labs itself; this is the backstop if it was killed. Only this run's names match.
  for f in "$work"/bench-*/run/netns/*; do [ -e "$f" ] && umount -l "$f" 2>/dev/null; done
  for ns in /run/netns/bench-*-"$run_id"-n*; do [ -e "$ns" ] && ip netns del "$(basename "$ns")" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p bench/results
extra=(--markdown bench/results/last.md --csv bench/results/last.csv)
[ $doc = 1 ] && extra+=(--doc docs/PERFORMANCE.md)
cmdline="sudo bench/run.sh"
[ ${#args[@]} -gt 0 ] && cmdline+=" ${args[*]}"
[ $doc = 1 ] && cmdline+=" --doc"
export BENCH_COMMAND="$cmdline"
dotnet run --project bench/Tether.Bench -c Release -- \
  --tether "$repo/artifacts/bin/tether" --work "$work" --run-id "$run_id" "${extra[@]}" "${args[@]}"
