"""hubbub-client.js used directly, as an embedder would, in the browser."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Page

from hubbub.server import Server
from tests.browser.chat import publish
from tests.browser.conftest import TIMEOUT_MS, Servers
from tests.proxy import SILENT, Action, Decide, Proxy, is_upgrade

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Loads the module into the page and follows a room; what it delivers goes to window.seen.
SUBSCRIBE = """async ([room, options]) => {
  const { HubbubClient } = await import("/static/hubbub-client.js");
  window.client = new HubbubClient();
  window.seen = [];
  window.states = [];
  window.gaps = [];
  const sub = window.client.subscribe(room, options);
  sub.addEventListener("message", (e) => window.seen.push(e.detail.id));
  sub.addEventListener("state", (e) => window.states.push(e.detail.state));
  sub.addEventListener("gap", (e) => window.gaps.push(e.detail));
  window.sub = sub;
}"""


async def until(page: Page, condition: str) -> None:
    await page.wait_for_function(condition, timeout=TIMEOUT_MS)


def silent_first_websocket() -> Decide:
    """The first WebSocket opens and then never delivers a frame, like a dead NAT mapping."""
    used = False

    async def decide(head: bytes) -> Action:
        nonlocal used
        if used or not is_upgrade(head):
            return None
        used = True
        return SILENT

    return decide


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll", "poll"])
async def test_subscribe_from_a_cursor(
    server: Server, blank: Page, http: aiohttp.ClientSession, transport: str
) -> None:
    """subscribe({since}) delivers every id after the cursor once, then live ones."""
    for n in range(1, 4):
        await publish(http, server, "api", "carol", f"message {n}")
    await blank.goto(f"{server.url}/healthz")
    await blank.evaluate(SUBSCRIBE, ["api", {"since": 1, "transports": [transport]}])
    await until(blank, "window.sub.state === 'live' && window.seen.length === 2")
    await publish(http, server, "api", "carol", "message 4")
    await until(blank, "window.seen.length === 3")
    assert await blank.evaluate("window.seen") == [2, 3, 4]
    assert await blank.evaluate("window.sub.cursor") == 4
    assert await blank.evaluate("window.sub.transport") == transport
    await blank.evaluate("window.sub.close()")
    assert await blank.evaluate("window.states.at(-1)") == "closed"


async def test_watchdog_replaces_a_silent_stream(
    servers: Servers, blank: Page, http: aiohttp.ClientSession
) -> None:
    """A stream that stops delivering is noticed by the watchdog and replaced, from the cursor."""
    server = await servers.start()
    async with Proxy(server.port, silent_first_websocket()) as proxy:
        await blank.goto(f"{proxy.url}/healthz")
        await blank.evaluate(SUBSCRIBE, ["general", {"transports": ["ws"], "watchdog": 150}])
        await until(blank, "window.sub.state === 'live'")
        await publish(http, server, "general", "carol", "are you there?")
        await until(blank, "window.seen.length === 1")
        states = await blank.evaluate("window.states")
        assert states[:2] == ["connecting", "live"]
        assert "reconnecting" in states
        assert await blank.evaluate("window.gaps") == []


async def test_publish_is_idempotent_and_refusals_are_errors(
    server: Server, blank: Page, http: aiohttp.ClientSession
) -> None:
    """client.publish: a repeated client_id is not stored twice; a 4xx rejects at once."""
    await blank.goto(f"{server.url}/healthz")
    result = await blank.evaluate(
        """async () => {
          const { HubbubClient, HubbubError } = await import("/static/hubbub-client.js");
          const client = new HubbubClient();
          const message = { user: "alice", text: "once", clientId: "c-test-1" };
          const first = await client.publish("general", message);
          const again = await client.publish("general", message);
          let refused;
          try {
            await client.publish("general", { user: "alice", text: "   " });
          } catch (error) {
            refused = [error instanceof HubbubError, error.status, error.code, error.retryable];
          }
          const history = await client.history("general", { limit: 10 });
          const rooms = await client.rooms();
          return { first, again, refused, history, rooms };
        }"""
    )
    assert result["first"]["created"] is True
    assert result["again"]["created"] is False
    assert result["again"]["message"] == result["first"]["message"]
    assert result["first"]["message"]["client_id"] == "c-test-1"
    assert result["refused"] == [True, 400, "invalid_message", False]
    assert [m["text"] for m in result["history"]["messages"]] == ["once"]
    assert result["rooms"] == [{"name": "general", "last_id": 1}]
