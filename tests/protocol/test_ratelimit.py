"""The publish token bucket (``hubbub.protocol.ratelimit``), with the time passed in.

Times and rates are binary fractions (0.25, 0.5, 2.0) so every expected number is exact.
"""

from __future__ import annotations

import pytest

from hubbub.protocol.ratelimit import RateLimiter, retry_after_header


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0), (1.0, -1)])
def test_rate_and_burst_are_checked(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match=r"^rate must be positive and burst at least 1$"):
        RateLimiter(rate, burst)


def test_the_smallest_limiter() -> None:
    """The limits themselves are accepted: any positive rate, a burst of 1."""
    limiter = RateLimiter(rate=0.5, burst=1)
    assert (limiter.rate, limiter.burst, len(limiter)) == (0.5, 1, 0)
    assert limiter.take("a", 10.0) == 0.0  # the one token of the burst
    assert limiter.take("a", 10.0) == 2.0  # then one per 1/rate seconds
    assert limiter.take("a", 11.0) == 1.0  # half a token has come back
    assert limiter.take("a", 12.0) == 0.0


def test_burst_then_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", 0.0) == 0.5
    assert limiter.take("a", 0.25) == 0.25  # half a token back: the other half to wait
    assert limiter.take("a", 0.5) == 0.0  # exactly one token: spent
    assert limiter.take("a", 0.5) == 0.5
    assert limiter.take("b", 0.5) == 0.0  # clients are independent
    assert len(limiter) == 2


def test_a_refused_take_costs_nothing() -> None:
    """A refusal spends no token: the client waits what it was told, not longer."""
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.take("a", 0.0) == 0.0
    assert limiter.take("a", 0.0) == 1.0
    assert limiter.take("a", 0.0) == 1.0
    assert limiter.take("a", 0.5) == 0.5
    assert limiter.take("a", 1.0) == 0.0


def test_refill_stops_at_the_burst() -> None:
    limiter = RateLimiter(rate=1.0, burst=2)
    assert limiter.take("a", 0.0) == 0.0
    # An hour idle refills the bucket to 2 tokens, not 3,601.
    assert [limiter.take("a", 3600.0) for _ in range(3)] == [0.0, 0.0, 1.0]


def test_forget_idle_drops_only_full_buckets() -> None:
    """A bucket is full again burst/rate seconds after its last take."""
    limiter = RateLimiter(rate=2.0, burst=4)  # refills in 2 s
    limiter.take("early", 0.0)
    limiter.take("late", 1.0)
    limiter.forget_idle(1.75)
    assert len(limiter) == 2
    limiter.forget_idle(2.0)  # "early" is full: forgotten; "late" has 1 s to go
    assert len(limiter) == 1
    # "late" kept its bucket: 3 tokens at 1.0, 4 (the burst) by now.
    assert [limiter.take("late", 2.0) for _ in range(5)] == [0.0, 0.0, 0.0, 0.0, 0.5]
    limiter.forget_idle(3.999)
    assert len(limiter) == 1
    limiter.forget_idle(4.0)
    assert len(limiter) == 0


def test_a_forgotten_client_starts_with_a_full_bucket() -> None:
    limiter = RateLimiter(rate=1.0, burst=2)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    limiter.forget_idle(2.0)
    assert len(limiter) == 0
    assert [limiter.take("a", 2.0) for _ in range(3)] == [0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("seconds", "header"),
    [(0.0, "1"), (0.01, "1"), (0.999, "1"), (1.0, "1"), (1.001, "2"), (2.0, "2"), (59.5, "60")],
)
def test_retry_after_is_whole_seconds_at_least_one(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header
