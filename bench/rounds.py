"""The order of a suite's runs: each measurement repeated, servers alternating.

Runs that differ only by server form a comparison group. A group runs ``repeats``
rounds back to back, every server once per round, the order reversed every other round
(A B C, C B A, A B C), so a slow minute on a shared machine falls on every server
rather than on one. Groups keep the plan's order, so the rates of a paced series still
rise, and a rate is skipped once a lower rate of the same series failed in most of its
runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from bench.orchestrate import RunSpec
from bench.scenarios import series


def comparison_group(spec: RunSpec) -> str:
    """The run's key with the server left out: what a ratio between servers compares."""
    return replace(spec, server="*").key()


def alternate(plan: list[RunSpec], repeats: int) -> Iterator[tuple[int, RunSpec]]:
    """(round, spec) for every run of the suite, in the order they run."""
    groups: dict[str, list[RunSpec]] = {}
    for spec in plan:
        groups.setdefault(comparison_group(spec), []).append(spec)
    for members in groups.values():
        for round_no in range(repeats):
            order = members if round_no % 2 == 0 else members[::-1]
            for spec in order:
                yield round_no, spec


@dataclass
class SeriesOutcomes:
    """Which paced rates of each series were sustained, run by run."""

    sustained: dict[tuple[str, float], list[bool]] = field(default_factory=dict)

    def record(self, spec: RunSpec, ok: bool) -> None:
        if spec.mode == "paced":
            self.sustained.setdefault((series(spec), spec.rate), []).append(ok)

    def skip_reason(self, spec: RunSpec) -> str:
        """Why ``spec`` is not run ("" when it is): a lower rate failed in most runs."""
        if spec.mode != "paced":
            return ""
        for (name, rate), oks in self.sustained.items():
            if name == series(spec) and rate < spec.rate and 2 * oks.count(False) > len(oks):
                return f"{rate:g} msg/s was not sustained in {oks.count(False)}/{len(oks)} runs"
        return ""
