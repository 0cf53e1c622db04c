# Sourced by the tether-cni benchmarks: start_tetherd LAB WORK BINARY starts tetherd inside the lab namespace for the
# state and run dirs under WORK (untimed set-up), waits for its socket and sets dpid to its pid (the caller kills it).
start_tetherd() {
  mkdir -p "$2/run"
  nsenter --net=/run/netns/$1 -- env TETHER_RESOLV_CONF=/dev/null "$3" --state-dir "$2/state" --run-dir "$2/run" > "$2/tetherd.log" 2>&1 &
  dpid=$!
  for _ in $(seq 500); do [ -S "$2/run/tetherd.sock" ] && break; sleep 0.02; done
  [ -S "$2/run/tetherd.sock" ] || { echo "tetherd did not start: $(cat "$2/tetherd.log")" >&2; exit 1; }
}
