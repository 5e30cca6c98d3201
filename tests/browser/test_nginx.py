"""The chat page in Chromium through a real nginx running the shipped site (TLS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.server import Server
from tests.browser.conftest import OpenChat
from tests.nginx import needs_nginx, running_nginx

pytestmark = [pytest.mark.asyncio(loop_scope="session"), needs_nginx]


async def test_the_page_chats_on_websocket_through_nginx(
    server: Server, open_chat: OpenChat, tmp_path: Path
) -> None:
    """On a port other than 443 the page's WebSocket passes the Origin check only if the
    proxy sends Host as the browser did: the page says WebSocket, never a fallback."""
    async with running_nginx(tmp_path / "nginx", "hubbub.conf", [server.port]) as nginx:
        alice = await open_chat(nginx.url, "alice", ignore_https_errors=True)
        bob = await open_chat(nginx.url, "bob", ignore_https_errors=True)
        await alice.expect_live("ws")
        await bob.expect_live("ws")
        await alice.send("through nginx")
        await bob.expect_texts(["through nginx"])
