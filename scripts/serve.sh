#!/usr/bin/env bash
# Sets up hubbub in .venv (first run only) and starts the server on 127.0.0.1:8000.
# Any flag of `hubbub serve` may follow, e.g. scripts/serve.sh --port 9000 --store memory
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/hubbub serve "$@"
