"""An incremental ``text/event-stream`` decoder, free of I/O.

It follows the WHATWG HTML standard, section 9.2.6 "Interpreting an event
stream": lines end in CRLF, LF or CR; a blank line dispatches the event; a line
starting with ``:`` is a comment (the server's heartbeat); ``id`` values with a
NUL are ignored; a leading byte order mark is dropped.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One dispatched event: its ``type`` (``message`` unless named), ``data`` and last id."""

    type: str
    data: str
    id: str | None


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events completed so far."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._started = False
        self._type = ""
        self._data: list[str] = []
        self.last_event_id: str | None = None
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerEvent]:
        text = self._pending + self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        events: list[ServerEvent] = []
        start = 0
        for match in _EOL.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                break  # maybe the first half of a CRLF split across chunks
            self._line(text[start : match.start()], events)
            start = match.end()
        self._pending = text[start:]
        return events

    def _line(self, line: str, events: list[ServerEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            return  # a comment
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)

    def _dispatch(self, events: list[ServerEvent]) -> None:
        if self._data:
            events.append(
                ServerEvent(self._type or "message", "\n".join(self._data), self.last_event_id)
            )
        self._type = ""
        self._data = []
