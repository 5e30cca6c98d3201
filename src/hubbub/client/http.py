"""The HTTP plumbing under the client: its settings, URLs, reads, and error translation.

aiohttp's exceptions stop here: a failure to reach the server becomes
:class:`Unreachable`, an error answer :class:`Refused` with the protocol's code.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from yarl import URL

from hubbub.client.backoff import Backoff
from hubbub.client.errors import (
    HostNotFound,
    ProtocolViolation,
    Refused,
    Unreachable,
    UntrustedCertificate,
)
from hubbub.client.events import Page, parse_page

Params = Mapping[str, str | int | float]

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Options:
    """How patient the client is; see :class:`hubbub.Client` for each setting."""

    # Timeouts
    connect_timeout: float = 10.0
    request_timeout: float = 30.0
    idle_timeout: float = 45.0

    # Reading
    long_poll_wait: float = 25.0
    poll_interval: float = 2.0

    # Reconnecting
    backoff: Backoff = field(default_factory=Backoff)

    # Presence: the name streams and long polls are present under (``?user=``)
    presence_user: str | None = None

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "request_timeout", "idle_timeout", "poll_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        # The protocol's bound on wait (docs/protocol.md, Long poll).
        if not 0 < self.long_poll_wait <= 60:
            raise ValueError("long_poll_wait must be more than 0 and at most 60 seconds")


@dataclass(frozen=True, slots=True)
class Link:
    """One server as the transports see it: a session, its base URL, the options."""

    session: aiohttp.ClientSession
    base: URL
    options: Options
    # ``Authorization: Bearer TOKEN`` when the client has a token, else nothing.
    auth: Mapping[str, str] = field(default_factory=dict)

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Request headers: ``extra`` and the token's ``Authorization``, if any."""
        return {**(extra or {}), **self.auth}

    def messages_url(self, room: str) -> URL:
        return self.base.joinpath("rooms", room, "messages")

    def describe(self, exc: BaseException) -> str:
        """A short human reason for a failed connection or request."""
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            # getaddrinfo's codes are not errno values: strerror(-2) is "Unknown error -2".
            return f"the host {self.base.host} does not resolve ({exc.os_error.strerror})"
        certificate = _certificate_error(exc)
        if certificate is not None:
            # Before OSError: a verification error's errno (1) is OpenSSL's, and
            # os.strerror(1) would say "Operation not permitted".
            reason = getattr(certificate, "verify_message", None) or certificate.reason
            return f"the certificate of {self.base.host} is not trusted: {reason or 'refused'}"
        if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
            failed = exc.os_error if isinstance(exc, aiohttp.ClientSSLError) else exc
            reason = getattr(failed, "reason", None) or str(failed)
            return f"the TLS handshake with {self.base.host} failed: {reason}"
        if isinstance(exc, aiohttp.ClientConnectorError):
            # asyncio's strerror repeats the address ("Connect call failed (...)").
            errno = exc.os_error.errno
            reason = os.strerror(errno) if errno else str(exc.os_error)
            return f"cannot connect to {self.base}: {reason}"
        if isinstance(exc, OSError) and exc.errno:
            return os.strerror(exc.errno)  # e.g. "Connection reset by peer"
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return "the server closed the connection"
        if isinstance(exc, aiohttp.ClientPayloadError):
            return "the connection was cut"
        if isinstance(exc, TimeoutError):
            return f"{self.base} did not answer in time"
        return str(exc) or type(exc).__name__

    def unreachable(self, exc: BaseException) -> Unreachable:
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return HostNotFound(self.describe(exc))
        if _certificate_error(exc) is not None:
            return UntrustedCertificate(self.describe(exc))
        return Unreachable(self.describe(exc))


def _certificate_error(exc: BaseException) -> ssl.SSLError | None:
    """The certificate verification failure ``exc`` is or wraps, if it is one."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        wrapped = exc.certificate_error
        return wrapped if isinstance(wrapped, ssl.SSLError) else None
    return exc if isinstance(exc, ssl.SSLCertVerificationError) else None


def loads(data: bytes | str) -> Any:
    """JSON from the server; anything else is a protocol violation."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolViolation(f"the server sent invalid JSON: {data[:80]!r}") from exc


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    raw = response.headers.get("Retry-After", "")
    return float(raw) if raw.isascii() and raw.isdigit() else None


async def refusal(response: aiohttp.ClientResponse) -> Refused:
    """The protocol's ``{"error": {"code", "message"}}``, or the bare HTTP status."""
    code = f"http_{response.status}"
    message = response.reason or code
    try:
        error = orjson.loads(await response.read())["error"]
        code, message = str(error["code"]), str(error["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError, aiohttp.ClientError):
        pass  # not a protocol error body (a proxy's page, say): keep the HTTP status
    return Refused(response.status, code, message, retry_after=_retry_after(response))


async def get_page(link: Link, room: str, params: Params, *, patience: float) -> Page:
    """One read of ``room`` (a short or long poll), answered within ``patience`` seconds."""
    try:
        async with (
            asyncio.timeout(patience),
            link.session.get(
                link.messages_url(room), params=params, headers=link.headers({"Accept": JSON})
            ) as response,
        ):
            if response.status != 200:
                raise await refusal(response)
            body = await response.read()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise link.unreachable(exc) from exc
    return parse_page(loads(body))
