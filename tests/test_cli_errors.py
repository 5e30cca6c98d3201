"""Command-line mistakes: one plain line on stderr saying what to change, status 2."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from hubbub.server import Server
from tests.process import serve
from tests.test_cli_send_tail import hubbub, texts

USAGE = 2


def one_line(err: str) -> str:
    """The whole of stderr, which must be exactly one line and no traceback."""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "usage:" not in err
    return err.strip()


async def test_serve_db_in_a_missing_directory(tmp_path: Path) -> None:
    """--db in a directory that does not exist names the directory and the flag."""
    db = tmp_path / "missing" / "x.db"
    code, _, err = await hubbub("serve", "--port", "0", "--db", str(db))
    assert code == USAGE
    line = one_line(err)
    assert f"the directory {db.parent} does not exist" in line and "--db" in line


async def test_serve_db_that_is_not_sqlite(tmp_path: Path) -> None:
    """A --db file that SQLite cannot open is one line naming the file, not a traceback."""
    db = tmp_path / "notes.txt"
    db.write_text("not a database, just some words that fill the header page\n" * 20)
    code, _, err = await hubbub("serve", "--port", "0", "--db", str(db))
    assert code == USAGE
    assert f"cannot open the database {db}" in one_line(err)


async def test_serve_access_log_that_cannot_be_written(tmp_path: Path) -> None:
    """An --access-log in a missing directory stops the server before it listens, naming
    the flag; a bad --trusted-proxy or an unusable --auth-jwks likewise."""
    log = tmp_path / "missing" / "access.log"
    db = str(tmp_path / "a.db")
    code, _, err = await hubbub("serve", "--port", "0", "--db", db, "--access-log", str(log))
    assert code == USAGE
    assert one_line(err) == (
        f"hubbub serve: --access-log {log}: No such file or directory; "
        "give a file you can write, or -"
    )
    code, _, err = await hubbub("serve", "--trusted-proxy", "10.0.0.0/8,nginx")
    assert code == USAGE
    assert "'nginx' is not an address or a network" in one_line(err)
    jwks = tmp_path / "keys.json"
    jwks.write_text('{"keys": []}')
    code, _, err = await hubbub("serve", "--port", "0", "--db", db, "--auth-jwks", str(jwks))
    assert code == USAGE
    assert f"{jwks} holds no keys" in one_line(err)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--heartbeat", "0", "--heartbeat: must be a number above 0, not '0'"),
        ("--heartbeat", "soon", "--heartbeat: must be a number above 0, not 'soon'"),
        ("--port", "70000", "--port: must be a whole number from 0 to 65535, not '70000'"),
        ("--retain", "-1", "--retain: must be a whole number of at least 1, not '-1'"),
        ("--rate-limit", "nan", "--rate-limit: must be a number above 0, not 'nan'"),
        ("--allow-origin", "not an origin", "--allow-origin: 'not an origin' is not an origin"),
        ("--allow-origin", "https://a.example/path", "is not an origin"),
        ("--max-body", "10", "--max-body 10: must be at least 256 bytes"),
        ("--outbox-limit", "1", "--outbox-limit 1: must be at least --max-body (65536)"),
    ],
)
async def test_serve_bad_values(flag: str, value: str, says: str) -> None:
    """A bad flag value says what the flag takes and points at --help."""
    code, _, err = await hubbub("serve", flag, value)
    assert code == USAGE
    line = one_line(err)
    assert says in line and "see 'hubbub serve --help'" in line


async def test_serve_bad_environment_value() -> None:
    """A bad HUBBUB_<NAME> value names the variable."""
    code, _, err = await hubbub("serve", env={"HUBBUB_HEARTBEAT": "0"})
    assert code == USAGE
    assert "HUBBUB_HEARTBEAT='0' is not a valid value for --heartbeat" in one_line(err)


async def test_serve_host_that_does_not_resolve(tmp_path: Path) -> None:
    """A --host with no address says so and suggests one, instead of "[Errno -2]"."""
    db = str(tmp_path / "x.db")
    code, _, err = await hubbub("serve", "--host", "nosuch.invalid", "--port", "0", "--db", db)
    assert code == USAGE
    assert "--host nosuch.invalid does not resolve to an address" in one_line(err)


async def test_serve_port_in_use(tmp_path: Path) -> None:
    """A port something else listens on: which port, and to choose another."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await hubbub("serve", "--port", str(port), "--db", str(tmp_path / "x.db"))
    assert code == USAGE
    line = one_line(err)
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line


@pytest.mark.parametrize("command", ["send r hi --name a", "tail r", "chat r --name a"])
async def test_client_host_that_does_not_resolve(command: str) -> None:
    """A --url whose host does not resolve is a bad argument, not "Unknown error -2"."""
    code, _, err = await hubbub(*command.split(), "--url", "http://nosuch.invalid:8000")
    assert code == USAGE
    line = one_line(err)
    assert "the host nosuch.invalid does not resolve" in line and "--url" in line


async def test_options_after_positionals(server: Server) -> None:
    """Options may follow the positionals, as the docs write them."""
    code, _, err = await hubbub("send", "r", "--url", server.url, "--name", "ci", "deploy done")
    assert (code, err) == (0, "")
    code, out, _ = await hubbub("tail", "--since", "0", "r", "--count", "1", "--url", server.url)
    assert code == 0 and out.endswith("ci: deploy done\n")
    assert await texts(server) == [("ci", "deploy done")]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "hubbub: the following arguments are required: COMMAND (see 'hubbub --help')"),
        (["nope"], "hubbub: argument COMMAND: invalid choice: 'nope'"),
        (["send", "r", "hi"], "hubbub send: --name NAME (or HUBBUB_NAME, or --token) is required"),
        (["tail", "r", "--bogus"], "hubbub tail: unrecognized arguments: --bogus"),
        (["chat", "r", "--name", "a", "--history", "x"], "--history: must be a whole number"),
    ],
)
async def test_usage_mistakes(args: list[str], says: str) -> None:
    """Missing and unknown arguments: one line, not the usage block."""
    code, _, err = await hubbub(*args, env={"HUBBUB_NAME": ""})
    assert code == USAGE
    assert says in one_line(err)


@pytest.mark.parametrize("command", ["serve", "chat", "send", "tail"])
async def test_help_shows_defaults(command: str) -> None:
    """Every option of every sub-command that has a default says it in --help."""
    code, out, _ = await hubbub(command, "--help", env={"COLUMNS": "400", "HUBBUB_NAME": ""})
    assert code == 0
    options = out[out.index("options:") :]
    # One entry per option: its line, and the help's continuation lines if it wrapped.
    entries = [" ".join(e.split()) for e in re.split(r"\n(?=  -)", options)[1:]]
    assert len(entries) >= 4, out
    for entry in entries:
        if entry.startswith("-h, --help"):
            continue
        if entry.startswith(("--json", "--name")):  # a switch; a required option
            continue
        assert "(default: " in entry, entry


async def test_the_static_refusal_is_the_one_docs_compat_quotes(tmp_path: Path) -> None:
    """docs/compat.md quotes the line a missing --static directory prints: it is that line."""
    docs = (Path(__file__).parent.parent / "docs" / "compat.md").read_text()
    quoted = re.search(r"`(hubbub serve: --static DIR: [^`]*)`", docs)
    assert quoted is not None, "docs/compat.md no longer quotes the --static refusal"
    missing = tmp_path / "public"
    code, _, err = await hubbub("serve", "--port", "0", "--static", str(missing))
    assert code == USAGE
    assert one_line(err) == quoted.group(1).replace("DIR", str(missing))


async def test_flags_that_mean_nothing_here_are_said(tmp_path: Path) -> None:
    """Flags ignored next to the others start the server with one warning each."""
    flags = ["--store", "memory", "--db", str(tmp_path / "x.db"), "--rate-burst", "3"]
    flags += ["--redis-weak-durability", "--sqlite-sync", "normal"]
    async with serve("--port", "0", *flags) as running:
        log = b"".join(running.log).decode()
    for warning in (
        "--rate-burst is ignored without --rate-limit",
        "--redis-weak-durability is ignored without --store redis",
        "--db is ignored with --store memory",
        "--sqlite-sync is ignored with --store memory",
    ):
        assert f"hubbub: warning: {warning}" in log, log
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "localhost:{port}"])
async def test_url_without_a_scheme_is_http(server: Server, form: str) -> None:
    """--url localhost:8000 is what curl takes: http:// is understood."""
    url = form.format(port=server.port)
    code, _, err = await hubbub("send", "r", "--url", url, "--name", "ci", "no scheme")
    assert (code, err) == (0, "")
    assert await texts(server) == [("ci", "no scheme")]


@pytest.mark.parametrize("command", ["send r hi --name a", "tail r --count 1"])
async def test_a_wrong_base_url_says_to_check_it(server: Server, command: str) -> None:
    """A --url with a path the server does not have: the 404 points at --url."""
    code, _, err = await hubbub(*command.split(), "--url", f"{server.url}/api")
    assert code == 1
    line = one_line(err)
    assert "Not Found" in line and f"check --url ({server.url}/api)" in line, line
