"""``hubbub serve --static DIR`` with the long-polling tutorial's own page, in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.browser.chat import publish
from tests.browser.conftest import TIMEOUT_MS, Servers
from tests.wire import wait_for_waiters

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The tutorial's public/ folder: index.html and browser.js, relative URLs only.
PUBLIC = Path(__file__).parent / "longpoll_public"

OpenPage = Callable[[str], Awaitable[Page]]


@pytest_asyncio.fixture(loop_scope="session")
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """Open a URL in a fresh context; the page's uncaught errors fail the test."""
    contexts = []
    errors: list[str] = []

    async def open_url(url: str) -> Page:
        context = await browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(url)
        return page

    yield open_url
    for context in contexts:
        await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


async def send(page: Page, text: str) -> str:
    """Type and submit like a person; answers the Content-Type the page sent it with."""
    async with page.expect_request("**/publish") as sent:
        await page.get_by_role("textbox", name="Message").fill(text)
        await page.get_by_role("button", name="Send").click()
    request = await sent.value
    return await request.header_value("content-type") or ""


async def test_tutorial_page_works_unchanged(
    servers: Servers, open_page: OpenPage, http: aiohttp.ClientSession
) -> None:
    """Two tutorial pages served by --static see each other's messages, and the lobby's."""
    server = await servers.start(static_dir=str(PUBLIC))
    first = await open_page(f"{server.url}/")
    second = await open_page(f"{server.url}/")
    assert await first.title() == "Long-polling chat"
    pages = (first, second)

    # The tutorial's /subscribe has no cursor: each page must be held before a message.
    await wait_for_waiters(server, 2)
    assert (await send(first, "hello from the first page")).startswith("text/plain")
    for page in pages:
        await expect(page.locator(".message")).to_have_text(["hello from the first page"])

    await wait_for_waiters(server, 2)
    await send(second, "and back from the second")
    await wait_for_waiters(server, 2)
    await publish(http, server, "lobby", "carol", "from the protocol")
    expected = ["hello from the first page", "and back from the second", "from the protocol"]
    for page in pages:
        await expect(page.locator(".message")).to_have_text(expected)

    async with http.get(f"{server.url}/rooms/lobby/messages?since=0") as stored:
        messages = (await stored.json())["messages"]
    assert [(m["user"], m["text"]) for m in messages] == [
        ("anonymous", "hello from the first page"),
        ("anonymous", "and back from the second"),
        ("carol", "from the protocol"),
    ]


async def test_built_in_page_and_assets_stay_reachable(
    servers: Servers, open_page: OpenPage
) -> None:
    """With --static, the built-in client still loads from /static/ and talks to the server."""
    server = await servers.start(static_dir=str(PUBLIC))
    page = await open_page(f"{server.url}/browser.js")
    rooms = await page.evaluate(
        """async () => {
          const { HubbubClient } = await import("/static/hubbub-client.js");
          return new HubbubClient().rooms();
        }"""
    )
    assert rooms == []
