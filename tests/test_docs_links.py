"""The repository describes itself: no reference to files outside it, no dead doc links.

The wire contract is docs/protocol.md; a clone of hubbub must not send its reader
to a sibling directory that only exists on the machine it was written on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What is searched for references outside the repository.
SEARCHED = ("src", "docs", "bench", "tests", "README.md")
# Not the repository's own text: environments, build output, fetched packages, results.
SKIPPED_DIRS = frozenset(
    {".venv", ".git", "__pycache__", "node_modules", ".mypy_cache", ".ruff_cache"}
)
SKIPPED_PATHS = (ROOT / "bench" / "results",)

# A directory beside the repository, and the two documents older text pointed at there.
# Written with character classes so that a plain search for those names skips this file.
OUTSIDE = re.compile(r"[.][.]/shared[/]|shared[/](?:PROTOCOL|PERFORMANCE)[.]md")

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
# [text](target) and ![alt](target); the target ends at white space or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def repository_files() -> Iterator[Path]:
    for name in SEARCHED:
        top = ROOT / name
        if top.is_file():
            yield top
            continue
        for path in sorted(top.rglob("*")):
            parts = set(path.relative_to(ROOT).parts)
            if parts & SKIPPED_DIRS or any(part.endswith(".egg-info") for part in parts):
                continue
            if any(path.is_relative_to(skipped) for skipped in SKIPPED_PATHS):
                continue
            if path.is_file():
                yield path


def text_of(path: Path) -> str | None:
    """The file as text, or None for a binary file (images, databases)."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def markdown_links(text: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link outside code blocks and code spans.

    A link's text may run over several lines, so the page is searched as a whole,
    with fenced blocks blanked and code spans removed line by line.
    """
    prose = []
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            prose.append("")
        else:
            prose.append("" if in_fence else INLINE_CODE.sub("", line))
    searched = "\n".join(prose)
    for match in LINK.finditer(searched):
        yield searched.count("\n", 0, match.start()) + 1, match.group(1)


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped,
    spaces as hyphens, and ``-1``, ``-2`` ... on repeats."""
    seen: dict[str, int] = {}
    found = set()
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        heading = None if in_fence else HEADING.match(line)
        if heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def anchors_of(page: Path) -> set[str]:
    return anchors(page.read_text(encoding="utf-8"))


def test_nothing_refers_outside_the_repository() -> None:
    """No file of src, docs, bench, tests or the README names the sibling shared directory."""
    found = []
    for path in repository_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            for match in OUTSIDE.finditer(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group()}")
    assert found == []


def test_the_outside_pattern_catches_every_spelling() -> None:
    """Links, docstring mentions and deeper relative paths are caught; our own docs are not."""
    beside = "shar" + "ed/"  # in pieces, so that this test is not itself a mention
    protocol, performance = "PROTOCOL" + ".md", "PERFORMANCE" + ".md"
    caught = [
        f"[{protocol}](../{beside}{protocol})",
        f"(see {beside}{performance})",
        f"../../{beside}{protocol}",
        f"`../{beside}STYLE.md`",
    ]
    assert all(OUTSIDE.search(line) for line in caught)
    assert not OUTSIDE.search("[the protocol](docs/protocol.md), a shared connection")


def test_relative_markdown_links_point_at_existing_files() -> None:
    """Every relative link in README.md and docs/*.md leads to a file of the repository,
    and to a heading of it when the link names one."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert ROOT / "docs" / "protocol.md" in pages
    broken = []
    checked = 0
    for page in pages:
        for number, target in markdown_links(page.read_text(encoding="utf-8")):
            if EXTERNAL.match(target):
                continue
            checked += 1
            file_part, _, anchor = target.partition("#")
            resolved = (page.parent / file_part).resolve() if file_part else page
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}:{number}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors_of(resolved):
                broken.append(f"{page.relative_to(ROOT)}:{number}: {target} (no such heading)")
    assert checked > 0
    assert broken == []


def test_anchors_follow_github_headings() -> None:
    """Heading anchors drop punctuation and number repeats, as GitHub does."""
    text = "# Reading: one URL, four transports\n## Pages (CORS)\n## Pages (CORS)\n```\n# no\n```"
    assert anchors(text) == {"reading-one-url-four-transports", "pages-cors", "pages-cors-1"}


def test_the_link_finder_sees_links_and_skips_code() -> None:
    """The checker finds plain and image links, and ignores code blocks and code spans."""
    text = "\n".join(
        [
            "See [the protocol](protocol.md#errors) and ![a chart](bench/p99.png).",
            "Not a link: `[x](in-code-span.md)`.",
            "```",
            "[y](in-fence.md)",
            "```",
            "[web](https://example.com) and [a link over",
            "two lines](client.md)",
        ]
    )
    assert list(markdown_links(text)) == [
        (1, "protocol.md#errors"),
        (1, "bench/p99.png"),
        (6, "https://example.com"),
        (6, "client.md"),
    ]
