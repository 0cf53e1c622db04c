#!/usr/bin/env bash
# What a sandbox's three files (resolv.conf, hosts, options.json) cost to write and to remove on the file system of
# the run dir, written the way File.WriteAllText did (open, ftruncate to 0, write: ext4's auto_da_alloc then writes the
# data out on close) and the way SandboxFiles.Replace does now (no truncate to 0 on a new file). Touches only a
# temporary directory under DIR; no namespaces, no root.
#
#   bench/files/run.sh [N=200] [DIR=/run/tether's parent file system: default /tmp]
set -euo pipefail
N=${1:-200}
base=$(mktemp -d "${2:-/tmp}/tether-files-bench.XXXXXX")
trap 'rm -rf "$base"' EXIT
python3 - "$N" "$base" <<'PY'
import os, sys, time
n, base = int(sys.argv[1]), sys.argv[2]
for mode in ("truncate", "in place"):
    t0 = time.perf_counter()
    for i in range(n):
        d = f"{base}/{mode.replace(' ', '')}{i}"; os.mkdir(d)
        for f in ("resolv.conf", "hosts", "options.json"):
            fd = os.open(f"{d}/{f}", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if mode == "truncate": os.ftruncate(fd, 0)
            os.pwrite(fd, b"x" * 150, 0); os.close(fd)
    t1 = time.perf_counter()
    time.sleep(1)   # as in a bench: removed a while after, well before the kernel's own writeback (30 s)
    t2 = time.perf_counter()
    for i in range(n):
        d = f"{base}/{mode.replace(' ', '')}{i}"
        for f in ("resolv.conf", "hosts", "options.json"): os.unlink(f"{d}/{f}")
        os.rmdir(d)
    t3 = time.perf_counter()
    print(f"{mode:9}: write {(t1 - t0) / n * 1000:.2f} ms, remove {(t3 - t2) / n * 1000:.2f} ms per sandbox ({n} sandboxes)")
PY
