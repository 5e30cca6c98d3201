#!/usr/bin/env bash
# Mutation testing of the pure core, src/hubbub/protocol/ (docs/testing.md): mutmut
# changes the code one small edit at a time and runs the protocol's unit tests
# ([tool.mutmut] in pyproject.toml) on each; a mutant no test fails on is a rule the
# tests do not pin. Not part of scripts/test.sh: a few minutes on one core.
# Prints the score of each module; `.venv/bin/mutmut results` lists the survivors and
# `.venv/bin/mutmut show NAME` shows one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
# A fresh run: mutmut keeps the verdicts of earlier runs and would not retry a survivor
# against tests written since.
rm -rf mutants
# One worker: the machine is shared, and the forked test runs are short.
.venv/bin/mutmut run --max-children 1 >/dev/null
.venv/bin/python scripts/mutation_score.py
