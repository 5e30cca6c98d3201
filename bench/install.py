"""Installs the peers, idempotently: Debian's nginx + Nchan and wrk, and the Node packages.

Nothing is installed that is already there. Peers that cannot be installed (no root for
apt, no node) are left out of the run, and the report says which and why; without wrk
the wrk publish runs fail with that note and the rest of the suite runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

from bench.peers import nchan
from bench.servers import NODE_DIR

APT_PACKAGES = ("nginx", "libnginx-mod-nchan")
WRK_PACKAGE = "wrk"
_NODE_SERVERS = ("uws", "node-ws", "socketio")


def _apt_install(packages: tuple[str, ...]) -> str:
    """apt-get install ``packages``; "" or why it could not."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{' '.join(packages)} not installed, and apt-get is not available as root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=False, env=env, capture_output=True)
    done = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"apt-get install {' '.join(packages)} failed: {done.stderr[-500:]}"
    return ""


def ensure_nchan() -> str:
    """nginx + Nchan, installed if missing (the suite's and ``bench.chat``'s peer): "" or
    why not."""
    if shutil.which("nginx") and Path(nchan.MODULE).exists():
        return ""
    why = _apt_install(APT_PACKAGES)
    if not why and not Path(nchan.MODULE).exists():
        why = f"the Nchan module is not at {nchan.MODULE} after installing it"
    return why


def _wrk() -> str:
    return "" if shutil.which("wrk") else _apt_install((WRK_PACKAGE,))


def _npm() -> str:
    if not shutil.which("node") or not shutil.which("npm"):
        return "node/npm not found"
    deps = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    if all((NODE_DIR / "node_modules" / name / "package.json").exists() for name in deps):
        return ""
    # No lock file: it would record registry addresses; package.json pins exact versions.
    done = subprocess.run(
        ["npm", "install", "--no-package-lock", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        check=False,
        capture_output=True,
        text=True,
    )
    return "" if done.returncode == 0 else f"npm install failed: {done.stderr[-500:]}"


def _python() -> dict[str, str]:
    missing = {}
    for server, module in (
        ("py-websockets", "websockets"),
        ("py-socketio", "socketio"),
        ("py-socketio", "uvicorn"),
    ):
        if importlib.util.find_spec(module) is None:
            missing[server] = f"Python package {module} missing (pip install -e '.[bench]')"
    return missing


def ensure() -> dict[str, str]:
    """Install what is missing; returns {server: why it cannot run} for the rest."""
    unavailable: dict[str, str] = {}
    if why := ensure_nchan():
        unavailable["nchan"] = why
    if why := _wrk():
        unavailable["wrk"] = why  # a client, not a server: only the wrk runs go
    if why := _npm():
        unavailable.update(dict.fromkeys(_NODE_SERVERS, why))
    unavailable.update(_python())
    return unavailable
