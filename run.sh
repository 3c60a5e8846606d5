#!/usr/bin/env bash
# riots' two commands on a fresh Debian 12 machine with Node 20:
#   ./run.sh demo [DIR]   install what is missing, build, and run `riots demo`
#   ./run.sh test         install what is missing (test tools too), build, and run the whole test suite
# Every install step is idempotent and says what it does.
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '[riots] %s\n' "$*" >&2; }

need_apt=()
want_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$1"); }

install_system() {
  need_apt=()
  # GDAL for gdal-async (built against the system library), and the compiler it needs
  for p in libgdal-dev gdal-bin python3 make g++; do want_pkg "$p"; done
  if [ "${1:-}" = test ]; then
    # test oracles (Python GDAL + numpy) and a real SLURM for the SLURM worker tests
    for p in python3-gdal python3-numpy slurm-wlm munge procps; do want_pkg "$p"; done
  fi
  if [ ${#need_apt[@]} -gt 0 ]; then
    say "installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    say "Debian packages present"
  fi
}

install_node_modules() {
  local stamp=node_modules/.riots-lock-sha
  local want; want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && node -e "import('gdal-async')" 2>/dev/null; then
    say "node_modules up to date"
    return
  fi
  say "npm ci (gdal-async is compiled against the system GDAL: about a minute)"
  npm_config_build_from_source=true npm_config_shared_gdal=true npm ci --no-audit --no-fund
  node -e "import('gdal-async').then(m => { if (m.default.bundled) { console.error('gdal-async uses its bundled GDAL'); process.exit(1) } })"
  echo "$want" > "$stamp"
}

build() {
  if [ -f dist/cli/main.js ] && [ -z "$(find src package.json tsconfig.json -newer dist/.build-stamp 2>/dev/null | head -1)" ]; then
    say "build up to date"
    return
  fi
  say "building (tsc)"
  npm run -s build
  touch dist/.build-stamp
}

cmd="${1:-}"
case "$cmd" in
  demo)
    shift
    install_system
    install_node_modules
    build
    exec node dist/cli/main.js demo "$@"
    ;;
  test)
    shift
    install_system test
    install_node_modules
    build
    say "running the test suite"
    files=("$@")
    [ ${#files[@]} -gt 0 ] || files=(test/*.test.ts)
    exec node --import tsx --test --test-concurrency=1 --test-timeout=900000 "${files[@]}"
    ;;
  *)
    echo "usage: ./run.sh demo [DIR] | ./run.sh test [TESTFILE...]" >&2
    exit 2
    ;;
esac
