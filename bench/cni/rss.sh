#!/usr/bin/env bash
# Peak RSS (KB, /usr/bin/time -f %M) of tether-cni ADD and DEL calls, one at a time, in a throwaway lab namespace:
# N containers on one /16 with one published port each (the shape of bench/cni/run.sh). The first ADD also creates
# the network. Never touches the machine's own namespace.
#
#   sudo bench/cni/rss.sh [BINARY=artifacts/bin/tether-cni] [N=5]
#   TETHERD=0 sudo bench/cni/rss.sh    (no tetherd: each call done by tether-cni-local, exec'd by the front)
#
# With TETHERD=1 (the default) tetherd runs for the bench's dirs (started before the first call) and its own peak and
# final RSS are printed after the plugin's: memory the chain does not have.
set -euo pipefail
. "$(dirname "$0")/tetherd.sh"
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-artifacts/bin/tether-cni}"); n=${2:-5}
lab=tbrss-$$
work=$(mktemp -d /tmp/tether-cni-rss.XXXXXX)
cleanup() { [ "${dpid:-0}" = 0 ] || kill "$dpid" 2>/dev/null || true; for ns in $(ip netns list | awk '{print $1}' | grep "^$lab" || true); do ip netns del "$ns"; done; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$lab"; ip -n "$lab" link set lo up
for i in $(seq "$n"); do ip netns add "$lab-c$i"; done
dpid=0
[ "${TETHERD:-1}" = 1 ] && start_tetherd "$lab" "$work" "${TETHERD_BIN:-artifacts/bin/tetherd}"
conf() { printf '{"cniVersion":"1.0.0","name":"tbench","type":"tether-cni","ipam":{"subnet":"10.55.0.0/16"},"stateDir":"%s/state","runDir":"%s/run","runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]}}' "$work" "$work" "$1"; }
call() { # command, container
  conf $((20000 + $2)) | nsenter --net=/run/netns/$lab env -i CNI_COMMAND=$1 CNI_CONTAINERID=c$2 CNI_NETNS=/run/netns/$lab-c$2 \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni /usr/bin/time -f %M -a -o "$work/$1" "$bin" > /dev/null
}
for i in $(seq "$n"); do call ADD "$i"; done
for i in $(seq "$n"); do call DEL "$i"; done
echo '{"cniVersion":"1.0.0"}' | env -i CNI_COMMAND=VERSION /usr/bin/time -f %M -o "$work/VERSION" "$bin" > /dev/null
echo "ADD KB (first creates the network): $(tr '\n' ' ' < "$work/ADD")"
echo "DEL KB: $(tr '\n' ' ' < "$work/DEL")"
echo "VERSION KB: $(cat "$work/VERSION")"
if [ "$dpid" != 0 ]; then
  echo "tetherd: served $(grep -c '^tetherd: cni ' "$work/tetherd.log" || true) commands; VmHWM $(awk '/VmHWM/ {print $2}' /proc/$dpid/status) KB, VmRSS $(awk '/VmRSS/ {print $2}' /proc/$dpid/status) KB"
else echo "no tetherd: every call done by tether-cni-local"; fi
