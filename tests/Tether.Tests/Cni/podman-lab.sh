#!/usr/bin/env bash
# Runs a bash snippet with a rootful Podman 4.3 (CNI backend) confined to one lab: inside the lab's network namespace
# (nsenter --net) and a private mount namespace (unshare -m) whose tmpfs mounts hide the host's /run/containers,
# /run/netns, /var/lib/cni and /var/lib/containers, with storage and config in WORK. Nothing of the host's Podman
# state, and no root-namespace network object, is touched.
# usage: podman-lab.sh LAB_NETNS_PATH WORK TETHER_CNI_BINARY SNIPPET
#   WORK gets: conf/ (containers.conf, storage.conf, net.d/), plugins/ (tether-cni recording wrapper + links to
#   /usr/lib/cni), storage/, rec/ (one env+stdin file per plugin call), image/ (busybox-static rootfs).
#   The snippet runs with $WORK and function podman available; a conflist goes in $WORK/conf/net.d; the host's
#   /run/netns (the lab's namespaces) is visible at $WORK/labns.
set -euo pipefail
labns=$1; work=$2; cni=$3; snippet=$4
mkdir -p "$work"/{conf/net.d,plugins,storage,rec,tmp,image}

# A wrapper named tether-cni that records each call's environment and stdin, then execs the real plugin.
cat > "$work/plugins/tether-cni" <<WRAP
#!/bin/sh
f=\$(mktemp "$work/rec/call.XXXXXX")
env | grep -E '^(CNI_|TETHER_)' | sort > "\$f.env"
cat > "\$f.stdin"
exec "$cni" < "\$f.stdin"
WRAP
chmod +x "$work/plugins/tether-cni"
for p in /usr/lib/cni/*; do ln -sf "$p" "$work/plugins/$(basename "$p")"; done

cat > "$work/conf/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "private"
[network]
network_backend = "cni"
cni_plugin_dirs = ["$work/plugins"]
network_config_dir = "$work/conf/net.d"
default_network = "podman"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/tmp/events.log"
tmp_dir = "$work/tmp"
runtime = "crun"
CONF
cat > "$work/conf/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$work/storage/graph"
runroot = "$work/storage/run"
CONF

# The image: busybox-static with its applets linked to /bin/busybox (absolute links to the host path would break).
if [ ! -e "$work/image.tar" ]; then
  r="$work/image/rootfs"; mkdir -p "$r"/{bin,www,tmp,etc}
  cp /bin/busybox "$r/bin/busybox"
  for a in $("$r/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf /bin/busybox "$r/bin/$a"; done
  echo "hello from podman" > "$r/www/index.html"
  echo "root:x:0:0:root:/:/bin/sh" > "$r/etc/passwd"
  tar -C "$r" -cf "$work/image.tar" .
fi

export WORK=$work CONTAINERS_CONF=$work/conf/containers.conf CONTAINERS_STORAGE_CONF=$work/conf/storage.conf
exec nsenter --net="$labns" -- unshare -m --propagation private -- bash -euo pipefail -c '
# The lab'"'"'s own namespaces stay reachable (e.g. the wan) under $WORK/labns once /run/netns is hidden.
mkdir -p "$WORK/labns"; mount --rbind /run/netns "$WORK/labns"
for d in /run/containers /run/netns /var/lib/cni /var/lib/containers; do mkdir -p "$d"; mount -t tmpfs tmpfs "$d"; done
mkdir -p /var/lib/containers/cache
# crun refuses cgroup v1 with a cgroup2 hierarchy mounted beside it ("hybrid mode"): hide it in this mount namespace.
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
podman() { command podman --cgroup-manager cgroupfs --events-backend file "$@"; }
podman image exists localhost/bb:latest || podman import -q "$WORK/image.tar" localhost/bb:latest >/dev/null
'"$snippet"
