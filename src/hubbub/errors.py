"""The one error root of hubbub, and the protocol's error codes.

Every refusal the protocol describes is a :class:`ProtocolError` that carries the
HTTP status and the stable code from the table in docs/protocol.md, so transports
only translate it to their wire form (a JSON body, a WebSocket ``error`` frame).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class HubbubError(Exception):
    """Root of every exception hubbub raises on purpose."""


class ProtocolError(HubbubError):
    """The peer sent something the protocol refuses; ``status`` is what to answer."""

    status: int = 400
    code: str = "invalid_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidJSON(ProtocolError):
    code = "invalid_json"


class InvalidMessage(ProtocolError):
    code = "invalid_message"


class InvalidRoom(ProtocolError):
    code = "invalid_room"


class InvalidParameter(ProtocolError):
    code = "invalid_parameter"


class BodyTooLarge(ProtocolError):
    status = 413
    code = "body_too_large"


class UnsupportedMediaType(ProtocolError):
    status = 415
    code = "unsupported_media_type"


class Unauthorized(ProtocolError):
    """No token, or a token that is malformed, badly signed or expired."""

    status = 401
    code = "unauthorized"


class Forbidden(ProtocolError):
    """The token is valid but does not allow this room or this ``user``."""

    status = 403
    code = "forbidden"


class TooManyRooms(ProtocolError):
    """The publish would create a room while ``max_rooms`` rooms hold messages.

    403, not 503: retrying does not help until the operator raises the cap; rooms that exist
    keep taking publishes."""

    status = 403
    code = "too_many_rooms"


class RateLimited(ProtocolError):
    """The client is over its publish rate; ``retry_after`` is in seconds."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ProtocolError):
    """The store could not take the write: the message was not accepted."""

    status = 503
    code = "unavailable"


class InvalidQuery(ProtocolError):
    """A search query the index cannot take (docs/protocol.md, *Search*)."""

    code = "invalid_query"


class Indexing(ProtocolError):
    """Searches wait while the store indexes the messages it held before search existed."""

    status = 503
    code = "indexing"
    retry_after = 5.0


class SearchUnavailable(ProtocolError):
    """The store keeps no search index (the Redis store)."""

    status = 501
    code = "search_unavailable"


class StoreError(HubbubError):
    """A store backend failed; translated to :class:`Unavailable` at the node."""


class InvalidRequest(ProtocolError):
    """A request the HTTP or WebSocket layer cannot take: malformed, or a bad encoding."""

    code = "invalid_request"


class RequestTimeout(ProtocolError):
    """The request body did not arrive within ``body_timeout``."""

    status = 408
    code = "request_timeout"


class UpgradeRequired(ProtocolError):
    """A WebSocket handshake of a version other than 13 (RFC 6455 section 4.4)."""

    status = 426
    code = "upgrade_required"


class UnknownHost(ProtocolError):
    """A server with no tokens was named by a host it is not known by (DNS rebinding)."""

    status = 421
    code = "unknown_host"


class TooManyConnections(ProtocolError):
    """The server is at ``max_connections``, ``max_connections_per_ip`` or its file limit."""

    status = 503
    code = "too_many_connections"


class ExpectationFailed(ProtocolError):
    """An ``Expect`` header other than ``100-continue``."""

    status = 417
    code = "expectation_failed"


@contextlib.contextmanager
def reading_store() -> Iterator[None]:
    """Around a store read: one that fails is told to the client as ``503 unavailable``."""
    try:
        yield
    except StoreError as exc:
        raise Unavailable("the store cannot be read") from exc


class Muted(ProtocolError):
    """A moderator muted this user in this room; ``retry_after`` is the time left, in s."""

    status = 403
    code = "muted"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Disconnected(ProtocolError):
    """An admin disconnected this user: a held long poll is answered with this.

    ``retry_after``: how long a client should wait before it connects again."""

    status = 403
    code = "disconnected"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(ProtocolError):
    """The thing a route names does not exist (a mute to lift that is not there)."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ProtocolError):
    """The route exists, but not with this method; ``allow`` lists the methods it takes."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, allow: str) -> None:
        super().__init__(message)
        self.allow = allow


class HeadTooLarge(ProtocolError):
    """A request head past the server's limit (RFC 6585 section 5)."""

    status = 431
    code = "invalid_request"
