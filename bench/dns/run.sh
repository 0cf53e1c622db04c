#!/usr/bin/env bash
# DNS benchmark: queries per second and latency (p50/p99) of Tether's embedded DNS server (tetherd) and of
# aardvark-dns (Podman/netavark's server) serving the same names, measured with dnsperf from inside a sandbox.
# Everything runs in throwaway namespaces (a lab playing the host, a wan with dnsmasq as the upstream resolver):
# no packet reaches this machine's resolvers (both servers get a resolv.conf naming only the wan's dnsmasq).
#
# usage: bench/dns/run.sh [SECONDS per run, default 10] [CLIENTS, default 4]     (root; after ./build.sh)
#        PAIRS=3 bench/dns/run.sh 6 4      (rounds of back-to-back tetherd/aardvark-dns pairs, see below)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CLIENTS=${2:-4}
TETHER=$PWD/artifacts/bin/tether
[ -x "$TETHER" ] && [ -x artifacts/bin/tetherd ] || { echo "run ./build.sh first" >&2; exit 1; }
AARDVARK=/usr/lib/podman/aardvark-dns
for t in dnsperf dnsmasq dig; do command -v $t >/dev/null || { echo "missing $t (scripts/deps.sh)" >&2; exit 1; }; done
[ -x $AARDVARK ] || { echo "missing $AARDVARK (aardvark-dns)" >&2; exit 1; }

LAB=hb-dns-$$
WAN=$LAB-wan
WORK=$(mktemp -d /tmp/tether-bench-dns.XXXXXX)
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  # aardvark-dns daemonizes: its pid is in its config dir (where netavark looks for it); also any process whose
  # command line names this run's config dir (unique to this run).
  [ -f $WORK/aardvark/aardvark.pid ] && kill "$(cat $WORK/aardvark/aardvark.pid)" 2>/dev/null
  for d in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null < $d/cmdline | grep -qF -- "--config $WORK/aardvark " && kill "${d#/proc/}" 2>/dev/null; done
  nsenter --net=/run/netns/$LAB -- env TETHER_RESOLV_CONF=$WORK/resolv.conf $TETHER --state-dir $WORK/state --run-dir $WORK/run daemon stop >/dev/null 2>&1
  for f in "$WORK"/run/netns/*; do [ -e "$f" ] && umount -l "$f"; done
  ip netns del $WAN 2>/dev/null; ip netns del $LAB 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add $LAB; ip netns add $WAN
ip -n $LAB link set lo up; ip -n $WAN link set lo up
ip -n $LAB link add uplink type veth peer name wan0 netns $WAN
ip -n $LAB addr add 203.0.113.1/24 dev uplink; ip -n $LAB link set uplink up
ip -n $WAN addr add 203.0.113.2/24 dev wan0; ip -n $WAN link set wan0 up
ip -n $LAB route add default via 203.0.113.2
echo "nameserver 203.0.113.2" > $WORK/resolv.conf
ip netns exec $WAN dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --pid-file --listen-address=203.0.113.2 \
  --bind-interfaces --user=root --address=/fwd.test/198.51.100.7 --cache-size=1000 >/dev/null 2>&1 &
PIDS+=($!)

T() { nsenter --net=/run/netns/$LAB -- env TETHER_RESOLV_CONF=$WORK/resolv.conf $TETHER --state-dir $WORK/state --run-dir $WORK/run "$@"; }
T network create --subnet 10.89.0.0/24 a >/dev/null
for i in $(seq 1 20); do T create --name web$i --network a --alias svc$i >/dev/null; done
T create --name client --network a >/dev/null
GW=10.89.0.1

# aardvark-dns with the same names, configured the way netavark does: one file per network in its config dir, first
# line the listen (gateway) address, then "ID IPV4S IPV6S NAMES" per container. It reads the upstream resolvers from
# /etc/resolv.conf: it runs in a private mount namespace where that file is the lab's.
mkdir -p $WORK/aardvark
echo "$GW" > $WORK/aardvark/a
for i in $(seq 1 20) ; do
  ip=$(T inspect web$i | jq -r '.[0].NetworkSettings.Networks.a.IPAddress')
  id=$(T inspect web$i | jq -r '.[0].Id')
  echo "$id $ip  web$i,svc$i" >> $WORK/aardvark/a
done
cip=$(T inspect client | jq -r '.[0].NetworkSettings.Networks.a.IPAddress')
echo "$(T inspect client | jq -r '.[0].Id') $cip  client" >> $WORK/aardvark/a
nsenter --net=/run/netns/$LAB -- unshare -m sh -c "mount --bind $WORK/resolv.conf /etc/resolv.conf && exec $AARDVARK --config $WORK/aardvark -p 53 run" \
  >$WORK/aardvark.log 2>&1 &
PIDS+=($!)
for i in $(seq 50); do T exec client -- dig +short +time=1 +tries=1 @$GW web1 2>/dev/null | grep -q . && break; sleep 0.1; done

for i in $(seq 1 20); do echo "web$i A"; echo "svc$i A"; done > $WORK/local.txt
for i in $(seq 1 40); do echo "h$i.fwd.test A"; done > $WORK/fwd.txt

# One dnsperf run: prints "QPS p50_ms p99_ms lost" (latencies from dnsperf -v, one line per answered query).
# Extra arguments go to dnsperf (default: saturate with $CLIENTS clients and 200 queries outstanding).
perf() {
  local server=$1 file=$2 out=$WORK/perf.out; shift 2
  local load=(-c "$CLIENTS" -q 200); [ $# -gt 0 ] && load=("$@")
  T exec client -- dnsperf -s "$server" -d "$file" -l "$SECS" "${load[@]}" -t 2 -v > $out 2>&1 || true
  local qps lost
  qps=$(awk '/Queries per second:/ {print $4}' $out)
  lost=$(awk '/Queries lost:/ {print $3}' $out)
  awk '/^> / {print $NF * 1000}' $out | sort -g > $WORK/lat
  local n; n=$(wc -l < $WORK/lat)
  local p50 p99
  p50=$(awk -v n="$n" 'NR==int(n*0.50+0.5) {printf "%.3f", $1}' $WORK/lat)
  p99=$(awk -v n="$n" 'NR==int(n*0.99+0.5) {printf "%.3f", $1}' $WORK/lat)
  printf "%10s %8s %8s %8s" "$qps" "$p50" "$p99" "$lost"
}

# PAIRS=N: instead of the table, N rounds of saturated runs, each tetherd then aardvark-dns back to back (forwarded,
# then local), printing the rates and their ratio per round: the fairest comparison on a machine shared with others.
if [ "${PAIRS:-0}" -gt 0 ]; then
  echo "dnsperf ${SECS}s per run, $CLIENTS clients, 200 outstanding; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  for r in $(seq 1 "$PAIRS"); do
    tf=$(perf 127.0.0.11 $WORK/fwd.txt | awk '{print $1}'); af=$(perf $GW $WORK/fwd.txt | awk '{print $1}')
    tl=$(perf 127.0.0.11 $WORK/local.txt | awk '{print $1}'); al=$(perf $GW $WORK/local.txt | awk '{print $1}')
    awk -v tf="$tf" -v af="$af" -v tl="$tl" -v al="$al" 'BEGIN { printf "forwarded: tetherd %8.0f aardvark-dns %8.0f ratio %.2f   local: tetherd %8.0f aardvark-dns %8.0f ratio %.2f\n", tf, af, tf/af, tl, al, tl/al }'
  done
  exit 0
fi

echo "dnsperf ${SECS}s per run from sandbox 'client'; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "saturated: $CLIENTS clients, 200 queries outstanding (throughput; latency is mostly queueing)"
printf "%-34s %10s %8s %8s %8s\n" "server / names" "QPS" "p50 ms" "p99 ms" "lost"
printf "%-34s" "tetherd 127.0.0.11 local";     perf 127.0.0.11 $WORK/local.txt; echo
printf "%-34s" "aardvark-dns $GW local";       perf $GW $WORK/local.txt; echo
printf "%-34s" "tetherd 127.0.0.11 forwarded"; perf 127.0.0.11 $WORK/fwd.txt; echo
printf "%-34s" "aardvark-dns $GW forwarded";   perf $GW $WORK/fwd.txt; echo
echo "paced: 1 client, 1000 queries/s, at most 10 outstanding (latency)"
printf "%-34s" "tetherd 127.0.0.11 local";     perf 127.0.0.11 $WORK/local.txt -c 1 -q 10 -Q 1000; echo
printf "%-34s" "aardvark-dns $GW local";       perf $GW $WORK/local.txt -c 1 -q 10 -Q 1000; echo
printf "%-34s" "tetherd 127.0.0.11 forwarded"; perf 127.0.0.11 $WORK/fwd.txt -c 1 -q 10 -Q 1000; echo
printf "%-34s" "aardvark-dns $GW forwarded";   perf $GW $WORK/fwd.txt -c 1 -q 10 -Q 1000; echo
