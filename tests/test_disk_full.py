"""A full disk: publishes are refused 503 and ``/healthz`` says so (a load balancer stops
sending writes), on a real filesystem that fills up: a small tmpfs the server mounts in a
mount namespace of its own (``unshare``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.process import serve

# Mounts a 2 MiB tmpfs on $1 in a new mount (and user) namespace, then runs the rest.
MOUNT_THEN_RUN = 'mount -t tmpfs -o size=2m tmpfs "$1" && shift && exec "$@"'
WRAPPER = ("unshare", "--mount", "--map-root-user", "sh", "-c", MOUNT_THEN_RUN, "sh")


def _can_mount(where: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*WRAPPER, str(where), "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


async def test_healthz_answers_503_while_the_disk_is_full(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    if not _can_mount(tmp_path):
        pytest.skip("no mount namespaces here (unshare --mount --map-root-user failed)")
    db = tmp_path / "hubbub.db"
    async with serve("--port", "0", "--db", str(db), wrapper=(*WRAPPER, str(tmp_path))) as running:
        async with http.get(f"{running.url}/healthz") as resp:
            assert resp.status == 200
        text = "x" * 3990
        statuses: list[int] = []
        for n in range(2000):  # 2 MiB fill up long before
            async with http.post(
                f"{running.url}/rooms/r/messages", json={"user": "a", "text": f"{n}{text}"}
            ) as resp:
                statuses.append(resp.status)
            if resp.status != 201:
                break
        # About 30 fit: the search index keeps a second copy of each text (issue 21).
        assert statuses[-1] == 503 and statuses.count(201) > 20
        async with http.get(f"{running.url}/healthz") as resp:
            assert resp.status == 503
            assert (await resp.json())["status"] == "unavailable"
