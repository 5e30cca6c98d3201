#!/usr/bin/env bash
# Creates .venv with hubbub and its test tools, at the exact versions of
# requirements/lock.txt (made by scripts/lock.sh), so every machine runs what CI ran.
# Idempotent; used by serve.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.installed${extras:+-$extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements/lock.txt -nt "$stamp" ]; then
  "$venv/bin/pip" install -q "$(grep "^pip==" requirements/lock.txt)"
  "$venv/bin/pip" install -q -c requirements/lock.txt -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
