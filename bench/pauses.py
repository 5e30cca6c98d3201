"""Keeping the load generator's own pauses out of what it measures.

A generator that times deliveries measures itself whenever it stops reading. The chat
generator (``bench.chat``) holds 15,000 users' sockets and parses two dicts per
delivery with orjson (hubbub's JSON frames; Nchan's are split as bytes), so CPython's
cyclic collector ran a full pass over every user's objects about 4 s into the message
phase: 64-67 ms in which no socket was read, and every message then in flight was
counted that much later. In two runs at 15,000 users and 5,000 msg/s that one pass
held 6,900 and 5,100 of the 9,100 deliveries over the run's p99, and made its max (70
ms against a p99 of 18-24). The generator makes no garbage that needs the collector
(its frames and messages are freed by reference counting), so it runs without one.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Collect once, move what is alive out of the collector's sight, and run with the
    collector off; on the way out, everything as it was."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
