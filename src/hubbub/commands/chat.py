"""``hubbub chat ROOM --name NAME``: the terminal chat client.

It shows the room's recent history, then live messages, and sends each line
typed. Lines go out in order, each with its own ``client_id``, and are retried
until the server stores them: a server restart neither loses nor doubles a line.
The room is followed from its cursor, so nothing said meanwhile is missed.
Ctrl-D (on an empty line) leaves after sending what was typed; Ctrl-C leaves at once.

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
import shutil
import signal
import sys
import termios
import tty
from collections.abc import Sequence
from typing import Any, Protocol

from hubbub.client import (
    Client,
    ClientError,
    Connected,
    Message,
    Refused,
    Status,
    new_client_id,
)
from hubbub.client.console import (
    FAILED,
    OK,
    add_colour,
    add_name,
    add_transport,
    add_url,
    check_name,
    make_client,
    run,
)
from hubbub.client.events import Event, Gap
from hubbub.client.lineedit import EOF_KEY, LineEditor, cbreak, cell_width, read_lines
from hubbub.client.terminal import BOLD, LABELS, Renderer, wants_colour
from hubbub.commands.arguments import whole_number

PROG = "hubbub chat"
# After Ctrl-D, how long lines still waiting for the server may take to go out.
LINGER = 10.0
# Seconds between two typing notices of ours (the server passes on one a second).
TYPING_EVERY = 1.5


_history = whole_number(0, 1000)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "chat",
        help="chat in a room from the terminal",
        description=(
            "Show ROOM's recent messages, then live ones, and send each line you type. "
            "Ctrl-D on an empty line leaves after sending what you typed; Ctrl-C leaves now."
        ),
    )
    parser.add_argument("room", metavar="ROOM")
    add_name(parser)
    add_url(parser)
    add_transport(parser)
    parser.add_argument(
        "--history", type=_history, default=20, metavar="N", help="earlier messages shown [20]"
    )
    add_colour(parser)
    parser.set_defaults(run=main)


def main(args: argparse.Namespace) -> int:
    return run(PROG, chat(args))


class Display(Protocol):
    def show(self, line: str) -> None:
        """A line of the conversation."""

    def note(self, line: str) -> None:
        """A line about the connection."""

    def redraw(self) -> None:
        """The line being typed changed."""

    def close(self) -> None: ...


class TerminalDisplay:
    """Messages scroll above the line being typed, which is redrawn under each one."""

    def __init__(self, editor: LineEditor, name: str, colour: bool) -> None:
        self.editor = editor
        self.prompt = f"{BOLD}{name}>\x1b[0m " if colour else f"{name}> "
        self.prompt_width = sum(cell_width(c) for c in name) + 2

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def _input_line(self) -> str:
        columns = max(shutil.get_terminal_size().columns, 20)
        room = max(columns - self.prompt_width - 1, 1)
        return self.prompt + self.editor.view(room)

    def show(self, line: str) -> None:
        # \r and erase-line (ECMA-48 EL) take the input line away; it comes back below.
        self._write("\r\x1b[K" + line + "\n" + self._input_line())

    note = show

    def redraw(self) -> None:
        self._write("\r\x1b[K" + self._input_line())

    def close(self) -> None:
        self._write("\r\x1b[K")


class PlainDisplay:
    """Lines on stdout, news on stderr: for pipes, logs and scripts."""

    def show(self, line: str) -> None:
        print(line, flush=True)

    def note(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def redraw(self) -> None:
        pass

    def close(self) -> None:
        pass


class Chat:
    """One session: what is shown, what waits to be sent, and the connection news."""

    def __init__(self, client: Client, args: argparse.Namespace, name: str) -> None:
        self.client = client
        self.room: str = args.room
        self.transport = args.transport
        self.name = name
        self.renderer = Renderer(colour=wants_colour(args.color, sys.stdout), me=name)
        self.editor = LineEditor()
        self.display: Display = PlainDisplay()
        self.outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.ended = asyncio.Event()  # Ctrl-D, or the end of standard input
        self.unsent = 0  # lines typed that the server has not answered yet
        self._live: bool | None = None  # None: never connected yet
        self._send_failing = False
        self._typed = 0.0  # when we last told the room we type

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

    def note(self, text: str) -> None:
        self.display.note(self.renderer.note(text))

    def show(self, event: Event) -> None:
        if isinstance(event, Gap):
            self.display.note(self.renderer.gap(event))
        else:
            self.display.show(self.renderer.message(event))

    async def follow(self, since: int) -> None:
        subscription = self.client.subscribe(
            self.room, since, self.transport, on_status=self.on_status
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
        self.unsent += 1
        self.outbox.put_nowait((new_client_id(), text))

    def on_retry(self, error: ClientError, delay: float) -> None:
        if not self._send_failing:
            self._send_failing = True
            self.note(f"cannot send yet ({error}); retrying")

    async def send(self) -> None:
        """Publish typed lines one at a time, in order, each until it is stored."""
        while True:
            client_id, text = await self.outbox.get()
            try:
                await self.client.publish(
                    self.room, self.name, text, client_id, retry_for=None, on_retry=self.on_retry
                )
                self._send_failing = False
            except Refused as error:
                self.note(f"not sent: {error.message}")
            finally:
                self.unsent -= 1
                self.outbox.task_done()

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

    async def run(self, history: Sequence[Message], since: int, fd: int | None) -> int:
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
            if self.unsent:
                self.note(f"sending {self.unsent} line(s) before leaving; Ctrl-C to leave now")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LINGER):
                        await self.outbox.join()
        except asyncio.CancelledError:
            pass  # Ctrl-C or SIGTERM: leave now
        finally:
            if fd is not None:
                loop.remove_reader(fd)
                loop.remove_signal_handler(signal.SIGWINCH)
                loop.remove_signal_handler(signal.SIGCONT)
            for task in [*tasks, ended]:
                task.cancel()
            await asyncio.gather(*tasks, ended, return_exceptions=True)
        if self.unsent:
            self.display.close()
            print(f"{PROG}: {self.unsent} line(s) were not sent", file=sys.stderr)
            return FAILED
        return OK


async def chat(args: argparse.Namespace) -> int:
    name = check_name(args.name)
    async with make_client(args.url, presence_user=name) as client:
        session = Chat(client, args, name)
        # A plain read first: a wrong URL or room fails now, with a clear reason.
        page = await client.history(args.room, limit=max(args.history, 1))
        since = page.messages[-1].id if page.messages else 0
        history = page.messages[len(page.messages) - args.history :]
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return await session.run(history, since, None)
        fd = sys.stdin.fileno()
        with cbreak(fd):
            session.display = TerminalDisplay(session.editor, name, session.renderer.colour)
            try:
                return await session.run(history, since, fd)
            finally:
                session.display.close()
