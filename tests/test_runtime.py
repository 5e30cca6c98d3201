"""The server's garbage-collector tuning."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable

import pytest

from hubbub.commands import running
from hubbub.runtime import (
    SWITCH_INTERVAL,
    YOUNG_THRESHOLD,
    CollectorPolicy,
    freeze_survivors,
    tune_gc,
    tune_threads,
)
from hubbub.server import Server
from hubbub.settings import Settings


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


def in_sight() -> Callable[[object], bool]:
    """Whether an object is in a generation the collector walks (not frozen)."""
    seen = {id(item) for item in gc.get_objects()}
    return lambda item: id(item) in seen


class Node:
    """Something long-lived, as a connection's objects are."""

    def __init__(self) -> None:
        self.other: Node | None = None


def test_survivors_are_frozen_and_young_cycles_freed_first() -> None:
    """freeze_survivors: garbage of the younger generations is collected, not frozen;
    what lives is moved out of every later pass's sight."""
    before = gc.get_threshold()
    try:
        gc.collect()
        gc.freeze()
        frozen = gc.get_freeze_count()
        lives = [Node() for _ in range(1000)]
        for _ in range(500):  # dead cycles, young: a pass must free them, not freeze them
            a, b = Node(), Node()
            a.other, b.other = b, a
        del a, b
        freeze_survivors()
        newly_frozen = gc.get_freeze_count() - frozen
        assert 1000 <= newly_frozen < 1500  # the living nodes (and their dicts), no cycle
        assert not any(map(in_sight(), lives))
        assert gc.collect() == 0  # nothing left for a full pass to find
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_the_policy_freezes_on_its_interval_until_stopped() -> None:
    loop = asyncio.get_running_loop()
    policy = CollectorPolicy(loop, interval=0.01)
    try:
        gc.unfreeze()
        policy.start()
        kept = [Node() for _ in range(100)]
        async with asyncio.timeout(5):
            while gc.get_freeze_count() < len(kept):
                await asyncio.sleep(0.01)
        policy.stop()
        assert not any(map(in_sight(), kept))
        more = [Node() for _ in range(100)]
        await asyncio.sleep(0.05)  # five intervals: a stopped policy does nothing more
        assert all(map(in_sight(), more))
    finally:
        policy.stop()
        gc.unfreeze()


def test_tune_threads_shortens_the_switch_interval() -> None:
    """A thread waiting for the GIL (the SQLite writer's) gets it from a busy loop sooner."""
    before = sys.getswitchinterval()
    try:
        tune_threads()
        assert sys.getswitchinterval() == SWITCH_INTERVAL < before
    finally:
        sys.setswitchinterval(before)


async def test_serve_freezes_the_start_up_heap_before_the_server_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The full collection of what the imports built (about 25 ms) is made before the
    server listens and before its stall probe starts, not once clients may connect."""
    seen: list[int] = []

    async def start(self: Server) -> None:
        seen.append(gc.get_threshold()[0])
        raise RuntimeError("stop here")

    monkeypatch.setattr(Server, "start", start)
    monkeypatch.setenv("HUBBUB_GC_TUNE", "1")
    before, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(700, *before[1:])
    try:
        with pytest.raises(RuntimeError, match="stop here"):
            await running.serve(Settings(store="memory", port=0))
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        sys.setswitchinterval(interval)
    assert seen == [YOUNG_THRESHOLD]
