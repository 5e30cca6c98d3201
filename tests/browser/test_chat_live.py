"""The chat page's live extras in Chromium: who is here, who is typing, unread rooms, edits."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import expect

from hubbub.server import Server
from tests.browser.chat import publish
from tests.browser.conftest import OpenChat, Servers

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Less than the room list's 15 s refresh: what arrives within it came over /ws.
LIVE_MS = 5000


async def test_presence_typing_unread_and_edits(
    server: Server, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """Two people: each sees the other present, bob's typing, an unread room, alice's edit
    and delete made with the keyboard on her own message's buttons."""
    alice = await open_chat(server.url, "alice")
    bob = await open_chat(server.url, "bob")
    for page in (alice, bob):
        summary = page.page.locator("#presence-summary")
        await expect(summary).to_have_accessible_name("In this room: alice and bob")

    await bob.box.press_sequentially("hel")
    typing = alice.page.locator("#typing")
    await expect(typing).to_have_text("bob is typing…")
    await expect(bob.page.locator("#typing")).to_have_text("")  # not told of oneself
    await bob.box.press_sequentially("lo")
    await bob.box.press("Enter")
    await expect(typing).to_have_text("")  # the message ends the notice

    # bob joins "other", comes back: "other" is a joined room with a read mark.
    await bob.page.evaluate("location.hash = 'other'")
    await bob.expect_live()
    await bob.page.evaluate("location.hash = 'general'")
    await bob.expect_live()
    await publish(http, server, "other", "carol", "in the other room")
    other = bob.page.get_by_role("navigation", name="Rooms").get_by_role(
        "link", name=re.compile(r"other")
    )
    await expect(other.locator(".badge")).to_have_text("1", timeout=LIVE_MS)
    # carol edits and deletes: corrections, not new messages, so still 1 unread.
    await correct(http, server, "other", {"type": "edit", "target": 1, "text": "edited"})
    await publish(http, server, "other", "carol", "second")
    await correct(http, server, "other", {"type": "delete", "target": 1})
    await expect(other.locator(".badge")).to_have_text("2", timeout=LIVE_MS)
    # A page opened afresh counts alike (the corrections past its read mark are replayed).
    await bob.page.reload()
    await bob.expect_live()
    await expect(other.locator(".badge")).to_have_text("2", timeout=LIVE_MS)

    await alice.send("helo everyone")
    shown = bob.message("helo everyone")
    await expect(shown).to_have_count(1)
    await expect(shown.get_by_role("button")).to_have_count(0)  # not bob's to correct
    mine = alice.message("helo everyone")
    # Out of the way until the message is hovered or has the focus.
    actions = mine.locator(".actions")
    await alice.page.mouse.move(0, 0)
    await expect(actions).to_have_css("opacity", "0")
    await mine.hover()
    await expect(actions).to_have_css("opacity", "1")
    await alice.page.mouse.move(0, 0)
    await mine.get_by_role("button", name="Edit this message").focus()
    await alice.page.keyboard.press("Enter")
    box = mine.get_by_role("textbox", name="New text of the message")
    await expect(box).to_be_focused()
    await box.fill("hello everyone")
    await box.press("Enter")
    edited = bob.message("hello everyone")
    await expect(edited.locator(".edited")).to_have_text("edited")
    await expect(alice.message("hello everyone").locator(".edited")).to_have_text("edited")
    delete = alice.message("hello everyone").get_by_role("button", name="Delete this message")
    await delete.focus()
    await alice.page.keyboard.press("Enter")
    await expect(delete).to_have_text("Really delete?")
    await alice.page.keyboard.press("Enter")
    await expect(alice.message("message deleted")).to_have_class(re.compile(r"\bdeleted\b"))
    await expect(alice.message("message deleted").get_by_role("button")).to_have_count(0)
    await expect(bob.message("message deleted")).to_have_count(1)

    # A page loading the history shows the room as corrected, and leaves are told.
    await bob.page.reload()
    await bob.expect_live()
    await expect(bob.message("message deleted")).to_have_count(1)
    await expect(bob.message("helo everyone")).to_have_count(0)
    await bob.page.close()
    summary = alice.page.locator("#presence-summary")
    await expect(summary).to_have_accessible_name("In this room: alice")


async def correct(
    http: aiohttp.ClientSession, server: Server, room: str, fields: dict[str, object]
) -> None:
    """An edit or delete by carol, over HTTP."""
    async with http.post(
        f"{server.url}/rooms/{room}/messages", json={"user": "carol", **fields}
    ) as response:
        assert response.status == 201, await response.text()


async def test_many_present_is_a_bounded_summary_and_the_room_stays_named(
    servers: Servers, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """15 people present: the header shows "a summary and 12 others" (on a phone the
    number) at its usual height and the room's name stays visible; the full list, in
    numeric order, opens on demand and closes with Escape."""
    server = await servers.start()
    others = [f"user{n}" for n in range(1, 14)]  # user1 ... user13
    streams = [
        await http.ws_connect(f"{server.url}/rooms/general/messages?user={name}") for name in others
    ]
    try:
        desk = await open_chat(server.url, "alice")
        phone = await open_chat(server.url, "bob", viewport=(390, 780))
        expected = ["alice", "bob", *others]  # user2 before user10: numbers in order
        for chat in (desk, phone):
            page = chat.page
            summary = page.locator("#presence-summary")
            await expect(summary).to_have_accessible_name("In this room: alice, bob and 13 others")
            header = await page.locator(".topbar").bounding_box()
            assert header is not None and header["height"] <= 70, header
            title = await page.locator("#room-name").bounding_box()
            assert title is not None and title["width"] > 40, title  # "general" shows
            await expect(page.get_by_role("heading", level=1)).to_be_visible()
            listed = page.get_by_role("list", name="In this room")
            await expect(listed).to_be_hidden()
            await summary.click()
            await expect(summary).to_have_attribute("aria-expanded", "true")
            await expect(listed.get_by_role("listitem")).to_have_text(expected)
            await page.keyboard.press("Escape")
            await expect(listed).to_be_hidden()
            await expect(summary).to_be_focused()
        await expect(phone.page.locator("#presence-summary .count")).to_have_text("15")
        width = await phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
    finally:
        for stream in streams:
            await stream.close()
