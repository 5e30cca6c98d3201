#!/usr/bin/env bash
# Re-resolves every dependency (runtime, test and bench tools) in a throw-away virtual
# environment and writes the exact versions to requirements/lock.txt, which
# scripts/setup.sh installs from. Run it to move to newer releases, then run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q ".[test,bench]"
{
  echo "# Exact versions the tests, checks and benchmark run on; made by scripts/lock.sh."
  echo "# Python $("$tmp/venv/bin/python" -c 'import platform; print(platform.python_version())'), $(date -u +%Y-%m-%d)."
  "$tmp/venv/bin/pip" freeze --all --exclude hubbub --exclude setuptools --exclude wheel
} > requirements/lock.txt
echo "requirements/lock.txt: $(grep -vc '^#' requirements/lock.txt) packages"
