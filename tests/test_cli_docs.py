"""Every command in the README and docs/*.md runs as written, in a new shell, after set-up.

Each shell line of a code block (```sh, ```console lines after ``$ ``, and unlabelled
blocks) is split into its commands; each command's program must exist as written:
a path relative to the repository's root (``scripts/serve.sh``, ``.venv/bin/hubbub``,
which set-up creates), or a program on PATH, where PATH is that of a new shell: without
the project's virtualenv. A Python given ``-m MODULE`` must find the module, and hubbub
too (only the virtualenv has it). A ``hubbub`` line must parse. Nothing is run but the
interpreters' import check: no server is started.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubbub.cli import parse

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELLS = {"", "sh", "bash", "shell", "console"}
BUILTINS = {"cd", "export", "source", ".", "set", "echo", "printf", "exit", "true", "false"}
# Shell keywords and builtins that open or close a compound command.
BUILTINS |= {"while", "for", "do", "done", "if", "then", "else", "fi", "read"}
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
FENCE = re.compile(r"^\s*```\s*([\w-]*)\s*$")


@dataclass(frozen=True)
class Line:
    where: str  # file:line, for the failure message
    text: str
    block: tuple[str, ...]  # the lines of its block before it


def shell_lines(path: Path) -> list[Line]:
    """The shell lines of ``path``'s code blocks, continuations joined, comments kept."""
    found: list[Line] = []
    language: str | None = None
    block: list[str] = []
    pending = ""
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        if fence := FENCE.match(raw):
            language = fence.group(1) if language is None else None
            block = []
            continue
        if language not in SHELLS:
            continue
        text = raw.strip()
        if language == "console":
            if not text.startswith("$ "):
                continue
            text = text[2:]
        text = pending + text
        if text.endswith("\\"):
            pending = text[:-1] + " "
            continue
        pending = ""
        if text and not text.startswith("#"):
            found.append(Line(f"{path.relative_to(REPO)}:{number}", text, tuple(block)))
            block.append(text)
    return found


def commands(text: str) -> list[list[str]]:
    """``text`` split into simple commands (pipes, lists, background), comments dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    result: list[list[str]] = [[]]
    for token in lexer:
        if token in SEPARATORS:
            result.append([])
        elif not re.fullmatch(r"[<>&]+", token):  # redirections: 2>&1 is "2", ">&", "1"
            result[-1].append(token)
    return [words for words in result if words]


def new_shell_path() -> str:
    """PATH as a new shell has it: without this interpreter's virtualenv."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and entry != venv_bin and not entry.startswith(str(REPO))
    )


def venvs_made(block: tuple[str, ...]) -> list[str]:
    """Directories an earlier line of the block makes a virtualenv in (python3 -m venv DIR)."""
    made = []
    for text in block:
        for words in commands(text):
            if "-m" in words and words[words.index("-m") + 1 : words.index("-m") + 2] == ["venv"]:
                made.append(words[-1])
    return made


def resolve(program: str, line: Line) -> str | None:
    if "/" not in program:
        return shutil.which(program, path=new_shell_path())
    made = venvs_made((*line.block, line.text))
    if any(program.startswith(venv.rstrip("/") + "/bin/") for venv in made):
        return program  # made by the block itself, e.g. the deployment's /opt/hubbub
    path = REPO / program
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def problems(line: Line) -> list[str]:
    """What would fail in ``line``, run as written from the repository's root."""
    found = []
    for words in commands(line.text):
        while words and ASSIGNMENT.match(words[0]):
            words = words[1:]
        if not words or words[0] in BUILTINS:
            continue
        program, args = words[0], words[1:]
        path = resolve(program, line)
        if path is None:
            found.append(f"{line.where}: `{program}` is not found in a new shell: {line.text}")
            continue
        name = Path(program).name
        if name.startswith("python") and args[:1] == ["-m"] and len(args) > 1:
            module = args[1]
            needs = [module] if module == "venv" else [module, "hubbub"]
            check = (
                "import importlib.util as u, sys; "
                "sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))"
            )
            ran = subprocess.run([path, "-c", check, *needs], cwd=REPO, timeout=60, check=False)
            if ran.returncode != 0:
                found.append(f"{line.where}: `{program}` cannot import {needs}: {line.text}")
        if name == "hubbub":
            try:
                parse(args)
            except SystemExit:
                found.append(f"{line.where}: hubbub does not accept: {line.text}")
    return found


ALL_LINES = [line for path in DOCS for line in shell_lines(path)]


def test_the_docs_have_commands() -> None:
    """The extraction finds the README's set-up and the docs' hubbub lines."""
    texts = [line.text for line in ALL_LINES]
    assert "scripts/serve.sh" in texts and "scripts/test.sh" in texts
    assert sum("hubbub chat" in text for text in texts) >= 2
    assert any(line.where.startswith("docs/browser.md") for line in ALL_LINES)


@pytest.mark.parametrize("line", ALL_LINES, ids=[line.where for line in ALL_LINES])
def test_command_runs_as_written(line: Line) -> None:
    """The line's programs exist as written, its Python modules import, its hubbub parses."""
    assert problems(line) == []


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("hubbub chat general --name alice", "`hubbub` is not found"),
        ("python -m pytest tests/browser -k screenshots", "cannot import"),
        ("HUBBUB_X=1 .venv/bin/hubbub send general --name", "hubbub does not accept"),
        ("make test 2>&1 | tail -n 5 | nosuchprogram --x", "`nosuchprogram` is not found"),
    ],
)
def test_the_check_catches_what_tripped_a_new_user(text: str, why: str) -> None:
    """The mistakes the docs had are caught: a bare hubbub, the system Python, bad flags."""
    assert any(why in problem for problem in problems(Line("x.md:1", text, ())))
