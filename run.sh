#!/usr/bin/env bash
# riots' two commands on a fresh Debian 12 machine with Node 20:
#   ./run.sh demo [DIR]   install what is missing, build, and run `riots demo`
#   ./run.sh test         install what is missing (test tools too), build, and run the whole test suite
# Every install step is idempotent and says what it does.
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '[riots] %s\n' "$*" >&2; }

# Test-only tools: the Python GDAL + numpy oracle, ps, GNU time (benchmarks), SLURM with munge
# (test/slurm.test.ts starts a one-node cluster: test/slurm/start.sh), and SLURM's PBS/Torque
# commands qsub, qstat and qdel (test/pbs.test.ts runs CW_PBS through them on that cluster).
TEST_DEBS=(python3-gdal python3-numpy procps time slurm-wlm munge slurm-wlm-torque)

install_test_tools() {
  local missing=() p
  for p in "${TEST_DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing test tools (Debian): ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "test tools present: ${TEST_DEBS[*]}"
  fi
}

# GDAL, npm dependencies (gdal-async compiled against the system GDAL), the build and the
# `riots` command: the same script the worker image runs (aws/install.sh), so CI exercises it.
install_riots() {
  say "aws/install.sh (system GDAL, npm ci, build; each step skipped when done)"
  bash aws/install.sh
}

cmd="${1:-}"
case "$cmd" in
  demo)
    shift
    install_riots
    exec node dist/cli/main.js demo "$@"
    ;;
  test)
    shift
    install_test_tools
    install_riots
    say "type-checking sources, tests and benchmarks (tsconfig.test.json)"
    node_modules/.bin/tsc -p tsconfig.test.json --noEmit
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
