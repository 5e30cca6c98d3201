"""Autobahn|Testsuite against aiohttp's WebSocket stack (``--no-lean-http``): the same cases
and the same allowances as tests/test_autobahn.py, which tests the lean path's."""

from __future__ import annotations

import pytest

from hubbub.settings import Settings
from tests.autobahn import run_fuzzing_client, wstest_missing
from tests.test_autobahn import OVER_MAX_BODY, unexplained

pytestmark = pytest.mark.skipif(wstest_missing() is not None, reason=str(wstest_missing()))


async def test_autobahn_finds_nothing_unexplained_in_aiohttp_sockets() -> None:
    """Cases 1 to 10 with the lean path off: no failure outside the documented list."""
    settings = Settings(store="memory", shutdown_timeout=2.0, lean_http=False)
    exclude = [*OVER_MAX_BODY, "12.*", "13.*"]
    results = await run_fuzzing_client(settings, ["*"], exclude, timeout=120)
    assert len(results) == 261
    assert [r for r in results if unexplained(r)] == []
    assert sum(r.behavior == "OK" for r in results) >= 254
