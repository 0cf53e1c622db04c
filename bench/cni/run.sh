#!/usr/bin/env bash
# tether-cni next to the CNI reference chain (bridge + host-local + portmap from /usr/lib/cni), driven the way a
# runtime drives them (one process per plugin call, env + stdin; ADD bridge then portmap with prevResult, DEL in
# reverse), on the same network shape (one /16, isGateway, masquerade, one published port per container), in one run,
# in a throwaway lab namespace. Never touches the machine's own namespace.
#
#   sudo bench/cni/run.sh [N=500]     (needs ./build.sh first)
#   TETHERD=0 sudo bench/cni/run.sh N  (no tetherd: every call is done by tether-cni-local, as before tetherd served them)
#
# With TETHERD=1 (the default) tetherd is started for the bench's state and run dirs in the untimed set-up, as a host
# running Tether has it, and tether-cni hands each command to it. Its resident memory (VmHWM) and CPU time are
# reported under the tables: the chain has no such daemon, and the per-call CPU column counts only the plugin processes.
#
# Prints: ADD and DEL per container around the 10th and the Nth container (median of 10 calls; wall time and CPU
# time, which a loaded machine disturbs less), the ratios, 20
# concurrent ADDs (wall time, errors, distinct addresses), and the peak RSS of one plugin process.
set -euo pipefail
. "$(dirname "$0")/tetherd.sh"
cd "$(dirname "$0")/../.."
N=${1:-500}
cni=${TETHER_CNI_BIN:-$PWD/artifacts/bin/tether-cni}
tetherd=${TETHERD_BIN:-$PWD/artifacts/bin/tetherd}
use_tetherd=${TETHERD:-1}
ref=/usr/lib/cni
[ -x "$cni" ] || { echo "build first: ./build.sh" >&2; exit 1; }
lab=tbcni-$$
work=$(mktemp -d /tmp/tether-cni-bench.XXXXXX)
cleanup() {
  if [ "${dpid:-0}" != 0 ]; then kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; fi || true
  for p in $(ip netns pids "$lab" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  for ns in $(ip netns list | awk '{print $1}' | grep "^$lab" || true); do ip netns del "$ns"; done
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$lab"
ip -n "$lab" link set lo up
for i in $(seq "$N"); do ip netns add "$lab-t$i"; ip netns add "$lab-r$i"; done
for i in $(seq 20); do ip netns add "$lab-tc$i"; ip netns add "$lab-rc$i"; done
dpid=0
[ "$use_tetherd" = 1 ] && start_tetherd "$lab" "$work" "$tetherd"

cat > "$work/inner.sh" <<'INNER'
set -euo pipefail
N=$1; cni=$2; ref=$3; lab=$4; work=$5; dpid=$6
# tetherd's CPU time so far (utime + stime, clock ticks), to split its work by phase.
dcpu() { if [ "$dpid" != 0 ]; then echo "$1,$(awk '{print $14 + $15}' /proc/$dpid/stat)" >> "$work/dcpu.csv"; fi; }
export CNI_PATH=$ref CNI_IFNAME=eth0
tconf() { printf '{"cniVersion":"1.0.0","name":"tbench","type":"tether-cni","ipam":{"subnet":"10.55.0.0/16"},"stateDir":"%s/state","runDir":"%s/run","runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]}}' "$work" "$work" "$1"; }
bconf() { printf '{"cniVersion":"1.0.0","name":"rbench","type":"bridge","bridge":"cni-bench0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.56.0.0/16","dataDir":"%s/host-local"}%s}' "$work" "$1"; }
pconf() { printf '{"cniVersion":"1.0.0","name":"rbench","type":"portmap","capabilities":{"portMappings":true},"snat":true,"runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]},"prevResult":%s}' "$1" "$2"; }
now() { local t=${EPOCHREALTIME/./}; echo "$t"; }
# Wall time and CPU time (user + sys of every process of the call, plugins it execs included), both in microseconds.
TIMEFORMAT='%3R %3U %3S'
measure() { local out; out=$( { time "$@" 2>/dev/null; } 2>&1 ); awk '{printf "%d,%d", $1 * 1e6, ($2 + $3) * 1e6}' <<< "$out"; }
declare -A R
tadd() { tconf $((20000 + $1)) | CNI_COMMAND=ADD CNI_CONTAINERID=t$1 CNI_NETNS=/run/netns/$lab-$2$1 "$cni" > "$work/out.t$2$1"; }
tdel() { tconf $((20000 + $1)) | CNI_COMMAND=DEL CNI_CONTAINERID=t$1 CNI_NETNS=/run/netns/$lab-$2$1 "$cni" > /dev/null; }
radd() {
  local r; r=$(bconf "" | CNI_COMMAND=ADD CNI_CONTAINERID=r$1 CNI_NETNS=/run/netns/$lab-$2$1 "$ref/bridge")
  pconf $((30000 + $1)) "$r" | CNI_COMMAND=ADD CNI_CONTAINERID=r$1 CNI_NETNS=/run/netns/$lab-$2$1 "$ref/portmap" > "$work/out.r$2$1"
}
rdel() {
  local r; r=$(cat "$work/out.r$2$1")
  pconf $((30000 + $1)) "$r" | CNI_COMMAND=DEL CNI_CONTAINERID=r$1 CNI_NETNS=/run/netns/$lab-$2$1 "$ref/portmap" > /dev/null
  bconf ",\"prevResult\":$r" | CNI_COMMAND=DEL CNI_CONTAINERID=r$1 CNI_NETNS=/run/netns/$lab-$2$1 "$ref/bridge" > /dev/null
}
: > "$work/times.csv"
dcpu start
# Interleaved: container i of Tether, then container i of the chain, so load changes hit both alike.
# Columns: phase, container, tether wall, tether cpu, chain wall, chain cpu.
for i in $(seq "$N"); do
  echo "add,$i,$(measure tadd "$i" t),$(measure radd "$i" r)" >> "$work/times.csv"
done
dcpu adds
for i in $(seq "$N" -1 1); do
  echo "del,$i,$(measure tdel "$i" t),$(measure rdel "$i" r)" >> "$work/times.csv"
done
dcpu dels
# 20 ADDs at once, each side, under /usr/bin/time for the peak RSS of each plugin process.
for side in t r; do
  a=$(now)
  for i in $(seq 20); do
    if [ $side = t ]; then
      (tconf $((21000 + i)) | CNI_COMMAND=ADD CNI_CONTAINERID=c$i CNI_NETNS=/run/netns/$lab-tc$i /usr/bin/time -f %M -o "$work/rss.t$i" "$cni" > "$work/cc.t$i"; echo $? > "$work/rc.t$i") &
    else
      (r=$(bconf "" | CNI_COMMAND=ADD CNI_CONTAINERID=c$i CNI_NETNS=/run/netns/$lab-rc$i /usr/bin/time -f %M -o "$work/rss.r$i" "$ref/bridge") &&
       pconf $((31000 + i)) "$r" | CNI_COMMAND=ADD CNI_CONTAINERID=c$i CNI_NETNS=/run/netns/$lab-rc$i /usr/bin/time -f %M -o "$work/rss.p$i" "$ref/portmap" > "$work/cc.r$i"; echo $? > "$work/rc.r$i") &
    fi
  done
  wait
  b=$(now)
  echo "$side,$((b - a))" >> "$work/concurrent.csv"
done
INNER
nsenter --net=/run/netns/$lab -- bash "$work/inner.sh" "$N" "$cni" "$ref" "$lab" "$work" "$dpid"
if [ "$dpid" != 0 ]; then
  dhwm=$(awk '/VmHWM/ {print $2}' /proc/$dpid/status); drss=$(awk '/VmRSS/ {print $2}' /proc/$dpid/status)
  dserved=$(grep -c '^tetherd: cni ' "$work/tetherd.log" || true)
fi

median() { sort -n | awk '{a[NR]=$1} END {printf "%d\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.1f", u/1000}'; }
col() { # phase, first, last, column (3 tether wall, 4 tether cpu, 5 chain wall, 6 chain cpu)
  awk -F, -v p="$1" -v f="$2" -v l="$3" -v c="$4" '$1==p && $2>=f && $2<=l {print $c}' "$work/times.csv" | median; }
lo=$(( 10 > N ? N : 10 )); lo1=$(( lo > 5 ? lo - 5 : 1 ))
echo
echo "tether-cni vs the reference chain (bridge + host-local + portmap), $N containers, one published port each"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), tether $(git rev-parse --short HEAD)"
if [ "$dpid" != 0 ]; then echo "tether-cni through tetherd (started in the untimed set-up; its CPU is not in the per-call CPU column, see below)"
else echo "tether-cni without tetherd (each call done by tether-cni-local)"; fi
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", a/b}'; }
echo "| per container (median of 10) | tether-cni wall ms | chain wall ms | chain / tether | tether-cni CPU ms | chain CPU ms | chain / tether |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for row in "ADD around #$lo:add:$lo1:$((lo1 + 9))" "ADD around #$N:add:$((N - 9)):$N" "DEL with ~$N present:del:$((N - 9)):$N" "DEL with ~$lo present:del:$lo1:$((lo1 + 9))"; do
  IFS=: read -r label phase f l <<< "$row"
  tw=$(col "$phase" "$f" "$l" 3); tc=$(col "$phase" "$f" "$l" 4); rw=$(col "$phase" "$f" "$l" 5); rc=$(col "$phase" "$f" "$l" 6)
  echo "| $label | $(ms "$tw") | $(ms "$rw") | $(ratio "$rw" "$tw") | $(ms "$tc") | $(ms "$rc") | $(ratio "$rc" "$tc") |"
done
for at in "$lo1:$((lo1 + 9))" "$((N - 9)):$N"; do
  IFS=: read -r f l <<< "$at"
  tw=$(( $(col add "$f" "$l" 3) + $(col del "$f" "$l" 3) )); rw=$(( $(col add "$f" "$l" 5) + $(col del "$f" "$l" 5) ))
  tc=$(( $(col add "$f" "$l" 4) + $(col del "$f" "$l" 4) )); rc=$(( $(col add "$f" "$l" 6) + $(col del "$f" "$l" 6) ))
  echo "| ADD+DEL around #$(( (f + l + 1) / 2 )) | $(ms "$tw") | $(ms "$rw") | $(ratio "$rw" "$tw") | $(ms "$tc") | $(ms "$rc") | $(ratio "$rc" "$tc") |"
done
echo
t_ok=$(cat "$work"/rc.t* | grep -c '^0$' || true); r_ok=$(cat "$work"/rc.r* | grep -c '^0$' || true)
t_ips=$(cat "$work"/cc.t* | jq -r '.ips[0].address' | sort -u | wc -l); r_ips=$(cat "$work"/cc.r* | jq -r '.ips[0].address' | sort -u | wc -l)
echo "| 20 concurrent ADDs | tether-cni | reference chain |"
echo "| --- | ---: | ---: |"
echo "| wall time ms | $(ms "$(awk -F, '$1=="t" {print $2}' "$work/concurrent.csv")") | $(ms "$(awk -F, '$1=="r" {print $2}' "$work/concurrent.csv")") |"
echo "| succeeded / distinct addresses | $t_ok / $t_ips | $r_ok / $r_ips |"
echo "| peak RSS of one plugin process (KB) | $(cat "$work"/rss.t* | sort -n | tail -1) | $(cat "$work"/rss.[rp]* | sort -n | tail -1) (bridge $(cat "$work"/rss.r* | sort -n | tail -1), portmap $(cat "$work"/rss.p* | sort -n | tail -1)) |"
cp "$work/times.csv" bench/results/cni-last.csv 2>/dev/null || true
if [ "$dpid" != 0 ]; then
  tick=$(getconf CLK_TCK)
  d() { awk -F, -v p="$1" '$1==p {print $2}' "$work/dcpu.csv"; }
  echo
  echo "tetherd (pid $dpid) served $dserved commands: peak RSS (VmHWM) $dhwm KB, RSS at the end $drss KB;"
  echo "its CPU per call (mean): ADD $(awk -v a="$(d start)" -v b="$(d adds)" -v n="$N" -v t="$tick" 'BEGIN {printf "%.1f", (b - a) * 1000 / t / n}') ms," \
       "DEL $(awk -v a="$(d adds)" -v b="$(d dels)" -v n="$N" -v t="$tick" 'BEGIN {printf "%.1f", (b - a) * 1000 / t / n}') ms" \
       "(add it to the tether-cni CPU column for the whole cost; the wall times already include it)"
fi
