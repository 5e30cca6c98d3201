"""The chat page against a server with access control on, in Chromium."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import expect

from hubbub.server import Server
from tests.browser.chat import ChatPage
from tests.browser.conftest import OpenChat, Servers
from tests.tokens import SECRET, bearer, make_token

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECORD_STATES = """
window.__states = [];
new MutationObserver(() => {
  window.__states.push(document.getElementById("connection").dataset.state);
}).observe(document.getElementById("connection"), { attributeFilter: ["data-state"] });
"""


async def open_with_token(open_chat: OpenChat, server: Server, token: str) -> ChatPage:
    """The page at ``/#token=...``, as an operator would hand it out."""
    return await open_chat(server.url, None, room=f"token={token}", wait_live=False)


async def test_page_with_a_token_shows_its_user_and_says_what_is_forbidden(
    servers: Servers, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """The token in the fragment: no name picker, the user from sub, the token gone from
    the address bar but kept for the tab; a room it may not read is said plainly."""
    server = await servers.start(auth_secret=SECRET)
    token = make_token("alice", read=["team-*"], write=["team-red"])
    chat = await open_with_token(open_chat, server, token)
    page = chat.page

    # It starts in the lobby, which this token may not read.
    notice = page.get_by_role("note")
    await expect(notice).to_have_text(
        "You are not allowed in #lobby: your access token does not include it."
    )
    await expect(page.get_by_role("dialog", name="Pick a display name")).to_be_hidden()
    await expect(page.locator("#me-name")).to_have_text("alice")
    await expect(page.get_by_role("button", name=re.compile("Change"))).to_be_hidden()
    assert token not in page.url

    await page.evaluate("location.hash = 'team-red'")
    await chat.expect_live()
    await chat.send("hello team")
    await chat.expect_texts(["hello team"])
    messages = await stored_with_token(http, server, "team-red", token)
    assert [(m["user"], m["text"]) for m in messages] == [("alice", "hello team")]

    # Reading is not writing: team-blue is readable, a message to it is not sent.
    await page.evaluate("location.hash = 'team-blue'")
    await chat.expect_live()
    await chat.send("not here", confirmed=False)
    await expect(chat.message("not here")).to_contain_text(
        "Not sent: your access token does not allow posting in #team-blue."
    )

    # The tab keeps its token across a reload; the address bar never shows it.
    await page.reload()
    await chat.expect_live()
    await expect(page.locator("#me-name")).to_have_text("alice")
    assert token not in page.url


async def stored_with_token(
    http: aiohttp.ClientSession, server: Server, room: str, token: str
) -> list[dict[str, object]]:
    async with http.get(f"{server.url}/rooms/{room}/messages", headers=bearer(token)) as response:
        assert response.status == 200
        body = await response.json()
    messages: list[dict[str, object]] = body["messages"]
    return messages


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll"])
async def test_page_says_when_its_token_expired(
    servers: Servers, open_chat: OpenChat, transport: str
) -> None:
    """A token that expires while the page follows a room: the page says so plainly
    (WebSocket close 4401, SSE `expired`, a long poll's next read refused)."""
    server = await servers.start(auth_secret=SECRET)
    token = make_token("bob", ttl=5)
    chat = await open_chat(
        server.url, None, room=f"token={token}", transport=transport, wait_live=False
    )
    await chat.expect_live(transport)
    # Every state the indicator shows from now on: the end must be told by the stream
    # itself, not found out by reconnecting and being refused.
    await chat.page.evaluate(RECORD_STATES)
    await expect(chat.page.get_by_role("note")).to_have_text(
        "Your access token has expired: open the page again with a fresh one."
    )
    await expect(chat.connection).to_have_attribute("data-state", "closed")
    assert await chat.page.evaluate("window.__states") == ["closed"]


async def test_page_without_a_token_is_told_it_needs_one(
    servers: Servers, open_chat: OpenChat
) -> None:
    """A server with access control on and a page opened without a token."""
    server = await servers.start(auth_secret=SECRET)
    chat = await open_chat(server.url, None, room="general", wait_live=False)
    await expect(chat.page.get_by_role("note")).to_contain_text(
        "This server needs a valid access token"
    )
