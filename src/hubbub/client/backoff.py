"""Capped exponential backoff with jitter, the same schedule as the browser client."""

from __future__ import annotations

import random
from dataclasses import dataclass

# Past this many doublings the delay is at its cap anyway; avoids float overflow.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between reconnection attempts: ``initial``, ``initial * factor``, ... ``maximum``.

    Each delay is shortened by a random part of up to ``jitter`` of itself, so the
    clients of a restarted server do not all come back in the same instant.
    """

    initial: float = 0.25
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        if self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("backoff needs factor >= 1 and 0 <= jitter <= 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, _MAX_EXPONENT))
        draw = (rng or random).random()
        return base * (1 - self.jitter * draw)
