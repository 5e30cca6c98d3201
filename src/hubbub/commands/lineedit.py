"""Reading what the user types: a small line editor for the chat, and a line reader for pipes.

``hubbub chat`` on a terminal puts it in cbreak mode (no echo, no line
buffering, signals kept so Ctrl-C still interrupts) and draws the line being
typed itself, at the bottom, so messages arriving meanwhile are printed above it
instead of through the middle of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import termios
import threading
import tty
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO, Final, Literal

EOF_KEY: Final = None  # what LineEditor.feed gives for Ctrl-D on an empty line
# How a tab in the line being typed is drawn: one column, so the cursor stays where
# it is computed to be (a real tab would jump to the next tab stop). It is sent as a tab.
TAB_SHOWN: Final = "\u21e5"  # ⇥

_BACKSPACE = ("\x7f", "\b")
_CTRL_D = "\x04"
_CTRL_U = "\x15"
_CTRL_W = "\x17"


def cell_width(char: str) -> int:
    """Columns ``char`` takes on a terminal: 0 for combining marks, 2 for wide characters."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


class LineEditor:
    """The line being typed. ``feed`` takes keys and gives back the lines submitted.

    Enter submits, Backspace deletes a character, Ctrl-U the line, Ctrl-W a word;
    Ctrl-D on an empty line means "leave". Tab inserts a tab (the protocol allows
    it in a message, and pasted text keeps its tabs). Escape sequences (arrow keys
    and such) are swallowed whole; other control keys are ignored.
    """

    def __init__(self) -> None:
        self.text = ""
        self._escape: Literal["", "esc", "csi", "ss3"] = ""

    def feed(self, keys: str) -> list[str | None]:
        out: list[str | None] = []
        for key in keys:
            if self._escape:
                self._skip_escape(key)
            elif key == "\x1b":
                self._escape = "esc"
            elif key in "\r\n":
                if self.text.strip():
                    out.append(self.text)
                self.text = ""
            elif key in _BACKSPACE:
                self.text = self.text[:-1]
            elif key == _CTRL_U:
                self.text = ""
            elif key == _CTRL_W:
                self.text = self.text.rstrip()
                self.text = self.text[: self.text.rfind(" ") + 1]
            elif key == _CTRL_D:
                if not self.text:
                    out.append(EOF_KEY)
            elif key == "\t":
                self.text += "\t"
            elif unicodedata.category(key) != "Cc":
                self.text += key
        return out

    def _skip_escape(self, key: str) -> None:
        # ECMA-48: ESC [ params final-byte (0x40-0x7E), ESC O x, or ESC x.
        if self._escape == "esc":
            self._escape = "csi" if key == "[" else "ss3" if key == "O" else ""
        elif self._escape == "ss3" or "\x40" <= key <= "\x7e":
            self._escape = ""

    def view(self, width: int) -> str:
        """The end of the line that fits in ``width`` columns (the cursor is at the end).

        A tab takes one column, drawn as ``TAB_SHOWN``.
        """
        used = 0
        start = len(self.text)
        while start > 0 and used + cell_width(self.text[start - 1]) <= width:
            start -= 1
            used += cell_width(self.text[start])
        return self.text[start:].replace("\t", TAB_SHOWN)


def cells(text: str) -> int:
    """Columns ``text`` takes on a terminal (no control characters in it)."""
    return sum(cell_width(char) for char in text)


@contextlib.contextmanager
def cbreak(fd: int) -> Iterator[None]:
    """The terminal in cbreak mode for the duration; put back as it was, whatever happens."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def read_lines(stream: BinaryIO, queue: asyncio.Queue[str | None]) -> None:
    """Put each line of ``stream`` in ``queue`` (None at the end), from a daemon thread.

    A pipe or a file cannot always be watched by the event loop (epoll refuses
    regular files), and a thread blocked in read() must not keep the process
    alive at exit: hence a daemon thread rather than the loop's executor.
    """
    loop = asyncio.get_running_loop()

    def pump() -> None:
        try:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError):
            pass  # stdin closed under us: treat as the end
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="hubbub-stdin", daemon=True).start()
