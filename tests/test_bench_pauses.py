"""The chat generator's collector is off while it measures, and restored after."""

from __future__ import annotations

import gc

import pytest
from bench.pauses import collector_paused


def test_the_collector_is_off_inside_and_as_it_was_after() -> None:
    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    kept: list[list[int]] = [[] for _ in range(100)]  # alive on the way in: frozen inside
    with collector_paused():
        assert not gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(kept)
        cycle: list[object] = []
        cycle.append(cycle)
        assert gc.get_count()[0] > 0  # allocations counted, but no pass runs
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_collector_off_before_stays_off_and_an_error_restores_it() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a run that fails")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
