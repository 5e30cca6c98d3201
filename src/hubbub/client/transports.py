"""The four transports, as thin strategies over the one cursor logic.

Each strategy opens one connection (or runs one series of polls) from
``since=cursor.position`` (with ``epoch=cursor.epoch`` once known) and yields
what the server says, undigested: :data:`OPENED` once the connection works,
then messages, the server's ``ready`` and ``gap`` notices and poll pages. The
subscription passes them through its :class:`~hubbub.client.cursor.Cursor` and
decides what to do when a strategy ends or fails; a strategy never retries and
never keeps state across connections.

A strategy ends by raising: :class:`Ended` when the server closed the stream,
:class:`Unsupported` when the server answered but not with this transport,
:class:`Refused`, :class:`Unreachable`, or an aiohttp or OS error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Final, TypeAlias

import aiohttp

from hubbub.client.cursor import Cursor
from hubbub.client.errors import ProtocolViolation, Refused, Unsupported
from hubbub.client.events import (
    Ephemeral,
    Page,
    TransportName,
    parse_bounds,
    parse_ephemeral,
    parse_epoch,
    parse_message,
)
from hubbub.client.http import Link, get_page, loads, refusal
from hubbub.client.sse import SSEDecoder
from hubbub.protocol.messages import Message

# The protocol's largest page (docs/protocol.md, Short poll): catching up takes fewest reads.
MAX_LIMIT = 1000


# Events streams carry that are not messages: passed to ``on_event``, never to the cursor.
EPHEMERAL: Final = ("presence", "typing")


# How long to stay away after an admin disconnected this user (docs/protocol.md,
# "Moderation": WebSocket close 4403, SSE ``disconnected``): at least 30 seconds.
DISCONNECTED_WAIT = 30.0
CLOSE_DISCONNECTED = 4403


class Ended(Exception):
    """The server closed the stream (a restart, a slow-consumer cut): reconnect, after
    ``retry_after`` seconds at least when the server asked for a pause."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Opened:
    """The connection works: the server accepted this transport."""


@dataclass(frozen=True, slots=True)
class ServerGap:
    """A stream's ``gap`` event or frame: the ids the room keeps now, and its epoch."""

    first_id: int
    last_id: int
    epoch: str | None = None


@dataclass(frozen=True, slots=True)
class ServerReady:
    """A stream's ``ready`` event or frame: where it continues, in which epoch."""

    first_id: int
    last_id: int
    epoch: str | None = None


def _notice(body: object) -> tuple[int, int, str | None]:
    first_id, last_id = parse_bounds(body)
    return first_id, last_id, parse_epoch(body)


OPENED: Final = Opened()

Wire: TypeAlias = Opened | Message | ServerGap | ServerReady | Page | Ephemeral
Strategy: TypeAlias = Callable[[Link, str, Cursor], AsyncGenerator[Wire, None]]


def _params(link: Link, cursor: Cursor) -> dict[str, str | int | float]:
    """The cursor (and its epoch), and the name to be present under, if any."""
    params = cursor.query()
    if link.options.presence_user is not None:
        params["user"] = link.options.presence_user  # present while connected
    return params


async def websocket(link: Link, room: str, cursor: Cursor) -> AsyncGenerator[Wire, None]:
    """``message`` and ``gap`` frames; the server's pings are answered by aiohttp."""
    options = link.options
    try:
        async with asyncio.timeout(options.connect_timeout):
            ws = await link.session.ws_connect(
                link.messages_url(room),
                params=_params(link, cursor),
                headers=link.headers(),
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_close=options.connect_timeout),
            )
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status in (408, 429) or exc.status >= 500:
            raise Refused(exc.status, f"http_{exc.status}", exc.message) from exc
        # A refused token (401, 403) included: a plain read then tells why, with
        # the protocol's code, and a proxy that refuses upgrades is fallen back from.
        raise Unsupported(f"the WebSocket upgrade was refused ({exc.status})") from exc
    async with ws:
        yield OPENED
        while True:
            # Every frame restarts the timer, the server's pings included, so
            # only a connection that went silent for idle_timeout is given up.
            try:
                msg = await ws.receive(timeout=options.idle_timeout)
            except TimeoutError:
                raise Ended(_silent(options.idle_timeout)) from None
            if msg.type is aiohttp.WSMsgType.TEXT:
                frame = loads(msg.data)
                kind = frame.get("type") if isinstance(frame, dict) else None
                if kind == "message":
                    yield parse_message(frame.get("message"))
                elif kind == "gap":
                    yield ServerGap(*_notice(frame))
                elif kind == "ready":
                    yield ServerReady(*_notice(frame))
                elif kind in EPHEMERAL:
                    yield parse_ephemeral(kind, frame)
                # ack and error frames answer publishes, which this client sends over
                # HTTP; unknown types are ignored, as a newer server may add some.
            elif msg.type is aiohttp.WSMsgType.BINARY:
                raise ProtocolViolation("the server sent a binary WebSocket frame")
            else:
                code = ws.close_code
                wait = DISCONNECTED_WAIT if code == CLOSE_DISCONNECTED else 0.0
                raise Ended(_closed(code), wait)


# RFC 6455 section 7.4.1 and the IANA registry: what a close code means to a reader.
_CLOSE_REASONS = {
    1000: "the server closed the WebSocket",
    1001: "the server is going away (a restart?)",
    1006: "the WebSocket connection was cut",
    1011: "the server hit an error",
    1013: "the server dropped this connection as too slow a reader",
    4401: "the access token expired",
    CLOSE_DISCONNECTED: "an admin disconnected this user",
}


def _silent(idle: float) -> str:
    return f"nothing from the server for {idle:g} s, not even a heartbeat"


def _closed(code: int | None) -> str:
    reason = _CLOSE_REASONS.get(code or 1006, "the server closed the WebSocket")
    return f"{reason} ({code or 1006})"


async def sse(link: Link, room: str, cursor: Cursor) -> AsyncGenerator[Wire, None]:
    """An event stream from ``?since=&epoch=``; our own cursor, so Last-Event-ID is not
    needed (the server's ``id: EPOCH:N`` lines say what ``ready`` and messages do)."""
    options = link.options
    async with asyncio.timeout(options.connect_timeout):
        response = await link.session.get(
            link.messages_url(room),
            params=_params(link, cursor),
            headers=link.headers({"Accept": "text/event-stream"}),
            timeout=aiohttp.ClientTimeout(total=None),
        )
    try:
        if response.status != 200:
            raise await refusal(response)
        if response.content_type != "text/event-stream":
            # A server or proxy that ignored Accept and answered a plain read.
            raise Unsupported(f"the event stream was answered as {response.content_type}")
        yield OPENED
        decoder = SSEDecoder()
        while True:
            # The server comments ": ping" every heartbeat on an idle stream.
            try:
                async with asyncio.timeout(options.idle_timeout):
                    chunk = await response.content.readany()
            except TimeoutError:
                raise Ended(_silent(options.idle_timeout)) from None
            if not chunk:
                raise Ended("the server ended the event stream")
            for event in decoder.feed(chunk):
                if event.type == "message":
                    yield parse_message(loads(event.data))
                elif event.type == "gap":
                    yield ServerGap(*_notice(loads(event.data)))
                elif event.type == "ready":
                    yield ServerReady(*_notice(loads(event.data)))
                elif event.type in EPHEMERAL:
                    yield parse_ephemeral(event.type, loads(event.data))
                elif event.type == "disconnected":
                    raise Ended("an admin disconnected this user", DISCONNECTED_WAIT)
    finally:
        response.close()  # never back to the pool: the stream is unfinished


async def long_poll(link: Link, room: str, cursor: Cursor) -> AsyncGenerator[Wire, None]:
    """Reads that wait up to ``long_poll_wait`` for something new."""
    options = link.options
    # The first read does not wait: it answers at once, so the subscription is
    # known to be live without waiting for a message.
    page = await get_page(
        link, room, {**_params(link, cursor), "limit": MAX_LIMIT}, patience=options.request_timeout
    )
    yield OPENED
    yield page
    while True:
        params = {**_params(link, cursor), "limit": MAX_LIMIT, "wait": options.long_poll_wait}
        patience = options.long_poll_wait + options.request_timeout
        yield await get_page(link, room, params, patience=patience)


async def short_poll(link: Link, room: str, cursor: Cursor) -> AsyncGenerator[Wire, None]:
    """A read every ``poll_interval``, or at once while pages come back full."""
    options = link.options
    opened = False
    while True:
        page = await get_page(
            link,
            room,
            {**_params(link, cursor), "limit": MAX_LIMIT},
            patience=options.request_timeout,
        )
        if not opened:
            opened = True
            yield OPENED
        yield page
        if len(page.messages) < MAX_LIMIT:  # caught up; a full page means more to read
            await asyncio.sleep(options.poll_interval)


STRATEGIES: dict[TransportName, Strategy] = {
    "ws": websocket,
    "sse": sse,
    "longpoll": long_poll,
    "poll": short_poll,
}
