"""The package's import graph: the core loads no client and no aiohttp; the server no
aiohttp either (its HTTP stack is hubbub's own, issue 18)."""

from __future__ import annotations

import subprocess
import sys

import hubbub


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_protocol_and_store_import_without_aiohttp() -> None:
    """import hubbub.protocol (and the stores) loads neither aiohttp nor the client."""
    loaded = _loaded_after(
        "import hubbub.protocol.messages, hubbub.protocol.cursors, hubbub.protocol.encoding,"
        " hubbub.store"
    )
    assert "aiohttp" not in loaded
    assert "hubbub.client" not in loaded
    assert "redis" not in loaded


def test_the_server_loads_no_aiohttp() -> None:
    """The server and every route load no aiohttp module: aiohttp is the Python client's
    HTTP library only."""
    loaded = _loaded_after("import hubbub.server, hubbub.app")
    assert not {name for name in loaded if name.split(".")[0] == "aiohttp"}
    assert "hubbub.client" not in loaded


def test_hubbub_serve_loads_no_client() -> None:
    """`hubbub serve` imports only its own command's module: no client, no aiohttp (each
    command's module is imported when it is asked for)."""
    loaded = _loaded_after("from hubbub.cli import parse; parse(['serve', '--port', '0'])")
    assert "hubbub.commands.serve" in loaded
    assert not {name for name in loaded if name.split(".")[0] == "aiohttp"}
    assert not {n for n in loaded if n.startswith(("hubbub.client", "hubbub.commands.chat"))}


def test_every_command_is_found_by_its_name() -> None:
    """Each name a command module registers is in MODULE_OF, pointing at that module."""
    from hubbub.cli import build_parser
    from hubbub.commands import MODULE_OF

    _, commands = build_parser()
    assert set(commands) == set(MODULE_OF)
    for name in MODULE_OF:
        _, alone = build_parser([name])
        assert name in alone


def test_public_names_resolve_lazily() -> None:
    """Every name in hubbub.__all__ resolves (the client's on first use)."""
    for name in hubbub.__all__:
        assert getattr(hubbub, name) is not None
