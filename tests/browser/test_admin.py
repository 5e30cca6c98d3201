"""The operations page in Chromium: plots that move under load, a refused viewer who sees
only the refusal, the crowded tables on a phone, light and dark."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from hubbub.server import Server
from tests.browser.conftest import TIMEOUT_MS, Pages, Servers
from tests.moderation_wire import BOB, MIA, ROOT, call, close_of, frame_of
from tests.redis_server import RedisServer, needs_redis, running_redis
from tests.tokens import SECRET, make_token

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Saves the screenshots to docs/ (after a minute of load, for the desktop one).
UPDATE_SCREENSHOTS = os.environ.get("HUBBUB_UPDATE_SCREENSHOTS") == "1"

OpenAdmin = Callable[..., Awaitable[Page]]


@pytest_asyncio.fixture(loop_scope="session")
async def open_admin(browser: Browser) -> AsyncIterator[OpenAdmin]:
    """Open /admin in a fresh context; afterwards, no page error and no CSP violation."""
    pages = Pages(browser)

    async def open_page(
        url: str, *, viewport: tuple[int, int] = (1280, 900), **options: Any
    ) -> Page:
        page = await pages.new(None, viewport, **options)
        await page.goto(url)
        return page

    yield open_page
    await pages.check()


class Load:
    """Publishes to ``rooms`` rooms round-robin, with WebSocket subscribers, until stopped."""

    def __init__(
        self, http: aiohttp.ClientSession, server: Server, rooms: int = 3, prefix: str = "room-"
    ) -> None:
        self.http = http
        self.server = server
        self.rooms = rooms
        self.prefix = prefix
        self.sent = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Load:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        ws_url = self.server.url.replace("http", "ws", 1)
        sockets = [
            await self.http.ws_connect(f"{ws_url}/rooms/{self.prefix}{i}/messages")
            for i in range(self.rooms)
        ]
        # Subscribers that read (and so answer the server's pings) stay live all along.
        readers = [asyncio.create_task(self._read(socket)) for socket in sockets]
        try:
            while not self._stop.is_set():
                room = f"{self.prefix}{self.sent % self.rooms}"
                async with self.http.post(
                    f"{self.server.url}/rooms/{room}/messages",
                    json={"user": "load", "text": f"message {self.sent}"},
                ) as response:
                    assert response.status == 201
                self.sent += 1
                await asyncio.sleep(0.01)
        finally:
            for socket in sockets:
                await socket.close()
            await asyncio.gather(*readers)

    @staticmethod
    async def _read(socket: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in socket:
            pass

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task


async def line_of(page: Page, plot: str) -> str:
    return str(await page.locator(f"#plot-{plot} path.line").first.get_attribute("d"))


async def test_plots_move_while_a_load_runs(
    server: Server, open_admin: OpenAdmin, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Under load the messages and deliveries plots show it, and their lines change
    second by second; the busiest rooms are the loaded ones. Screenshots in light and dark."""
    async with Load(http, server):
        page = await open_admin(f"{server.url}/admin")
        await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        messages = page.locator('#plot-messages .legend-value[data-series="messages"]')
        await expect(messages).not_to_have_text("0", timeout=TIMEOUT_MS)
        await expect(messages).not_to_have_text("\u2013")  # the dash of no value
        first = await line_of(page, "messages")
        await page.wait_for_function(
            "(before) => document.querySelector('#plot-messages path.line')"
            ".getAttribute('d') !== before",
            arg=first,
            timeout=TIMEOUT_MS,
        )
        deliveries = page.locator('#plot-deliveries .legend-value[data-series="deliveries"]')
        await expect(deliveries).not_to_have_text("0")
        await expect(page.locator("#plot-latency path.line")).to_have_count(2)
        rooms = page.locator("#rooms tbody tr")
        await expect(rooms.first).to_contain_text("#room-")
        await expect(page.locator("#nodes tbody tr")).to_have_count(1)
        await expect(page.locator("#nodes")).to_contain_text("this one")
        await expect(page.locator("#limits")).to_contain_text("File descriptors")
        if UPDATE_SCREENSHOTS:
            # For docs/: a minute of the load in the 1-minute window.
            await page.get_by_role("button", name="1m").click()
            await page.wait_for_function(
                "() => document.querySelector('#plot-messages path.line')"
                ".getAttribute('d').split('L').length > 55",
                timeout=90_000,
            )
        await page.screenshot(path=tmp_path / "admin.png", full_page=True)
        dark = await open_admin(f"{server.url}/admin", color_scheme="dark")
        await expect(dark.locator("#plot-messages path.line")).to_have_count(1)
        background = await dark.evaluate(
            "getComputedStyle(document.querySelector('.plot-card')).backgroundColor"
        )
        assert background == "rgb(24, 26, 35)"  # the chat page's dark panel
    if UPDATE_SCREENSHOTS:
        shutil.copy(tmp_path / "admin.png", DOCS / "admin.png")


async def test_a_refused_viewer_sees_only_the_refusal(
    servers: Servers, open_admin: OpenAdmin
) -> None:
    """Without a token, or with one that is not an admin's, the page says so and shows
    no plot and no table; the admin's token shows them."""
    server = await servers.start(auth_secret=SECRET)
    cases = [
        ("", "An admin token is needed"),
        (f"#token={make_token('bob')}", "Not allowed"),
    ]
    for fragment, title in cases:
        page = await open_admin(f"{server.url}/admin{fragment}")
        refusal = page.get_by_role("alert")
        await expect(refusal).to_be_visible()
        await expect(refusal.get_by_role("heading")).to_have_text(title)
        await expect(page.locator("#connection")).to_have_attribute("data-state", "refused")
        await expect(page.locator("#dashboard")).to_be_hidden()
        await expect(page.locator("svg:visible, table:visible")).to_have_count(0)
        assert "token" not in page.url  # taken out of the address bar
    page = await open_admin(f"{server.url}/admin#token={make_token('root', admin=True)}")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(page.get_by_role("alert")).to_be_hidden()
    await expect(page.locator(".plot-card svg")).to_have_count(9)


async def test_crowded_tables_fit_a_phone(
    server: Server, open_admin: OpenAdmin, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Twelve busy rooms with long names on a 390 px screen: ten shown, every value
    labelled, nothing wider than the screen."""
    async with Load(http, server, rooms=12, prefix="release-planning-and-coordination-"):
        page = await open_admin(
            f"{server.url}/admin", viewport=(390, 844), is_mobile=True, has_touch=True
        )
        rows = page.locator("#rooms tbody tr")
        await expect(rows).to_have_count(10, timeout=TIMEOUT_MS)
        await expect(page.locator("#limits tbody tr")).to_have_count(4)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        for table in ("#rooms", "#limits", "#nodes"):
            box = await page.locator(table).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        label = await page.evaluate(
            "getComputedStyle(document.querySelector('#rooms td.num'), '::before').content"
        )
        assert label == '"Messages/s"'
        await page.locator("#rooms").scroll_into_view_if_needed()
        await page.screenshot(path=tmp_path / "admin-phone.png")
    if UPDATE_SCREENSHOTS:
        shutil.copy(tmp_path / "admin-phone.png", DOCS / "admin-phone.png")


@pytest_asyncio.fixture(loop_scope="session")
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server of the test's own, on the browser tests' loop."""
    async with running_redis(tmp_path / "redis") as started:
        yield started


@needs_redis
async def test_every_node_is_named_on_the_page(
    servers: Servers, open_admin: OpenAdmin, redis: RedisServer
) -> None:
    """Two nodes on Redis: the page served by one lists both, says which one answers,
    and plots either one alone when picked."""
    a = await servers.start(store="redis", redis=(redis.url,), node_name="node-a")
    await servers.start(store="redis", redis=(redis.url,), node_name="node-b")
    page = await open_admin(f"{a.url}/admin")
    nodes = page.locator("#nodes tbody tr")
    await expect(nodes).to_have_count(2)
    await expect(nodes.nth(0)).to_contain_text("node-a")
    await expect(nodes.nth(0)).to_contain_text("this one")
    await expect(nodes.nth(1)).to_contain_text("node-b")
    await expect(page.locator("#limits tbody tr")).to_have_count(8)
    await page.get_by_label("Show").select_option("node-b")
    await expect(page.locator("#scope")).to_have_text("node node-b")
    await expect(page.locator("#plot-connections path.line").first).to_be_attached()


async def test_moderation_lists_mutes_and_disconnects_a_user(
    servers: Servers, open_admin: OpenAdmin, http: aiohttp.ClientSession
) -> None:
    """The Moderation card: empty at first, a mute made through the route appears at the
    next read with its reason; disconnecting bob closes his room WebSocket with 4403 and
    the page says how many it closed; a refusal's message is shown; on a phone the mutes
    table stacks like the others."""
    server = await servers.start(auth_secret=SECRET)
    admin_url = f"{server.url}/admin#token={ROOT}"
    page = await open_admin(admin_url)
    card = page.locator("#moderation")
    await expect(card.locator("tbody")).to_have_text("No active mutes")
    status, body, _ = await call(
        http,
        "POST",
        f"{server.url}/rooms/general/mutes",
        MIA,
        {"user": "bob", "seconds": 600, "reason": "flooding"},
    )
    assert status == 201, body
    row = card.locator("tbody tr")
    # Read again within 5 seconds of the page opening, without reloading it.
    await expect(row).to_have_count(1)
    await expect(row.locator('td[data-label="Room"]')).to_have_text("#general")
    await expect(row.locator('td[data-label="User"]')).to_have_text("bob")
    await expect(row.locator('td[data-label="Reason"]')).to_have_text("flooding")
    await expect(row.locator('td[data-label="By"]')).to_have_text("mia")
    await expect(row.locator('td[data-label="Time left"]')).to_have_text(re.compile(r"^9 min"))

    url = f"{server.url}/rooms/general/messages"
    # A connection of its own: one an aiohttp route answered cannot be upgraded.
    fresh = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    async with fresh, fresh.ws_connect(url, params={"token": BOB, "since": "0"}) as ws:
        await frame_of(ws, "presence")  # live, so counted as bob's
        await page.get_by_label("User name").fill("bob")
        await page.get_by_role("button", name="Disconnect").click()
        result = page.locator("#disconnect-result")
        await expect(result).to_have_text("closed 1 connection of bob on this node")
        assert await close_of(ws) == (4403, "disconnected by an admin")

    await page.get_by_label("User name").fill("x" * 65)  # longer than a user name may be
    await page.get_by_role("button", name="Disconnect").click()
    await expect(result).to_have_text("the user in the path: user must be at most 64 characters")
    await expect(result).to_have_attribute("data-state", "refused")

    phone = await open_admin(admin_url, viewport=(390, 844), is_mobile=True, has_touch=True)
    await expect(phone.locator("#moderation tbody tr")).to_have_count(1)
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    label = await phone.evaluate(
        "getComputedStyle(document.querySelector('#moderation td.num'), '::before').content"
    )
    assert label == '"Time left"'
