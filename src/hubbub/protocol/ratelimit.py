"""Per-client publish rate limiting: a token bucket per client address.

Pure: the caller passes the time, so tests need no clock. A client may publish
``rate`` messages per second on average, with bursts of up to ``burst``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by client; forgets clients whose bucket is full again."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, client: str, now: float) -> float:
        """Spend one token for ``client``: 0.0 if allowed, else seconds until one is free."""
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled: an idle client costs no memory."""
        refill = self.burst / self.rate
        self._buckets = {
            client: bucket
            for client, bucket in self._buckets.items()
            if now - bucket.updated < refill
        }

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` takes whole seconds (RFC 9110 section 10.2.3): round up."""
    return str(max(1, math.ceil(seconds)))
