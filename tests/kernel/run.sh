#!/usr/bin/env bash
# Runs guest test scripts on Debian's current kernel under qemu (TCG, no network device), for the kernel features the
# machine's own kernel lacks (ipvlan, 802.1Q, ...). One boot runs every script given (default: tests/kernel/guest/*.sh)
# and prints, per script, "KERNEL-TEST PASS NAME" or "KERNEL-TEST FAIL NAME status=N"; the exit status is the guest's
# (0 when every script passed). Needs root (the initramfs gets a /dev/console node), qemu-system-x86, cpio, apt.
#
# Nothing on the host changes: the kernel package is fetched with `apt-get download` into artifacts/kernel/ and unpacked
# with `dpkg -x` there (never installed); the guest has no network device (-nic none); the initramfs is a cpio archive.
#
# Environment: KERNEL_TEST_TIMEOUT (whole run, s; default 900), KERNEL_TEST_SCRIPT_TIMEOUT (each script, s; default 400),
# KERNEL_TEST_CPUS (guest CPUs, MTTCG; default 2), KERNEL_TEST_JOBS (scripts run at once; default: the guest's CPUs),
# KERNEL_TEST_MEM (MiB; default 768), KERNEL_TEST_CPU (qemu -cpu; default max), KERNEL_TEST_MODULES (extra modules to
# load). A guest script may name further modules it needs on a line "# modules: a b c". Each script runs in a mount
# namespace of its own in the guest, so the names of its network namespaces need not differ from other scripts'.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="$root/artifacts/kernel"
total_timeout="${KERNEL_TEST_TIMEOUT:-900}"
script_timeout="${KERNEL_TEST_SCRIPT_TIMEOUT:-400}"
mem="${KERNEL_TEST_MEM:-768}"
cpus="${KERNEL_TEST_CPUS:-2}"
log() { echo "kernel-test: $*" >&2; }
die() { echo "kernel-test: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (the initramfs gets a /dev/console device node)"
for tool in qemu-system-x86_64 cpio dpkg apt-get apt-cache sha256sum ldd; do
  command -v "$tool" >/dev/null || die "missing $tool (run scripts/deps.sh)"
done

scripts=("$@")
if [ ${#scripts[@]} -eq 0 ]; then scripts=("$here"/guest/*.sh); fi
declare -A seen=()
for s in "${scripts[@]}"; do
  [ -f "$s" ] || die "no such guest script: $s"
  n="$(basename "$s" .sh)"
  [ -z "${seen[$n]:-}" ] || die "two guest scripts named $n"
  seen[$n]=1
done

mkdir -p "$cache/deb" "$cache/unpacked" "$cache/initramfs" "$cache/runs"

# 1. The kernel package: linux-image-amd64 is a metapackage whose one dependency names the current kernel.
pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')"
deb=""
if [ -n "$pkg" ]; then
  info="$(apt-cache show --no-all-versions "$pkg")"
  version="$(awk '/^Version:/ { print $2; exit }' <<<"$info")"
  sha="$(awk '/^SHA256:/ { print $2; exit }' <<<"$info")"
  deb="$cache/deb/${pkg}_${version//:/%3a}_amd64.deb"
  if [ ! -f "$cache/unpacked/$(basename "$deb" .deb)/.done" ]; then  # checked once, before it is unpacked
    if [ ! -f "$deb" ] || [ "$(sha256sum "$deb" | cut -d' ' -f1)" != "$sha" ]; then
      log "downloading $pkg $version"
      rm -f "$deb"
      (cd "$cache/deb" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >&2)
    fi
    [ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sha" ] || die "$deb does not match the SHA256 apt lists ($sha)"
  fi
else
  deb="$(ls -t "$cache"/deb/linux-image-*.deb 2>/dev/null | head -n1 || true)"
  [ -n "$deb" ] || die "apt-cache does not resolve linux-image-amd64 and no kernel package is cached in $cache/deb"
  log "apt-cache does not resolve linux-image-amd64; using the cached $(basename "$deb")"
fi

# 2. Unpacked once per package file (dpkg -x into the cache, never into /).
unpacked="$cache/unpacked/$(basename "$deb" .deb)"
if [ ! -f "$unpacked/.done" ]; then
  log "unpacking $(basename "$deb")"
  rm -rf "$unpacked.tmp.$$"
  dpkg -x "$deb" "$unpacked.tmp.$$"
  touch "$unpacked.tmp.$$/.done"
  mv -T "$unpacked.tmp.$$" "$unpacked" 2>/dev/null || rm -rf "$unpacked.tmp.$$"  # a concurrent run may have won
fi
vmlinuz="$(ls "$unpacked"/boot/vmlinuz-* | head -n1)"
moddir="$(ls -d "$unpacked"/lib/modules/*/ | head -n1)"
[ -f "$vmlinuz" ] && [ -d "$moddir" ] || die "no kernel or modules in $unpacked"

# 3. Tether's binary.
tether="${TETHER_BIN:-$root/artifacts/bin/tether}"
if [ ! -x "$tether" ]; then log "building $tether"; "$root/build.sh" >&2; fi

# 4. The base initramfs: busybox, the host's ip and nft, tether (and tether-cli) and the libraries they load, kernel modules, /init.
run="$(mktemp -d "$cache/runs/run.XXXXXX")"
trap 'rm -rf "$run"' EXIT
stage="$run/base"
mkdir -p "$stage"/{bin,usr/local/bin,lib/modules,dev,proc,sys,run,tmp,etc,kernel}

copy_lib() { # copies a shared object to the path the host's loader finds it at (and that path's target)
  local p="$1"
  [ -e "$stage$p" ] || { mkdir -p "$stage$(dirname "$p")"; cp -L "$p" "$stage$p"; }
}
copy_elf() { # an executable or library plus everything ldd says it loads
  local f="$1" line lib
  while read -r line; do
    case "$line" in
      *"=> not found"*) die "ldd: $f needs ${line%% *}, which is not installed" ;;
      *"=> /"*) lib="${line#*=> }"; copy_lib "${lib%% (*}" ;;
      /*) copy_lib "${line%% (*}" ;;
    esac
  done < <(ldd "$f" 2>/dev/null || true)
}
so_path() { # where the host's loader finds a soname (Tether dlopens these, so ldd of tether does not list them)
  local p
  p="$(ldconfig -p | awk -v n="$1" '$1 == n && /x86-64/ { print $NF; exit }')"
  [ -n "$p" ] || die "the host has no $1 (run scripts/deps.sh)"
  echo "$p"
}

[ -x /bin/busybox ] || die "missing /bin/busybox (install busybox-static)"
cp -L /bin/busybox "$stage/bin/busybox"
ldd "$stage/bin/busybox" >/dev/null 2>&1 && die "/bin/busybox is not static (install busybox-static)"
for b in ip nft tether tether-cli; do   # tether, the front, execs tether-cli (beside it) for what it does not serve itself
  case "$b" in
    tether) f="$tether" ;;
    tether-cli) f="$(dirname "$tether")/tether-cli" ;;
    *) f="$(command -v "$b")" || die "missing $b (run scripts/deps.sh)" ;;
  esac
  cp -L "$f" "$stage/usr/local/bin/$b"
  copy_elf "$f"
done
for so in libnftables.so.1 libsqlite3.so.0; do  # Firewall/LibNftables.cs, State/SqliteStore.cs
  p="$(so_path "$so")"; copy_lib "$p"; copy_elf "$p"
done
cp /etc/protocols /etc/services "$stage/etc/" 2>/dev/null || true
echo "root:x:0:0:root:/:/bin/sh" > "$stage/etc/passwd"
mknod -m 600 "$stage/dev/console" c 5 1
install -m 755 "$here/init" "$stage/init"
install -m 644 "$here/lib.sh" "$stage/kernel/lib.sh"

# Modules in load order: each module after the ones its .modinfo "depends=" names (modules.dep is not shipped).
# Worked out once per kernel package and module list (cached next to the unpacked package).
# Links Tether and the tests make, and what Tether's nftables ruleset uses (fib, ct, dnat, masquerade, NAT chains).
base_modules=(veth bridge macvlan ipvlan 8021q dummy nf_tables nf_conntrack nf_nat nft_ct nft_nat nft_masq
              nft_chain_nat nft_fib_inet)
extra=()
for s in "${scripts[@]}"; do extra+=($(sed -n 's/^# *modules: *//p' "$s")); done
wanted=(${base_modules[@]} ${KERNEL_TEST_MODULES:-} ${extra[@]+"${extra[@]}"})
modset="$unpacked.modules/$(printf '%s\n' "${wanted[@]}" | LC_ALL=C sort -u | sha256sum | cut -c1-16)"
if [ ! -f "$modset/load-order" ]; then
  declare -A kofile=() loaded=()
  while IFS= read -r f; do n="${f##*/}"; n="${n%%.ko*}"; kofile[${n//-/_}]="$f"; done \
    < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
  order=()
  ko_text() { case "$1" in *.xz) xz -dc "$1" ;; *.zst) zstd -qdc "$1" ;; *.gz) gzip -dc "$1" ;; *) cat "$1" ;; esac; }
  alias_module() { # a module name, or the module whose .modinfo says "alias=NAME"
    local n="${1//-/_}" f
    if [ -n "${kofile[$n]:-}" ]; then echo "$n"; return; fi
    if [ -n "${kofile[${n}_generic]:-}" ]; then echo "${n}_generic"; return; fi
    f="$(find "$moddir" -name '*.ko' -print0 | xargs -0 grep -laF -m1 "alias=$1" | head -n1)"
    [ -n "$f" ] || die "no kernel module provides $1"
    f="${f##*/}"; f="${f%.ko}"; echo "${f//-/_}"
  }
  add_module() {
    local n="${1//-/_}" deps d info soft
    [ -n "${loaded[$n]:-}" ] && return 0
    if [ -z "${kofile[$n]:-}" ]; then
      grep -qE "/${n//_/[-_]}\.ko$" "$moddir/modules.builtin" 2>/dev/null && { loaded[$n]=builtin; return 0; }
      die "kernel module $n is neither in $(basename "$deb") nor built in"
    fi
    loaded[$n]=pending
    ko_text "${kofile[$n]}" > "$modset.tmp.$$/$n.ko"
    info="$(tr '\0' '\n' < "$modset.tmp.$$/$n.ko" | grep -a -E '^(depends|softdep)=' || true)"
    deps="$(sed -n 's/^depends=//p' <<<"$info" | head -n1)"
    for d in ${deps//,/ }; do add_module "$d"; done
    # "softdep=pre: crc32c" (libcrc32c): modules the kernel's modprobe would load first; the name may be an alias.
    soft="$(sed -n 's/^softdep=.*pre: *//p' <<<"$info" | sed 's/ *post:.*//' | head -n1)"
    for d in $soft; do add_module "$(alias_module "$d")"; done
    loaded[$n]=yes
    order+=("$n")
  }
  rm -rf "$modset.tmp.$$"; mkdir -p "$modset.tmp.$$"
  for m in "${wanted[@]}"; do add_module "$m"; done
  printf '%s\n' "${order[@]}" > "$modset.tmp.$$/load-order"
  mv -T "$modset.tmp.$$" "$modset" 2>/dev/null || rm -rf "$modset.tmp.$$"
fi
cp "$modset"/* "$stage/lib/modules/"

# Cached by content: the same inputs give the same archive, built once.
hash="$( (cd "$stage" && find . -printf '%p %y %m %l\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
base="$cache/initramfs/base-$hash.cpio"
if [ ! -f "$base" ]; then
  log "building initramfs $(basename "$base")"
  (cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$base.tmp.$$"
  mv "$base.tmp.$$" "$base"
  # keep the four newest archives (each tether build makes a new one)
  ls -t "$cache"/initramfs/base-*.cpio | tail -n +5 | xargs -r rm -f
fi
rm -rf "$stage"

# 5. The scripts of this run go in a second cpio appended to the first (the kernel unpacks both).
tests="$run/tests"
mkdir -p "$tests/kernel/tests"
for s in "${scripts[@]}"; do
  n="$(basename "$s" .sh)"
  install -m 755 "$s" "$tests/kernel/tests/$n.sh"
  echo "$n" >> "$tests/kernel/tests/list"
done
echo "$script_timeout" > "$tests/kernel/script-timeout"
echo "${KERNEL_TEST_JOBS:-$cpus}" > "$tests/kernel/jobs"
(cd "$tests" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$run/tests.cpio"
cat "$base" "$run/tests.cpio" > "$run/initramfs.cpio"

# 6. Boot. The console is the serial port on stdio; the guest powers off when the last script is done.
console="$run/console.log"
log "booting $(basename "$vmlinuz") with ${#scripts[@]} script(s): ${!seen[*]}"
start=$(date +%s)
set +e
timeout -k 5 "$total_timeout" qemu-system-x86_64 -accel tcg -cpu "${KERNEL_TEST_CPU:-max}" -smp "$cpus" -m "$mem" \
  -nographic -no-reboot -nic none -vga none \
  -kernel "$vmlinuz" -initrd "$run/initramfs.cpio" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off tsc=reliable no_timer_check" \
  < /dev/null 2>&1 | sed -u 's/\r$//; s/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' | tee "$console"
qemu_status=${PIPESTATUS[0]}
set -e
cp "$console" "$cache/last-console.log"
log "qemu exited with status $qemu_status after $(( $(date +%s) - start )) s (console: $cache/last-console.log)"

# 7. The verdict is the guest's markers, not qemu's exit status.
status=0 passed=() failed=()
for s in "${scripts[@]}"; do
  n="$(basename "$s" .sh)"
  if grep -qx "KERNEL-TEST PASS $n" "$console"; then passed+=("$n")
  elif grep -q "^KERNEL-TEST FAIL $n " "$console"; then failed+=("$n"); status=1
  else failed+=("$n (no result)"); status=1
  fi
done
log "passed: ${passed[*]:-none}; failed: ${failed[*]:-none}"
done_line="$(grep -m1 '^KERNEL-TEST DONE status=' "$console" || true)"
if [ -z "$done_line" ]; then
  [ "$qemu_status" = 124 ] && log "timed out after $total_timeout s" || log "the guest stopped before it finished"
  exit 1
fi
guest_status="$(sed 's/^KERNEL-TEST DONE status=\([0-9]*\).*/\1/' <<<"$done_line")"
[ "$guest_status" = 0 ] || status="$guest_status"
exit "$status"
