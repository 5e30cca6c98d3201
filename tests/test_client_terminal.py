"""The terminal side of the commands, without a terminal: line editing and rendering."""

from __future__ import annotations

import time

import pytest

from hubbub.client import Gap, Message
from hubbub.commands.lineedit import EOF_KEY, LineEditor, cell_width
from hubbub.commands.terminal import (
    Renderer,
    clip,
    clock,
    describe_gap,
    printable,
    wants_colour,
    wrap_note,
)


def test_enter_submits_and_clears() -> None:
    """Each Enter gives the line typed; blank lines are not submitted."""
    editor = LineEditor()
    assert editor.feed("hello\r  \rworld\n") == ["hello", "world"]
    assert editor.text == ""


def test_editing_keys() -> None:
    """Backspace, Ctrl-W and Ctrl-U edit; Tab inserts a tab; other controls are ignored."""
    editor = LineEditor()
    editor.feed("one two\x17three\x7f\x7f\x07\tx")
    assert editor.text == "one thr\tx"
    assert editor.view(100) == "one thr\u21e5x"  # drawn one column wide
    assert editor.view(3) == "r\u21e5x"
    editor.feed("\x15")
    assert editor.text == ""


def test_escape_sequences_are_swallowed_even_split() -> None:
    """Arrow keys (CSI and SS3 forms), also cut between two reads, leave no trace."""
    editor = LineEditor()
    editor.feed("a\x1b[")
    editor.feed("1;5Cb\x1bOAc\x1bxd")
    assert editor.text == "abcd"


def test_ctrl_d_leaves_only_on_an_empty_line() -> None:
    """Ctrl-D with text typed does nothing; on an empty line it means leave."""
    editor = LineEditor()
    assert editor.feed("x\x04") == []
    assert editor.feed("\x15\x04") == [EOF_KEY]


def test_view_keeps_the_end_that_fits() -> None:
    """The visible part is the end of the line, counting wide characters as two columns."""
    editor = LineEditor()
    editor.feed("abc日本")
    assert (cell_width("日"), cell_width("\u0301")) == (2, 0)
    assert editor.view(5) == "c日本"
    assert editor.view(4) == "日本"
    assert editor.view(100) == "abc日本"


def test_control_characters_are_escaped() -> None:
    """An escape sequence in a message reaches the terminal as visible text."""
    assert printable("a\x1b[2Jb\tc\nd") == "a\\x1b[2Jb\tc\nd"
    assert printable("bell\x07\nname", newlines=False) == "bell\\x07\\nname"


def test_message_lines() -> None:
    """Time, name and text; own lines marked; continuation lines indented under the text."""
    ts = int(time.time() * 1000)
    message = Message(id=1, room="r", user="bob", text="two\nlines", ts=ts)
    hhmmss = clock(ts)
    assert Renderer(colour=False).message(message) == f"{hhmmss} bob: two\n{' ' * 9}lines"
    assert Renderer(colour=False, me="bob").message(message).startswith(f"> {hhmmss} bob: ")
    assert Renderer(colour=False, me="amy").message(message).startswith(f"  {hhmmss} bob: ")
    coloured = Renderer(colour=True, me="bob").message(message)
    assert "\x1b[" in coloured and "two" in coloured


def test_clock_shows_the_date_for_other_days() -> None:
    """Today's messages show the time; older ones the date too."""
    now = time.time()
    assert len(clock(int(now * 1000), now)) == len("12:34:56")
    assert len(clock(int((now - 3 * 86400) * 1000), now)) == len("2024-01-02 12:34:56")


def test_gap_descriptions() -> None:
    """Retention gaps count what is lost; a reset says the room starts again."""
    assert describe_gap(Gap(1, 4, 6)) == (
        "2 messages missed: #2 to #3 are no longer kept (the room keeps #4 to #6)"
    )
    assert describe_gap(Gap(9, 0, 0)).startswith("the room was reset on the server")


@pytest.mark.parametrize(
    ("choice", "env", "expected"),
    [("always", {}, True), ("never", {}, False), ("auto", {"NO_COLOR": "1"}, False)],
)
def test_colour_choice(
    monkeypatch: pytest.MonkeyPatch, choice: str, env: dict[str, str], expected: bool
) -> None:
    """--color always/never win; auto honours NO_COLOR."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    class Tty:
        def isatty(self) -> bool:
            return True

    assert wants_colour(choice, Tty()) is expected  # type: ignore[arg-type]


def test_notes_wrap_at_spaces_keeping_the_closing_dashes() -> None:
    """A long note breaks at spaces, indented, the final "--" kept with the last word."""
    text = "connection lost: cannot connect to http://127.0.0.1:8000: refused; reconnecting"
    assert wrap_note(text, 40) == [
        "-- connection lost: cannot connect to",
        "   http://127.0.0.1:8000: refused;",
        "   reconnecting --",
    ]
    # One column short of fitting on one line: where the terminal left a lone " --".
    assert wrap_note("abc def", 13) == ["-- abc def --"]
    assert wrap_note("abc def", 12) == ["-- abc", "   def --"]
    assert wrap_note("abcd efgh", 14) == ["-- abcd", "   efgh --"]
    for width in range(12, 60):
        lines = wrap_note(text + " " + "x" * 70, width)
        assert all(len(line) <= width for line in lines)
        assert lines[-1].endswith("x --") and "--" not in [line.strip() for line in lines]
    assert Renderer(colour=True).note_lines("a b", 40) == ["\x1b[33m-- a b --\x1b[0m"]


def test_pending_lines_are_marked_and_cut_to_the_width() -> None:
    """A line not stored yet: "… pending" where the time goes, tabs as ⇥, cut with …."""
    plain = Renderer(colour=False, me="alice")
    assert plain.pending("alice", "hi\tbob", 80) == "\u2026 pending  alice: hi\u21e5bob"
    assert plain.pending("alice", "x" * 100, 30) == "\u2026 pending  alice: " + "x" * 11 + "\u2026"
    assert plain.pending("alice", "bad\x1b[2J", 80).endswith("bad\\x1b[2J")
    assert clip("日本語", 4) == "日\u2026" and clip("日本", 4) == "日本"
    coloured = Renderer(colour=True, me="alice").pending("alice", "hi", 80)
    assert coloured.startswith("\x1b[33m\u2026 pending") and "\x1b[2m" in coloured
