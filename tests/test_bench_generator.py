"""The rule that keeps the load generator from measuring itself: pure, no servers."""

from __future__ import annotations

from bench.generator import CORE_LIMIT, PROCESS_LIMIT, more_processes, verdict


def test_a_run_below_the_limits_is_not_marked() -> None:
    """Every process under 0.8 of a core and the core not saturated: no mark."""
    assert verdict({"driver": 0.45, "counter0": 0.3}, generator_cores=1) == ""


def test_a_process_above_the_limit_marks_the_run() -> None:
    """One process above 0.8 of a core marks the run and names the process."""
    why = verdict({"driver": 0.81, "counter0": 0.05}, generator_cores=1)
    assert "driver" in why and "0.81" in why and "counter0" not in why


def test_exactly_at_the_limit_is_not_above_it() -> None:
    """The limit itself is allowed: only a process above it marks the run."""
    assert verdict({"driver": PROCESS_LIMIT}, generator_cores=2) == ""


def test_processes_together_saturating_the_generator_cores_mark_the_run() -> None:
    """Several processes each under the limit that together fill the core mark the run too."""
    why = verdict({"driver": 0.5, "counter0": 0.45}, generator_cores=1)
    assert "of its 1 core(s)" in why
    # The same load on two generator cores is well within their capacity.
    assert verdict({"driver": 0.5, "counter0": 0.45}, generator_cores=2) == ""
    assert verdict({"a": CORE_LIMIT / 2, "b": CORE_LIMIT / 2}, generator_cores=1) == ""


def test_a_hot_counting_process_gets_split() -> None:
    """A counting process at 0.9 of a core: the next layout puts fewer subscribers in each."""
    smaller = more_processes({"driver": 0.3, "counter0": 0.9}, counting=1000, current=5000)
    assert smaller is not None and smaller < 1000
    # Near half the limit afterwards: 0.9 over 3 processes is 0.3 each.
    assert smaller == 334


def test_a_hot_driver_cannot_be_split() -> None:
    """Probes and the publisher share one process: the run stays marked, no new layout."""
    assert more_processes({"driver": 0.95, "counter0": 0.2}, counting=1000, current=5000) is None


def test_splitting_stops_at_the_smallest_useful_process() -> None:
    """Processes never get smaller than the floor, and an unchanged layout is no retry."""
    assert more_processes({"counter0": 0.95}, counting=200, current=125) is None
    assert more_processes({"counter0": 0.95}, counting=300, current=300) == 125
    assert more_processes({"counter0": 0.95}, counting=0, current=5000) is None
