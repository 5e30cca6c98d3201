"""The chat page in a real browser: chatting, history, rooms, safety and looks."""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Dialog, expect

from hubbub.app import STATIC
from hubbub.server import Server
from tests.browser.chat import publish, stored
from tests.browser.conftest import OpenChat

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll", "poll"])
async def test_two_pages_chat_both_ways(
    server: Server, open_chat: OpenChat, http: aiohttp.ClientSession, transport: str
) -> None:
    """Two browsers chat both ways over a forced transport; each message once, confirmed."""
    alice = await open_chat(server.url, "alice", transport=transport)
    bob = await open_chat(server.url, "bob", transport=transport, timezone_id="Asia/Kathmandu")

    await alice.send("hello bob")
    await alice.expect_texts(["hello bob"])
    await bob.expect_texts(["hello bob"])

    # Shift+Enter is a new line, Enter sends.
    await bob.box.press_sequentially("first line")
    await bob.box.press("Shift+Enter")
    await bob.box.press_sequentially("second line")
    await bob.box.press("Enter")
    await expect(bob.box).to_have_value("")
    await alice.expect_texts(["hello bob", "first line second line"])
    await bob.expect_texts(["hello bob", "first line second line"])
    text = alice.message("first line").locator(".text")
    assert await text.text_content() == "first line\nsecond line"

    # Own messages are told apart, on both sides.
    await expect(alice.message("hello bob")).to_have_class(re.compile(r"\bmine\b"))
    await expect(alice.message("first line")).not_to_have_class(re.compile(r"\bmine\b"))
    await expect(bob.message("first line")).to_have_class(re.compile(r"\bmine\b"))
    await expect(bob.message("hello bob").locator(".author")).to_have_text("alice")

    # Times are the reader's local time.
    first = (await stored(http, server, "general"))[0]
    kathmandu = datetime.fromtimestamp(first["ts"] / 1000, ZoneInfo("Asia/Kathmandu"))
    await expect(bob.message("hello bob").locator("time")).to_have_text(kathmandu.strftime("%H:%M"))


async def test_reload_keeps_history_and_name(server: Server, open_chat: OpenChat) -> None:
    """After a reload the page has the same name, room and messages, each once."""
    alice = await open_chat(server.url, "alice", "team")
    for text in ("one", "two", "three"):
        await alice.send(text)
    await alice.expect_texts(["one", "two", "three"])

    await alice.page.reload()
    await alice.expect_live()
    await expect(alice.page.get_by_role("dialog")).to_be_hidden()
    await expect(alice.page.get_by_role("heading", level=1)).to_have_text("#team")
    await alice.expect_texts(["one", "two", "three"])
    await expect(alice.message("two")).to_have_class(re.compile(r"\bmine\b"))
    await alice.send("four")
    await alice.expect_texts(["one", "two", "three", "four"])


async def test_markup_in_messages_is_text(
    server: Server, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """Markup in a message or a name shows as text; nothing runs, even without the CSP."""
    alice = await open_chat(server.url, "alice")
    # Bob's browser ignores the CSP: only the page's own rendering protects him.
    bob = await open_chat(server.url, "bob", bypass_csp=True)
    dialogs: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    for chat in (alice, bob):
        chat.page.on("dialog", on_dialog)

    payload = "<img src=x onerror=alert(1)>"
    await alice.send(payload)
    await publish(http, server, "general", "<b>mallory</b>", "<script>alert(2)</script>")
    for chat in (alice, bob):
        await chat.expect_texts([payload, "<script>alert(2)</script>"])
        await expect(chat.log.locator("img, script, b")).to_have_count(0)
        await expect(chat.message("alert(2)").locator(".author")).to_have_text("<b>mallory</b>")
    # A dialog would open as soon as the broken image failed to load; give it a round trip.
    await alice.send("after")
    await bob.expect_texts([payload, "<script>alert(2)</script>", "after"])
    assert dialogs == []


async def test_page_forbids_inline_script(server: Server, http: aiohttp.ClientSession) -> None:
    """GET / sends a CSP without inline script, and the page itself has none."""
    async with http.get(f"{server.url}/") as response:
        assert response.status == 200
        csp = response.headers["Content-Security-Policy"]
        html = await response.text()
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe" not in csp
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="static/chat.js">']
    assert not re.search(r"\son[a-z]+\s*=|\sstyle\s*=", html)
    scripts = sorted(path.name for path in STATIC.glob("*.js"))
    assert {"hubbub-client.js", "chat.js"} <= set(scripts)
    for name in scripts:  # every script the page may load, served as JavaScript
        async with http.get(f"{server.url}/static/{name}") as response:
            assert response.status == 200
            assert "javascript" in response.headers["Content-Type"]
            assert "innerHTML" not in await response.text()


async def test_scrolling_up_loads_older_messages(
    server: Server, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """The page opens on the newest 50; scrolling up (or the button) loads the rest."""
    texts = [f"message {n}" for n in range(1, 121)]
    for text in texts:
        await publish(http, server, "busy", "carol", text)
    alice = await open_chat(server.url, "alice", "busy")
    await expect(alice.texts).to_have_text(texts[-50:])

    await alice.page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    await expect(alice.texts).to_have_text(texts[-100:])
    # The reader stays where they were: the message they saw first is still on screen.
    await expect(alice.message("message 71")).to_be_in_viewport()

    older = alice.page.get_by_role("button", name="Load earlier messages")
    await older.focus()
    await older.press("Enter")
    await expect(alice.texts).to_have_text(texts)
    await expect(alice.page.get_by_text("This is the start of #busy.")).to_be_visible()
    await expect(older).to_be_hidden()
    # Focus stays in the history, not lost with the button.
    await expect(alice.page.get_by_role("region", name="Message history")).to_be_focused()


async def test_rooms_list_join_and_switch(
    server: Server, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """The room list shows rooms; a room is joined by name, created, and switched to."""
    await publish(http, server, "design", "carol", "mockups are up")
    alice = await open_chat(server.url, "alice", "general")
    rooms = alice.page.get_by_role("navigation", name="Rooms")
    await expect(rooms.get_by_role("link", name="#design")).to_be_visible()
    await expect(rooms.get_by_role("link", name="#general")).to_have_attribute(
        "aria-current", "page"
    )

    # A bad name is refused with an explanation, a good one creates the room.
    join = rooms.get_by_role("textbox", name="Join or create a room")
    await join.fill(".hidden")
    await join.press("Enter")
    await expect(rooms.get_by_role("alert")).to_contain_text("does not start with a dot")
    await join.fill("random")
    await join.press("Enter")
    await expect(alice.page.get_by_role("heading", level=1)).to_have_text("#random")
    await alice.expect_live()
    assert alice.page.url.endswith("#random")
    await alice.send("first in random")
    await alice.expect_texts(["first in random"])
    await expect(rooms.get_by_role("link", name="#random")).to_have_attribute(
        "aria-current", "page"
    )

    await rooms.get_by_role("link", name="#design").click()
    await expect(alice.page.get_by_role("heading", level=1)).to_have_text("#design")
    await alice.expect_texts(["mockups are up"])
    await expect(alice.message("mockups")).not_to_have_class(re.compile(r"\bmine\b"))

    await alice.page.go_back()
    await expect(alice.page.get_by_role("heading", level=1)).to_have_text("#random")
    await alice.expect_texts(["first in random"])
    assert [m["text"] for m in await stored(http, server, "random")] == ["first in random"]


async def test_screenshots_desktop_and_phone(
    server: Server, open_chat: OpenChat, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The page in use, wide and phone-sized; saved to docs/ with HUBBUB_UPDATE_SCREENSHOTS=1."""
    for room in ("design", "ops", "random"):
        await publish(http, server, room, "carol", f"welcome to #{room}")
    await publish(http, server, "general", "carol", "Morning all! Standup in 10.")
    alice = await open_chat(server.url, "alice")
    bob = await open_chat(server.url, "bob", viewport=(390, 780))
    await bob.send("Did the deploy go out?")
    await alice.send("Yes, about ten minutes ago.\nAll green so far.")
    await alice.send("Dashboards are quiet.")
    await bob.send("<b>Nice</b>, thanks!")
    conversation = [
        "Morning all! Standup in 10.",
        "Did the deploy go out?",
        "Yes, about ten minutes ago. All green so far.",
        "Dashboards are quiet.",
        "<b>Nice</b>, thanks!",
    ]
    await alice.expect_texts(conversation)
    await bob.expect_texts(conversation)
    nav = alice.page.get_by_role("navigation", name="Rooms")
    await expect(nav.get_by_role("link", name="#ops")).to_be_visible()
    for chat in (alice, bob):  # the pointer off the messages: their buttons hidden
        await chat.page.mouse.move(1, 400)
        await expect(chat.page.locator(".msg .actions").first).to_have_css("opacity", "0")
    await alice.page.screenshot(path=tmp_path / "chat.png")

    # Phone-sized: nothing wider than the screen, the room list is a drawer.
    width = await bob.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    drawer = bob.page.get_by_role("navigation", name="Rooms")
    await expect(drawer).to_be_hidden()
    await bob.page.screenshot(path=tmp_path / "chat-phone.png")
    toggle = bob.page.get_by_role("button", name="Rooms")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(drawer.get_by_role("link", name="#ops")).to_be_visible()
    await expect(drawer.get_by_role("textbox", name="Join or create a room")).to_be_focused()
    await bob.page.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()
    await expect(toggle).to_be_focused()

    if os.environ.get("HUBBUB_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "chat.png", DOCS / "chat.png")
        shutil.copy(tmp_path / "chat-phone.png", DOCS / "chat-phone.png")
