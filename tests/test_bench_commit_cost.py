"""bench/commit_cost.py on a real SQLite file, at a small size: one line per commit size."""

from __future__ import annotations

import re

import pytest
from bench.commit_cost import main


def test_each_commit_size_is_timed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--batch", "1,5", "--messages", "20", "--prefill", "1000", "--users", "50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines] == [1, 5]
    for line in lines:
        found = re.search(r"([\d.]+) us a message, +([\d.]+) us a commit", line)
        assert found is not None and 0 < float(found[1]) <= float(found[2])
