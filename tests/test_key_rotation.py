"""Key rotation on a running ``hubbub serve``: SIGHUP reads the JWKS document again, both
keys verify during the overlap, and streams opened with the old key stay open."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.process import ServeProcess, serve
from tests.wire import SSEReader, ws_json

OLD = "the secret of 2025, longer than 32 bytes"
NEW = "the secret of 2026, longer than 32 bytes"


def write_keys(path: Path, *keys: tuple[str, str]) -> None:
    """A JWKS document of ``(kid, secret)`` HS256 keys, replaced in one rename as an
    operator's tooling should (a reader never sees half a file)."""
    document = {
        "keys": [
            {"kty": "oct", "kid": kid, "alg": "HS256", "k": _b64(secret.encode())}
            for kid, secret in keys
        ]
    }
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(document))
    partial.replace(path)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(secret: str, kid: str) -> str:
    """A token from ``hubbub token --kid``, as an operator's issuer would sign it."""
    done = subprocess.run(
        [sys.executable, "-m", "hubbub", "token", "alice", "--secret", secret, "--kid", kid],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return done.stdout.strip()


async def hang_up(server: ServeProcess, needle: bytes) -> None:
    server.process.send_signal(signal.SIGHUP)
    await server.read_log_until(needle)


async def publish(http: aiohttp.ClientSession, url: str, signed: str, text: str) -> int:
    headers = {"Authorization": f"Bearer {signed}"}
    body: dict[str, Any] = {"text": text}
    async with http.post(f"{url}/rooms/r/messages", json=body, headers=headers) as response:
        return response.status


async def test_rotation_keeps_streams_and_logs_no_one_out(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """Add the new key, sign with it, remove the old one: every step by SIGHUP, no restart;
    an SSE stream and a WebSocket opened with the old key receive every message."""
    keys = tmp_path / "keys.json"
    write_keys(keys, ("2025", OLD))
    old, new = token(OLD, "2025"), token(NEW, "2026")
    args = ("--port", "0", "--db", str(tmp_path / "r.db"), "--auth-jwks", str(keys))
    async with serve(*args) as server:
        async with http.get(
            f"{server.url}/rooms/r/messages",
            headers={"Accept": "text/event-stream", "Authorization": f"Bearer {old}"},
        ) as response:
            assert response.status == 200
            stream = SSEReader(response)
            assert (await stream.next_event(ready=True)).event == "ready"
            socket = await http.ws_connect(f"{server.url}/rooms/r/messages?token={old}")
            assert (await ws_json(socket, ready=True))["type"] == "ready"
            assert await publish(http, server.url, new, "too early") == 401

            write_keys(keys, ("2025", OLD), ("2026", NEW))
            await hang_up(server, b"keys reloaded: 2 keys (kid 2025, 2026)")
            assert await publish(http, server.url, old, "old key") == 201
            assert await publish(http, server.url, new, "new key") == 201

            write_keys(keys, ("2026", NEW))
            await hang_up(server, b"keys reloaded: 1 key (kid 2026)")
            assert await publish(http, server.url, old, "old key, removed") == 401
            assert await publish(http, server.url, new, "after") == 201

            (tmp_path / "keys.json").write_text("{half a file")
            await hang_up(server, b"keys not reloaded, those in use stay")
            assert await publish(http, server.url, new, "still") == 201

            texts = ["old key", "new key", "after", "still"]
            assert [(await stream.next_event()).json()["text"] for _ in texts] == texts
            assert [(await ws_json(socket))["message"]["text"] for _ in texts] == texts
            await socket.close()
        server.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await server.process.wait() == 0
