"""``hubbub chat ROOM --name NAME``: the terminal chat client.

It shows the room's recent history, then live messages, and sends each line
typed. Lines go out in order, each with its own ``client_id``, and are retried
until the server stores them: a server restart neither loses nor doubles a line.
Until it is stored a line is shown as pending. The room is followed from its
cursor, so nothing said meanwhile is missed.

No typed line is lost silently. Leaving (Ctrl-D on an empty line, the end of
piped input) first waits up to ``--wait`` seconds for pending lines to go out;
Ctrl-C leaves at once. Whatever was not stored, including a line half typed
when Ctrl-C came, is printed on stderr after the chat ends, with how many, and
the status is 1.

On a terminal, the line being typed stays at the bottom and messages scroll
above it. With standard input or output redirected it reads lines and prints
lines, and connection news goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import os
import signal
import sys
import termios
import tty
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hubbub.client import (
    Client,
    ClientError,
    Connected,
    Ephemeral,
    Message,
    Status,
    TypingNotice,
    new_client_id,
)
from hubbub.client.events import Event, Gap
from hubbub.commands.arguments import non_negative_number, whole_number
from hubbub.commands.chat_display import Display, PlainDisplay, TerminalDisplay, Typed
from hubbub.commands.console import (
    FAILED,
    OK,
    add_colour,
    add_name,
    add_tls,
    add_token,
    add_transport,
    add_url,
    check_name,
    make_client,
    run,
    tls_of,
)
from hubbub.commands.lineedit import EOF_KEY, LineEditor, cbreak, read_lines
from hubbub.commands.terminal import LABELS, Renderer, describe_gap, printable, wants_colour

PROG = "hubbub chat"
# Seconds between two typing notices of ours (the server passes on one a second).
TYPING_EVERY = 1.5
# Seconds after someone's last typing notice before a new one is shown again.
TYPING_SHOWN = 5.0


_history = whole_number(0, 1000)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "chat",
        help="chat in a room from the terminal",
        description=(
            "Show ROOM's recent messages, then live ones, and send each line you type. "
            "Ctrl-D on an empty line leaves after sending what you typed; Ctrl-C leaves now. "
            "Lines the server did not store are printed when the chat ends, and the status "
            "is then 1."
        ),
    )
    parser.add_argument("room", metavar="ROOM")
    add_name(parser)
    add_url(parser)
    add_token(parser)
    add_tls(parser)
    add_transport(parser)
    parser.add_argument(
        "--history", type=_history, default=20, metavar="N", help="earlier messages shown"
    )
    parser.add_argument(
        "--wait",
        type=non_negative_number,
        default=10.0,
        metavar="SECONDS",
        help="when leaving, how long to keep trying to send lines not stored yet",
    )
    add_colour(parser)
    parser.set_defaults(run=main)


@dataclass
class Unsent:
    """What the user typed that the server has not stored: outlives the event loop.

    The report is printed after the chat has ended and the terminal is back in
    its own mode, however it ended (Ctrl-C, SIGTERM, an error).
    """

    lines: list[Typed] = field(default_factory=list)  # in order; the first is being sent
    unfinished: str = ""  # typed without Enter when the chat ended
    refused: int = 0  # lines the server refused (each told at the time)

    def report(self) -> int:
        """Tell on stderr what was not sent; the exit status that goes with it."""
        texts = [line.text for line in self.lines]
        if self.unfinished.strip():
            texts.append(self.unfinished)
        if texts:
            what = "1 line was" if len(texts) == 1 else f"{len(texts)} lines were"
            print(f"{PROG}: {what} not sent:", file=sys.stderr)
            for index, text in enumerate(texts):
                unfinished = self.unfinished.strip() and index == len(texts) - 1
                shown = printable(text, newlines=False)
                print(f"  {shown}" + ("  (not finished)" if unfinished else ""), file=sys.stderr)
        if self.refused:
            what = "1 line was" if self.refused == 1 else f"{self.refused} lines were"
            print(f"{PROG}: {what} refused by the server (see above)", file=sys.stderr)
        return FAILED if texts or self.refused else OK


def main(args: argparse.Namespace) -> int:
    unsent = Unsent()
    status = run(PROG, chat(args, unsent), args.url)
    failed = unsent.report()
    return status if status != OK else failed


class Chat:
    """One session: what is shown, what waits to be sent, and the connection news."""

    def __init__(self, client: Client, args: argparse.Namespace, name: str, unsent: Unsent) -> None:
        self.client = client
        self.room: str = args.room
        self.transport = args.transport
        self.wait: float = args.wait
        self.name = name
        self.renderer = Renderer(colour=wants_colour(args.color, sys.stdout), me=name)
        self.editor = LineEditor()
        self.display: Display = PlainDisplay(self.renderer, name)
        self.unsent = unsent
        self.queued = asyncio.Event()  # set while lines wait to be sent
        self.drained = asyncio.Event()  # set while none do
        self.drained.set()
        self.ended = asyncio.Event()  # Ctrl-D, or the end of standard input
        self._live: bool | None = None  # None: never connected yet
        self._send_failing = False
        self._waiting: set[str] = set()  # client_ids of lines that had to wait for the server
        self._sent_after_waiting = 0
        self._typed = 0.0  # when we last told the room we type
        self._typing: dict[str, float] = {}  # who was last shown typing, and when they typed

    @property
    def down(self) -> bool:
        """The server cannot be reached now, as far as the chat knows."""
        return self._live is False or self._send_failing

    def _pending_changed(self) -> None:
        if self.down:
            self._waiting.update(line.client_id for line in self.unsent.lines)
        self.display.pending(self.unsent.lines, self.down)

    # Receiving

    def on_status(self, status: Status) -> None:
        """News once per change of state, not once per retry."""
        if isinstance(status, Connected):
            label = LABELS[status.transport]
            if not self._live:
                self.note(f"live over {label}" if self._live is None else f"back, over {label}")
            self._live = True
        elif self._live is not False:
            self._live = False
            self.note(f"connection lost: {status.reason}; reconnecting")
            self._pending_changed()

    def note(self, text: str) -> None:
        self.display.note(text)

    def show(self, event: Event) -> None:
        if isinstance(event, Gap):
            self.display.note(describe_gap(event))
        else:
            self._typing.pop(event.user, None)  # their message ends the notice
            self.display.show(self.renderer.message(event))

    def on_event(self, event: Ephemeral) -> None:
        """Someone else typing: one note per burst, not one per notice."""
        if not isinstance(event, TypingNotice) or event.user == self.name:
            return
        now = asyncio.get_running_loop().time()
        last = self._typing.get(event.user)
        self._typing[event.user] = now
        if last is None or now - last > TYPING_SHOWN:
            self.note(f"{printable(event.user, newlines=False)} is typing...")

    async def follow(self, since: int) -> None:
        subscription = self.client.subscribe(
            self.room, since, self.transport, on_status=self.on_status, on_event=self.on_event
        )
        async with subscription:
            async for event in subscription:
                self.show(event)

    # Sending

    def submit(self, text: str) -> None:
        if text.strip() == "/who":
            asyncio.get_running_loop().create_task(self.who())
            return
        # The client_id is chosen now, once: every retry of this line carries it.
        self.unsent.lines.append(Typed(new_client_id(), text))
        self.queued.set()
        self.drained.clear()
        self._pending_changed()

    def on_retry(self, error: ClientError, delay: float) -> None:
        if not self._send_failing:
            self._send_failing = True
            self.note(f"cannot send yet ({error}); retrying")
            self._pending_changed()

    async def send(self) -> None:
        """Publish typed lines one at a time, in order, each until it is stored.

        A line leaves ``unsent.lines`` only once the server has answered for it, so
        a line being sent when the chat is stopped is still reported as not sent.
        """
        while True:
            await self.queued.wait()
            line = self.unsent.lines[0]
            try:
                await self.client.publish(
                    self.room,
                    self.name,
                    line.text,
                    line.client_id,
                    retry_for=None,
                    on_retry=self.on_retry,
                )
                self._send_failing = False
            except ClientError as error:  # refused: sending it again would not help
                self.unsent.refused += 1
                reason = getattr(error, "message", str(error))
                self.note(f"not sent, the server refused it ({reason}): {line.text}")
            del self.unsent.lines[0]
            if line.client_id in self._waiting:
                self._waiting.discard(line.client_id)
                self._sent_after_waiting += 1
            self._pending_changed()
            if not self.unsent.lines:
                self.queued.clear()
                self.drained.set()
                if count := self._sent_after_waiting:
                    self.note(
                        "1 pending line sent" if count == 1 else f"{count} pending lines sent"
                    )
                    self._sent_after_waiting = 0

    async def who(self) -> None:
        """``/who``: the people in the room now (this session among them)."""
        try:
            present = await self.client.presence(self.room)
        except ClientError as error:
            self.note(f"/who: {error}")
            return
        named = [f"{user} ({n})" if n > 1 else user for user, n in present if user]
        anonymous = sum(n for user, n in present if not user)
        here = ", ".join(named) or "nobody named"
        self.note(f"here: {here}" + (f"; {anonymous} anonymous" if anonymous else ""))

    # Typing

    def typing_notice(self) -> None:
        """Tell the room we type, at most once every TYPING_EVERY seconds."""
        now = asyncio.get_running_loop().time()
        if now - self._typed >= TYPING_EVERY and self.editor.text.strip():
            self._typed = now
            asyncio.get_running_loop().create_task(self.client.typing(self.room, self.name))

    def keys(self, fd: int, decoder: codecs.IncrementalDecoder) -> None:
        """Called by the event loop when the terminal has input."""
        data = os.read(fd, 4096)
        if not data:  # the terminal hung up
            self.ended.set()
            return
        for line in self.editor.feed(decoder.decode(data)):
            if line is EOF_KEY:
                self.ended.set()
            else:
                self.submit(line)
        self.typing_notice()
        self.display.redraw()

    def resume(self, fd: int) -> None:
        """Back from Ctrl-Z: cbreak mode again, and the typed line redrawn."""
        with contextlib.suppress(termios.error):
            tty.setcbreak(fd, termios.TCSANOW)
        self.display.redraw()

    async def lines(self) -> None:
        """Standard input that is not a terminal: one message per non-blank line."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        read_lines(sys.stdin.buffer, queue)
        while (line := await queue.get()) is not None:
            if line.strip():
                self.submit(line)
        self.ended.set()

    # The session

    async def linger(self) -> None:
        """Leaving: give lines not stored yet up to ``--wait`` seconds to go out."""
        if self.drained.is_set():
            return
        count = len(self.unsent.lines)
        what = "1 line" if count == 1 else f"{count} lines"
        self.note(f"sending {what} before leaving (up to {self.wait:g} s); Ctrl-C to leave now")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.wait):
                await self.drained.wait()

    async def run(self, history: Sequence[Message], since: int, fd: int | None) -> None:
        """Show ``history``, then talk until Ctrl-D, Ctrl-C or the end of stdin.

        ``fd`` is the terminal to read keys from; None reads lines from stdin.
        """
        loop = asyncio.get_running_loop()
        for message in history:
            self.show(message)
        self.note(
            f"#{self.room} as {self.name}: type a line and press Enter to send it; "
            "Ctrl-D or Ctrl-C to leave"
        )
        follower = loop.create_task(self.follow(since))
        tasks = [follower, loop.create_task(self.send())]
        if fd is not None:
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            loop.add_reader(fd, self.keys, fd, decoder)
            # A new width moves where the typed line is cut; after Ctrl-Z and fg the
            # shell has put the terminal back in line mode, so take cbreak mode again.
            loop.add_signal_handler(signal.SIGWINCH, self.display.redraw)
            loop.add_signal_handler(signal.SIGCONT, self.resume, fd)
        else:
            tasks.append(loop.create_task(self.lines()))
        ended = loop.create_task(self.ended.wait())
        try:
            done, _ = await asyncio.wait([ended, follower], return_when=asyncio.FIRST_COMPLETED)
            if follower in done:
                follower.result()  # the subscription gave up: raise why
            await self.linger()
        except asyncio.CancelledError:
            pass  # Ctrl-C or SIGTERM: leave now
        finally:
            self.unsent.unfinished = self.editor.text
            if fd is not None:
                loop.remove_reader(fd)
                loop.remove_signal_handler(signal.SIGWINCH)
                loop.remove_signal_handler(signal.SIGCONT)
            for task in [*tasks, ended]:
                task.cancel()
            await asyncio.gather(*tasks, ended, return_exceptions=True)


async def chat(args: argparse.Namespace, unsent: Unsent) -> int:
    name = check_name(args.name, args.token)
    async with make_client(args.url, args.token, presence_user=name, tls=tls_of(args)) as client:
        session = Chat(client, args, name, unsent)
        # A plain read first: a wrong URL or room fails now, with a clear reason.
        page = await client.history(args.room, limit=max(args.history, 1))
        since = page.messages[-1].id if page.messages else 0
        history = page.messages[len(page.messages) - args.history :]
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            await session.run(history, since, None)
            return OK
        fd = sys.stdin.fileno()
        with cbreak(fd):
            session.display = TerminalDisplay(session.editor, session.renderer, name)
            try:
                await session.run(history, since, fd)
            finally:
                session.display.close()
        return OK
