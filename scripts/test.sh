#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine, then runs lint, types and tests.
# Extra arguments go to pytest, e.g. scripts/test.sh -k websocket
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: a real redis-server, nginx (the proxy tests run the configs shipped in
# deploy/nginx) and Debian's Chromium (Playwright's own browser download does not work
# here). Installed only when missing.
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || need+=(nginx)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

scripts/setup.sh test

# Node.js clients of the tutorial dialect, when Node is on the machine.
if command -v npm >/dev/null 2>&1 && [ -f tests/compat_node/package.json ]; then
  (cd tests/compat_node && npm install --no-audit --no-fund --silent >/dev/null)
fi

# Autobahn|Testsuite's fuzzing client (Python 2.7, from pyenv) for tests/test_autobahn.py;
# without a Python 2.7 that test skips and says why.
scripts/autobahn-setup.sh || echo "Autobahn|Testsuite not set up: tests/test_autobahn.py will skip"

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
