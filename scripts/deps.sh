#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test, demo and benchmark Tether (idempotent; root).
set -euo pipefail
pkgs=(nftables libnftables1 iproute2 util-linux busybox-static iputils-ping libsqlite3-0 clang lld zlib1g-dev libc6-dev
      procps jq curl socat containernetworking-plugins netavark podman
      dnsmasq-base bind9-dnsutils dnsperf aardvark-dns tcpdump
      qemu-system-x86 cpio xz-utils zstd)  # tests/kernel: Debian's kernel under qemu, cpio initramfs, .ko.xz/.ko.zst
# libc6-dev: clang brings it, but tether and tether-cni link glibc statically (libc.a, libm.a) and so name it.
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v dotnet >/dev/null; then echo "dotnet (the .NET 10 SDK) is required" >&2; exit 1; fi
