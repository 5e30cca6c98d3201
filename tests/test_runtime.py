"""The server's garbage-collector tuning."""

from __future__ import annotations

import gc

from hubbub.runtime import YOUNG_THRESHOLD, tune_gc


def test_tune_gc_freezes_start_up_objects_and_raises_the_threshold() -> None:
    """After tune_gc, start-up objects are frozen and the young threshold is raised."""
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
