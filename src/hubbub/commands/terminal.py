"""How messages, gaps and connection news look on a terminal (``hubbub chat`` and ``tail``).

Everything the server sends is text from other people, so before it reaches a
terminal every control character but newline and tab is shown escaped: an
escape sequence in a message could otherwise move the cursor, retitle the
window or rewrite what is on screen. The server already refuses such text; the
client does not count on it.
"""

from __future__ import annotations

import os
import time
import unicodedata
import zlib
from typing import Literal, TextIO, TypeAlias

from hubbub.client.events import Gap, TransportName
from hubbub.commands.lineedit import TAB_SHOWN, cell_width, cells
from hubbub.protocol.messages import Message

ColourChoice: TypeAlias = Literal["auto", "always", "never"]

LABELS: dict[TransportName, str] = {
    "ws": "WebSocket",
    "sse": "Server-Sent Events",
    "longpoll": "long poll",
    "poll": "short poll",
}

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
YELLOW = "\x1b[33m"
GREEN = "\x1b[32m"
# Name colours: the same name gets the same colour in every client (crc32, not hash()).
PALETTE = ("\x1b[31m", "\x1b[34m", "\x1b[35m", "\x1b[36m", "\x1b[91m", "\x1b[94m", "\x1b[95m")


def wants_colour(choice: ColourChoice, stream: TextIO) -> bool:
    """``auto`` colours a terminal unless NO_COLOR is set (https://no-color.org) or TERM=dumb."""
    if choice != "auto":
        return choice == "always"
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def printable(text: str, *, newlines: bool = True) -> str:
    """``text`` with control characters escaped (newline and tab kept, if asked)."""
    keep = "\n\t" if newlines else "\t"
    if all(c in keep or unicodedata.category(c) != "Cc" for c in text):
        return text
    return "".join(
        c if c in keep or unicodedata.category(c) != "Cc" else repr(c)[1:-1] for c in text
    )


def clock(ts: int, now: float | None = None) -> str:
    """Local time of ``ts`` (ms since the epoch); the date too when it was not today."""
    when = time.localtime(ts / 1000)
    today = time.localtime(now)
    if when[:3] == today[:3]:
        return time.strftime("%H:%M:%S", when)
    return time.strftime("%Y-%m-%d %H:%M:%S", when)


class Renderer:
    """Turns events into display lines, coloured or plain.

    ``me`` (chat) marks the lines of that user with ``>`` in a column before the
    time, where no message text can reach, so one's own lines stand out even
    without colour.
    """

    def __init__(self, *, colour: bool, me: str | None = None) -> None:
        self.colour = colour
        self.me = me.strip() if me is not None else None

    def _paint(self, style: str, text: str) -> str:
        return f"{style}{text}{RESET}" if self.colour else text

    def name(self, user: str) -> str:
        style = PALETTE[zlib.crc32(user.encode()) % len(PALETTE)]
        return self._paint(BOLD + style, printable(user, newlines=False))

    def message(self, message: Message) -> str:
        marker = ""
        if self.me is not None:
            marker = self._paint(GREEN + BOLD, "> ") if message.user == self.me else "  "
        head = f"{marker}{self._paint(DIM, clock(message.ts))} {self.name(message.user)}: "
        # Continuation lines line up under the first line's text.
        indent = " " * (len(marker and "> ") + len(clock(message.ts)) + 1)
        lines = printable(message.text).split("\n")
        return head + ("\n" + indent).join(lines)

    def note(self, text: str) -> str:
        """A line about the connection, not from anyone in the room."""
        return self._paint(YELLOW, f"-- {text} --")

    def note_lines(self, text: str, width: int) -> list[str]:
        """``note(text)`` wrapped at spaces to ``width`` columns, for a terminal.

        Left to the terminal, a note one word too long would be cut mid-word, or
        leave its closing ``--`` alone on the next line.
        """
        return [self._paint(YELLOW, line) for line in wrap_note(text, width)]

    def pending(self, user: str, text: str, width: int) -> str:
        """A line typed and not yet stored by the server, cut to ``width`` columns.

        ``…`` in the own-line column and ``pending`` where the time goes: it has
        no time (nor id) until the server stores it.
        """
        head = f"\u2026 pending  {printable(user, newlines=False)}: "
        body = printable(text, newlines=False).replace("\t", TAB_SHOWN)
        line = clip(head + body, width)
        if not self.colour:
            return line
        return self._paint(YELLOW, line[:9]) + self._paint(DIM, line[9:])

    def gap(self, gap: Gap) -> str:
        return self.note(describe_gap(gap))


def describe_gap(gap: Gap) -> str:
    if gap.reset:
        # Whatever the old log held after the cursor is lost, and ids start again:
        # the ids seen so far now name other messages.
        return (
            f"the room was reset on the server (its log started over; anything after "
            f"#{gap.cursor} in the old one is lost); it goes on from #{max(gap.first_id, 1)}"
        )
    missed = len(gap.missed)
    what = "1 message" if missed == 1 else f"{missed} messages"
    return (
        f"{what} missed: #{gap.missed.start} to #{gap.missed.stop - 1} are no longer kept "
        f"(the room keeps #{gap.first_id} to #{gap.last_id})"
    )


def clip(text: str, width: int) -> str:
    """The start of ``text`` that fits in ``width`` columns, ending in ``…`` when cut."""
    if cells(text) <= width:
        return text
    used = 0
    for end, char in enumerate(text):
        used += cell_width(char)
        if used > width - 1:
            return text[:end] + "\u2026"
    return text


def _chunks(word: str, width: int) -> list[str]:
    """``word`` cut into pieces of at most ``width`` columns."""
    pieces: list[str] = []
    while cells(word) > width:
        cut = max(len(clip(word, width + 1)) - 1, 1)
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word]


def wrap_note(text: str, width: int) -> list[str]:
    """``-- text --`` as lines of at most ``width`` columns, broken at spaces.

    Lines after the first are indented under the text; the closing ``--`` stays
    with the last word; a word longer than a line is cut.
    """
    width = max(width, 12)
    # Room for the indent, and for " --" after the last piece.
    words = [piece for word in text.split(" ") for piece in _chunks(word, width - 6)]
    words[-1] += " --"
    lines: list[str] = []
    line = "--"
    for word in words:
        if cells(line) + 1 + cells(word) <= width:
            line = f"{line} {word}"
        else:
            lines.append(line)
            line = "   " + word
    lines.append(line)
    return lines
