"""``App``: the node and every route of hubbub, in one table the server is handed.

Built by ``create_app(settings)``; started and stopped by ``server.py``. An embedding
application adds its own routes to ``app.routes``, filters that see every request
before its route (``app.request_filters``) and hooks that see every answer before it is
written (``app.answer_hooks``): docs/design.md, Embedding.
"""

from __future__ import annotations

from pathlib import Path

from hubbub.compat import add_compat_routes
from hubbub.compat.lobby import TutorialLobby
from hubbub.compat.routes import PATHS as DIALECT_PATHS
from hubbub.compat.routes import cors_headers as dialect_cors
from hubbub.errors import NotFound
from hubbub.front.sockets import ECHO_PATH, echo, multiplex
from hubbub.front.subscribe import read_messages
from hubbub.http.answers import Answer
from hubbub.http.context import AnswerHook, RequestFilter
from hubbub.http.head import Request
from hubbub.http.routes import Routes
from hubbub.node import Node
from hubbub.settings import Settings
from hubbub.store import Store
from hubbub.transports import chat
from hubbub.transports.admin import ADMIN_PAGE, admin_stream
from hubbub.transports.cors import add_origin_headers, applies_to, preflight, search_preflight
from hubbub.transports.metrics import MetricsRoute
from hubbub.transports.moderation import add_moderation_routes
from hubbub.transports.publish import publish
from hubbub.transports.rooms import healthz, list_rooms
from hubbub.transports.search import room_search, search
from hubbub.transports.static import (
    FILE_HEADERS,
    StaticFiles,
    add_file_cors,
    file_answer,
    not_found,
    static_root,
)

STATIC = Path(__file__).parent / "static"

# The chat page runs only its own script files: no inline script, no eval,
# so a message that smuggles markup can never execute.
# Trusted Types with no policy: no script can assign markup to a sink such as
# innerHTML, whatever a future change to the page does.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'; require-trusted-types-for 'script'; trusted-types 'none'"
)

# Revalidated on every load, so an upgraded server never pairs a new page with
# an old script from the browser's cache.
STATIC_HEADERS = FILE_HEADERS
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, **STATIC_HEADERS}

# The page's files: a fixed set, so a missing one is a JSON 404 before any file is opened.
ASSETS = frozenset(path.name for path in STATIC.iterdir() if path.is_file())


async def chat_page(request: Request) -> Answer:
    return await file_answer(request, STATIC / "index.html", PAGE_HEADERS)


async def admin_page(request: Request) -> Answer:
    """The operations page's shell, for anyone: its data comes only from admin routes."""
    return await file_answer(request, ADMIN_PAGE, PAGE_HEADERS)


async def static_asset(request: Request) -> Answer:
    name = request.params["name"]
    if name not in ASSETS:
        raise NotFound("no such file")
    return await file_answer(request, STATIC / name, dict(STATIC_HEADERS))


def prepare_answer(request: Request, answer: Answer) -> None:
    """The one hook hubbub itself adds to every answer: the API's CORS, the dialect's,
    and the headers of the built-in assets on their refusals (a file's own answer has them
    already). Without ``--allow-origin`` the API has no CORS: nothing to do for it."""
    path = request.path
    if path.startswith("/static/"):
        if answer.status >= 400:
            answer.headers += list(STATIC_HEADERS.items())
            add_file_cors(request, answer.headers)
    elif path in DIALECT_PATHS:
        dialect_cors(request, answer)
    elif request.app.settings.allow_origin is not None and applies_to(request):
        add_origin_headers(request, answer)


class App:
    """What a server serves: the node, the route table, the dialect's lobby, and what an
    embedding application adds."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.node = node = Node(settings, store)
        self.routes = routes = Routes()
        self.request_filters: list[RequestFilter] = []
        self.answer_hooks: list[AnswerHook] = [prepare_answer]
        root = static_root(settings.static_dir) if settings.static_dir is not None else None
        self.static = files = StaticFiles(root)
        self.metrics = MetricsRoute(settings, node.stats, node.recorder)

        # Polls and publishes of a room may be pipelined together (http/routes.py).
        routes.add("GET", "/rooms/{room}/messages", read_messages, ordered=True)
        routes.add("POST", "/rooms/{room}/messages", publish, ordered=True)
        routes.add("OPTIONS", "/rooms/{room}/messages", preflight)
        routes.add("GET", "/rooms", list_rooms)
        routes.add("GET", "/rooms/{room}/presence", chat.presence)
        routes.add("POST", "/rooms/{room}/typing", chat.typing)
        routes.add("GET", "/rooms/{room}/search", room_search)
        routes.add("OPTIONS", "/rooms/{room}/search", search_preflight)
        routes.add("GET", "/search", search)
        routes.add("OPTIONS", "/search", search_preflight)
        routes.add("GET", "/ws", multiplex)
        if settings.ws_echo:
            routes.add("GET", ECHO_PATH, echo)
        add_moderation_routes(routes)
        routes.add("GET", "/healthz", healthz)
        routes.add("GET", "/metrics", self.metrics)
        routes.add("GET", "/admin", admin_page)
        routes.add("GET", "/admin/stream", admin_stream)
        # A file of --static DIR may replace these two and a 404 (transports/static.py).
        routes.add("GET", "/", files.or_else(chat_page))
        routes.add("GET", "/static/{name}", files.or_else(static_asset))
        routes.fallback(files.or_else(not_found))
        self.lobby: TutorialLobby = add_compat_routes(routes, node)

    async def start(self) -> None:
        await self.node.start()
        await self.lobby.start()
        self.metrics.start()

    def begin_shutdown(self) -> None:
        """Long polls answered, streams ended: what comes before connections close."""
        self.node.begin_shutdown()
        self.lobby.shutdown()

    async def stop(self) -> None:
        await self.metrics.stop()
        self.lobby.stop()
        await self.node.stop()


def create_app(settings: Settings, store: Store | None = None) -> App:
    """Build the application; the server starts and stops its node."""
    return App(settings, store)
