#!/usr/bin/env bash
# Tether's main job on real traffic, inside a throwaway "lab" namespace that plays the host and a "wan"
# namespace that plays the outside world. Needs root. Leaves nothing behind, even when a step fails.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "$(id -u)" != 0 ]; then echo "demo: run as root (it makes network namespaces)" >&2; exit 1; fi
bash scripts/deps.sh
stale=0
for b in tether tetherd; do
  if [ ! -x artifacts/bin/$b ] || [ -n "$(find src -newer artifacts/bin/$b -name '*.cs' -print -quit)" ]; then stale=1; fi
done
[ $stale = 0 ] || ./build.sh

LAB="tdemo-$$"
WAN="tdemo-$$-wan"
TMP=$(mktemp -d /tmp/tether-demo.XXXXXX)
WAN_PID=""
declare -a RESULTS=()
FAILED=0

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*" >&2; }
tether() { show "tether $*"; nsenter --net="/run/netns/$LAB" -- "$ROOT/artifacts/bin/tether" --state-dir "$TMP/state" --run-dir "$TMP/run" "$@"; }
quiet_tether() { nsenter --net="/run/netns/$LAB" -- "$ROOT/artifacts/bin/tether" --state-dir "$TMP/state" --run-dir "$TMP/run" "$@"; }
record() { RESULTS+=("$1|$2|$3"); [ "$2" = "$3" ] || FAILED=1; }

cleanup() {
  set +e
  step "Teardown"
  if [ -e "/run/netns/$LAB" ] && [ -d "$TMP/state" ]; then
    for s in $(quiet_tether ls -q 2>/dev/null); do quiet_tether rm -f "$s" >/dev/null; done
    quiet_tether network prune -f >/dev/null
    quiet_tether daemon stop >/dev/null 2>&1
    left=$(ip -n "$LAB" -o link show | grep -cE ': (tether0|tb-|tv)' || true)
    rules=$(ip netns exec "$LAB" nft list ruleset | grep -c 'dnat\|masquerade' || true)
    echo "tether links left in the lab: $left; sandboxes left: $(ls "$TMP/run/netns" 2>/dev/null | wc -l)"
  fi
  [ -n "$WAN_PID" ] && kill "$WAN_PID" 2>/dev/null
  # Last resort for a failed run: unmount any sandbox namespace still bound under the run dir.
  for f in "$TMP"/run/netns/*; do [ -e "$f" ] && umount -l "$f" 2>/dev/null; done
  ip netns del "$WAN" 2>/dev/null
  ip netns del "$LAB" 2>/dev/null
  rm -rf "$TMP"
  echo "removed namespaces $LAB and $WAN and $TMP"
}
trap cleanup EXIT

step "A lab namespace plays the host; a wan namespace plays the outside world"
show "ip netns add $LAB; ip netns add $WAN; veth lab:203.0.113.1/24 <-> wan:203.0.113.2/24"
ip netns add "$LAB" && ip netns add "$WAN"
ip -n "$LAB" link set lo up && ip -n "$WAN" link set lo up
ip -n "$LAB" link add uplink type veth peer name wan0 netns "$WAN"
ip -n "$LAB" addr add 203.0.113.1/24 dev uplink && ip -n "$LAB" link set uplink up
ip -n "$WAN" addr add 203.0.113.2/24 dev wan0 && ip -n "$WAN" link set wan0 up
ip -n "$LAB" route add default via 203.0.113.2

# An HTTP server in the wan that answers with the address it sees the client come from.
mkdir -p "$TMP/wan/cgi-bin" "$TMP/www1" "$TMP/www2"
printf '#!/bin/sh\na=${REMOTE_ADDR#[}; a=${a%%]}; a=${a#::ffff:}\necho "Content-Type: text/plain"\necho\necho "wan server saw you as $a"\n' > "$TMP/wan/cgi-bin/whoami"
chmod +x "$TMP/wan/cgi-bin/whoami"
echo "hello from web1 (network front)" > "$TMP/www1/index.html"
echo "hello from web2 (network back)" > "$TMP/www2/index.html"
ip netns exec "$WAN" busybox httpd -f -p 8000 -h "$TMP/wan" &
WAN_PID=$!

step "Two bridge networks"
tether network create front || exit 1
tether network create --subnet 10.77.0.0/24 back || exit 1
tether network ls

step "Sandboxes running busybox httpd, and a client"
tether run -d --name web1 --network front -p 8080:80 -- busybox httpd -f -p 80 -h "$TMP/www1" >/dev/null || exit 1
tether run -d --name web2 --network back -- busybox httpd -f -p 80 -h "$TMP/www2" >/dev/null || exit 1
tether create --name client --network front >/dev/null || exit 1
tether ls
WEB1=$(quiet_tether inspect --format json web1 | jq -r '.[0].NetworkSettings.Networks.front.IPAddress')
WEB2=$(quiet_tether inspect --format json web2 | jq -r '.[0].NetworkSettings.Networks.back.IPAddress')
sleep 0.3

step "client -> web1 on the same network ($WEB1)"
out=$(tether exec client -- curl -sf -m 3 "http://$WEB1/"); echo "$out"
record "client -> web1, same network" "$( [[ $out == *web1* ]] && echo reached || echo failed)" reached

step "client -> web1 by name (embedded DNS of tetherd at 127.0.0.11, started on demand)"
out=$(tether exec client -- curl -sf -m 3 "http://web1/"); echo "$out"
record "client -> web1 by name" "$( [[ $out == *web1* ]] && echo reached || echo failed)" reached

step "client -> web2 across networks ($WEB2): must fail"
if out=$(tether exec client -- curl -sf -m 2 "http://$WEB2/" 2>&1); then echo "$out"; r=reached; else echo "blocked: $out"; r=blocked; fi
record "client -> web2, other network" "$r" blocked

step "client -> wan server through NAT (the server must see the lab's 203.0.113.1)"
out=$(tether exec client -- curl -sf -m 3 "http://203.0.113.2:8000/cgi-bin/whoami"); echo "$out"
record "client -> wan, masqueraded" "$( [[ $out == *"as 203.0.113.1" ]] && echo "seen as 203.0.113.1" || echo "$out")" "seen as 203.0.113.1"

step "wan -> published port 203.0.113.1:8080 -> web1:80"
show "ip netns exec $WAN curl -s http://203.0.113.1:8080/"
out=$(ip netns exec "$WAN" curl -sf -m 3 "http://203.0.113.1:8080/"); echo "$out"
record "wan -> 8080 published" "$( [[ $out == *web1* ]] && echo reached || echo failed)" reached

step "the host itself -> 127.0.0.1:8080"
out=$(ip netns exec "$LAB" curl -sf -m 3 "http://127.0.0.1:8080/"); echo "$out"
record "host -> 127.0.0.1:8080" "$( [[ $out == *web1* ]] && echo reached || echo failed)" reached

step "client -> the host's address 203.0.113.1:8080 (hairpin)"
out=$(tether exec client -- curl -sf -m 3 "http://203.0.113.1:8080/"); echo "$out"
record "client -> host:8080 hairpin" "$( [[ $out == *web1* ]] && echo reached || echo failed)" reached

tether port web1
show "ip netns exec $LAB nft list table inet tether   (first lines)"
ip netns exec "$LAB" nft list table inet tether | head -30

step "Remove everything"
tether rm -f web1 web2 client
tether network rm front back
tether daemon stop
# The host ends of the veth pairs go with the sandboxes' namespaces, which the kernel frees asynchronously.
for _ in $(seq 50); do
  left=$(ip -n "$LAB" -o link show | grep -cE ': (tether0|tb-|tv)' || true)
  [ "$left" = 0 ] && break; sleep 0.05
done
record "links left after teardown" "$left" 0

step "Summary"
printf '%-32s | %-22s | %-22s | %s\n' CHECK GOT EXPECTED OK
printf -- '---------------------------------+------------------------+------------------------+----\n'
for r in "${RESULTS[@]}"; do
  IFS='|' read -r what got want <<<"$r"
  printf '%-32s | %-22s | %-22s | %s\n' "$what" "$got" "$want" "$( [ "$got" = "$want" ] && echo yes || echo NO)"
done
exit $FAILED
