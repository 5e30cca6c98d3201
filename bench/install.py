"""Installs the peers, idempotently: Debian's nginx + Nchan, and the Node packages.

Nothing is installed that is already there. Peers that cannot be installed (no root for
apt, no node) are left out of the run, and the report says which and why.
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
_NODE_SERVERS = ("uws", "node-ws", "socketio")


def _apt() -> str:
    if shutil.which("nginx") and Path(nchan.MODULE).exists():
        return ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "nginx + Nchan not installed, and apt-get is not available as root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=False, env=env, capture_output=True)
    done = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not Path(nchan.MODULE).exists():
        return f"apt-get install {' '.join(APT_PACKAGES)} failed: {done.stderr[-500:]}"
    return ""


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
    if why := _apt():
        unavailable["nchan"] = why
    if why := _npm():
        unavailable.update(dict.fromkeys(_NODE_SERVERS, why))
    unavailable.update(_python())
    return unavailable
