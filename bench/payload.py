"""The benchmark's message text: a sequence number and a send time in 100 bytes.

Every published text starts with a fixed-width token ``~SSSSSSSSSS~TTTTTTTTTTTTTTTTTTT~``
(sequence number in its room, then ``time.time_ns()`` at send) and is padded to 100 bytes.
Fixed width and the ``~`` fence (which JSON never escapes) let a counting subscriber find
every sequence number in raw bytes with one C-speed ``re.findall`` over whatever the
socket returned, whatever framing the server wrapped around it (WebSocket, SSE, HTTP,
Socket.IO), without decoding a single frame. Probes decode fully and read the time too.
"""

from __future__ import annotations

import re
from typing import Final

TEXT_BYTES: Final = 100
_PAD: Final = " the quick brown fox jumps over the lazy dog" * 3

# Sequence only: what a counting subscriber extracts. A match needs 12 bytes, so carrying
# the last 11 bytes of one read into the next finds a token split across reads and can
# never match a token twice (see ``CARRY``).
SEQ_TOKEN: Final = re.compile(rb"~(\d{10})~")
# Sequence and send time: what a probe extracts from a message text it has decoded.
FULL_TOKEN: Final = re.compile(r"~(\d{10})~(\d{19})~")
CARRY: Final = 11


def make_text(seq: int, sent_ns: int) -> str:
    """The 100-byte text for message ``seq`` sent at ``sent_ns`` (``time.time_ns()``)."""
    head = f"~{seq:010d}~{sent_ns:019d}~"
    return (head + _PAD)[:TEXT_BYTES]


def read_text(text: str) -> tuple[int, int]:
    """(sequence, send time in ns) from a text made by ``make_text``; ValueError otherwise."""
    match = FULL_TOKEN.match(text)
    if match is None:
        raise ValueError(f"not a bench payload: {text[:40]!r}")
    return int(match.group(1)), int(match.group(2))


class SeqScanner:
    """Finds sequence numbers in a raw byte stream, across read boundaries."""

    __slots__ = ("_carry",)

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, data: bytes) -> list[int]:
        """The sequence numbers completed by ``data``, in stream order."""
        buf = self._carry + data if self._carry else data
        self._carry = buf[-CARRY:]
        found = SEQ_TOKEN.findall(buf)
        return list(map(int, found)) if found else []
