"""The chat page's live extras in Chromium: who is here, who is typing, unread rooms, edits."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import expect

from hubbub.server import Server
from tests.browser.chat import publish
from tests.browser.conftest import OpenChat

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
        present = page.page.get_by_role("list", name="In this room").get_by_role("listitem")
        await expect(present).to_have_text(["alice", "bob"])

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

    await alice.send("helo everyone")
    shown = bob.message("helo everyone")
    await expect(shown).to_have_count(1)
    await expect(shown.get_by_role("button")).to_have_count(0)  # not bob's to correct
    mine = alice.message("helo everyone")
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
    present = alice.page.get_by_role("list", name="In this room").get_by_role("listitem")
    await expect(present).to_have_text(["alice"])
