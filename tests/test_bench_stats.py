"""The benchmark's medians and spreads, and which runs a figure may use: pure, no servers."""

from __future__ import annotations

from typing import Any

import pytest
from bench.stats import figure, figures, median_spread, spread_text, unusable


def _run(key: str, dps: float, p99: float, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "spec": {"scenario": "fanout", "server": key.split("/")[1]},
        "deliveries_per_s": dps,
        "latency": {"p50_ms": p99 / 2, "p99_ms": p99},
        "streams": {"subscribers": 1000, "complete": 1000, "lost": 0},
        "sustained": True,
        "publish": {"aborted": ""},
        **extra,
    }


def test_median_of_odd_and_even_counts_with_min_max() -> None:
    """The median is the middle value (the mean of the two middle ones) and the spread its range."""
    odd = median_spread([3.0, 1.0, 2.0])
    assert odd is not None and (odd.median, odd.low, odd.high, odd.n) == (2.0, 1.0, 3.0, 3)
    even = median_spread([4.0, 1.0, 3.0, 2.0])
    assert even is not None and (even.median, even.low, even.high, even.n) == (2.5, 1.0, 4.0, 4)


def test_missing_and_nan_values_are_left_out() -> None:
    """None and NaN (an unmeasured figure) do not count; nothing left gives None."""
    s = median_spread([None, float("nan"), 5.0, 7.0])  # type: ignore[list-item]
    assert s is not None and (s.median, s.n) == (6.0, 2)
    assert median_spread([float("nan")]) is None
    assert median_spread([]) is None


def test_figure_is_the_median_of_its_runs_with_spread() -> None:
    """Every metric of a figure is the median over the runs, its min-max kept beside it."""
    key = "fanout/hubbub/ws/n1000/r1/flood/http/d8"
    fig = figure([_run(key, 900e3, 30.0), _run(key, 1.2e6, 10.0), _run(key, 1.0e6, 20.0)])
    assert fig["deliveries_per_s"] == 1.0e6
    assert fig["latency"]["p99_ms"] == 20.0
    assert fig["latency"]["p50_ms"] == 10.0
    assert fig["spread"]["deliveries_per_s"] == [900e3, 1.2e6]
    assert fig["spread"]["latency.p99_ms"] == [10.0, 30.0]
    assert fig["runs_used"] == 3 and fig["excluded"] == []
    assert fig["streams"]["subscribers"] == 3000 and fig["streams"]["complete"] == 3000
    assert spread_text(fig, "deliveries_per_s", 1e-3, 0) == " (900-1,200)"


def test_generator_bound_and_failed_runs_are_never_used() -> None:
    """A marked or failed run is counted as excluded and does not move the median."""
    key = "fanout/nchan/ws/n1000/r1/flood/http/d8"
    runs = [
        _run(key, 400e3, 50.0),
        _run(key, 9e9, 1.0, generator_bound="generator process driver used 0.95 of a core"),
        {"key": key, "spec": {}, "failure": "RuntimeError: gone"},
        _run(key, 500e3, 40.0),
    ]
    fig = figure(runs)
    assert fig["deliveries_per_s"] == 450e3
    assert fig["runs_used"] == 2
    assert sorted(fig["excluded"]) == ["failed", "generator-bound"]
    assert unusable(runs[1]) == "generator-bound"
    assert unusable(runs[0]) == ""


def test_a_key_with_no_usable_run_says_so() -> None:
    """With every run excluded the figure keeps the last record and uses none."""
    key = "publish/hubbub/ws/n0/r8/closed/wrk/64x1"
    fig = figure([_run(key, 1.0, 1.0, generator_bound="generator used 0.95 of its 1 core(s)")])
    assert fig["runs_used"] == 0 and fig["excluded"] == ["generator-bound"]
    assert spread_text(fig, "deliveries_per_s") == ""


def test_not_sustained_in_any_run_makes_the_figure_not_sustained() -> None:
    """A figure is sustained only when every run it uses was."""
    key = "fanout/hubbub/ws/n1000/r1/paced/2000/http/d8"
    fig = figure([_run(key, 1e6, 10.0), _run(key, 1e6, 10.0, sustained=False)])
    assert fig["sustained"] is False


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1)])
def test_figures_group_by_key_in_first_seen_order(order: tuple[int, int, int]) -> None:
    """Runs of several keys, interleaved as the suite alternates servers, give one figure each."""
    keys = [f"fanout/{s}/ws/n1000/r1/flood/http/d8" for s in ("hubbub", "nchan", "uws")]
    runs = [_run(keys[i], 1e5 * (i + 1) + r, 5.0) for r in range(3) for i in order]
    out = figures(runs)
    assert [f["key"] for f in out] == [keys[i] for i in order]
    assert all(f["runs_used"] == 3 for f in out)
    assert out[[keys[i] for i in order].index(keys[2])]["deliveries_per_s"] == 3e5 + 1
