"""The rule that keeps the load generator from measuring itself.

Every generator process reports its CPU time over a run. A process above
``PROCESS_LIMIT`` of a core, or the generator's cores together above ``CORE_LIMIT`` of
their capacity, may have been the limit instead of the server: such a run is marked and
no ratio or median uses it. Counting subscribers can be spread over more processes, so
when a counting process was the one above the limit the suite repeats the run with more
of them (``more_processes``); the driver (probes and the publisher, which must share a
process so that the probes clock a flood) and wrk cannot be split.
"""

from __future__ import annotations

import math

PROCESS_LIMIT = 0.8  # of one core, per generator process
CORE_LIMIT = 0.9  # of all the generator's cores, all processes together
MIN_PER_PROCESS = 125  # counting subscribers: below this a process is mostly overhead
COUNTER_PREFIX = "counter"


def verdict(per_process: dict[str, float], generator_cores: int) -> str:
    """Why the generator may have limited a run ("" when it did not).

    ``per_process`` is each process's CPU time over the run divided by the run's wall
    time (1.0 = one core).
    """
    over = sorted(
        (name for name, cpu in per_process.items() if cpu > PROCESS_LIMIT),
        key=lambda name: -per_process[name],
    )
    reasons = [
        f"generator process {name} used {per_process[name]:.2f} of a core (limit {PROCESS_LIMIT:g})"
        for name in over
    ]
    total = sum(per_process.values())
    capacity = max(1, generator_cores)
    if total > CORE_LIMIT * capacity:
        reasons.append(
            f"generator used {total:.2f} of its {capacity} core(s) (limit {CORE_LIMIT:g} each)"
        )
    return "; ".join(reasons)


def more_processes(per_process: dict[str, float], counting: int, current: int) -> int | None:
    """The next ``per_process`` (counting subscribers per process) to try, or None.

    None when no counting process was above the limit (there is nothing to split), or
    when processes are already as small as they usefully get.
    """
    hot = [
        cpu
        for name, cpu in per_process.items()
        if name.startswith(COUNTER_PREFIX) and cpu > PROCESS_LIMIT
    ]
    if not hot or counting <= 0:
        return None
    # Spread the load so the hottest process would land near half the limit.
    factor = max(2, math.ceil(max(hot) / (PROCESS_LIMIT / 2)))
    size = max(MIN_PER_PROCESS, math.ceil(min(current, counting) / factor))
    return size if size < min(current, counting) else None
