"""Where ``hubbub chat`` draws: a terminal it manages, or plain lines for pipes.

On a terminal the bottom of the screen is the chat's own: the lines typed that
the server has not stored yet (marked pending), then the line being typed.
Conversation and notes scroll above them; both are redrawn under each new line.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hubbub.commands.lineedit import LineEditor, cells
from hubbub.commands.terminal import BOLD, RESET, Renderer

# At most this many pending lines are drawn above the line being typed.
PENDING_ROWS = 5


@dataclass
class Typed:
    """A line typed: its text and the client_id every try to send it carries."""

    client_id: str
    text: str


class Display(Protocol):
    def show(self, line: str) -> None:
        """A line of the conversation, already rendered."""

    def note(self, text: str) -> None:
        """News about the connection or the lines typed."""

    def pending(self, lines: Sequence[Typed], down: bool) -> None:
        """The lines typed that the server has not stored yet; ``down``: it cannot be reached."""

    def redraw(self) -> None:
        """The line being typed changed."""

    def close(self) -> None: ...


class TerminalDisplay:
    """Messages scroll above the pending lines and the line being typed."""

    def __init__(self, editor: LineEditor, renderer: Renderer, name: str) -> None:
        self.editor = editor
        self.renderer = renderer
        self.name = name
        self.prompt = f"{BOLD}{name}>{RESET} " if renderer.colour else f"{name}> "
        self.prompt_width = cells(name) + 2
        self._pending: list[Typed] = []
        self._rows_above = 0  # pending rows drawn above the input line now

    @staticmethod
    def _columns() -> int:
        return max(shutil.get_terminal_size().columns, 20)

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def _clear(self) -> str:
        # Back to the first pending row, then erase to the end of the screen (ECMA-48 ED).
        up = f"\x1b[{self._rows_above}A" if self._rows_above else ""
        return "\r" + up + "\x1b[J"

    def _bottom(self) -> str:
        """The pending rows and the input line; the cursor ends after the typed text."""
        # One column short of the edge: writing the last column would wrap on some terminals.
        width = self._columns() - 1
        rows: list[str] = []
        shown = self._pending[:PENDING_ROWS]
        if len(self._pending) > PENDING_ROWS:
            shown = self._pending[: PENDING_ROWS - 1]
        for line in shown:
            rows.append(self.renderer.pending(self.name, line.text, width))
        if len(shown) < len(self._pending):
            more = len(self._pending) - len(shown)
            rows.append(self.renderer.pending(self.name, f"(and {more} more)", width))
        self._rows_above = len(rows)
        room = max(width - self.prompt_width, 1)
        return "".join(row + "\n" for row in rows) + self.prompt + self.editor.view(room)

    def show(self, line: str) -> None:
        self._write(self._clear() + line + "\n" + self._bottom())

    def note(self, text: str) -> None:
        lines = self.renderer.note_lines(text, self._columns() - 1)
        self._write(self._clear() + "".join(line + "\n" for line in lines) + self._bottom())

    def pending(self, lines: Sequence[Typed], down: bool) -> None:
        self._pending = list(lines)
        self.redraw()

    def redraw(self) -> None:
        self._write(self._clear() + self._bottom())

    def close(self) -> None:
        self._write(self._clear())
        self._rows_above = 0


class PlainDisplay:
    """Lines on stdout; news, and lines waiting for the server, on stderr."""

    def __init__(self, renderer: Renderer, name: str) -> None:
        self.renderer = renderer
        self.name = name
        self._told: set[str] = set()  # client_ids already reported as pending

    def show(self, line: str) -> None:
        print(line, flush=True)

    def note(self, text: str) -> None:
        print(self.renderer.note(text), file=sys.stderr, flush=True)

    def pending(self, lines: Sequence[Typed], down: bool) -> None:
        # A line that goes out at once is not news; one that must wait is, once.
        if not down:
            return
        for line in lines:
            if line.client_id not in self._told:
                self._told.add(line.client_id)
                text = self.renderer.pending(self.name, line.text, width=10**6)
                print(text, file=sys.stderr, flush=True)

    def redraw(self) -> None:
        pass

    def close(self) -> None:
        pass
