"""``--static DIR`` over real sockets and real files, and CORS on the served files."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from hubbub.app import create_app
from hubbub.server import Server
from hubbub.settings import Settings
from tests.conftest import StartServer
from tests.process import serve
from tests.wire import publish

# Routes of hubbub that a file of DIR with the same path must never replace.
API_PATHS = ["rooms", "healthz", "metrics", "messages", "publish", "message", "subscribe"]
SECRET = "secret outside the static directory"


@pytest.fixture
def public(tmp_path: Path) -> Path:
    """A tutorial-like public/ folder, with traps for everything it must not serve."""
    root = tmp_path / "public"
    (root / "static").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>tutorial page</title>")
    (root / "browser.js").write_text("// the tutorial's script\n")
    (root / "static" / "chat.css").write_text("/* a tutorial's own chat.css */")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("docs index")
    (root / ".env").write_text(SECRET)
    for name in API_PATHS:
        (root / name).write_text(f"a file named {name}")
    (root / "rooms-list.txt").symlink_to(root / "browser.js")  # a link inside DIR is fine
    (tmp_path / "outside.txt").write_text(SECRET)
    (root / "link-out.txt").symlink_to(tmp_path / "outside.txt")
    (root / "dir-out").symlink_to(tmp_path)
    return root


async def raw_get(server: Server, target: str) -> tuple[int, bytes]:
    """GET ``target`` exactly as written (no client normalises it); the status and body."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        async with asyncio.timeout(10):
            answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_files_replace_the_page_and_assets(
    start_server: StartServer, public: Path, http: aiohttp.ClientSession
) -> None:
    """DIR/index.html is the page at /, DIR files win over built-in assets, others fall through."""
    server = await start_server(static_dir=str(public))
    async with http.get(f"{server.url}/") as page:
        assert page.status == 200
        assert await page.text() == "<!doctype html><title>tutorial page</title>"
        assert page.content_type == "text/html"
        # The tutorial's page has inline script: hubbub's own page policy is not put on it.
        assert "Content-Security-Policy" not in page.headers
        assert page.headers["Cache-Control"] == "no-cache"
    async with http.get(f"{server.url}/browser.js") as script:
        assert await script.text() == "// the tutorial's script\n"
        assert script.content_type in ("text/javascript", "application/javascript")
    async with http.get(f"{server.url}/static/chat.css") as replaced:
        assert await replaced.text() == "/* a tutorial's own chat.css */"
    async with http.get(f"{server.url}/static/hubbub-client.js") as builtin:
        assert builtin.status == 200 and "HubbubClient" in await builtin.text()
    async with http.head(f"{server.url}/browser.js") as head:
        assert head.status == 200 and head.content_length == len("// the tutorial's script\n")
    async with http.get(f"{server.url}/rooms-list.txt") as linked:
        assert await linked.text() == "// the tutorial's script\n"
    async with http.get(f"{server.url}/missing.html") as missing:
        assert missing.status == 404
        assert (await missing.json())["error"]["code"] == "not_found"


async def test_directory_index_and_trailing_slash(
    start_server: StartServer, public: Path, http: aiohttp.ClientSession
) -> None:
    """/docs/ is docs/index.html; /docs redirects there so the page's relative URLs work."""
    server = await start_server(static_dir=str(public))
    async with http.get(f"{server.url}/docs/") as index:
        assert await index.text() == "docs index"
    async with http.get(f"{server.url}/docs?x=1", allow_redirects=False) as redirect:
        assert redirect.status == 301
        assert redirect.headers["Location"] == "/docs/?x=1"


async def test_without_index_the_chat_page_stays(
    start_server: StartServer, public: Path, http: aiohttp.ClientSession
) -> None:
    """A DIR with no index.html leaves the built-in chat page at /."""
    (public / "index.html").unlink()
    server = await start_server(static_dir=str(public))
    async with http.get(f"{server.url}/") as page:
        assert page.status == 200
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert "hubbub" in (await page.text()).lower()


async def test_api_routes_are_never_shadowed(
    start_server: StartServer, public: Path, http: aiohttp.ClientSession
) -> None:
    """Files named like hubbub's routes are never served: every route answers as itself."""
    (public / "rooms").unlink()  # a directory of that name instead
    (public / "rooms" / "general").mkdir(parents=True)
    (public / "rooms" / "general" / "messages").write_text("a file named messages")
    server = await start_server(static_dir=str(public))
    await publish(http, server.url, "general", "hello")
    async with http.get(f"{server.url}/rooms") as rooms:
        assert (await rooms.json())["rooms"][0]["name"] == "general"
    async with http.get(f"{server.url}/rooms/general/messages?since=0") as read:
        assert [m["text"] for m in (await read.json())["messages"]] == ["hello"]
    async with http.get(f"{server.url}/healthz") as health:
        assert health.status == 200 and "a file" not in await health.text()
    async with http.get(f"{server.url}/metrics") as metrics:
        assert "hubbub_" in await metrics.text()
    async with http.get(f"{server.url}/messages") as listed:
        assert isinstance(await listed.json(), list)
    # GET on a route that only takes POST is still hubbub's: 405, not the file.
    for name in ("publish", "message"):
        async with http.get(f"{server.url}/{name}") as wrong_method:
            assert wrong_method.status == 405, name
    held = asyncio.create_task(http.get(f"{server.url}/subscribe"))
    async with asyncio.timeout(10):
        while server.node.stats.waiting != 1:
            await asyncio.sleep(0.005)
    async with http.post(f"{server.url}/publish", data='{"message": "via the lobby"}') as sent:
        assert await sent.text() == "ok"
    async with await held as answer:
        assert await answer.text() == "via the lobby"


@pytest.mark.parametrize(
    "target",
    [
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/docs/..%2f..%2foutside.txt",
        "/docs/%2e%2e/%2e%2e/outside.txt",
        "/link-out.txt",
        "/dir-out/outside.txt",
        "/.env",
        "/%2eenv",
        "//etc/passwd",
        "/docs%5c..%5c..%5coutside.txt",
    ],
)
async def test_nothing_outside_the_directory(
    start_server: StartServer, public: Path, target: str
) -> None:
    """No path, encoded or linked, reads a file outside DIR or a dotfile in it."""
    server = await start_server(static_dir=str(public))
    status, body = await raw_get(server, target)
    assert status in (400, 404), (target, status)
    assert SECRET.encode() not in body and b"root:" not in body


def test_static_dir_must_exist(tmp_path: Path) -> None:
    """A missing DIR, or a file, stops the server at start with an OSError naming --static."""
    with pytest.raises(NotADirectoryError, match="--static"):
        create_app(Settings(port=0, static_dir=str(tmp_path / "missing")))
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="--static"):
        create_app(Settings(port=0, static_dir=str(tmp_path / "file")))


async def test_static_files_carry_cors_for_allowed_origins(
    start_server: StartServer, public: Path, http: aiohttp.ClientSession
) -> None:
    """With --allow-origin, built-in assets and DIR files answer the allowed origins only."""
    origin = "http://embedder.example"
    server = await start_server(
        allow_origin=f"{origin}, http://other.example", static_dir=str(public)
    )
    for path in ("/static/hubbub-client.js", "/static/chat.css", "/browser.js", "/static/nope.js"):
        async with http.get(f"{server.url}{path}", headers={"Origin": origin}) as allowed:
            assert allowed.headers["Access-Control-Allow-Origin"] == origin, path
            assert "Origin" in allowed.headers["Vary"], path
        async with http.get(f"{server.url}{path}", headers={"Origin": "http://evil.example"}) as no:
            assert "Access-Control-Allow-Origin" not in no.headers, path
            assert "Origin" in no.headers["Vary"], path
    async with http.get(f"{server.url}/static/hubbub-client.js") as same_origin:
        assert "Access-Control-Allow-Origin" not in same_origin.headers


async def test_static_files_cors_wildcard_and_off(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """--allow-origin '*' gives '*' on the assets; without it no CORS header is sent."""
    headers = {"Origin": "http://embedder.example"}
    wildcard = await start_server(allow_origin="*")
    async with http.get(f"{wildcard.url}/static/hubbub-client.js", headers=headers) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "Vary" not in resp.headers
    plain = await start_server(store="memory")
    async with http.get(f"{plain.url}/static/hubbub-client.js", headers=headers) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_serve_flag_and_environment(
    tmp_path: Path, public: Path, http: aiohttp.ClientSession
) -> None:
    """``hubbub serve --static DIR`` and HUBBUB_STATIC both serve DIR; the flag wins."""
    db = str(tmp_path / "cli.db")
    missing = {"HUBBUB_STATIC": str(tmp_path / "missing")}
    runs = [((), {"HUBBUB_STATIC": str(public)}), (("--static", str(public)), missing)]
    for flags, env in runs:
        async with (
            serve("--port", "0", "--db", db, *flags, env=env) as server,
            http.get(f"{server.url}/") as page,
        ):
            assert "tutorial page" in await page.text()


async def test_serve_refuses_a_missing_directory(tmp_path: Path) -> None:
    """A --static DIR that does not exist stops ``hubbub serve`` with one line naming it."""
    missing = str(tmp_path / "missing")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "hubbub", "serve", "--port", "0", "--db", str(tmp_path / "x.db")),
        *("--static", missing),
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode != 0
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "--static" in lines[0] and missing in lines[0], lines
