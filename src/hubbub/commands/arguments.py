"""Argument types shared by the sub-commands.

Each raises ``argparse.ArgumentTypeError`` with a sentence that says what is
expected, which the parser prints as ``argument --port: must be ...``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type (and environment parser): a whole number from ``low`` to ``high``."""
    expected = (
        f"a whole number of at least {low}"
        if high is None
        else (f"a whole number from {low} to {high}")
    )

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {expected}, not {text!r}")
        return value

    return convert


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0 (seconds, a rate)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text!r}")
    return value


def non_negative_number(text: str) -> float:
    """An argparse type: a finite number, 0 or more (seconds)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number, 0 or more, not {text!r}")
    return value
