"""The benchmark's message text: a sequence number and a send time in 100 bytes.

Every published text starts with a fixed-width token ``~SSSSSSSSSS~TTTTTTTTTTTTTTTTTTT~``
(sequence number in its room, then ``time.time_ns()`` at send) and is padded to 100 bytes.
Fixed width and the ``~`` fence (which JSON never escapes) let a counting subscriber
count messages and read the first and last sequence number of each socket read with a
few C calls over the raw bytes, whatever framing the server wrapped around them
(WebSocket, SSE, HTTP, Socket.IO), without decoding a frame. Probes decode fully and
read the send time too.
"""

from __future__ import annotations

import re
from typing import Final

TEXT_BYTES: Final = 100
_PAD: Final = " the quick brown fox jumps over the lazy dog" * 3

# Sequence only: what the exact (slow) path of a counting subscriber extracts.
SEQ_TOKEN: Final = re.compile(rb"~(\d{10})~")
# Every token starts with "~0" (sequence numbers stay below 10**9), and nothing else in
# any framing the servers use does: the send time after the second "~" starts with "1",
# the padding after the third with a space, and a WebSocket length byte of 126 (also "~")
# is followed by a length byte that would be "0" only for frames of 12 KiB and more.
MARK: Final = b"~0"
TOKEN_BYTES: Final = 12
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


def seqs_in(data: bytes) -> list[int]:
    """Every sequence number in ``data``, in order (one regex pass)."""
    return list(map(int, SEQ_TOKEN.findall(data)))


class SeqScanner:
    """Counts complete tokens in a raw byte stream and reads the first and last of them.

    The common case costs a few C calls per socket read, whatever the read holds:
    ``count``, ``find``, ``rfind`` and two ``int``s. A token split across reads is kept
    back and completed by the next read.
    """

    __slots__ = ("_carry",)

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, data: bytes) -> tuple[int, int, int, bytes]:
        """(tokens, first sequence, last sequence, the bytes holding them) completed by data."""
        buf = self._carry + data if self._carry else data
        end = len(buf)
        last_at = buf.rfind(MARK)
        if last_at >= 0 and last_at + TOKEN_BYTES > end:
            cut = last_at  # the last token is not complete yet
            last_at = buf.rfind(MARK, 0, cut)
        elif buf.endswith(b"~") and (last_at < 0 or last_at + TOKEN_BYTES != end):
            cut = end - 1  # maybe the start of a token (not the end of the last one)
        else:
            cut = end
        if cut < end:
            self._carry = buf[cut:]
            buf = buf[:cut]
        else:
            self._carry = b""
        if last_at < 0:
            return 0, 0, 0, b""
        first_at = buf.find(MARK)
        first = int(buf[first_at + 1 : first_at + 11])
        last = int(buf[last_at + 1 : last_at + 11])
        return buf.count(MARK), first, last, buf
