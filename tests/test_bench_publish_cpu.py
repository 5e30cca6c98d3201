"""bench/publish_cpu.py at a small size: one line per commit size, every publish acked."""

from __future__ import annotations

import re

import pytest
from bench.publish_cpu import main


def test_each_commit_size_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--batch", "1,4", "--messages", "40", "--rounds", "2", "--rooms", "5"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines] == [1, 4]
    for line in lines:
        found = re.search(r"([\d.]+) us a message .* ([\d.]+) calls a message \(([\d.]+) Py", line)
        assert found is not None, line
        assert float(found[1]) > 0 and float(found[2]) > float(found[3]) > 10
