"""Files from disk: ``--static DIR`` served at ``/``, and CORS for every file served.

``--static DIR`` lets a tutorial's ``public/`` folder run unchanged against
hubbub: its pages use relative URLs (``/subscribe``, ``/publish``), so they must
come from hubbub's own origin. A file of DIR wins over the built-in chat page and
its assets (``DIR/index.html`` is the page at ``/``), but never over one of
hubbub's own routes: only a request the router would answer with the chat page,
a built-in asset or ``404`` may be served from DIR, so the API (``/rooms``,
``/subscribe``, ``/publish``, ``/messages``, ``/message``, ``/healthz``,
``/metrics``, and any route added later) cannot be shadowed. A file that is not
in DIR falls through to hubbub.

Files, built-in or from DIR, carry the CORS headers of ``--allow-origin``, so a
page of another origin can ``import`` ``/static/hubbub-client.js`` as a module
(module scripts are always fetched in CORS mode).
"""

from __future__ import annotations

import asyncio
import errno
import mimetypes
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from hubbub.errors import NotFound
from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.transports.cors import allowed_origin

# Revalidated on every load: while a tutorial is being edited, a reload shows the edit.
FILE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
READS = ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class Found:
    """A file of DIR for a URL path; ``add_slash``: it is a directory's index.html."""

    path: Path
    add_slash: bool = False


def static_root(directory: str) -> Path:
    """DIR, resolved once at start-up; an ``OSError`` if it is not a directory."""
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "--static needs an existing directory", directory)
    return root.resolve(strict=True)


def _plain_segment(segment: str) -> bool:
    # No "." or ".." (no way up), no dotfiles (.git, .env), nothing a
    # filesystem might read as a separator or end of string.
    return (
        segment != ""
        and not segment.startswith(".")
        and "\\" not in segment
        and "\0" not in segment
    )


def find_file(root: Path, url_path: str) -> Found | None:
    """The file of ``root`` that ``url_path`` names, if there is one inside ``root``.

    ``/`` and ``/dir/`` name ``index.html``. Symbolic links are followed, but
    only to somewhere inside ``root``. Blocking: call it off the event loop.
    """
    segments = url_path.removeprefix("/").split("/")
    if segments[-1] == "":
        segments[-1] = "index.html"
    if not all(_plain_segment(segment) for segment in segments):
        return None
    try:
        resolved = root.joinpath(*segments).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
        return None
    if not resolved.is_relative_to(root):
        return None
    if resolved.is_file():
        return Found(resolved)
    index = resolved / "index.html"
    if resolved.is_dir() and index.is_file():
        # /docs must become /docs/ so that the page's relative URLs resolve inside it.
        return Found(index, add_slash=True)
    return None


class StaticFiles:
    """``--static DIR`` (or none): the files that may replace the chat page, the built-in
    assets and a ``404`` (``app.py`` asks before each of those)."""

    __slots__ = ("root",)

    def __init__(self, root: Path | None) -> None:
        self.root = root

    async def find(self, request: Request) -> Answer | None:
        """The answer from DIR for a ``GET`` or ``HEAD`` of a file it holds, or None."""
        if self.root is None or request.method not in READS:
            return None
        found = await asyncio.to_thread(find_file, self.root, request.path)
        if found is None:
            return None
        if found.add_slash:
            query = request.raw_query
            location = request.raw_path + "/" + (f"?{query}" if query else "")
            return Answer(301, content_type=None, headers=[("Location", location)])
        return await file_answer(request, found.path, dict(FILE_HEADERS))

    def or_else(
        self, handler: Callable[[Request], Awaitable[Answer]]
    ) -> Callable[[Request], Awaitable[Answer]]:
        """``handler``, unless DIR has the file the request names."""

        async def serve(request: Request) -> Answer:
            answer = await self.find(request)
            return answer if answer is not None else await handler(request)

        return serve


async def not_found(request: Request) -> Answer:
    raise NotFound("Not Found")


async def file_answer(request: Request, path: Path, headers: dict[str, str]) -> Answer:
    """The file's bytes (read off the loop), its type, ``Last-Modified`` and ``ETag``;
    ``304`` when the client's copy is current (``If-None-Match``, RFC 9110 13.1.2)."""
    data, stat = await asyncio.to_thread(_read, path)
    tag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    pairs = list(headers.items())
    pairs += [("Last-Modified", formatdate(stat.st_mtime, usegmt=True)), ("ETag", tag)]
    add_file_cors(request, pairs)
    matches = request.headers.get("if-none-match")
    if matches is not None and tag in (value.strip() for value in matches.split(",")):
        return Answer(304, content_type=None, headers=pairs)
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type == "application/javascript":
        content_type += "; charset=utf-8"
    return Answer(200, data, content_type=content_type, headers=pairs)


def _read(path: Path) -> tuple[bytes, os.stat_result]:
    with path.open("rb") as file:
        return file.read(), os.fstat(file.fileno())


def add_file_cors(request: Request, headers: list[tuple[str, str]]) -> None:
    """``Access-Control-Allow-Origin`` for an origin that ``--allow-origin`` allows."""
    configured = request.app.node.settings.allow_origin
    if not configured:
        return
    origin = allowed_origin(request)
    if origin is not None:
        headers.append(("Access-Control-Allow-Origin", origin))
    if origin != "*" and "*" not in configured:
        # The answer depends on Origin even when it is refused: a cache must not
        # hand one origin's answer to another.
        headers.append(("Vary", "Origin"))
