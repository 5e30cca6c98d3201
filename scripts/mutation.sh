#!/usr/bin/env bash
# Mutation testing of the pure core, src/hubbub/protocol/, and of the seams' pure parts,
# hub/sequencer.py and client/cursor.py (docs/testing.md): mutmut changes the code one
# small edit at a time and runs their unit tests ([tool.mutmut] in pyproject.toml) on
# each; a mutant no test fails on is a rule the tests do not pin. Not part of
# scripts/test.sh: about six minutes on one core.
# Prints the score of each module and fails if one is below 90%. Then
# `.venv/bin/mutmut results` lists the survivors and `.venv/bin/mutmut show NAME` one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
# A fresh run: mutmut keeps the verdicts of earlier runs and would not retry a survivor
# against tests written since.
rm -rf mutants
# One worker: the machine is shared, and the forked test runs are short. mutmut's
# progress display goes to a log, shown only if the run itself fails.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! .venv/bin/mutmut run --max-children 1 >"$log" 2>&1; then
  tail -c 4000 "$log"
  exit 1
fi
# Exits 1 if a module is below the target of docs/testing.md.
.venv/bin/python scripts/mutation_score.py
