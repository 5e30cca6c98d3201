"""``hubbub chat`` driven through pseudo-terminals: two people talk, across a restart."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import struct
import sys
import termios
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hubbub.client import Client
from hubbub.server import Server
from tests.conftest import StartServer
from tests.test_cli_send_tail import TIMEOUT, hubbub, texts
from tests.test_client import free_port

# CSI sequences (colours, erase-line): what the chat draws with, not what it says.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TIME = r"\d\d:\d\d:\d\d"


# Run in the child before hubbub: a new session whose controlling terminal is its
# stdin (the pty), so Ctrl-C typed there is a SIGINT, as in a real terminal. (A
# launcher rather than preexec_fn, which uvloop runs before the pty is stdin.)
TAKE_TERMINAL = (
    "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'hubbub', *sys.argv[1:]])"
)


class Terminal:
    """A child process on a pseudo-terminal; the test types and reads the screen's stream."""

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self.process = process
        self.master = master
        self.raw = ""
        self._seen = 0  # expect() reads on from here
        self._changed = asyncio.Event()
        self._closed = False
        asyncio.get_running_loop().add_reader(master, self._read)

    @classmethod
    async def spawn(cls, *args: str, columns: int = 120) -> Terminal:
        master, slave = os.openpty()
        # A known size: the chat fits the line being typed to the width.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "HUBBUB_NAME")}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", TAKE_TERMINAL, *args,
            stdin=slave, stdout=slave, stderr=slave,
            env={**env, "TERM": "xterm"},
        )  # fmt: skip
        os.close(slave)
        return cls(process, master)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child is gone and the pty closed
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            self._closed = True
        self.raw += data.decode(errors="replace")
        self._changed.set()

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw)

    async def expect(self, pattern: str, *, anywhere: bool = False) -> re.Match[str]:
        """Wait (bounded) for ``pattern`` in what was written since the last match.

        ``anywhere``: in everything written, for what may come before or after
        the last match (two tasks of the chat writing at about the same time).
        """
        regex = re.compile(pattern)
        start = 0 if anywhere else self._seen
        async with asyncio.timeout(TIMEOUT):
            while not (match := regex.search(self.text, start)):
                assert not self._closed, f"the chat ended; it wrote:\n{self.text}"
                self._changed.clear()
                await self._changed.wait()
        self._seen = max(self._seen, match.end())
        return match

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    async def exit_status(self) -> int:
        async with asyncio.timeout(TIMEOUT):
            return await self.process.wait()

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if not self._closed:
            asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)


@asynccontextmanager
async def chat(server: Server, name: str, *extra: str) -> AsyncIterator[Terminal]:
    """``hubbub chat r --name NAME`` on a terminal, live once this yields."""
    terminal = await Terminal.spawn("chat", "r", "--name", name, "--url", server.url, *extra)
    try:
        await terminal.expect("-- live over ")
        yield terminal
    finally:
        await terminal.close()


async def test_two_clients_talk(server: Server) -> None:
    """Alice and Bob see each other's lines, own lines marked, in colour; both leave cleanly."""
    async with chat(server, "alice") as alice, chat(server, "bob", "--transport", "sse") as bob:
        alice.type("hello bob\r")
        await alice.expect(rf"> {TIME} alice: hello bob")
        await bob.expect(rf"  {TIME} alice: hello bob")
        bob.type("hi alice, ça va?\r")
        await bob.expect(rf"> {TIME} bob: hi alice, ça va\?")
        await alice.expect(rf"  {TIME} bob: hi alice, ça va\?")
        assert "\x1b[" in alice.raw  # a terminal gets colour
        alice.type("\x04")  # Ctrl-D on an empty line
        bob.type("\x03")  # Ctrl-C, through the terminal's own signal
        assert await alice.exit_status() == 0
        assert await bob.exit_status() == 0
    assert await texts(server) == [("alice", "hello bob"), ("bob", "hi alice, ça va?")]


async def test_history_then_editing_keys(server: Server) -> None:
    """The newest --history lines come first; Backspace, Ctrl-U, arrows and Tab edit the line."""
    async with Client(server.url) as client:
        for text in ("first", "second", "third"):
            await client.publish("r", "carol", text)
    async with chat(server, "dave", "--history", "2") as dave:
        assert "carol: first" not in dave.text
        assert re.search(rf"{TIME} carol: second.*{TIME} carol: third", dave.text, re.S)
        dave.type("oops\x15typo\x7f\x7fpo\x1b[D!\tok")  # Ctrl-U, 2 x Backspace, Left, Tab
        await dave.expect("dave> typo!\u21e5ok")
        dave.type("\r")
        await dave.expect(rf"> {TIME} dave: typo!\tok")
        dave.type("\x04")
        assert await dave.exit_status() == 0
    assert (await texts(server))[-1] == ("dave", "typo!\tok")


async def test_server_restart_loses_and_doubles_nothing(start_server: StartServer) -> None:
    """A line typed while the server is down shows as pending, is sent once back, shown once."""
    server = await start_server()
    async with chat(server, "alice") as alice, chat(server, "bob") as bob:
        await server.stop()
        await alice.expect("connection lost")
        await bob.expect("connection lost")
        alice.type("typed while down\r")
        await alice.expect("\u2026 pending  alice: typed while down")
        await alice.expect("cannot send yet")
        await start_server(port=server.port)
        await bob.expect(rf"  {TIME} alice: typed while down")
        await alice.expect(rf"> {TIME} alice: typed while down")
        await alice.expect("-- 1 pending line sent --", anywhere=True)
        bob.type("done\r")
        await alice.expect(rf"{TIME} bob: done")
        await bob.expect(rf"{TIME} bob: done")
        for terminal in (alice, bob):
            assert len(re.findall(f"{TIME} alice: typed while down", terminal.text)) == 1
            terminal.type("\x04")
            assert await terminal.exit_status() == 0
    assert await texts(server) == [("alice", "typed while down"), ("bob", "done")]


async def test_piped_chat_sends_each_line_then_exits(server: Server) -> None:
    """Not on a terminal: stdin lines are sent in order, news goes to stderr, exit 0 at EOF."""
    code, _, err = await hubbub(
        "chat", "r", "--name", "erin", "--url", server.url, stdin=b"one\n\ntwo\n"
    )
    assert code == 0 and "-- #r as erin" in err
    assert await texts(server) == [("erin", "one"), ("erin", "two")]


async def test_chat_unreachable_exits_3() -> None:
    """No server at --url: status 3 and the reason, the terminal untouched."""
    url = f"http://127.0.0.1:{free_port()}"
    terminal = await Terminal.spawn("chat", "r", "--name", "frank", "--url", url)
    try:
        assert await terminal.exit_status() == 3
        await terminal.expect("hubbub chat: cannot reach the server: .*Connection refused")
    finally:
        await terminal.close()
