"""Request bodies: chunked ones decoded by llhttp, encoded ones (``Content-Encoding``)
decoded by zlib, both bounded by ``max_body`` as they are read.

Pure: no sockets, no event loop.
"""

from __future__ import annotations

import zlib

import httptools

from hubbub.errors import BodyTooLarge, InvalidRequest, UnsupportedMediaType

# What may follow the declared chunks before the body is judged too large (chunk size
# lines, extensions and trailers are not the body's bytes but still arrive): one line
# longer than the limit and this, or all of them past it, is a 413.
FRAMING_SLACK = 4096


def too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"request body is over the {limit}-byte limit")


class ChunkedBody:
    """A chunked body, decoded by llhttp as it arrives.

    llhttp parses a whole request; it is fed the head, then the buffer up to each line
    end in turn, so that it stops exactly where the body ends (its last line) and what
    the client pipelined after it is left for the next request."""

    __slots__ = ("_chunks", "_limit", "_parser", "_size", "done", "fed")

    def __init__(self, head: bytes, limit: int) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = limit
        self.done = False
        self.fed = 0  # bytes of the buffer past the head that llhttp has read
        self._parser = httptools.HttpRequestParser(self)
        self._feed(head)

    # llhttp's callbacks
    def on_body(self, data: bytes) -> None:
        self._size += len(data)
        if self._size <= self._limit:
            self._chunks.append(data)

    def on_message_complete(self) -> None:
        self.done = True

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError as error:
            reason = str(error).strip() or type(error).__name__
            raise InvalidRequest(f"request body cannot be read: {reason}") from None

    def feed(self, buffer: bytearray, start: int) -> bool:
        """Read what arrived of the body (it starts at ``buffer[start]``); True once it
        ended (``start + fed`` is then where the next request begins). ``BodyTooLarge``
        as soon as it passes the limit; ``InvalidRequest`` if its framing is broken."""
        position = start + self.fed
        while not self.done:
            end = buffer.find(b"\n", position)
            if end < 0:
                if len(buffer) - position > self._limit + FRAMING_SLACK:
                    raise too_large(self._limit)
                return False
            piece = bytes(buffer[position : end + 1])
            self._feed(piece)
            self.fed += len(piece)
            position = end + 1
            if self._size > self._limit:
                raise too_large(self._limit)
            if self.fed - self._size > self._limit + FRAMING_SLACK:
                # Extensions and trailers are held with the body until it ends: bounded
                # too, or a client could grow the buffer until the body's deadline.
                raise too_large(self._limit)
        return True

    def body(self) -> bytes:
        return b"".join(self._chunks)


# zlib's window bits for a gzip wrapper (16 + the largest window).
GZIP_WBITS = 16 + zlib.MAX_WBITS


def decode_body(body: bytes, coding: str | None, limit: int) -> bytes:
    """``body`` decoded by its ``Content-Encoding`` (``gzip``, ``deflate``, or none), never
    past ``limit`` bytes decoded; ``UnsupportedMediaType`` for another coding (RFC 9110
    section 15.5.16), ``InvalidRequest`` when it cannot be decoded."""
    if coding is None:
        return body
    name = coding.strip().lower()
    if name in ("", "identity"):
        return body
    if name in ("gzip", "x-gzip"):
        return _inflate(body, GZIP_WBITS, limit)
    if name == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, limit)
        except InvalidRequest:
            return _inflate(body, -zlib.MAX_WBITS, limit)  # raw deflate, as some send
    raise UnsupportedMediaType(f"unsupported Content-Encoding: {coding[:50]!r}")


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    """Decoded, at most ``limit`` bytes. A gzip body may be several members one after
    another (RFC 1952 section 2.2), decoded as one; any other bytes after the end of
    the encoded body are refused."""
    parts: list[bytes] = []
    total = 0
    rest = body
    while True:
        decoder = zlib.decompressobj(wbits)
        try:
            data = decoder.decompress(rest, limit - total + 1)
            if total + len(data) > limit or decoder.unconsumed_tail:
                raise too_large(limit)
            data += decoder.flush()
        except zlib.error as error:
            raise InvalidRequest(f"request body cannot be read: {error}") from None
        if not decoder.eof:
            raise InvalidRequest("request body cannot be read: the encoded body is cut short")
        total += len(data)
        if total > limit:
            raise too_large(limit)
        parts.append(data)
        rest = decoder.unused_data
        if not rest:
            return b"".join(parts)
        if wbits != GZIP_WBITS:
            raise InvalidRequest("request body cannot be read: bytes after the encoded body")
