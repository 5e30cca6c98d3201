"""``hubbub chat`` and presence: ``/who`` lists the people in the room; typing is told and
shown."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from hubbub.server import Server
from tests.test_cli_chat import chat
from tests.wire import SSEReader


async def test_who_lists_everyone_and_typing_is_told(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """Two chats are present under their names; keys typed send a typing notice, which the
    other chat shows."""
    headers = {"Accept": "text/event-stream"}
    async with (
        http.get(f"{server.url}/rooms/r/messages", headers=headers) as response,
        chat(server, "alice") as alice,
        chat(server, "bob", "--transport", "sse") as bob,
    ):
        watcher = SSEReader(response)
        bob.type("/who\r")
        await bob.expect(r"here: alice, bob; 1 anonymous")  # bob too, as docs/client.md says
        documented = " ".join(
            (Path(__file__).parent.parent / "docs" / "client.md").read_text().split()
        )
        assert "`/who` (a line of its own, not sent) prints who is, you among them" in documented
        alice.type("hel")
        event = await watcher.next_event(ephemeral=True)
        while event.event != "typing":
            event = await watcher.next_event(ephemeral=True)
        assert event.json() == {"room": "r", "user": "alice"}
        await bob.expect(r"alice is typing\.\.\.")  # over SSE
        bob.type("yo")
        await alice.expect(r"bob is typing\.\.\.")  # over WebSocket
        bob.type("\x15")
        alice.type("\x15\x04")  # Ctrl-U, then Ctrl-D on the empty line
        bob.type("\x04")
        assert await alice.exit_status() == 0
        assert await bob.exit_status() == 0
    async with http.get(f"{server.url}/rooms/r/messages") as answer:
        assert (await answer.json())["messages"] == []  # /who is not a message
