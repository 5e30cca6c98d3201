"""Where a committed batch is cut so that no loop iteration fans out too much of it.

A commit's messages are applied to the rooms (sequenced, encoded, queued for the flush)
and then written to every live subscriber in the same loop iteration. A large commit
(at 15,000 users and 5,000 msg/s, issue 19, commits of 40-230 messages that each reach
about nine sockets) made that one iteration write thousands of times: the whole event
loop stalled 65-224 ms behind it, reads and timers included. Applying the batch in
slices, one per iteration, bounds each iteration's share while keeping every rule of the
flush: a slice's room frames and its acknowledgements are made in the same iteration,
so an ``ack`` still follows the frame it acknowledges, and slices go in commit order.

The cost counted is the flush's writes, one per live stream of each room a slice
touches (a room's frames of one iteration share one write per stream, so a second
message to the same room in a slice costs none), plus a fixed share per message for
the Python that applies it. A cut is made only before a room new to the slice: the
messages of a room already in it always join it, since cutting there would write them
to every stream of the room again (a flood of one room of 1,000 subscribers batches
everything in flight into one send per subscriber, which is its whole advantage). So a
slice holds at least one room, and a room of 10,000 subscribers is a slice of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# Writes (about 8-11 us each on a loopback socket here) one slice may cost: about 3 ms
# of sends per loop iteration, with the reads' own budget (http/turns.py) the longest
# iteration a busy server makes stays under 10 ms.
SLICE_WRITES = 256
# A message's own cost in writes: applying it (sequence, cache, encode, ack) takes
# about three sends' time.
MESSAGE_COST = 3


def slice_ends(
    rooms: Sequence[str], writes_of: Callable[[str], int], budget: int = SLICE_WRITES
) -> list[int]:
    """The end index of each slice of a batch whose messages go to ``rooms`` in order;
    ``writes_of(room)`` is what one flush of a room costs (its live streams)."""
    ends: list[int] = []
    seen: set[str] = set()
    spent = 0
    for index, room in enumerate(rooms):
        if room in seen:
            # Never cut here: its frames join the room's one write per stream in this
            # slice's flush, and a cut would write them to every stream again (a flood
            # of one room of 1,000 batches its messages into one send per subscriber).
            spent += MESSAGE_COST
            continue
        cost = MESSAGE_COST + writes_of(room)
        if spent and spent + cost > budget:
            ends.append(index)
            seen = set()
            spent = 0
        seen.add(room)
        spent += cost
    if rooms:
        ends.append(len(rooms))
    return ends
