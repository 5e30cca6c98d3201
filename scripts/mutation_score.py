"""The mutation score of each module, from the results ``mutmut run`` left in mutants/.

Prints a Markdown table (mutants, killed, survived, no test reaches it, score) for
docs/testing.md, and exits 1 when a module scores below the target (90%). A mutant
counts as killed when a test failed on it (mutmut's exit codes 1 and 3) or it ran past
its timeout (the mutant made the code loop). Run from the repository root after
``mutmut run``: ``.venv/bin/python scripts/mutation_score.py``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3}
SURVIVED = {0}
NO_TESTS = {5, 33}
TIMEOUT = {24, -24, 36, 152, 255}
# Where mutmut leaves its results: one .meta file per module, named here by its path
# under src/hubbub/ (protocol/search.py, hub/sequencer.py, client/cursor.py).
ROOT = Path("mutants/src/hubbub")
# docs/testing.md: at least this share of every module's mutants killed.
TARGET_PERCENT = 90.0


def module_counts(meta: Path) -> Counter[str]:
    codes = json.loads(meta.read_text())["exit_code_by_key"].values()
    counts: Counter[str] = Counter()
    for code in codes:
        if code in KILLED or code in TIMEOUT:
            counts["killed"] += 1
        elif code in SURVIVED:
            counts["survived"] += 1
        elif code in NO_TESTS:
            counts["no tests"] += 1
        else:
            counts["other"] += 1
        counts["mutants"] += 1
    return counts


def main() -> int:
    metas = sorted(ROOT.rglob("*.py.meta"))
    if not metas:
        print("no results in mutants/: run `.venv/bin/mutmut run --max-children 1` first")
        return 1
    print("| module | mutants | killed | survived | no test reaches it | score |")
    print("|---|---|---|---|---|---|")
    total: Counter[str] = Counter()
    below = []
    for meta in metas:
        counts = module_counts(meta)
        if not counts["mutants"]:
            continue
        total += counts
        name = meta.relative_to(ROOT).as_posix().removesuffix(".meta")
        print(_row(f"`{name}`", counts))
        if _score(counts) < TARGET_PERCENT:
            below.append(name)
    print(_row("all", total))
    if total["other"]:
        print(f"\n{total['other']} mutants not checked or suspicious: re-run mutmut")
    if below:
        print(f"\nbelow the {TARGET_PERCENT:g}% target: {', '.join(below)}")
        return 1
    return 0


def _score(counts: Counter[str]) -> float:
    return 100 * counts["killed"] / counts["mutants"]


def _row(name: str, counts: Counter[str]) -> str:
    return (
        f"| {name} | {counts['mutants']} | {counts['killed']} | {counts['survived']}"
        f" | {counts['no tests']} | {_score(counts):.1f}% |"
    )


if __name__ == "__main__":
    sys.exit(main())
