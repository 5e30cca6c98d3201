"""Access control seen from the clients: the tutorial dialect, Client(token=), the
``hubbub`` commands with --token, and ``hubbub serve``'s start-up checks."""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
import pytest

from hubbub.client import Client, Refused, Subscription
from hubbub.client.events import TransportChoice
from hubbub.commands.running import is_loopback
from hubbub.server import Server
from tests.conftest import StartServer
from tests.process import serve
from tests.test_cli_send_tail import hubbub
from tests.test_client import drain
from tests.tokens import SECRET, make_token
from tests.wire import SSEReader, wait_for_waiters

DIALECT_READS = ["/messages", "/subscribe"]


@pytest.fixture
async def guarded(start_server: StartServer) -> Server:
    return await start_server(auth_secret=SECRET)


@pytest.mark.parametrize("path", DIALECT_READS)
async def test_dialect_reads_need_a_token(
    guarded: Server, http: aiohttp.ClientSession, path: str
) -> None:
    """The tutorial routes follow the lobby's rules: 401 without a token, 403 without
    read access to the lobby."""
    async with http.get(guarded.url + path) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    token = make_token(read=["team-*"])
    async with http.get(guarded.url + path, params={"token": token}) as response:
        assert response.status == 403


async def test_dialect_posts_are_stamped_from_the_token(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """POST /messages and /publish with ?token= are stored under the token's user;
    another username is 403; without a token, 401."""
    token = make_token("carol")
    url = f"{guarded.url}/messages"
    async with http.post(url, json={"text": "hello"}) as response:
        assert response.status == 401
    async with http.post(url, params={"token": token}, json={"text": "hello"}) as response:
        assert response.status == 201
        assert (await response.json())["username"] == "carol"
    async with http.post(
        url, params={"token": token}, json={"text": "x", "username": "dave"}
    ) as response:
        assert response.status == 403
    async with http.post(
        f"{guarded.url}/publish", params={"token": token}, data=b'{"message": "page"}'
    ) as response:
        assert response.status == 200
    async with http.get(url, params={"token": token}) as response:
        listed = await response.json()
    assert [(m["username"], m["text"]) for m in listed] == [("carol", "hello"), ("carol", "page")]


async def test_dialect_event_source_list_ends_at_exp(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """The SSE tutorial's list stream ends with `event: expired` when its token does."""
    params = {"token": make_token(ttl=1.5)}
    headers = {"Accept": "text/event-stream"}
    async with http.get(f"{guarded.url}/messages", params=params, headers=headers) as response:
        assert response.status == 200
        reader = SSEReader(response)
        assert (await reader.next_event()).json() == []
        assert (await reader.next_event()).event == "expired"
        with pytest.raises(EOFError):
            await reader.next()


async def test_open_lobby_keeps_only_the_dialect_open(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """--open-lobby: the tutorial routes need no token; the protocol's routes still do."""
    server = await start_server(auth_secret=SECRET, open_lobby=True)
    async with http.post(f"{server.url}/messages", json={"text": "hi", "username": "u"}) as r:
        assert r.status == 201
    async with http.get(f"{server.url}/messages") as response:
        assert [m["username"] for m in await response.json()] == ["u"]
    async with http.get(f"{server.url}/rooms/lobby/messages") as response:
        assert response.status == 401


async def test_client_with_a_token(guarded: Server) -> None:
    """Client(token=) publishes without a user (stamped from sub), reads and follows."""
    async with Client(guarded.url, token=make_token("erin")) as client:
        stored = await client.publish("r", None, "hello")
        assert stored.user == "erin"
        page = await client.history("r")
        assert [(m.user, m.text) for m in page.messages] == [("erin", "hello")]
        async with client.subscribe("r", 0, "sse") as subscription:
            async for event in subscription:
                assert getattr(event, "text", None) == "hello"
                break


@pytest.mark.parametrize("transport", ["ws", "sse", "longpoll", "poll"])
async def test_client_refusals(guarded: Server, transport: TransportChoice) -> None:
    """Without a token, or with one that may not read the room, a subscription
    raises Refused with the protocol's code on every transport."""
    async with Client(guarded.url) as client:
        with pytest.raises(Refused) as caught:
            await client.publish("r", "x", "hi")
        assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    async with Client(guarded.url, token=make_token(read=["other"])) as client:
        with pytest.raises(Refused) as caught:
            await drain(client.subscribe("r", 0, transport))
        assert (caught.value.status, caught.value.code) == (403, "forbidden")


async def test_send_with_a_token(guarded: Server) -> None:
    """hubbub send --token needs no --name: the message is stored as the token's user."""
    token = make_token("frank")
    code, out, err = await hubbub("send", "r", "hi", "--token", token, "--url", guarded.url)
    assert (code, out, err) == (0, "", "")
    async with Client(guarded.url, token=token) as client:
        page = await client.history("r")
    assert [(m.user, m.text) for m in page.messages] == [("frank", "hi")]


async def test_send_without_a_token_is_refused(guarded: Server) -> None:
    """hubbub send to a server that needs a token: status 1 and the reason."""
    code, _, err = await hubbub("send", "r", "hi", "--name", "a", "--url", guarded.url)
    assert code == 1
    assert "a token is required" in err and "(unauthorized)" in err


async def test_tail_with_a_token_from_the_environment(guarded: Server) -> None:
    """hubbub tail reads HUBBUB_TOKEN; the token never shows in its output."""
    token = make_token("gina")
    async with Client(guarded.url, token=token) as client:
        await client.publish("r", None, "first")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "hubbub", "tail", "r", "--since", "0", "--count", "1", "--json"),
        *("--url", guarded.url),
        env={**os.environ, "HUBBUB_TOKEN": token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err
    assert b'"user":"gina"' in out and token.encode() not in out + err


async def test_serve_with_a_bad_key_file_exits_2(tmp_path: os.PathLike[str]) -> None:
    """--auth-public-key naming a missing file: one line on stderr, status 2."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "hubbub", "serve", "--port", "0", "--auth-public-key", "/nonexistent/key.pem"),
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "cannot read the public key /nonexistent/key.pem" in lines[0]


async def whole_log(**env: str) -> int:
    """Start ``hubbub serve`` (on every address unless HUBBUB_HOST says otherwise), stop
    it with SIGTERM, and count the lines of its whole log that warn of open access."""
    host = [] if "HUBBUB_HOST" in env else ["--host", "0.0.0.0"]
    async with serve("--port", "0", "--store", "memory", *host, env=env) as running:
        assert running.process.stderr is not None
        running.process.terminate()
        async with asyncio.timeout(20):
            rest = await running.process.stderr.read()
    lines = b"".join(running.log).splitlines() + rest.splitlines()
    assert any(b"hubbub stopped" in line for line in lines)  # the whole log was read
    return sum(b"access control is off" in line for line in lines)


async def test_serve_says_when_it_is_open_beyond_loopback() -> None:
    """Listening on every address without access control logs one warning line;
    on loopback, or with a secret, it says nothing of the kind."""
    assert await whole_log() == 1
    assert await whole_log(HUBBUB_AUTH_SECRET=SECRET) == 0
    assert await whole_log(HUBBUB_HOST="127.0.0.1") == 0
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("")


async def test_long_poll_with_token_held_then_answered(
    guarded: Server, http: aiohttp.ClientSession
) -> None:
    """The dialect's GET /subscribe with a short token is answered 401 at exp."""
    params = {"token": make_token(ttl=1.5)}
    task = asyncio.create_task(http.get(f"{guarded.url}/subscribe", params=params))
    await wait_for_waiters(guarded, 1)
    async with await asyncio.wait_for(task, 10) as response:
        assert response.status == 401


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_client_subscription_ends_when_its_token_expires(
    guarded: Server, transport: TransportChoice
) -> None:
    """A stream ended at exp is reconnected, refused (401), and the subscription raises
    Refused after delivering what came before."""
    async with Client(guarded.url, token=make_token("hana", ttl=2)) as client:
        await client.publish("r", None, "before")
        received: list[str] = []
        with pytest.raises(Refused) as caught:
            await collect(client.subscribe("r", 0, transport), received)
    assert received == ["before"]
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")


async def collect(subscription: Subscription, into: list[str]) -> None:
    """The texts of ``subscription`` until it raises (bounded)."""
    async with asyncio.timeout(20), subscription:
        async for event in subscription:
            into.append(getattr(event, "text", ""))
