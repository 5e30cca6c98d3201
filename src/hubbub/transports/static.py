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
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from hubbub.transports.cors import allowed_origin
from hubbub.transports.http import node_of

# Names of the routes that a file of DIR may replace (given by app.py).
PAGE_ROUTE = "chat-page"
ASSETS_ROUTE = "assets"
REPLACEABLE = frozenset({PAGE_ROUTE, ASSETS_ROUTE})

# Revalidated on every load: while a tutorial is being edited, a reload shows the edit.
FILE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


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


def _replaceable(request: web.Request) -> bool:
    """Whether the router left this request to the chat page, an asset, or a 404."""
    match = request.match_info
    if match.http_exception is not None:
        return match.http_exception.status == 404  # a 405 means the path is hubbub's
    resource = match.route.resource
    return resource is not None and resource.name in REPLACEABLE


def static_dir_middleware(root: Path) -> Middleware:
    """Serve ``GET``/``HEAD`` from ``root`` before the chat page and the built-in assets."""

    @web.middleware
    async def serve_from_dir(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD") or not _replaceable(request):
            return await handler(request)
        found = await asyncio.to_thread(find_file, root, request.path)
        if found is None:
            return await handler(request)
        if found.add_slash:
            query = request.rel_url.raw_query_string
            location = request.rel_url.raw_path + "/" + (f"?{query}" if query else "")
            raise web.HTTPMovedPermanently(location)
        response = web.FileResponse(found.path, headers=FILE_HEADERS)
        add_file_cors(request, response)
        return response

    return serve_from_dir


def add_file_cors(request: web.Request, response: web.StreamResponse) -> None:
    """``Access-Control-Allow-Origin`` for an origin that ``--allow-origin`` allows."""
    configured = node_of(request).settings.allow_origin
    if not configured:
        return
    origin = allowed_origin(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
    if origin != "*" and "*" not in configured:
        # The answer depends on Origin even when it is refused: a cache must not
        # hand one origin's answer to another.
        vary = response.headers.get("Vary")
        if vary is None:
            response.headers["Vary"] = "Origin"
        elif "origin" not in vary.lower():
            response.headers["Vary"] = f"{vary}, Origin"
