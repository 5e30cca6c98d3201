"""What every room WebSocket shares, whatever route it came by: its stream, its session.

The sockets themselves are the front's (``front/ws_socket.py``, on ``websockets``'
Sans-I/O ``ServerProtocol``), for every WebSocket route. Here: :class:`SocketStream`
(pinged every heartbeat, dropped after two silent ones), :class:`SocketSession` (what a
room socket's client sends: publishes and typing, acked or refused), the close a
server-ended stream gets (:func:`server_close`), and :func:`check_upgrade_request`, what
every upgrade must be before its handshake is checked.
"""

from __future__ import annotations

from typing import Any

from hubbub.errors import InvalidMessage, InvalidRequest, ProtocolError
from hubbub.http.head import Request
from hubbub.hub import Stream
from hubbub.node import Node
from hubbub.protocol.encoding import WS_PING_FRAME, EncodedMessage, ws_ack, ws_error
from hubbub.protocol.messages import (
    Publish,
    client_id_of,
    parse_json_object,
    validate_publish,
    validate_user,
)

# RFC 6455 section 7.4.1 / IANA registry: 1001 "Going Away", at shutdown.
CLOSE_GOING_AWAY = 1001
# IANA registry: 1012 "Service Restart": the room's log started over; reconnect.
CLOSE_SERVICE_RESTART = 1012
# Application range (RFC 6455 section 7.4.2), mirroring HTTP 401: the token expired.
CLOSE_TOKEN_EXPIRED = 4401
# Application range, mirroring HTTP 403: an admin disconnected this user; the client waits
# (docs/protocol.md: at least 30 s) before it connects again.
CLOSE_DISCONNECTED = 4403
# Client frames that append to the room's log (docs/protocol.md, "Edits and deletes").
PUBLISH_FRAMES = ("publish", "edit", "delete")
# The event loop's clock counts whole milliseconds (libuv's), so a heartbeat timer often
# fires exactly two heartbeats after the peer's last frame; a strict comparison then
# pinged that silent peer a second time instead of cutting it (a flaky test saw it).
CLOCK_SLACK = 0.001


def peer_silent(now: float, last_seen: float, interval: float) -> bool:
    """Nothing has come from the peer for two heartbeats: it is cut."""
    return now - last_seen >= 2 * interval - CLOCK_SLACK


def check_upgrade_request(request: Request) -> None:
    """A WebSocket upgrade is an HTTP/1.1 ``GET`` without a body, each of its headers
    once (RFC 6455 section 4.1): any other is refused before the handshake's checks."""
    headers = request.headers
    if (
        request.version != "1.1"
        or request.repeated
        or request.body
        or "transfer-encoding" in headers
        or headers.get("content-length") not in (None, "0")
    ):
        raise InvalidRequest(
            "websocket handshake: an upgrade is an HTTP/1.1 GET without a body, each of "
            "its headers once"
        )


class SocketStream(Stream):
    """A WebSocket stream: pinged every heartbeat, dropped after two silent ones."""

    __slots__ = ()
    KEEPS_ALIVE = True

    def tick(self, now: float, interval: float) -> None:
        if peer_silent(now, self.last_seen, interval):
            self.end("timeout")
        elif now - self.last_ping >= interval:
            self.last_ping = now
            self.outbox.push(WS_PING_FRAME)


def typing_frame(node: Node, stream: Stream, fields: dict[str, Any]) -> None:
    """``{"type": "typing"}``: under the stream's ``?user=`` name, else the frame's ``user``."""
    user = stream.user
    if user is None and "user" in fields:
        user = node.presence_name(stream.principal, validate_user(fields["user"]))
    if user is None:
        raise InvalidMessage("typing needs a name: ?user= on the URL, or user in the frame")
    node.typing_notice(stream.principal, stream.room, user)


def server_close(reason: str) -> tuple[int, str] | None:
    """The close frame (code, reason) that ends a stream the server ended for ``reason``:
    going away at shutdown, reconnect after a reset or gap (the client's cursor tells it
    exactly what it lost), a fresh token after expiry, a pause after an admin's disconnect;
    None for the others."""
    if reason == "shutdown":
        return CLOSE_GOING_AWAY, "server shutting down"
    if reason in ("reset", "gap"):
        return CLOSE_SERVICE_RESTART, "reconnect: " + reason
    if reason == "expired":
        return CLOSE_TOKEN_EXPIRED, "token expired"
    if reason == "disconnected":
        return CLOSE_DISCONNECTED, "disconnected by an admin"
    return None


class SocketSession:
    """What a WebSocket's client sends on its stream: publishes and typing, acked or refused.

    Mixed into the room URL's socket (``front/websocket.py``), which holds ``node`` and
    ``stream`` in its own slots."""

    __slots__ = ()

    node: Node
    stream: SocketStream

    def refuse(self, error: ProtocolError, client_id: str | None) -> None:
        self.node.stats.rejected[error.code] += 1
        self.stream.outbox.push(ws_error(error.code, error.message, client_id))

    def on_text(self, data: str) -> None:
        """A client frame: a publish is queued at once so ids follow frame order."""
        client_id = None
        stream = self.stream
        try:
            fields = parse_json_object(data, "frame")
            client_id = client_id_of(fields)
            if fields.get("type") == "typing":
                typing_frame(self.node, stream, fields)
                return
            if fields.get("type") not in PUBLISH_FRAMES:
                raise InvalidMessage('unknown frame type: send {"type": "publish", ...}')
            node = self.node
            publish = validate_publish(
                stream.room, fields, node.settings.max_text, user_required=node.user_required
            )
            node.submit_to(stream.principal, publish, self)
        except ProtocolError as error:
            self.refuse(error, client_id)

    # Committer.Answer: told in the commit's step, after the fan-out marked the rooms

    def committed(self, publish: Publish, message: EncodedMessage, created: bool) -> None:
        # After the message: its catch-up's, if the stream has not caught up yet.
        self.stream.answer_after(ws_ack(message, publish.client_id))

    def refused(self, publish: Publish, error: ProtocolError) -> None:
        self.refuse(error, publish.client_id)
