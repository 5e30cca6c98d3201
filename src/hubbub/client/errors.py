"""What the client raises: one root, split by what the caller can do about it.

As in httpx, failures of the underlying library (aiohttp) are translated at the
boundary, so a caller catches :class:`ClientError` and never aiohttp's types.
"""

from __future__ import annotations

from hubbub.errors import HubbubError


class ClientError(HubbubError):
    """Root of every error the client raises."""


class Refused(ClientError):
    """The server answered with a refusal: ``status`` and the protocol's stable ``code``.

    A ``4xx`` means the request itself is wrong and repeating it will not help;
    ``retryable`` is true for the answers worth trying again later (408, 429, 5xx).
    """

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{message} ({status} {code})")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status in (408, 429) or self.status >= 500


class Unreachable(ClientError):
    """The server could not be reached: refused connection, timeout, connection cut."""


class HostNotFound(Unreachable):
    """The server's host name does not resolve: most often a mistyped URL.

    Retried like any unreachable server (DNS can fail for a while), but a command
    that meets it at the start reports it as a bad ``--url``.
    """


class UntrustedCertificate(Unreachable):
    """The server's TLS certificate was not accepted: signed by a CA this client does not
    trust (a private one: pass it as ``ssl=``), expired, or for another host name.

    Retried like any unreachable server (a certificate may be replaced), but a command
    that meets it at the start says so, with what to give (``--cacert``).
    """


class Unsupported(ClientError):
    """The server (or a proxy in front of it) answered, but not with this transport.

    For example a WebSocket upgrade refused, or an event stream answered as plain
    JSON. ``transport="auto"`` falls back to the next transport; a subscription
    that asked for this one transport raises it.
    """


class ProtocolViolation(ClientError):
    """The server sent something the protocol does not allow (malformed JSON, a bad field)."""
