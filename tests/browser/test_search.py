"""Search on the chat page in Chromium: type, see marked results, open one, keep chatting."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import expect

from hubbub.server import Server
from tests.browser.chat import publish
from tests.browser.conftest import OpenChat

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_search_opens_a_hit_in_its_room_and_the_chat_goes_on(
    server: Server, open_chat: OpenChat, http: aiohttp.ClientSession
) -> None:
    """``/`` focuses the box; hits show their matches in <mark> (markup stays text);
    a click opens the hit's room around it, marked, and live messages keep coming."""
    for n in range(1, 81):
        text = "<b>Needle</b> in the haystack" if n == 30 else f"hay {n}"
        await publish(http, server, "random", "bob", text)
    alice = await open_chat(server.url, "alice", "general")
    page = alice.page

    await page.locator("body").press("/")
    box = page.get_by_role("searchbox", name="Search messages")
    await expect(box).to_be_focused()
    await box.fill("needle")
    await box.press("Enter")
    results = page.get_by_role("region", name="Search results")
    await expect(results.get_by_role("listitem")).to_have_count(1)
    hit = results.get_by_role("button", name=re.compile("Needle"))
    await expect(hit.locator("mark")).to_have_text("Needle")
    await expect(hit.locator(".hit-text")).to_have_text("<b>Needle</b> in the haystack")
    await expect(hit.locator("b")).to_have_count(0)  # the text's markup is text

    await hit.click()
    await expect(results).to_be_hidden()
    await expect(page.locator("#room-name")).to_have_text("random")
    target = alice.message("Needle")
    await expect(target).to_have_class(re.compile(r"\bhit-target\b"))
    await expect(target).to_be_in_viewport()
    # The 50 around it (24 older), then everything after: the stream went on from the page.
    await expect(alice.message("hay 80")).to_have_count(1)
    ids = await alice.messages.evaluate_all("(ms) => ms.map((m) => Number(m.dataset.id))")
    assert ids == list(range(6, 81))

    await publish(http, server, "random", "bob", "still live")
    await expect(alice.message("still live")).to_have_count(1)
    await alice.send("after the search")
    await expect(alice.message("after the search")).to_have_attribute("data-id", "82")

    await page.keyboard.press("Control+K")
    await expect(box).to_be_focused()
    await box.fill('"open')
    await box.press("Enter")
    await expect(results.locator("#search-status")).to_have_text(re.compile("cannot be run"))
    await page.keyboard.press("Escape")
    await expect(results).to_be_hidden()
