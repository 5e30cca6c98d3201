"""Edits and deletes over HTTP and WebSocket: author only, log entries, ?view=latest."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import SSEReader, poll, publish, wait_live, ws_json


async def correct(
    http: aiohttp.ClientSession, server: Server, body: dict[str, Any], status: int = 201
) -> dict[str, Any]:
    """POST a correction (``type`` edit or delete) and return the answer's JSON."""
    async with http.post(f"{server.url}/rooms/r/messages", json=body) as response:
        assert response.status == status, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def test_http_edit_and_delete_are_new_entries(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """An edit and a delete take the next ids and carry kind and target; text stays as sent."""
    await publish(http, server.url, "r", "helo")
    edited = await correct(
        http, server, {"type": "edit", "target": 1, "user": "alice", "text": "hello"}
    )
    assert (edited["id"], edited["kind"], edited["target"], edited["text"]) == (
        2,
        "edit",
        1,
        "hello",
    )
    deleted = await correct(http, server, {"type": "delete", "target": 1, "user": "alice"})
    assert (deleted["id"], deleted["kind"], deleted["target"], deleted["text"]) == (
        3,
        "delete",
        1,
        "",
    )
    log = (await poll(http, server.url, "r", since=0))["messages"]
    assert [(m["id"], m.get("kind")) for m in log] == [(1, None), (2, "edit"), (3, "delete")]


async def test_only_the_author_may_correct(server: Server, http: aiohttp.ClientSession) -> None:
    """Another user's edit is 403; a missing target or a correction's id is 400."""
    await publish(http, server.url, "r", "mine")
    refused = await correct(
        http, server, {"type": "edit", "target": 1, "user": "mallory", "text": "x"}, 403
    )
    assert refused["error"]["code"] == "forbidden"
    missing = await correct(http, server, {"type": "delete", "target": 9, "user": "alice"}, 400)
    assert missing["error"]["code"] == "invalid_message"
    await correct(http, server, {"type": "edit", "target": 1, "user": "alice", "text": "y"})
    of_edit = await correct(
        http, server, {"type": "edit", "target": 2, "user": "alice", "text": "z"}, 400
    )
    assert "not a message" in of_edit["error"]["message"]
    no_target = await correct(http, server, {"type": "delete", "user": "alice"}, 400)
    assert "target" in no_target["error"]["message"]
    assert (await poll(http, server.url, "r"))["last_id"] == 2


async def test_websocket_edit_is_broadcast_and_acked(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """An edit frame reaches every socket as a message with kind edit, then its ack."""
    await publish(http, server.url, "r", "typo")
    url = f"{server.url}/rooms/r/messages"
    async with http.ws_connect(url) as alice, http.ws_connect(url) as bob:
        await wait_live(server, "r", 2)
        frame = {"type": "edit", "target": 1, "user": "alice", "text": "fixed", "client_id": "e1"}
        await alice.send_str(orjson.dumps(frame).decode())
        seen = await ws_json(bob)
        assert seen["message"]["kind"] == "edit" and seen["message"]["target"] == 1
        assert (await ws_json(alice))["type"] == "message"
        ack = await ws_json(alice)
        assert ack["type"] == "ack" and ack["client_id"] == "e1"
        await bob.send_str(orjson.dumps({"type": "delete", "target": 1, "user": "bob"}).decode())
        error = await ws_json(bob)
        assert error["type"] == "error" and error["code"] == "forbidden"


async def test_corrections_resume_from_a_cursor(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """A stream resuming after the message gets its edit and delete in id order."""
    await publish(http, server.url, "r", "one")
    await publish(http, server.url, "r", "two")
    await correct(http, server, {"type": "edit", "target": 1, "user": "alice", "text": "uno"})
    await correct(http, server, {"type": "delete", "target": 2, "user": "alice"})
    async with http.ws_connect(f"{server.url}/rooms/r/messages?since=2") as ws:
        frames = [(await ws_json(ws))["message"] for _ in range(2)]
    assert [(m["id"], m["kind"], m["target"]) for m in frames] == [(3, "edit", 1), (4, "delete", 2)]
    headers = {"Accept": "text/event-stream"}
    async with http.get(f"{server.url}/rooms/r/messages?since=2", headers=headers) as response:
        reader = SSEReader(response)
        events = [(await reader.next_event()).json() for _ in range(2)]
    assert [(m["id"], m["kind"]) for m in events] == [(3, "edit"), (4, "delete")]


async def test_view_latest_applies_corrections(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """?view=latest shows current text, edited and deleted flags; also from the store."""
    server = await start_server()
    for text in ("a", "b", "c"):
        await publish(http, server.url, "r", text)
    await correct(http, server, {"type": "edit", "target": 1, "user": "alice", "text": "a1"})
    await correct(http, server, {"type": "edit", "target": 1, "user": "alice", "text": "a2"})
    await correct(http, server, {"type": "delete", "target": 2, "user": "alice"})
    await correct(http, server, {"type": "edit", "target": 2, "user": "alice", "text": "late"})
    latest = await poll(http, server.url, "r", view="latest")
    shown = {m["id"]: m for m in latest["messages"]}
    assert shown[1]["text"] == "a2" and shown[1]["edited"] is True and shown[1]["edited_ts"]
    assert shown[2]["text"] == "" and shown[2]["deleted"] is True  # a delete is final
    assert shown[3]["text"] == "c" and "edited" not in shown[3]
    assert latest["last_id"] == 7 and len(latest["messages"]) == 7
    plain = await poll(http, server.url, "r")
    assert plain["messages"][0]["text"] == "a"
    # After a restart nothing is cached: an old page finds its corrections in the store.
    await server.stop()
    again = await start_server(port=server.port)
    page = await poll(http, again.url, "r", before=3, view="latest")
    assert [(m["id"], m["text"]) for m in page["messages"]] == [(1, "a2"), (2, "")]
    after = await poll(http, again.url, "r", since=0, limit=1, view="latest")
    assert after["messages"][0]["text"] == "a2"
    async with http.get(f"{again.url}/rooms/r/messages?view=newest") as response:
        assert response.status == 400
