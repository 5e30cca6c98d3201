"""The server's log lines: each one starts with when it happened, in UTC.

``2026-12-07T09:44:11.123Z hubbub listening on ...``: an operator reading a file or a
pipe (not every service manager stamps lines) can tell when a worker died or a shutdown
began, and lines of several machines sort together.
"""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s.%(msecs)03dZ %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


class UTCFormatter(logging.Formatter):
    def converter(self, seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)


def configure_logging() -> None:
    """Standard error, INFO and above, every line stamped (``hubbub serve`` and each of
    its ``--workers``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(UTCFormatter(FORMAT, DATE_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
