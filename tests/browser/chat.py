"""The chat page as the tests see it: what a person would click, type and read."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from playwright.async_api import Locator, Page, expect

from hubbub.server import Server

TRANSPORT_LABELS = {
    "ws": "WebSocket",
    "sse": "Server-Sent Events",
    "longpoll": "Long poll",
    "poll": "Short poll",
}


class ChatPage:
    """One person's chat page."""

    def __init__(self, page: Page, base_url: str, name: str | None) -> None:
        self.page = page
        self.base_url = base_url
        self.name = name

    async def goto(self, room: str, *, transport: str | None = None) -> None:
        query = f"?transport={transport}" if transport else ""
        await self.page.goto(f"{self.base_url}/{query}#{room}")

    async def pick_name(self, name: str) -> None:
        dialog = self.page.get_by_role("dialog", name="Pick a display name")
        await dialog.get_by_role("textbox", name="Display name").fill(name)
        await dialog.get_by_role("button", name="Start chatting").click()
        await expect(dialog).to_be_hidden()
        self.name = name

    @property
    def connection(self) -> Locator:
        return self.page.get_by_role("status")

    async def expect_live(self, transport: str | None = None) -> None:
        """The indicator says live (on ``transport`` when given)."""
        await expect(self.connection).to_have_attribute("data-state", "live")
        if transport is not None:
            await expect(self.connection).to_have_text(f"{TRANSPORT_LABELS[transport]} · live")

    @property
    def box(self) -> Locator:
        return self.page.get_by_role("textbox", name="Message", exact=True)

    @property
    def log(self) -> Locator:
        return self.page.get_by_role("log")

    @property
    def messages(self) -> Locator:
        """Every message shown, pending ones included, in page order."""
        return self.log.locator("li.msg")

    @property
    def texts(self) -> Locator:
        return self.messages.locator(".text")

    def message(self, text: str) -> Locator:
        return self.messages.filter(
            has=self.page.locator(".text", has_text=re.compile(re.escape(text)))
        )

    async def send(self, text: str, *, confirmed: bool = True) -> None:
        """Type ``text`` and press Enter, as a person would; wait until the server has it."""
        await self.box.fill(text)
        await self.box.press("Enter")
        if confirmed:
            await expect(self.log.locator("li.msg:not([data-id])")).to_have_count(0)

    async def expect_texts(self, texts: list[str]) -> None:
        """Exactly these messages, in this order, each confirmed by its id."""
        await expect(self.texts).to_have_text(texts)
        await expect(self.log.locator("li.msg:not([data-id])")).to_have_count(0)


async def publish(
    http: aiohttp.ClientSession, server: Server, room: str, user: str, text: str
) -> dict[str, Any]:
    """Publish over HTTP, as another client would; answers the stored message."""
    async with http.post(
        f"{server.url}/rooms/{room}/messages", json={"user": user, "text": text}
    ) as response:
        assert response.status == 201, await response.text()
        message: dict[str, Any] = await response.json()
        return message


async def stored(http: aiohttp.ClientSession, server: Server, room: str) -> list[dict[str, Any]]:
    """What the server holds for ``room``, oldest first."""
    async with http.get(f"{server.url}/rooms/{room}/messages?limit=1000") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        messages: list[dict[str, Any]] = body["messages"]
        return messages
