"""Browser fixtures: Debian's Chromium driven by Playwright, real hubbub servers.

One browser serves the whole session; every page gets its own context (its own
storage, as a second browser would). Everything here runs on the session's event
loop, shared by the browser, the servers and the tests, so the fixtures of the
top-level conftest that start servers are redefined for that loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from hubbub.http.context import RequestFilter
from hubbub.server import Server
from hubbub.settings import Settings
from tests.browser.chat import ChatPage

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000

# Records CSP violations from the first moment of every document, for the
# teardown check that the page never breaks its own policy.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""

expect.set_options(timeout=TIMEOUT_MS)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, launched once for the session."""
    if not HAVE_CHROMIUM:
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        yield browser
        await browser.close()


class Servers:
    """Starts hubbub servers on the test's settings; restarts one on the same port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: list[Server] = []

    async def start(self, *, filters: tuple[RequestFilter, ...] = (), **overrides: Any) -> Server:
        server = Server(replace(self.settings, **overrides))
        server.app.request_filters.extend(filters)
        await server.start()
        self.running.append(server)
        return server

    async def stop(self, server: Server) -> None:
        self.running.remove(server)
        await server.stop()

    async def restart(
        self, server: Server, *, filters: tuple[RequestFilter, ...] = (), **overrides: Any
    ) -> Server:
        """Stop ``server``, then start a new one on its port and database."""
        await self.stop(server)
        return await self.start(filters=filters, port=server.port, **overrides)

    async def stop_all(self) -> None:
        for server in reversed(self.running):
            await server.stop()
        self.running.clear()


@pytest_asyncio.fixture(loop_scope="session")
async def servers(settings: Settings) -> AsyncIterator[Servers]:
    """Servers for one test, all stopped after it."""
    servers = Servers(settings)
    yield servers
    await servers.stop_all()


@pytest_asyncio.fixture(loop_scope="session")
async def server(servers: Servers) -> Server:
    """One server with the default test settings."""
    return await servers.start()


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for publishing and reading around the browser."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


@pytest_asyncio.fixture(loop_scope="session")
async def blank(browser: Browser) -> AsyncIterator[Page]:
    """A page of its own context, to be pointed at a server's origin."""
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield await context.new_page()
    await context.close()


class Pages:
    """Pages each in a fresh browser context; :meth:`check` closes them and asserts none had
    an uncaught error or broke its own Content-Security-Policy."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.pages: list[Page] = []
        self.errors: list[str] = []

    async def new(self, label: str | None, viewport: tuple[int, int], **options: Any) -> Page:
        context = await self.browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            reduced_motion="reduce",
            locale="en-GB",
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        await context.add_init_script(RECORD_CSP_VIOLATIONS)
        self.contexts.append(context)
        page = await context.new_page()
        self.pages.append(page)
        prefix = "" if label is None else f"{label}: "
        page.on("pageerror", lambda exc: self.errors.append(f"{prefix}{exc}"))
        return page

    async def check(self) -> None:
        violations: list[str] = []
        for page in self.pages:
            if not page.is_closed():
                violations += await page.evaluate("window.__cspViolations")
        for context in self.contexts:
            await context.close()
        assert not self.errors, f"uncaught errors in the page: {self.errors}"
        assert not violations, f"the page broke its own CSP: {violations}"


OpenChat = Callable[..., Awaitable[ChatPage]]


@pytest_asyncio.fixture(loop_scope="session")
async def open_chat(browser: Browser) -> AsyncIterator[OpenChat]:
    """Open the chat page in a fresh browser context, pick a name, wait until live.

    After the test, every page must have run without an uncaught error and
    without breaking its own Content-Security-Policy.
    """
    pages = Pages(browser)

    async def open_page(
        base_url: str,
        name: str | None,
        room: str = "general",
        *,
        transport: str | None = None,
        viewport: tuple[int, int] = (1100, 720),
        wait_live: bool = True,
        **context_options: Any,
    ) -> ChatPage:
        page = await pages.new(str(name), viewport, **context_options)
        chat = ChatPage(page, base_url, name)
        await chat.goto(room, transport=transport)
        if name is not None:
            await chat.pick_name(name)
        if wait_live:
            await chat.expect_live(transport)
        return chat

    yield open_page
    await pages.check()
