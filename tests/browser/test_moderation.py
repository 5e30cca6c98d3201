"""Moderation on the chat page, in Chromium: a moderator's Delete and Mute, what the muted
person and the others see, and an admin's disconnect."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import expect

from hubbub.server import Server
from tests.browser.chat import ChatPage
from tests.browser.conftest import OpenChat, Servers
from tests.moderation_wire import ALICE, BOB, MIA, ROOT, call
from tests.tokens import SECRET

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def open_as(open_chat: OpenChat, server: Server, token: str, room: str) -> ChatPage:
    """The page at ``/#token=...``, then in ``room``."""
    chat = await open_chat(server.url, None, room=f"token={token}", wait_live=False)
    await chat.page.evaluate(f"location.hash = {room!r}")
    await chat.expect_live()
    return chat


async def say(
    http: aiohttp.ClientSession, server: Server, room: str, token: str, text: str
) -> None:
    status, body, _ = await call(
        http, "POST", f"{server.url}/rooms/{room}/messages", token, {"text": text}
    )
    assert status == 201, body


async def test_a_moderator_deletes_and_mutes_from_the_page(
    servers: Servers, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """mia (mod of general) sees Delete and Mute on bob's message, alice does not; mia's
    delete shows as deleted on every page; her mute is told on every page, closes bob's
    send box, and the server refuses bob; in a room she does not moderate she sees neither."""
    server = await servers.start(auth_secret=SECRET)
    mia = await open_as(open_chat, server, MIA, "general")
    alice = await open_as(open_chat, server, ALICE, "general")
    bob = await open_as(open_chat, server, BOB, "general")
    await say(http, server, "general", BOB, "buy cheap spam")
    await say(http, server, "general", BOB, "more spam")

    spam = mia.message("buy cheap spam")
    delete = spam.get_by_role("button", name="Delete this message of bob (moderator)")
    mute = spam.get_by_role("button", name="Mute bob in #general (moderator)")
    await expect(delete).to_be_visible()
    await expect(mute).to_be_visible()
    await expect(alice.message("buy cheap spam").get_by_role("button")).to_have_count(0)

    # The buttons show over the bubble's corner while the message is hovered, as a
    # moderator's pointer reaches them (docs/browser.md): hover it first.
    await spam.hover()
    await delete.click()
    await expect(delete).to_have_text("Really delete?")
    await delete.click()
    for page in (mia, alice, bob):
        await expect(page.message("message deleted")).to_have_count(1)
        await expect(page.message("buy cheap spam")).to_have_count(0)

    other = mia.message("more spam")
    await other.hover()
    await other.get_by_role("button", name="Mute bob in #general (moderator)").click()
    form = other.get_by_role("form", name="Mute bob")
    await form.get_by_role("combobox", name="For how long").select_option("300")
    await form.get_by_role("textbox", name="Reason").fill("flooding")
    await form.get_by_role("button", name="Mute bob").click()
    told = "bob was muted for 5 min by mia: flooding"
    for page in (mia, alice, bob):
        await expect(page.page.get_by_role("note").filter(has_text=told)).to_have_count(1)
    await expect(bob.box).to_be_disabled()
    muted = re.compile(r"You are muted in #general until \S+")
    await expect(bob.box).to_have_attribute("placeholder", muted)
    status, refused, _ = await call(
        http, "POST", f"{server.url}/rooms/general/messages", BOB, {"text": "let me in"}
    )
    assert (status, refused["error"]["code"]) == (403, "muted")

    await say(http, server, "secret", ALICE, "not yours to moderate")
    await mia.page.evaluate("location.hash = 'secret'")
    await mia.expect_live()
    await expect(mia.message("not yours to moderate")).to_have_count(1)
    await expect(mia.message("not yours to moderate").get_by_role("button")).to_have_count(0)


async def test_a_disconnected_page_says_so_and_waits(
    servers: Servers, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """An admin's disconnect of alice: her page says so and waits before reconnecting."""
    server = await servers.start(auth_secret=SECRET)
    alice = await open_as(open_chat, server, ALICE, "general")
    status, _, _ = await call(http, "POST", f"{server.url}/admin/users/alice/disconnect", ROOT)
    assert status == 200
    notice = alice.page.get_by_role("note").filter(has_text="An admin disconnected you")
    await expect(notice).to_have_text("An admin disconnected you: reconnecting in 30 s.")
    await expect(alice.connection).to_have_attribute("data-state", "reconnecting")
    await expect(alice.connection).to_contain_text("reconnecting in 30 s")
