"""A real nginx in front of hubbub, configured from the shipped files in ``deploy/nginx``.

``running_nginx(directory, site, upstreams)`` writes a main configuration of its own
(prefix, pid file, temp paths and logs in ``directory``), copies the shipped site file and
its includes beside it with only what must differ in a test substituted (the listening
port, the upstream ports, a self-signed certificate, the log paths: each substitution must
match, so a shipped file that drifts fails the test instead of being tested unchanged),
starts nginx in the foreground and stops it by its pid.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.redis_server import free_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")
SHIPPED = Path(__file__).resolve().parent.parent / "deploy" / "nginx"


@dataclass
class Nginx:
    directory: Path
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    @property
    def error_log(self) -> Path:
        return self.directory / "logs" / "hubbub.error.log"

    @property
    def access_log(self) -> Path:
        return self.directory / "logs" / "hubbub.access.log"

    async def stop(self, timeout: float = 10) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)  # nginx's fast shutdown
        async with asyncio.timeout(timeout):
            await process.wait()


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the one TLS needs; clients skip checking)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key),
             "-out", str(cert)],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return cert, key


def substitute(text: str, name: str, replacements: Sequence[tuple[str, str]]) -> str:
    """Each pattern must match at least once in the shipped file."""
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count, f"deploy/nginx/{name} no longer has {pattern!r}"
    return text


def upstream_lines(text: str, upstreams: Sequence[int]) -> str:
    """The shipped upstream's ``server`` lines, one per test port, parameters kept."""
    servers = re.findall(r"^(\s*)server \S+:8000( [^;]*)?;$", text, flags=re.MULTILINE)
    assert servers, "the shipped upstream has no server lines"
    indent, parameters = servers[0]
    ours = "".join(f"{indent}server 127.0.0.1:{port}{parameters};\n" for port in upstreams)
    text = re.sub(r"^\s*server \S+:8000( [^;]*)?;\n", "", text, flags=re.MULTILINE)
    # Every upstream block of the site (plain requests, WebSocket handshakes) gets them.
    return re.sub(r"^(upstream \S+ \{\n)", lambda m: m.group(1) + ours, text, flags=re.MULTILINE)


def write_config(
    directory: Path, site: str, upstreams: Sequence[int], port: int, *, limits: bool = False
) -> Path:
    """nginx.conf in ``directory`` with the shipped ``site`` (and its includes)."""
    conf = directory / "conf"
    logs = directory / "logs"
    for path in (conf / "hubbub", logs, directory / "temp"):
        path.mkdir(parents=True, exist_ok=True)
    cert, key = certificate(directory)
    text = (SHIPPED / site).read_text()
    text = upstream_lines(text, upstreams)
    replacements = [
        (r"^(\s*)listen 443 ssl http2;", rf"\1listen 127.0.0.1:{port} ssl http2;"),
        (r"^\s*listen \[::\]:443 ssl http2;\n", ""),
        (r"ssl_certificate \S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};"),
    ]
    if limits:
        replacements.append((r"# include hubbub/limits.conf;", "include hubbub/limits.conf;"))
    (conf / site).write_text(substitute(text, site, replacements))
    proxy = (SHIPPED / "hubbub" / "proxy.conf").read_text()
    proxy = substitute(proxy, "hubbub/proxy.conf", [(r"/var/log/nginx/", f"{logs}/")])
    (conf / "hubbub" / "proxy.conf").write_text(proxy)
    shutil.copy(SHIPPED / "hubbub" / "limits.conf", conf / "hubbub" / "limits.conf")
    shutil.copy(SHIPPED / "hubbub-limits.conf", conf / "hubbub-limits.conf")
    temp = directory / "temp"
    # As root, workers run as the user running the tests (nginx's default, nobody,
    # could not reach the test's private directory).
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.geteuid() == 0 else ""
    main = f"""
{user}
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {logs}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    {"include hubbub-limits.conf;" if limits else ""}
    include {site};
}}
"""
    (conf / "nginx.conf").write_text(main)
    return conf / "nginx.conf"


def check_config(directory: Path, site: str, *, limits: bool = False) -> str:
    """``nginx -t`` on the shipped ``site``: its output (raises if nginx refuses it)."""
    assert NGINX is not None
    config = write_config(directory, site, [free_port(), free_port()], free_port(), limits=limits)
    done = subprocess.run(
        [NGINX, "-t", "-p", str(directory), "-c", str(config), "-e", str(directory / "logs" / "e")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


async def wait_listening(port: int, process: asyncio.subprocess.Process, timeout: float) -> None:
    """Until something accepts on ``port`` (bounded), failing early if nginx exited."""
    async with asyncio.timeout(timeout):
        while True:
            if process.returncode is not None:
                raise EOFError(f"nginx exited with {process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            return


@asynccontextmanager
async def running_nginx(
    directory: Path, site: str, upstreams: Sequence[int], *, limits: bool = False
) -> AsyncIterator[Nginx]:
    """nginx with the shipped ``site`` in front of hubbub on ``upstreams``, stopped by pid."""
    assert NGINX is not None
    os.makedirs(directory, exist_ok=True)
    nginx = Nginx(directory, free_port())
    config = write_config(directory, site, upstreams, nginx.port, limits=limits)
    nginx.process = await asyncio.create_subprocess_exec(
        NGINX,
        "-p", str(directory), "-c", str(config), "-e", str(directory / "logs" / "error.log"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_listening(nginx.port, nginx.process, 10)
        yield nginx
    finally:
        await nginx.stop()


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)
