"""A room's log that starts over (epochs), seen from Chromium: its own EventSource, the
page's client on every transport, and the chat page.

The issue's scenario: a ``--store memory`` server with a room at id 10 is stopped and
restarted on the same port, and 20 messages are published before the browser comes
back. Ids alone cannot tell (Last-Event-ID 10 looks current in a log of 20); the
epoch in the SSE ``id:`` line (``EPOCH:N``) and in every answer does. The restarted
server holds every read until the 20 are stored, so "before the browser comes back"
never depends on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from hubbub.http.context import RequestFilter
from hubbub.http.head import Request
from hubbub.server import Server
from tests.browser.chat import publish
from tests.browser.conftest import TIMEOUT_MS, OpenChat, Servers
from tests.browser.test_client import SUBSCRIBE, until
from tests.browser.test_resilience import hold_reads, hold_upgrades
from tests.browser.test_resilience import stack as stack  # a fixture of the tests below
from tests.proxy import Proxy

pytestmark = pytest.mark.asyncio(loop_scope="session")

OLD, NEW = 10, 20

# Chromium's own EventSource, as any page would use it: no hubbub code on the page.
OWN_EVENTSOURCE = """(room) => {
  window.events = [];
  const source = new EventSource(`/rooms/${room}/messages?since=0`);
  const keep = (type) => (e) =>
    window.events.push({ type, data: JSON.parse(e.data), lastEventId: e.lastEventId });
  for (const type of ["message", "gap", "ready"]) source.addEventListener(type, keep(type));
  source.onerror = () => window.events.push({ type: "error", readyState: source.readyState });
  window.source = source;
}"""


def record_last_event_ids(seen: list[str | None]) -> RequestFilter:
    """Keeps the Last-Event-ID of every event-stream request, as the server receives it."""

    def record(request: Request) -> None:
        if "text/event-stream" in (request.headers.get("accept") or ""):
            seen.append(request.headers.get("last-event-id"))

    return record


async def epoch_of(http: aiohttp.ClientSession, server: Server, room: str) -> str:
    async with http.get(f"{server.url}/rooms/{room}/messages?limit=1") as response:
        body: dict[str, Any] = await response.json()
        epoch: str = body["epoch"]
        return epoch


async def restart_and_refill(
    servers: Servers,
    server: Server,
    http: aiohttp.ClientSession,
    room: str,
    *extra: RequestFilter,
    upgrades: asyncio.Event | None = None,
) -> tuple[Server, str]:
    """Restart ``server`` on its port with an empty memory store; NEW messages published
    in ``room`` before any read is answered (a WebSocket upgrade through the test's proxy
    waits on ``upgrades``, which no middleware sees). The new server and the new epoch."""
    release = asyncio.Event()
    if upgrades is not None:
        upgrades.clear()
    await servers.stop(server)
    restarted = await servers.start(
        port=server.port, store="memory", filters=(*extra, hold_reads(release))
    )
    for n in range(1, NEW + 1):
        await publish(http, restarted, room, "bob", f"new {n}")
    release.set()
    if upgrades is not None:
        upgrades.set()
    return restarted, await epoch_of(http, restarted, room)


async def test_chromiums_own_eventsource_is_told_the_reset(
    servers: Servers, blank: Page, http: aiohttp.ClientSession
) -> None:
    """Chromium's EventSource at id 10, server restarted with 20 new messages before its
    3 s retry: it sends Last-Event-ID OLD:10 and gets a gap, then all 20 of the new log."""
    server = await servers.start(store="memory")
    for n in range(1, OLD + 1):
        await publish(http, server, "r", "alice", f"old {n}")
    old_epoch = await epoch_of(http, server, "r")
    await blank.goto(f"{server.url}/healthz")
    await blank.evaluate(OWN_EVENTSOURCE, "r")
    await until(blank, f"window.events.filter((e) => e.type === 'message').length === {OLD}")
    assert (await blank.evaluate("window.events.at(-1)"))["lastEventId"] == f"{old_epoch}:{OLD}"

    headers: list[str | None] = []
    _, new_epoch = await restart_and_refill(
        servers, server, http, "r", record_last_event_ids(headers)
    )
    assert new_epoch != old_epoch
    await blank.wait_for_function(
        f"window.events.filter((e) => e.type === 'message').length === {OLD + NEW}",
        timeout=TIMEOUT_MS + 3000,  # the browser's own retry is 3 s
    )
    events = await blank.evaluate("window.events")
    after = events[[e["type"] for e in events].index("error") :]
    assert after[0] == {"type": "error", "readyState": 0}  # CONNECTING: the browser retries
    gap, ready, *messages = [e for e in after if e["type"] != "error"]
    assert gap == {
        "type": "gap",
        "data": {"room": "r", "first_id": 1, "last_id": NEW, "epoch": new_epoch},
        "lastEventId": f"{new_epoch}:0",
    }
    assert ready["type"] == "ready" and ready["data"]["since"] == 0
    assert [(m["data"]["id"], m["data"]["text"]) for m in messages] == [
        (n, f"new {n}") for n in range(1, NEW + 1)
    ]
    assert messages[-1]["lastEventId"] == f"{new_epoch}:{NEW}"
    assert headers[0] == f"{old_epoch}:{OLD}"  # the browser's own reconnection
    await blank.evaluate("window.source.close()")


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll", "poll"])
async def test_the_page_client_is_told_the_reset(
    servers: Servers,
    blank: Page,
    http: aiohttp.ClientSession,
    stack: contextlib.AsyncExitStack,
    transport: str,
) -> None:
    """hubbub-client.js at id 10 over each transport, the same restart: one reset gap with
    the new epoch, then every message of the new log."""
    server = await servers.start(store="memory")
    upgrades = asyncio.Event()
    upgrades.set()
    proxy = await stack.enter_async_context(Proxy(server.port, hold_upgrades(upgrades)))
    await blank.goto(f"{proxy.url}/healthz")
    options = {"since": 0, "transports": [transport], "watchdog": 0, "pollInterval": 100}
    await blank.evaluate(SUBSCRIBE, ["r", options])
    for n in range(1, OLD + 1):
        await publish(http, server, "r", "alice", f"old {n}")
    await until(blank, f"window.seen.length === {OLD}")
    old_epoch = await blank.evaluate("window.sub.epoch")
    assert old_epoch == await epoch_of(http, server, "r")

    headers: list[str | None] = []
    _, new_epoch = await restart_and_refill(
        servers, server, http, "r", record_last_event_ids(headers), upgrades=upgrades
    )
    await blank.wait_for_function(f"window.seen.length === {OLD + NEW}", timeout=TIMEOUT_MS + 3000)
    assert await blank.evaluate("window.seen") == [*range(1, OLD + 1), *range(1, NEW + 1)]
    assert await blank.evaluate("window.gaps") == [
        {"from": NEW + 1, "to": OLD, "first_id": 1, "last_id": NEW, "reset": True,
         "epoch": new_epoch},
    ]  # fmt: skip
    assert await blank.evaluate("[window.sub.cursor, window.sub.epoch]") == [NEW, new_epoch]
    if transport == "sse":  # the browser's own reconnection, with the epoch it was given
        assert headers[0] == f"{old_epoch}:{OLD}"
    await blank.evaluate("window.sub.close()")


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll", "poll"])
async def test_the_chat_page_shows_the_reset_and_the_new_log(
    servers: Servers,
    open_chat: OpenChat,
    http: aiohttp.ClientSession,
    stack: contextlib.AsyncExitStack,
    transport: str,
) -> None:
    """The chat page at id 10, the same restart: a reset notice, then exactly the new log."""
    server = await servers.start(store="memory")
    for n in range(1, OLD + 1):
        await publish(http, server, "general", "alice", f"old {n}")
    upgrades = asyncio.Event()
    upgrades.set()
    proxy = await stack.enter_async_context(Proxy(server.port, hold_upgrades(upgrades)))
    carol = await open_chat(proxy.url, "carol", transport=transport)
    await carol.expect_texts([f"old {n}" for n in range(1, OLD + 1)])

    _, new_epoch = await restart_and_refill(servers, server, http, "general", upgrades=upgrades)
    await expect(carol.log.get_by_role("note")).to_contain_text("reset")
    await carol.expect_texts([f"new {n}" for n in range(1, NEW + 1)])
    await carol.expect_live(transport)
    mark = await carol.page.evaluate("JSON.parse(localStorage.getItem('hubbub.read')).general")
    assert mark == {"id": NEW, "epoch": new_epoch}
