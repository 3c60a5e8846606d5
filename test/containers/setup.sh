#!/usr/bin/env bash
# Make this machine build and run riots' images: a Docker engine when one answers, else
# Debian's podman, configured to work as root on a machine like the CI's, with the base image of
# aws/Dockerfile (node:20-bookworm-slim) made locally when it cannot be pulled. Each step checks
# first and says what it skips; run it again at any time. ./run.sh test runs it.
#
# What podman needs here (measured on Debian 12): runc as the runtime, cgroupfs as the cgroup
# manager, events in a file (no journald), and default ulimits no higher than the machine's hard
# limits (podman's own defaults fail with setrlimit errors).
#
# The base image stand-in: debootstrap's minimal bookworm, with this machine's Node.js and npm
# under /usr/local (where the official image has them), their headers (node-gyp cannot download
# them), a `node` user with uid 1000, and this machine's CA bundle trusted by Node and npm (the
# registries may be reached through a proxy that only this bundle trusts).
set -euo pipefail
BASE_IMAGE=docker.io/library/node:20-bookworm-slim
CONF=/etc/containers/containers.conf
MARK='# written by riots test/containers/setup.sh'
log() { printf 'containers/setup.sh: %s\n' "$*"; }

if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
  log "a Docker engine answers: riots uses it, nothing to set up"
  exit 0
fi

# ---- 1. packages ----
missing=()
for p in podman runc debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "podman, runc and debootstrap already installed"
fi

# ---- 2. configuration ----
nofile="$(ulimit -Hn)"
nproc="$(ulimit -Hu)"
pidmax="$(cat /proc/sys/kernel/pid_max)"
if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pidmax" ]; then nproc="$pidmax"; fi
[ "$nofile" = unlimited ] && nofile=1048576
want="$MARK
[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]

[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\""
if [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$want" ]; then
  log "$CONF already set"
else
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    cp "$CONF" "$CONF.riots-backup"
    log "kept the previous $CONF as $CONF.riots-backup"
  fi
  mkdir -p "$(dirname "$CONF")"
  printf '%s\n' "$want" >"$CONF"
  log "wrote $CONF (runc, cgroupfs, file events, ulimits nofile=$nofile nproc=$nproc)"
fi
podman info >/dev/null || { log "podman info fails with this configuration"; exit 1; }

# ---- 3. the base image ----
if podman image exists "$BASE_IMAGE"; then
  log "$BASE_IMAGE already present"
  exit 0
fi
if timeout 60 podman pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
  log "pulled $BASE_IMAGE"
  exit 0
fi
log "$BASE_IMAGE cannot be pulled: making a stand-in (debootstrap bookworm + this machine's Node.js; a minute or two)"
root="$(mktemp -d /var/tmp/riots-base-XXXXXX)"
trap 'rm -rf "$root"' EXIT
mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)"
debootstrap --variant=minbase bookworm "$root" "${mirror:-http://deb.debian.org/debian}" >/dev/null
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules" "$root/usr/local/include" "$root/usr/local/share"
cp "$node_bin" "$root/usr/local/bin/node"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
for d in /usr/include/node /usr/local/include/node; do
  if [ -f "$d/node_version.h" ]; then cp -a "$d" "$root/usr/local/include/node"; break; fi
done
cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/riots-host-ca.crt"
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
tar -C "$root" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_VERSION='"$(node -p process.versions.node)" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/riots-host-ca.crt' \
  --change 'ENV npm_config_cafile=/usr/local/share/riots-host-ca.crt' \
  --change 'ENV npm_config_nodedir=/usr/local' \
  --change 'CMD ["node"]' \
  - "$BASE_IMAGE" >/dev/null
log "made $BASE_IMAGE ($(podman image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
