#!/usr/bin/env bash
# Install riots and what it needs on Debian 12 (bookworm): the system GDAL, the npm dependencies
# with gdal-async built against that GDAL, the compiled package, and a `riots` command on PATH.
# Optionally also Debian packages ($EXTRA_PACKAGES) and npm packages ($NPM_PACKAGES) for your
# own functions.
#
# aws/Dockerfile runs it to make the compute-worker image, and CI runs it on its Debian 12
# machine, so the image's install steps are exercised without Docker. It can be run again at any
# time: each step checks first and says what it skips. An existing node_modules is kept when it
# already matches package-lock.json.
#
# Environment:
#   EXTRA_PACKAGES   Debian packages to add, blank-separated (default none)
#   NPM_PACKAGES     npm packages to add into the riots package's node_modules, where code run
#                    by riots (your functions in the compute workers) can import them
#   RIOTS_BIN_DIR    where to put the `riots` command (default /usr/local/bin)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRA_PACKAGES="${EXTRA_PACKAGES:-}"
NPM_PACKAGES="${NPM_PACKAGES:-}"
BIN_DIR="${RIOTS_BIN_DIR:-/usr/local/bin}"
# Build and link what gdal-async needs against the system GDAL rather than its bundled copy.
BASE_DEBS=(libgdal-dev gdal-bin python3 make g++)

log() { printf 'install.sh: %s\n' "$*"; }

SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi

apt_updated=0
# Install the Debian packages named that are not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages already installed: $*"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  if [ "$apt_updated" -eq 0 ]; then
    "${SUDO[@]}" apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Whether node_modules holds every package of package-lock.json at its locked version
# (optional packages for other platforms may be absent), judged from npm's own record
# node_modules/.package-lock.json.
modules_match_lock() {
  [ -f node_modules/.package-lock.json ] || return 1
  node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages || {};
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages || {};
    for (const [k, v] of Object.entries(lock)) {
      if (k === "" || v.link) continue;
      const h = have[k];
      if (h === undefined ? !v.optional : h.version !== v.version) process.exit(1);
    }
  '
}

# Whether gdal-async loads and uses the system GDAL (not a bundled copy).
gdal_async_ok() {
  node -e 'process.exit(require("gdal-async").bundled === false ? 0 : 1)' >/dev/null 2>&1
}

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

cd "$ROOT"
log "riots package at $ROOT"

# ---- 1. system packages ----
apt_install "${BASE_DEBS[@]}"
if [ -n "$EXTRA_PACKAGES" ]; then
  # shellcheck disable=SC2086 # blank-separated list on purpose
  apt_install $EXTRA_PACKAGES
fi

# ---- 2. npm dependencies ----
export npm_config_build_from_source=true npm_config_shared_gdal=true
STAMP=node_modules/.riots-install-stamp
if [ -f package-lock.json ]; then
  want="$(hash_of package.json package-lock.json)"
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && gdal_async_ok; then
    log "node_modules matches package-lock.json (stamp): npm ci skipped"
  elif [ -d node_modules ] && modules_match_lock; then
    log "node_modules already matches package-lock.json: npm ci skipped"
  else
    log "installing npm dependencies with npm ci (gdal-async built from source against the system GDAL; takes minutes)"
    rm -f "$STAMP"
    npm ci --no-audit --no-fund
  fi
else
  # An installed package has no lock file: install its runtime dependencies, unless every one
  # is already found from here (in ./node_modules or a parent's, as Node resolves them).
  if node -e '
    const fs = require("fs"), path = require("path");
    const found = (d) => { for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
      if (fs.existsSync(path.join(dir, "node_modules", d, "package.json"))) return true;
      if (path.dirname(dir) === dir) return false; } };
    const deps = Object.keys(require("./package.json").dependencies || {});
    process.exit(deps.every(found) ? 0 : 1);
  '; then
    log "runtime dependencies already installed: npm install skipped"
  else
    log "installing runtime npm dependencies (no package-lock.json here; gdal-async built from source; takes minutes)"
    npm install --omit=dev --no-save --no-audit --no-fund
  fi
fi
if ! gdal_async_ok; then
  log "gdal-async does not load against the system GDAL: rebuilding it from source"
  npm rebuild gdal-async
  gdal_async_ok || { log "gdal-async still does not load against the system GDAL"; exit 1; }
fi
if [ -f package-lock.json ]; then echo "$want" >"$STAMP"; fi

# ---- 3. build ----
if [ -d src ] && [ -f tsconfig.json ]; then
  # (beside the installed modules, not in dist/: dist/ is what the package ships)
  BUILD_STAMP=node_modules/.riots-build-stamp
  inputs=(src tsconfig.json package.json)
  [ -d scripts ] && inputs+=(scripts)
  want_build="$(find "${inputs[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
  if [ -f "$BUILD_STAMP" ] && [ "$(cat "$BUILD_STAMP")" = "$want_build" ] && [ -f dist/cli/main.js ]; then
    log "dist/ is up to date with src/: build skipped"
  else
    log "building riots (npm run build)"
    npm run build --silent
    echo "$want_build" >"$BUILD_STAMP"
  fi
elif [ -f dist/cli/main.js ]; then
  log "no src/ here: using the compiled dist/"
else
  log "no src/ and no dist/ yet: nothing to build (run again once the sources are here)"
fi

# ---- 4. the riots command ----
if [ -f dist/cli/main.js ]; then
  target="$ROOT/dist/cli/main.js"
  if [ "$(readlink "$BIN_DIR/riots" 2>/dev/null || true)" = "$target" ]; then
    log "$BIN_DIR/riots already points to $target"
  else
    log "linking $BIN_DIR/riots -> $target"
    "${SUDO[@]}" mkdir -p "$BIN_DIR"
    "${SUDO[@]}" ln -sfn "$target" "$BIN_DIR/riots"
  fi
  chmod +x dist/cli/main.js
fi

# ---- 5. extra npm packages for user functions ----
if [ -n "$NPM_PACKAGES" ]; then
  todo=()
  for spec in $NPM_PACKAGES; do
    # The package name: the spec without a trailing @version (a leading @ is a scope).
    name="$spec"
    if [[ "${spec:1}" == *@* ]]; then name="${spec%@*}"; fi
    if [ -f "node_modules/$name/package.json" ]; then
      log "npm package $name already installed"
    else
      todo+=("$spec")
    fi
  done
  if [ "${#todo[@]}" -gt 0 ]; then
    log "installing npm packages into $ROOT/node_modules: ${todo[*]}"
    npm install --no-save --no-audit --no-fund "${todo[@]}"
  fi
fi

log "done"
