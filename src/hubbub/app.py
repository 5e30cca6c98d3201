"""``create_app(settings)``: the aiohttp application, with everything built in its lifespan."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hubbub.access_log import cancelled_access_middleware
from hubbub.compat import add_compat_routes
from hubbub.connections import drop_unread_encoded_body, refusal_middleware
from hubbub.node import Node
from hubbub.settings import Settings
from hubbub.store import Store
from hubbub.transports import chat
from hubbub.transports.admin import ADMIN_PAGE, admin_stream
from hubbub.transports.cors import add_origin_headers, applies_to, preflight, search_preflight
from hubbub.transports.http import NODE, errors_middleware, expect_continue
from hubbub.transports.metrics import add_metrics
from hubbub.transports.moderation import add_moderation_routes
from hubbub.transports.multiplex import multiplex
from hubbub.transports.publish import publish
from hubbub.transports.rooms import healthz, list_rooms, read_messages
from hubbub.transports.search import room_search, search
from hubbub.transports.static import (
    ASSETS_ROUTE,
    PAGE_ROUTE,
    add_file_cors,
    static_dir_middleware,
    static_root,
)

STATIC = Path(__file__).parent / "static"

# How many middlewares and answer hooks hubbub itself installs: one added by an
# embedding application must see every request and answer, so the lean path (front/),
# which builds neither aiohttp requests nor responses, then steps aside (server.py).
OWN_MIDDLEWARES = web.AppKey("own_middlewares", int)
OWN_RESPONSE_HOOKS = web.AppKey("own_response_hooks", int)

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
STATIC_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


async def chat_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP, **STATIC_HEADERS}
    )


async def admin_page(request: web.Request) -> web.FileResponse:
    """The operations page's shell, for anyone: its data comes only from admin routes."""
    return web.FileResponse(
        ADMIN_PAGE, headers={"Content-Security-Policy": PAGE_CSP, **STATIC_HEADERS}
    )


# The page's files: a fixed set, so a missing one is a JSON 404 before any file
# is opened (aiohttp's static route answers a missing file with an empty body).
ASSETS = frozenset(path.name for path in STATIC.iterdir() if path.is_file())


async def static_asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound(reason="no such file")
    return web.FileResponse(STATIC / name)


async def prepare_answer(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``, the one hook of every answer (aiohttp's own included):
    the built-in assets' headers and CORS, the API's CORS, and an encoded request body
    nobody read dropped (one hook: each costs a call per answer)."""
    path = request.path
    if path.startswith("/static/"):
        response.headers.update(STATIC_HEADERS)
        add_file_cors(request, response)  # the built-in assets (and their 404s) too
    elif applies_to(request):
        add_origin_headers(request, response)
    drop_unread_encoded_body(request, response)


def create_app(settings: Settings, store: Store | None = None) -> web.Application:
    """Build the application; the node starts and stops with it."""
    app = web.Application(
        middlewares=[refusal_middleware, errors_middleware], client_max_size=settings.max_body
    )
    node = Node(settings, store)
    app[NODE] = node
    if settings.static_dir is not None:
        app.middlewares.append(static_dir_middleware(static_root(settings.static_dir)))
    if settings.access_log is not None:
        # Outermost: it sees a handler cancelled because its client left.
        app.middlewares.insert(0, cancelled_access_middleware)
    app[OWN_MIDDLEWARES] = len(app.middlewares)

    async def start(_: web.Application) -> None:
        await node.start()

    async def shutdown(_: web.Application) -> None:
        node.begin_shutdown()

    async def cleanup(_: web.Application) -> None:
        await node.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)

    app.on_response_prepare.append(prepare_answer)

    # Every route takes expect_continue: aiohttp's default answers a bad Expect in text,
    # outside the middlewares, and then reads the body it refused.
    app.router.add_get("/rooms", list_rooms, expect_handler=expect_continue)
    app.router.add_get("/rooms/{room}/messages", read_messages, expect_handler=expect_continue)
    app.router.add_post("/rooms/{room}/messages", publish, expect_handler=expect_continue)
    app.router.add_route(
        "OPTIONS", "/rooms/{room}/messages", preflight, expect_handler=expect_continue
    )
    app.router.add_get("/rooms/{room}/presence", chat.presence, expect_handler=expect_continue)
    app.router.add_get("/rooms/{room}/search", room_search, expect_handler=expect_continue)
    app.router.add_route(
        "OPTIONS", "/rooms/{room}/search", search_preflight, expect_handler=expect_continue
    )
    app.router.add_get("/search", search, expect_handler=expect_continue)
    app.router.add_route("OPTIONS", "/search", search_preflight, expect_handler=expect_continue)
    app.router.add_get("/ws", multiplex, expect_handler=expect_continue)
    app.router.add_post("/rooms/{room}/typing", chat.typing, expect_handler=expect_continue)
    add_moderation_routes(app)
    app.router.add_get("/healthz", healthz, expect_handler=expect_continue)
    add_metrics(app, settings, node.stats, node.recorder)
    app.router.add_get("/admin", admin_page, expect_handler=expect_continue)
    app.router.add_get("/admin/stream", admin_stream, expect_handler=expect_continue)
    app.router.add_get("/", chat_page, name=PAGE_ROUTE, expect_handler=expect_continue)
    app.router.add_get(
        "/static/{name}", static_asset, name=ASSETS_ROUTE, expect_handler=expect_continue
    )
    add_compat_routes(app)
    app[OWN_RESPONSE_HOOKS] = len(app.on_response_prepare)  # the tutorial dialect adds one
    return app
