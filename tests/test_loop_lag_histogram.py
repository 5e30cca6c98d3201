"""The event loop's lag histogram (Stats.count_loop_lag, /metrics'
hubbub_event_loop_lag_seconds): cumulative buckets, as Prometheus reads them."""

from __future__ import annotations

from hubbub.stats import LAG_BOUNDS, Stats


def test_each_firing_counts_in_every_bucket_at_or_above_it() -> None:
    stats = Stats()
    for late in (0.0, 0.005, 0.006, 0.010, 0.011, 0.3, 2.0):
        stats.count_loop_lag(late)
    counts = dict(zip(LAG_BOUNDS, stats.loop_lag_buckets, strict=True))
    assert counts[0.005] == 2  # 0 and exactly 5 ms: a bucket counts what is at or under
    assert counts[0.01] == 4
    assert counts[0.025] == 5
    assert counts[0.25] == 5
    assert counts[0.5] == 6
    assert counts[1.0] == 6  # 2 s: only in +Inf, which is the count
    assert stats.loop_lag_count == 7
    assert abs(stats.loop_lag_seconds - 2.332) < 1e-9
    # Stalls over 10 ms, as the HELP text says to read them: the count less le="0.01".
    assert stats.loop_lag_count - counts[0.01] == 3
