"""The page when things go wrong: restarts, lost history, refused transports, lost answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Route, expect

from hubbub.http.answers import Answer
from hubbub.http.context import RequestFilter
from hubbub.http.head import Request
from hubbub.server import Server
from tests.browser.chat import publish, stored
from tests.browser.conftest import OpenChat, Servers
from tests.proxy import Action, Decide, Proxy, answer, is_upgrade

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def stack() -> AsyncIterator[contextlib.AsyncExitStack]:
    """Closes what a test opened on it (its proxies) after the test."""
    async with contextlib.AsyncExitStack() as stack:
        yield stack


def transport_of(request: Request) -> str:
    """Which transport a read of /rooms/{room}/messages asks for (as the server decides)."""
    if (request.headers.get("upgrade") or "").lower() == "websocket":
        return "ws"
    if "text/event-stream" in (request.headers.get("accept") or ""):
        return "sse"
    return "longpoll" if "wait" in request.query else "poll"


def refuse(*transports: str) -> RequestFilter:
    """A filter that answers 403 to reads over ``transports``, as a strict proxy might."""

    def refusing(request: Request) -> Answer | None:
        reading = request.method == "GET" and request.path.startswith("/rooms/")
        if reading and transport_of(request) in transports:
            return Answer(403, b"refused by the test", content_type="text/plain")
        return None

    return refusing


def refuse_upgrades(refused: tuple[str, ...]) -> Decide:
    """The proxy's part of :func:`refuse`: WebSocket upgrades, which only the front sees."""

    async def decide(head: bytes) -> Action:
        if "ws" in refused and is_upgrade(head) and head.startswith(b"GET /rooms/"):
            return answer("403 Forbidden", "refused by the test")
        return None

    return decide


def hold_upgrades(gate: asyncio.Event) -> Decide:
    """The proxy's part of :func:`hold_reads`: WebSocket upgrades wait for ``gate`` too."""

    async def decide(head: bytes) -> Action:
        if is_upgrade(head):
            await gate.wait()
        return None

    return decide


def hold_reads(gate: asyncio.Event) -> RequestFilter:
    """A filter that holds every read until ``gate`` is set (publishes pass)."""

    async def wait_for_gate() -> None:
        await gate.wait()

    def holding(request: Request) -> Awaitable[None] | None:
        if request.method == "GET" and request.path.startswith("/rooms/"):
            return wait_for_gate()
        return None

    return holding


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll", "poll"])
async def test_server_restart_mid_chat(
    servers: Servers,
    open_chat: OpenChat,
    http: aiohttp.ClientSession,
    transport: str,
) -> None:
    """Both pages recover from a restart by themselves: nothing lost, nothing twice."""
    server = await servers.start()
    alice = await open_chat(server.url, "alice", transport=transport)
    bob = await open_chat(server.url, "bob", transport=transport)
    await alice.send("before the restart")
    await bob.expect_texts(["before the restart"])

    await servers.stop(server)
    for chat in (alice, bob):
        await expect(chat.connection).to_have_attribute("data-state", "reconnecting")
    # Sent while the server is down: shown at once as pending, retried until stored.
    await alice.send("sent while down", confirmed=False)
    await expect(alice.message("sent while down")).to_have_class(re.compile(r"\bpending\b"))

    server = await servers.start(port=server.port)
    await publish(http, server, "general", "carol", "published at once after the restart")
    await expect(alice.message("sent while down")).to_have_attribute("data-id", re.compile(r"\d"))
    await bob.send("after the restart")
    await alice.expect_live(transport)
    await bob.expect_live(transport)

    texts = [message["text"] for message in await stored(http, server, "general")]
    assert sorted(texts) == sorted(
        [
            "before the restart",
            "sent while down",
            "published at once after the restart",
            "after the restart",
        ]
    )
    await alice.expect_texts(texts)
    await bob.expect_texts(texts)


async def test_true_gap_is_shown(
    servers: Servers,
    open_chat: OpenChat,
    http: aiohttp.ClientSession,
    stack: contextlib.AsyncExitStack,
) -> None:
    """Messages the server no longer keeps are named in a notice, the rest shown once."""
    server = await servers.start()
    gate = asyncio.Event()
    gate.set()
    proxy = await stack.enter_async_context(Proxy(server.port, hold_upgrades(gate)))
    alice = await open_chat(proxy.url, "alice", transport="ws")
    await alice.send("seen before")  # id 1
    await alice.expect_texts(["seen before"])

    gate.clear()
    await servers.stop(server)
    await expect(alice.connection).to_have_attribute("data-state", "reconnecting")
    server = await servers.start(port=server.port, retain=3, filters=(hold_reads(gate),))
    for n in range(2, 8):  # ids 2..7; the room keeps 5..7
        await publish(http, server, "general", "carol", f"message {n}")
    gate.set()

    notice = alice.log.get_by_role("note")
    await expect(notice).to_have_text(re.compile(r"^3 messages \(#2\u2013#4\) could not be loaded"))
    await alice.expect_texts(["seen before", "message 5", "message 6", "message 7"])
    # The notice sits where the lost messages were.
    order = await alice.log.locator("li").evaluate_all("items => items.map(i => i.className)")
    assert order[1] == "notice"
    await alice.expect_live("ws")


async def test_room_reset_is_shown(
    servers: Servers, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """A room whose ids start again (a memory store restarted) is announced, then followed."""
    server = await servers.start()
    alice = await open_chat(server.url, "alice", transport="sse")
    await alice.send("from the old life")
    await alice.send("also old")
    await alice.expect_texts(["from the old life", "also old"])

    await servers.stop(server)
    server = await servers.start(port=server.port, store="memory")
    await expect(alice.log.get_by_role("note")).to_contain_text("reset")
    await publish(http, server, "general", "carol", "a new beginning")  # id 1 again
    await alice.expect_texts(["a new beginning"])


@pytest.mark.parametrize(
    ("refused", "expected"),
    [
        (("ws",), "sse"),
        (("ws", "sse"), "longpoll"),
        (("ws", "sse", "longpoll"), "poll"),
    ],
)
async def test_fallback_order(
    servers: Servers,
    open_chat: OpenChat,
    stack: contextlib.AsyncExitStack,
    refused: tuple[str, ...],
    expected: str,
) -> None:
    """Refused transports are skipped in order: WebSocket, SSE, long poll, short poll."""
    server = await servers.start(filters=(refuse(*refused),))
    proxy = await stack.enter_async_context(Proxy(server.port, refuse_upgrades(refused)))
    alice = await open_chat(proxy.url, "alice", wait_live=False)
    bob = await open_chat(proxy.url, "bob", wait_live=False)
    await alice.expect_live(expected)
    await bob.expect_live(expected)
    await alice.send("through the fallback")
    await bob.send("and back")
    await alice.expect_texts(["through the fallback", "and back"])
    await bob.expect_texts(["through the fallback", "and back"])


async def test_forced_transport_does_not_fall_back(
    servers: Servers, open_chat: OpenChat, stack: contextlib.AsyncExitStack
) -> None:
    """?transport=ws sticks to WebSocket: refused, it keeps retrying and says so."""
    server = await servers.start()
    proxy = await stack.enter_async_context(Proxy(server.port, refuse_upgrades(("ws",))))
    alice = await open_chat(proxy.url, "alice", transport="ws", wait_live=False)
    await expect(alice.connection).to_contain_text("WebSocket · reconnecting")
    await expect(alice.page.get_by_text("This is the start of #general.")).to_be_visible()


async def test_publish_retry_after_lost_answer_is_not_doubled(
    server: Server, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """A publish whose answer is lost is retried with its client_id and stored once."""
    alice = await open_chat(server.url, "alice", transport="longpoll")
    bodies: list[dict[str, Any]] = []

    async def lose_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        bodies.append(json.loads(route.request.post_data or "{}"))
        if len(bodies) == 1:
            await route.fetch()  # the server stores it...
            await route.abort("connectionreset")  # ...and the answer never arrives
        else:
            await route.continue_()

    await alice.page.route("**/rooms/general/messages", lose_first_answer)
    async with alice.page.expect_response(
        lambda response: response.request.method == "POST" and response.status == 200
    ) as repeated:
        await alice.send("exactly once")
    await repeated.value  # the retry, answered 200: "already stored"
    await alice.expect_texts(["exactly once"])
    assert len(bodies) == 2
    assert bodies[0]["client_id"] == bodies[1]["client_id"]
    assert [m["text"] for m in await stored(http, server, "general")] == ["exactly once"]
    await alice.page.reload()
    await alice.expect_texts(["exactly once"])


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll"])
async def test_network_drop(server: Server, open_chat: OpenChat, transport: str) -> None:
    """A page that loses the network catches up by itself once it is back."""
    alice = await open_chat(server.url, "alice", transport=transport)
    bob = await open_chat(server.url, "bob", transport=transport)
    await alice.send("before the drop")
    await bob.expect_texts(["before the drop"])

    await bob.page.context.set_offline(True)
    await alice.send("while bob is offline")
    await alice.expect_texts(["before the drop", "while bob is offline"])
    await expect(bob.connection).to_have_attribute("data-state", "reconnecting")
    await bob.page.context.set_offline(False)
    await bob.expect_texts(["before the drop", "while bob is offline"])
    await bob.expect_live(transport)
