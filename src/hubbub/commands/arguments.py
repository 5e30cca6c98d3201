"""Argument types shared by the sub-commands."""

from __future__ import annotations

from collections.abc import Callable


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type (and environment parser): a whole number from ``low`` to ``high``.

    It raises ``ValueError``, which argparse reports as an invalid value.
    """

    def convert(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            raise ValueError(text)
        return value

    # argparse names the type in its message: "invalid whole number >= 1 value: '0'".
    convert.__name__ = f"whole number >= {low}" if high is None else f"whole number {low}-{high}"
    return convert
