"""Autobahn|Testsuite's fuzzing client against hubbub's WebSocket stack (``GET /ws-echo``).

The fuzzing client is Python 2.7 only (PyPI ``autobahntestsuite``); set it up once with
``scripts/autobahn-setup.sh``, which makes ``.autobahn/`` in the repository. Then the full run:

    .venv/bin/python -m tests.autobahn --cases '*' --exclude '12.*,13.*'

prints one line per behaviour and every case that is not OK, with Autobahn's reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from hubbub.front.sockets import ECHO_PATH
from hubbub.server import Server
from hubbub.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# The wstest of the venv scripts/autobahn-setup.sh makes, or HUBBUB_WSTEST.
WSTEST = Path(os.environ.get("HUBBUB_WSTEST", ROOT / ".autobahn" / "bin" / "wstest"))
AGENT = "hubbub"


@dataclass(frozen=True)
class CaseResult:
    """One Autobahn case: its behaviour (OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED),
    its closing behaviour, and the report's description of what happened."""

    case: str
    behavior: str
    behavior_close: str
    result: str
    remote_close: int | None  # the close code hubbub sent
    # Whether the case expects a message back: only an echo peer can pass it.
    expects_echo: bool = False


def wstest_missing() -> str | None:
    """Why the fuzzing client cannot run here, or None when it can."""
    if not WSTEST.exists():
        return f"{WSTEST} not found: run scripts/autobahn-setup.sh (needs Python 2.7)"
    return None


async def run_fuzzing_client(
    settings: Settings,
    cases: list[str],
    exclude: list[str],
    timeout: float,
    keep: Path | None = None,
    path: str = ECHO_PATH,
) -> list[CaseResult]:
    """Start a server with the echo route, run the cases against ``path`` (the echo, or
    another WebSocket route), return their results."""
    server = Server(replace(settings, port=0, ws_echo=True))
    await server.start()
    workdir = Path(tempfile.mkdtemp(prefix="hubbub-autobahn-"))
    try:
        url = server.url.replace("http", "ws", 1) + path
        spec = {
            "outdir": str(workdir / "reports"),
            "servers": [{"agent": AGENT, "url": url}],
            "cases": cases,
            "exclude-cases": exclude,
            "exclude-agent-cases": {},
        }
        (workdir / "spec.json").write_text(json.dumps(spec))
        process = await asyncio.create_subprocess_exec(
            str(WSTEST),
            "--mode",
            "fuzzingclient",
            "--spec",
            str(workdir / "spec.json"),
            cwd=workdir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(timeout):
                output, _ = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        index = workdir / "reports" / "index.json"
        if not index.exists():
            raise RuntimeError(f"wstest wrote no report:\n{output.decode(errors='replace')}")
        return read_results(workdir / "reports")
    finally:
        await server.stop()
        if keep is not None:
            shutil.copytree(workdir / "reports", keep, dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


def expects_echo(expected: dict[str, list[list[object]]]) -> bool:
    """Whether any outcome the case accepts has a message in it (Autobahn's ``expected``:
    outcome -> events such as ``["message", payload, binary]``, ``["pong", payload]``)."""
    return any(event and event[0] == "message" for events in expected.values() for event in events)


def read_results(reports: Path) -> list[CaseResult]:
    """The cases of ``index.json``, in Autobahn's case order, with each case's result text."""
    index = json.loads((reports / "index.json").read_text())[AGENT]
    results = []
    for case, entry in index.items():
        detail = json.loads((reports / entry["reportfile"]).read_text())
        results.append(
            CaseResult(
                case,
                entry["behavior"],
                entry["behaviorClose"],
                detail.get("result", ""),
                detail.get("remoteCloseCode"),
                expects_echo(detail.get("expected", {})),
            )
        )
    return sorted(results, key=lambda r: [int(part) for part in r.case.split(".")])


def summary(results: list[CaseResult]) -> str:
    """A behaviour count per top-level case group, then every case that is not OK."""
    lines = []
    groups: dict[str, Counter[str]] = {}
    for result in results:
        groups.setdefault(result.case.split(".")[0], Counter())[result.behavior] += 1
    for group, counts in sorted(groups.items(), key=lambda item: int(item[0])):
        lines.append(f"{group}.*: " + ", ".join(f"{b} {n}" for b, n in sorted(counts.items())))
    for result in results:
        if result.behavior != "OK":
            lines.append(
                f"{result.case} {result.behavior} (close {result.behavior_close}, hubbub sent"
                f" {result.remote_close}): {result.result}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="*", help="comma-separated case patterns")
    parser.add_argument("--exclude", default="", help="comma-separated case patterns")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument(
        "--max-body", type=int, default=Settings().max_body, help="the server's --max-body"
    )
    parser.add_argument("--reports", type=Path, help="keep Autobahn's HTML and JSON reports here")
    parser.add_argument("--path", default=ECHO_PATH, help="the WebSocket route to test")
    args = parser.parse_args()
    missing = wstest_missing()
    if missing:
        sys.exit(missing)
    settings = Settings(store="memory", shutdown_timeout=2.0, max_body=args.max_body)
    cases = [c for c in args.cases.split(",") if c]
    exclude = [c for c in args.exclude.split(",") if c]
    results = asyncio.run(
        run_fuzzing_client(settings, cases, exclude, args.timeout, args.reports, args.path)
    )
    print(summary(results))


if __name__ == "__main__":
    main()
