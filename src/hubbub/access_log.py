"""The access log (``--access-log PATH``, ``-`` for standard error): one JSON line per
request, or per stream when it ends.

Each line: ``time`` (when the answer ended, ISO 8601 UTC), ``address`` (the client's,
behind a trusted proxy the one it named: ``protocol/forwarded.py``), ``method``,
``route`` (the path, never the query: ``?token=`` is where browsers put a token, and no
header is logged either), ``status``, ``duration`` (seconds from the request head to
the end of the answer or stream) and ``bytes`` (sent, headers included; a stream's
messages included).

The connections (``front/``) write here through :func:`log_answer` (an answer, as it
goes out; ``499`` for a request whose client left before its answer, as nginx logs it)
and :class:`StreamAccess` (a stream, when it ends).
A file is reopened when logrotate moves it (``WatchedFileHandler``).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from datetime import UTC, datetime

import orjson

LOGGER = "hubbub.access"


def open_access_log(destination: str) -> logging.Logger:
    """The access log's logger, writing to ``destination`` (a path, or ``-``); OSError
    if the file cannot be opened."""
    logger = logging.getLogger(LOGGER)
    close_access_log(logger)  # a second server in this process (tests) starts afresh
    handler: logging.Handler
    if destination == "-":
        handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.handlers.WatchedFileHandler(destination, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # its own destination, not the server's log
    return logger


def close_access_log(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def access_line(
    address: str, method: str, target: str, status: int, duration: float, sent: int
) -> str:
    """One line of the log; ``target`` loses its query here, whatever it holds."""
    line = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "address": address,
        "method": method,
        "route": target.partition("?")[0],
        "status": status,
        "duration": round(duration, 6),
        "bytes": sent,
    }
    return orjson.dumps(line).decode()


def log_answer(
    logger: logging.Logger,
    address: str,
    method: str,
    target: str,
    status: int,
    started: float,
    sent: int,
) -> None:
    """An answer or stream ended (``started``: ``time.monotonic()`` at its head)."""
    duration = time.monotonic() - started
    logger.info(access_line(address, method, target, status, duration, sent))


class StreamAccess:
    """A stream's line, written once when it ends (by whichever end comes first)."""

    __slots__ = ("_logger", "_written", "address", "method", "started", "target")

    def __init__(self, logger: logging.Logger, address: str, method: str, target: str) -> None:
        self._logger = logger
        self.started = time.monotonic()
        self.address = address
        self.method = method
        self.target = target
        self._written = False

    def ended(self, status: int, sent: int) -> None:
        if self._written:
            return
        self._written = True
        log_answer(self._logger, self.address, self.method, self.target, status, self.started, sent)
