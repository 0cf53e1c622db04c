#!/usr/bin/env bash
# Start-up cost of short tether processes (docs/PERFORMANCE.md, "Process start-up"): page faults and CPU of
# `tether create` / `tether rm` handed to tetherd, and of `tether --version` with 0 and MOUNTS extra bind mounts in the
# mount namespace (the .NET runtime reads /proc/self/mountinfo at start; every sandbox adds a line). Runs in a
# throwaway lab namespace and a private mount namespace; never touches the machine's own. Needs root and perf.
#
#   bench/startup/run.sh [RUNS=5] [MOUNTS=1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5} mounts=${2:-1000}
[ "$(id -u)" = 0 ] || { echo "bench/startup/run.sh needs root (it makes namespaces)" >&2; exit 1; }
command -v perf >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }
[ -x artifacts/bin/tether ] || ./build.sh
bin=$PWD/artifacts/bin/tether
lab=tbstart-$$
work=$(mktemp -d /tmp/tether-startup.XXXXXX)
export TETHER_STATE_DIR=$work/state TETHER_RUN_DIR=$work/run
in_lab() { nsenter --net=/run/netns/$lab -- "$@"; }
cleanup() {
  in_lab "$bin" daemon stop >/dev/null 2>&1 || true
  for f in "$work"/run/netns/*; do [ -e "$f" ] && umount -l "$f" 2>/dev/null; done
  ip netns del "$lab" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$lab"; ip -n "$lab" link set lo up
in_lab "$bin" daemon start >/dev/null
in_lab "$bin" network create --subnet 10.66.0.0/16 nstart >/dev/null
stat() { perf stat -x, -e page-faults,task-clock "$@" 2>&1 >/dev/null | awk -F, '{printf "%s %s  ", $1, $3}'; }
echo "per call: page faults, CPU ms (task-clock)"
for i in $(seq "$runs"); do
  echo "create: $(in_lab bash -c "$(declare -f stat); stat $bin create --name s$i --network nstart -p $((7000 + i)):80")   rm: $(in_lab bash -c "$(declare -f stat); stat $bin rm s$i")"
done
echo "version: $(stat "$bin" --version)"
echo "tether --version, perf stat -r 20, in a private mount namespace with 0 and $mounts extra bind mounts:"
dir=$work/mounts; mkdir -p "$dir"; touch "$dir/src"
# The mounts live only in this private mount namespace and end with it; the files are removed with $work afterwards.
unshare --mount --propagation private bash -c '
  set -e
  for n in 0 '"$mounts"'; do
    for i in $(seq 1 "$n"); do touch "'"$dir"'/f$i"; mount --bind "'"$dir"'/src" "'"$dir"'/f$i"; done
    echo "  $(grep -c . /proc/self/mountinfo) lines in mountinfo: $(perf stat -r 20 -e task-clock '"$bin"' --version 2>&1 >/dev/null | grep -E "elapsed" | sed "s/ *seconds time elapsed.*//;s/^ *//") s elapsed"
  done'
