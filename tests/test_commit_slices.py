"""A committed batch is cut into slices whose fan-out each stays within a write budget."""

from __future__ import annotations

from hubbub.store.commit_slices import MESSAGE_COST, SLICE_WRITES, slice_ends


def test_an_empty_batch_has_no_slices() -> None:
    assert slice_ends([], lambda room: 0) == []


def test_rooms_without_listeners_cost_their_messages_only() -> None:
    per_slice = SLICE_WRITES // MESSAGE_COST
    rooms = [f"r{i}" for i in range(per_slice * 2 + 1)]
    assert slice_ends(rooms, lambda room: 0) == [per_slice, per_slice * 2, per_slice * 2 + 1]


def test_each_room_costs_its_live_streams_once_per_slice() -> None:
    # Ten members a room: a slice holds as many rooms as fit in the budget.
    rooms = [f"g{i}" for i in range(60)]
    ends = slice_ends(rooms, lambda room: 10, budget=100)
    assert ends == [*range(7, 60, 7), 60]  # 7 x 13 = 91; an eighth would be 104


def test_more_messages_to_a_room_in_the_slice_never_cut_it() -> None:
    costs = {"big": 90, "small": 1}
    rooms = ["big", "big", "big", "small", "big"]
    # 93 + 3 + 3, then "small" (4) fits in 103 but not in 102; "big" again joins its slice.
    assert slice_ends(rooms, costs.__getitem__, budget=103) == [5]
    assert slice_ends(rooms, costs.__getitem__, budget=102) == [3, 5]


def test_a_flood_of_one_big_room_is_one_slice() -> None:
    """A room of 1,000 gets all of a batch's messages in one flush: one send per
    subscriber however many messages were in flight."""
    assert slice_ends(["crowd"] * 2000, lambda room: 1000) == [2000]


def test_a_room_too_big_for_the_budget_is_a_slice_of_its_own() -> None:
    rooms = ["a", "huge", "b", "c"]
    costs = {"a": 5, "huge": 10_000, "b": 5, "c": 5}
    assert slice_ends(rooms, costs.__getitem__, budget=50) == [1, 2, 4]


def test_a_room_cut_off_is_counted_again_in_the_next_slice() -> None:
    counted: list[str] = []

    def writes_of(room: str) -> int:
        counted.append(room)
        return 40

    # 43 + 43, then c does not fit; a's second message comes in c's slice: its flush too.
    assert slice_ends(["a", "b", "c", "a"], writes_of, budget=90) == [2, 4]
    assert counted == ["a", "b", "c", "a"]


def test_the_default_budget_is_256_writes_and_a_message_costs_3() -> None:
    """The defaults, pinned at their edge: 130 + 126 fits in 256, 130 + 127 does not."""
    assert SLICE_WRITES == 256 and MESSAGE_COST == 3
    assert slice_ends(["a", "b"], {"a": 127, "b": 123}.__getitem__) == [2]
    assert slice_ends(["a", "b"], {"a": 127, "b": 124}.__getitem__) == [1, 2]
    # A room's second message adds its 3: 133 + 123 fits, 133 + 124 does not.
    assert slice_ends(["a", "a", "b"], {"a": 127, "b": 120}.__getitem__) == [3]
    assert slice_ends(["a", "a", "b"], {"a": 127, "b": 121}.__getitem__) == [2, 3]


def test_a_new_slice_starts_with_its_whole_budget() -> None:
    # 50 a room: two fill 100; the third starts a slice that again holds two.
    assert slice_ends(["a", "b", "c", "d", "e"], lambda room: 47, budget=100) == [2, 4, 5]
