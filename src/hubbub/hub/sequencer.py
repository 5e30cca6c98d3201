"""The sequencer's rules, free of I/O: which arrivals a room applies now, and which rows
of a store read fill a hole.

A room in memory applies only ``last_id + 1``: an id at or below ``last_id`` is a
repeat (a broker redelivery, or this node's own commit coming back), and an id past
``last_id + 1`` means the ids between were lost on the way; it waits, with everything
after it, until the hole is filled from the store (hub.py). These rules are kept apart
from the hub's tasks and awaits so that tests can pin them one id at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class HasId(Protocol):
    @property
    def id(self) -> int: ...


Row = TypeVar("Row", bound=HasId)


def in_order(last_id: int, arrivals: Sequence[Row]) -> tuple[list[Row], int]:
    """The arrivals that continue a log ending at ``last_id``, in order, repeats dropped;
    and the index of the first one that comes after a hole (``len(arrivals)`` if none
    does): it and every arrival after it wait for the hole to be filled."""
    run: list[Row] = []
    for index, arrival in enumerate(arrivals):
        if arrival.id == last_id + 1:
            run.append(arrival)
            last_id = arrival.id
        elif arrival.id > last_id:
            return run, index
    return run, len(arrivals)


def hole_end(last_id: int, waiting: Sequence[HasId]) -> int | None:
    """The id that ends the hole after ``last_id`` (the lowest one waiting above it), or
    None if there is no hole any more: nothing waits above ``last_id``, or it is next."""
    end = min((row.id for row in waiting if row.id > last_id), default=None)
    if end is None or end == last_id + 1:
        return None
    return end


def hole_rows(last_id: int, rows: Sequence[Row], end: int) -> list[Row] | None:
    """The rows of a store read after ``last_id`` that fill the hole up to ``end``
    (excluded), in order; None if the read does not start at ``last_id + 1``: the
    store no longer has the hole (retention removed it), so it cannot be filled."""
    if not rows or rows[0].id != last_id + 1:
        return None
    filled: list[Row] = []
    for row in rows:
        if row.id == last_id + 1 and row.id < end:
            filled.append(row)
            last_id = row.id
    return filled
