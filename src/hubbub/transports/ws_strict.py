"""Where aiohttp's WebSocket server is laxer than RFC 6455, made strict at the frame reader.

aiohttp (3.14) reads client frames without checking three things the RFC asks
of a server, so hubbub's sockets use aiohttp's own pure-Python frame reader with
one override, ``_handle_frame``, which sees each complete frame first:

- a client frame without a mask must fail the connection (section 5.1): 1002;
- close codes 1005, 1006 and 1015 must never be sent, and codes from 5000 up
  are not defined (section 7.4): 1002 (aiohttp lets 1006 and every code from
  3000 up through);
- a message may be cut in any number of fragments, each costing a frame header
  to parse: past ``max_fragments`` of one message, 1008 (policy violation).

The Cython reader cannot be subclassed from Python, so the pure-Python reader
(the one aiohttp itself falls back to without its extensions) reads client
frames; what the server sends is unchanged. ``StrictWebSocketResponse`` builds
it where aiohttp builds its own (``_post_start``, copied from aiohttp 3.14 with
the reader swapped): tests/test_harden_websocket.py fails if a new aiohttp
stops calling it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp._websocket.models import WebSocketError
from aiohttp._websocket.reader_py import WebSocketDataQueue, WebSocketReader
from aiohttp._websocket.writer import WebSocketWriter
from aiohttp.helpers import DEFAULT_CHUNK_SIZE
from aiohttp.web_request import BaseRequest

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE = 0x0, 0x1, 0x2, 0x8
# Close codes an endpoint must never put in a close frame (RFC 6455 section 7.4.1).
RESERVED_CLOSE_CODES = frozenset({1004, 1005, 1006, 1015})


def valid_close_code(code: int) -> bool:
    """A code a peer may send: 1000-2999 less the reserved ones, or 3000-4999."""
    return 1000 <= code < 5000 and code not in RESERVED_CLOSE_CODES


class StrictReader(WebSocketReader):
    """aiohttp's frame reader, refusing unmasked frames, bad close codes, endless fragments."""

    def __init__(
        self,
        queue: WebSocketDataQueue,
        max_msg_size: int,
        *,
        decode_text: bool,
        max_fragments: int,
    ) -> None:
        super().__init__(queue, max_msg_size, compress=False, decode_text=decode_text)
        self._fragment_limit = max_fragments
        self._fragment_count = 0

    def _handle_frame(self, fin: bool, opcode: int, payload: Any, compressed: int) -> None:
        if not self._has_mask:
            raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "client frames must be masked")
        if opcode == OP_CLOSE and len(payload) >= 2:
            code = int.from_bytes(payload[:2], "big")
            if not valid_close_code(code):
                raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
        elif opcode == OP_CONTINUATION or (opcode in (OP_TEXT, OP_BINARY) and not fin):
            self._fragment_count = 1 if opcode != OP_CONTINUATION else self._fragment_count + 1
            if self._fragment_count > self._fragment_limit:
                raise WebSocketError(
                    WSCloseCode.POLICY_VIOLATION,
                    f"more than {self._fragment_limit} fragments in one message",
                )
        super()._handle_frame(fin, opcode, payload, compressed)


class StrictWebSocketResponse(web.WebSocketResponse):
    """A ``WebSocketResponse`` whose client frames go through :class:`StrictReader`."""

    def __init__(self, *, max_fragments: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_fragments = max_fragments
        # Whether the server's close frame went out (close_from_server).
        self._close_sent = False

    async def close_from_server(self, *, code: int, message: bytes = b"") -> None:
        """Begin the closing handshake while the handler's loop reads: the close frame
        now; that loop then takes the client's close (a ``CLOSE`` message, which ends it)
        and :meth:`finish` closes the socket, or the shutdown's deadline cuts it.

        aiohttp's ``close()`` from a task other than the reader stops the reader and
        closes the socket right after its frame: behind a proxy the client's side is then
        cut before the client's own close goes out, and the client records an abnormal
        closure (1006) instead of ``code``. Needs ``autoclose=False`` (accept_websocket),
        so that aiohttp does not answer the client's close with a second one."""
        if self._close_sent or self.closed:
            return
        self._close_sent = True
        with contextlib.suppress(ConnectionError):  # gone: the handler ends on the loss
            await self.send_frame(code.to_bytes(2, "big") + message, WSMsgType.CLOSE)

    async def finish(self, transport: asyncio.Transport) -> None:
        """The handler's end: after the server's close, close the socket (the client's
        close came back, or it is being cut); else answer the client's close, which
        ``autoclose=False`` left to the handler."""
        if self._close_sent:
            transport.close()
        elif not self.closed:
            await self.close()

    def _post_start(
        self, request: BaseRequest, protocol: str | None, writer: WebSocketWriter
    ) -> None:
        self._ws_protocol = protocol
        self._writer = writer
        self._reset_heartbeat()
        loop = self._loop
        assert loop is not None
        self._reader = WebSocketDataQueue(request._protocol, DEFAULT_CHUNK_SIZE, loop=loop)
        self._parser = StrictReader(
            self._reader,
            self._max_msg_size,
            decode_text=self._decode_text,
            max_fragments=self._max_fragments,
        )
        callback = None if self._heartbeat is None else self._on_data_received
        request.protocol.set_parser(self._parser, data_received_cb=callback)
        request.protocol.keep_alive(False)
