"""``Client.search()`` and ``hubbub search`` against a real server."""

from __future__ import annotations

import orjson
import pytest

from hubbub.client import Client, Refused
from hubbub.server import Server
from tests.conftest import StartServer
from tests.test_cli_send_tail import hubbub
from tests.tokens import SECRET, make_token


async def test_client_search_pages_in_a_room_and_across_rooms(server: Server) -> None:
    """One room pages with before, across rooms with next; hits carry their ranges."""
    async with Client(server.url) as client:
        for n in range(3):
            await client.publish("a", "alice", f"Kettle {n}")
            await client.publish("b", "bob", f"kettle boiled {n}")
        page = await client.search("kettle", "a", limit=2)
        assert [h.message.id for h in page.hits] == [3, 2]
        assert page.hits[0].ranges == ((0, 6),)
        rest = await client.search("kettle", "a", limit=2, before=page.before)
        assert ([h.message.id for h in rest.hits], rest.before) == ([1], None)
        seen = []
        token: str | None = None
        while True:
            across = await client.search("kettle from:bob", limit=2, next=token)
            seen += [h.message.text for h in across.hits]
            if (token := across.next) is None:
                break
        assert seen == ["kettle boiled 2", "kettle boiled 1", "kettle boiled 0"]
        only_a = await client.search("kettle", rooms=["a"])
        assert {h.message.room for h in only_a.hits} == {"a"}
        with pytest.raises(Refused) as refused:
            await client.search('"open')
        assert refused.value.code == "invalid_query"


async def test_cli_search_marks_matches(start_server: StartServer) -> None:
    """The terminal marks matches in brackets (no colour off a terminal); --json is
    the server's hit; a bad query exits 1 saying why; a third word exits 2."""
    server = await start_server(auth_secret=SECRET)
    token = make_token("alice")
    async with Client(server.url, token=token) as client:
        await client.publish("general", None, "The deploy is done")
        await client.publish("secret", None, "deploy the secret")
    reader = make_token("bob", read=["general"])
    code, out, err = await hubbub("search", "deploy", "--url", server.url, "--token", reader)
    assert (code, err) == (0, "")
    [line] = out.splitlines()
    assert line.startswith("general#1 ") and line.endswith("alice: The [deploy] is done")
    code, out, _ = await hubbub(
        "search", "general", "DEPLOY", "--json", "--url", server.url, "--token", token
    )
    assert orjson.loads(out)["ranges"] == [[4, 10]]
    code, out, err = await hubbub("search", '"open', "--url", server.url, "--token", token)
    assert code == 1 and "invalid_query" in err
    code, _, err = await hubbub("search", "a", "b", "c", "--url", server.url)
    assert code == 2 and "one argument" in err
