"""The loop-lag probe on a real event loop: a stall, and the part of it the process ran."""

from __future__ import annotations

import asyncio
import time

from hubbub.ops.probes import WINDOW, LoopLagProbe, MinuteMax, busy_part


def test_the_busy_part_is_at_most_the_cpu_used() -> None:
    assert busy_part(0.030, 0.100) == 0.030  # busy the whole time: all of it
    assert busy_part(0.030, 0.010) == 0.010  # ran 10 ms of it: the rest was others'
    assert busy_part(0.030, -0.001) == 0.0


def test_stalls_and_busy_stalls_are_kept_per_second_for_the_window() -> None:
    probe = LoopLagProbe()
    probe.record(100.2, 0.004, 0.004)
    probe.record(100.7, 0.030, 0.020)
    probe.record(100.9, 0.010, 0.010)  # not the second's longest
    probe.record(130.0, 0.002, 0.001)
    assert probe.busy_stall(130.5) == 0.020
    assert probe.busy_stall(100 + WINDOW + 0.5) == 0.020
    assert probe.busy_stall(101 + WINDOW) == 0.001  # second 100 left the window
    assert LoopLagProbe().busy_stall(5.0) == 0.0
    assert probe.longest_stall(130.5) == 0.030  # the stalls themselves, the same window
    assert probe.longest_stall(101 + WINDOW) == 0.002
    assert LoopLagProbe().longest_stall(5.0) == 0.0


async def _stalled_by(
    block: float, spin: bool, told: list[float] | None = None
) -> tuple[float, float]:
    """The probe's (stall, busy stall) after one callback holds the loop ``block`` s;
    ``told`` gets every firing's lateness."""
    loop = asyncio.get_running_loop()
    probe = LoopLagProbe(interval=0.01, on_fired=None if told is None else told.append)
    probe.start(loop)
    try:
        await asyncio.sleep(0.02)
        if spin:  # by CPU time, not the clock: a loaded machine may take the core meanwhile
            end = time.process_time() + block
            while time.process_time() < end:
                pass
        else:
            time.sleep(block)  # noqa: ASYNC251 - the point: the loop blocked, not running
        await asyncio.sleep(0.05)  # the probe fires, late, then on time
        return probe.take(), probe.busy_stall(loop.time())
    finally:
        probe.stop()


async def test_a_busy_callback_is_a_busy_stall() -> None:
    stall, busy = await _stalled_by(0.08, spin=True)
    assert stall >= 0.06
    assert busy >= 0.06  # it ran at least 80 ms of CPU since the probe's timer was set


async def test_a_stall_the_process_did_not_run_is_not_busy() -> None:
    """What the probe cannot tell from the kernel giving the core away: a wait without
    CPU. The stall counts it; the busy stall does not."""
    stall, busy = await _stalled_by(0.08, spin=False)
    assert stall >= 0.06
    assert busy < 0.03


async def test_every_firing_is_told_how_late_it_was() -> None:
    told: list[float] = []
    stall, _ = await _stalled_by(0.08, spin=False, told=told)
    assert len(told) >= 3  # before the block, the late one, after it
    assert max(told) == stall
    assert sorted(told)[-2] < 0.06  # only the one firing is late


def test_the_minute_max_keeps_each_seconds_largest_for_the_window() -> None:
    largest = MinuteMax()
    assert largest.longest(5.0) == 0.0
    largest.record(100.1, 0.2)
    largest.record(100.8, 0.1)  # the same second: the larger stays
    largest.record(101.5, 0.05)
    assert largest.longest(101.9) == 0.2
    assert largest.longest(100 + WINDOW + 0.9) == 0.2
    assert largest.longest(101 + WINDOW) == 0.05  # second 100 left the window
    assert largest.longest(102 + WINDOW) == 0.0
