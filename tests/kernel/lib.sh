# Sourced by the guest scripts (as /kernel/lib.sh): a lab namespace that plays the host, tether run inside it with its
# own state and run dirs (like tests/Tether.Tests/Support/Lab.cs), and checks that print one line each.
# The script's working directory is its own /tmp/NAME; the guest is a throwaway VM, the lab keeps the scripts shaped
# like the lab tests on the real machine.
set -eu
ip() { /usr/local/bin/ip "$@"; }  # busybox sh runs its own applets first; the host ip has netns, veth, ipvlan
LAB=lab
STATE="$PWD/state"
RUNDIR="$PWD/run"

T0="$(cut -d' ' -f1 /proc/uptime)"
elapsed() { awk -v t0="$T0" '{ printf "%.1f", $1 - t0 }' /proc/uptime; }
ok() { echo "ok - $* [$(elapsed) s]"; }
fail() { echo "not ok - $* [$(elapsed) s]"; exit 1; }

# check DESC CMD...: CMD must succeed; its output is shown when it does not.
check() {
  local desc="$1" out rc=0; shift
  out="$("$@" 2>&1)" || rc=$?
  [ "$rc" = 0 ] || { echo "$out"; fail "$desc (exit $rc: $*)"; }
  ok "$desc"
}

# contains DESC TEXT CMD...: CMD succeeds and its output contains TEXT.
contains() {
  local desc="$1" text="$2" out rc=0; shift 2
  out="$("$@" 2>&1)" || rc=$?
  [ "$rc" = 0 ] || { echo "$out"; fail "$desc (exit $rc: $*)"; }
  case "$out" in *"$text"*) ok "$desc" ;; *) echo "$out"; fail "$desc (no \"$text\" in the output of $*)" ;; esac
}

# lacks DESC TEXT CMD...: CMD succeeds and its output does not contain TEXT.
lacks() {
  local desc="$1" text="$2" out rc=0; shift 2
  out="$("$@" 2>&1)" || rc=$?
  [ "$rc" = 0 ] || { echo "$out"; fail "$desc (exit $rc: $*)"; }
  case "$out" in *"$text"*) echo "$out"; fail "$desc (\"$text\" in the output of $*)" ;; *) ok "$desc" ;; esac
}

# refuse DESC PATTERN CMD...: CMD must fail, printing a line that contains PATTERN.
refuse() {
  local desc="$1" pattern="$2" out rc; shift 2
  out="$("$@" 2>&1)" && { echo "$out"; fail "$desc (it succeeded)"; }
  case "$out" in *"$pattern"*) ok "$desc: $out" ;; *) echo "$out"; fail "$desc (no \"$pattern\" in the error)" ;; esac
}

# same DESC EXPECTED ACTUAL
same() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected [$2], got [$3]"; fi; }

# lab: makes the lab namespace and the state/run dirs.
lab() {
  ip netns add "$LAB"
  ip -n "$LAB" link set lo up
  mkdir -p "$STATE" "$RUNDIR"
}

# ns NAME: another namespace (e.g. a router on the parent's segment), lo up.
ns() { ip netns add "$1"; ip -n "$1" link set lo up; }

# t ARGS...: tether inside the lab (nsenter keeps the sandbox bind mounts in the one mount namespace).
t() { nsenter --net="/run/netns/$LAB" tether --state-dir "$STATE" --run-dir "$RUNDIR" "$@"; }

# inns NS CMD...: a command inside namespace NS (an oracle: ip, ping, nft).
inns() { local n="$1"; shift; nsenter --net="/run/netns/$n" "$@"; }

# sb SANDBOX CMD...: a command inside a tether sandbox.
sb() { local s="$1"; shift; t exec "$s" -- "$@"; }

# addr_of SANDBOX [IF]: the sandbox's IPv4 address on IF (default eth0), without prefix length.
addr_of() { sb "$1" ip -o -4 addr show "${2:-eth0}" | awk '{ split($4, a, "/"); print a[1] }'; }

# rx_packets NS LINK: packets received on LINK in namespace NS (sysfs in the guest shows the initial namespace only).
rx_packets() { ip -n "$1" -j -s link show "$2" | sed -n 's/.*"rx":{"bytes":[0-9]*,"packets":\([0-9]*\).*/\1/p'; }
