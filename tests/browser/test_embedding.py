"""hubbub-client.js in a page of another origin: allowed with --allow-origin, a clear error without.

The other origin is another port on 127.0.0.1, served by a tiny aiohttp static
server that also holds a copy of the module (as a site that copied it would).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Page

from hubbub.app import STATIC
from tests.browser.chat import publish
from tests.browser.conftest import TIMEOUT_MS, Servers

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Imports the module from `moduleUrl`, follows a room, records what happens in window.*.
EMBED = """async ([moduleUrl, baseUrl, options]) => {
  const { HubbubClient } = await import(moduleUrl);
  window.client = baseUrl ? new HubbubClient({ baseUrl }) : new HubbubClient();
  window.seen = [];
  window.states = [];
  window.errors = [];
  const sub = window.client.subscribe("general", options);
  sub.addEventListener("message", (e) => window.seen.push(e.detail.text));
  sub.addEventListener("state", (e) => window.states.push(e.detail.state));
  sub.addEventListener("error", (e) => {
    window.errors.push({ code: e.detail.error.code, message: e.detail.error.message });
  });
  window.sub = sub;
}"""

# Publishes from the page; the outcome, and how many retries it took.
PUBLISH = """async (text) => {
  let retries = 0;
  try {
    await window.client.publish("general", { user: "embedder", text }, {
      onRetry: () => { retries += 1; },
    });
    return { ok: true, retries };
  } catch (error) {
    return { ok: false, code: error.code, retryable: error.retryable, retries };
  }
}"""


@pytest_asyncio.fixture(loop_scope="session")
async def other_origin(tmp_path: Path) -> AsyncIterator[str]:
    """A second origin: an aiohttp static server with a blank page and a copy of the module."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "embed.html").write_text("<!doctype html><title>another site</title>")
    shutil.copy(STATIC / "hubbub-client.js", site / "hubbub-client.js")
    app = web.Application()
    app.router.add_static("/", site)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page of its own context; uncaught errors in it fail the test."""
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


async def until(page: Page, condition: str) -> None:
    await page.wait_for_function(condition, timeout=TIMEOUT_MS)


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll", "poll"])
async def test_allowed_origin_imports_the_module_and_chats(
    servers: Servers,
    page: Page,
    other_origin: str,
    http: aiohttp.ClientSession,
    transport: str,
) -> None:
    """With --allow-origin, a page of that origin imports /static/hubbub-client.js and chats."""
    server = await servers.start(allow_origin=other_origin)
    await publish(http, server, "general", "carol", "before")
    await page.goto(f"{other_origin}/embed.html")
    module = f"{server.url}/static/hubbub-client.js"
    await page.evaluate(EMBED, [module, None, {"backlog": 5, "transports": [transport]}])
    await until(page, "window.sub.state === 'live' && window.seen.length === 1")
    assert await page.evaluate(PUBLISH, "from another origin") == {"ok": True, "retries": 0}
    await publish(http, server, "general", "carol", "after")
    await until(page, "window.seen.length === 3")
    assert await page.evaluate("window.seen") == ["before", "from another origin", "after"]
    assert await page.evaluate("[window.sub.transport, window.errors]") == [transport, []]


async def test_other_origins_cannot_import_the_module(
    servers: Servers, page: Page, other_origin: str
) -> None:
    """An origin that --allow-origin does not name cannot import the module."""
    server = await servers.start(allow_origin="http://elsewhere.example")
    await page.goto(f"{other_origin}/embed.html")
    outcome = await page.evaluate(
        """async (url) => {
          try { await import(url); return "imported"; } catch (error) { return error.name; }
        }""",
        f"{server.url}/static/hubbub-client.js",
    )
    assert outcome == "TypeError"


@pytest.mark.parametrize("since", [None, 0])
async def test_without_allow_origin_the_client_says_why(
    servers: Servers, page: Page, other_origin: str, since: int | None
) -> None:
    """Without --allow-origin, a copied client fires one clear error and closes; publish too."""
    server = await servers.start()
    await page.goto(f"{other_origin}/embed.html")
    # since=0 skips the first read: a WebSocket, which has no CORS, would open.
    options = {"since": since, "backoff": {"initial": 10, "max": 20}}
    await page.evaluate(EMBED, [f"{other_origin}/hubbub-client.js", server.url, options])
    await until(page, "window.errors.length === 1 && window.sub.state === 'closed'")
    [error] = await page.evaluate("window.errors")
    assert error["code"] == "cors"
    assert f"does not allow pages of {other_origin}" in error["message"]
    assert f"--allow-origin {other_origin}" in error["message"]
    assert "live" not in await page.evaluate("window.states")
    assert await page.evaluate("window.sub.cursor") == since
    published = await page.evaluate(PUBLISH, "refused")
    assert published == {"ok": False, "code": "cors", "retryable": False, "retries": 0}


async def test_a_server_that_is_down_is_retried_not_refused(
    servers: Servers, page: Page, other_origin: str
) -> None:
    """From another origin, a server that is down is retried (no error) until it comes back."""
    first = await servers.start()
    port = first.port
    await servers.stop(first)  # nothing listens on this port now
    await page.goto(f"{other_origin}/embed.html")
    options = {"backlog": 5, "backoff": {"initial": 10, "max": 40, "jitter": 0}}
    await page.evaluate(
        EMBED, [f"{other_origin}/hubbub-client.js", f"http://127.0.0.1:{port}", options]
    )
    await until(page, "window.states.filter((s) => s === 'reconnecting').length >= 3")
    assert await page.evaluate("window.errors") == []
    await servers.start(port=port, allow_origin=other_origin)
    await until(page, "window.sub.state === 'live'")
    assert await page.evaluate("window.errors") == []
