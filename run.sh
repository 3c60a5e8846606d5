#!/usr/bin/env bash
# riots' two commands on a fresh Debian 12 machine with Node 20:
#   ./run.sh demo [DIR]   install what is missing, build, and run `riots demo`
#   ./run.sh test         install what is missing (test tools too), build, lint, and run both test suites
#   ./run.sh test unit | integration | lint | FILE...   one suite, the lint alone, or named test files
# Every install step is idempotent and says what it does.
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '[riots] %s\n' "$*" >&2; }

# Test-only tools: the Python GDAL + numpy oracle, ps, GNU time (benchmarks), SLURM with munge
# (test/slurm.test.ts starts a one-node cluster: test/slurm/start.sh), and SLURM's PBS/Torque
# commands qsub, qstat and qdel (test/pbs.test.ts runs CW_PBS through them on that cluster), and
# chromium, the browser the run report tests drive through playwright-core (test/helpers/browser.ts).
# test/containers/setup.sh adds podman (when no Docker engine answers) for the image tests.
TEST_DEBS=(python3-gdal python3-numpy procps time slurm-wlm munge slurm-wlm-torque chromium)

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
  # A container engine for the image tests: Docker if it answers, else podman set up for this
  # machine, with aws/Dockerfile's base image made locally when it cannot be pulled.
  say "container engine (test/containers/setup.sh)"
  bash test/containers/setup.sh >&2
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
    suite="${1:-all}"
    if [ "$suite" = all ] || [ "$suite" = lint ]; then
      say "lint: eslint (errors fail; non-null assertions are warnings, counted) and prettier --check (npm run lint)"
      lintlog="$(mktemp)"
      if ! npm run -s lint >"$lintlog" 2>&1; then grep -v ' warning ' "$lintlog" >&2; rm -f "$lintlog"; exit 1; fi
      grep -E 'problems|Prettier' "$lintlog" >&2 || true
      rm -f "$lintlog"
    fi
    unit=() integration=()
    case "$suite" in
      all | unit | integration | lint) ;;
      *) # test files named on the command line
        exec node --import tsx --test --test-concurrency=1 --test-timeout=900000 "$@" ;;
    esac
    mapfile -t unit < <(find test/unit -name '*.test.ts' | LC_ALL=C sort)
    mapfile -t integration < <(find test/integration -name '*.test.ts' | LC_ALL=C sort)
    if [ "$suite" = all ] || [ "$suite" = unit ]; then
      say "unit suite: ${#unit[@]} files (pure code: no GDAL subprocess, no worker process, no cluster)"
      node --import tsx --test --test-timeout=120000 "${unit[@]}"
    fi
    if [ "$suite" = all ] || [ "$suite" = integration ]; then
      say "integration suite: ${#integration[@]} files (GDAL and its Python oracle, worker processes, SLURM, the local AWS endpoint)"
      exec node --import tsx --test --test-concurrency=1 --test-timeout=900000 "${integration[@]}"
    fi
    ;;
  *)
    echo "usage: ./run.sh demo [DIR] | ./run.sh test [unit | integration | lint | TESTFILE...]" >&2
    exit 2
    ;;
esac
