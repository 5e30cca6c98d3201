"""The chat benchmark's pure parts (bench/chat.py, bench/chat_users.py): the message text
both servers carry, Nchan's meta frames, the per-room exactness check, percentiles."""

from __future__ import annotations

import pytest
from bench.chat import per_message, percentile, rooms_of
from bench.chat_metrics import commit_counts, lag_counts, lag_in_window, loop_figures
from bench.chat_users import TEXT_SIZE, SeqCheck, Tally, message_text, nchan_frame, parse_text


def test_the_text_carries_room_seq_and_send_time() -> None:
    text = message_text("g12", 7, 123456789)
    assert len(text) == TEXT_SIZE
    assert parse_text(text) == ("g12", 7, 123456789)


def test_nchan_meta_frames_give_id_and_data() -> None:
    frame = b"id: 1796636675:0,[1]\ncontent-type: text/plain\n\ng1 3 99 xx"
    assert nchan_frame(frame) == ("1796636675:0,[1]", "g1 3 99 xx")
    with pytest.raises(ValueError, match=r"ws\+meta\.nchan"):
        nchan_frame(b"g1 3 99 xx")


def test_the_check_counts_lost_doubled_and_foreign_messages() -> None:
    tally = Tally()
    check = SeqCheck(("p1", "g0"))
    assert check.see("p1", 1, tally)
    assert check.see("g0", 1, tally)
    assert not check.see("p1", 1, tally)  # again
    assert check.see("p1", 4, tally)  # 2 and 3 never came
    assert not check.see("g9", 1, tally)  # not one of its rooms
    assert (tally.deliveries, tally.doubled, tally.lost) == (4, 1, 2)
    assert tally.errors == ["a message of g9, not subscribed"]
    assert check.last == {"p1": 4, "g0": 1}


def test_nearest_rank_percentiles() -> None:
    ordered = list(range(1, 101))
    assert percentile(ordered, 50) == 50
    assert percentile(ordered, 99) == 99
    assert percentile(ordered, 100) == 100
    assert percentile([], 99) == 0.0
    assert percentile([5], 1) == 5


def test_each_user_has_a_personal_room_and_a_group_of_ten() -> None:
    assert rooms_of(0, 10) == ("p0", "g0")
    assert rooms_of(9, 10) == ("p9", "g0")
    assert rooms_of(10, 10) == ("p10", "g1")


def test_loop_figures_of_one_server() -> None:
    text = (
        "# HELP hubbub_event_loop_stall_seconds The longest event-loop stall.\n"
        "# TYPE hubbub_event_loop_stall_seconds gauge\n"
        "hubbub_event_loop_stall_seconds 0.012500\n"
        "hubbub_event_loop_busy_stall_seconds 0.002\n"
        'hubbub_connections{transport="ws"} 3\n'
        "hubbub_gc_seconds_total 1.5\n"
        "hubbub_gc_seconds_total_extra 9\n"
    )
    assert loop_figures(text) == (0.0125, 0.002, 1.5)


def test_loop_figures_of_workers_are_the_longest_stall_and_the_collectors_sum() -> None:
    text = (
        'hubbub_event_loop_stall_seconds{worker="1"} 0.004000\n'
        'hubbub_event_loop_stall_seconds{worker="2"} 0.011000\n'
        'hubbub_gc_seconds_total{worker="1"} 0.25\n'
        'hubbub_gc_seconds_total{worker="2"} 0.5\n'
    )
    assert loop_figures(text) == (0.011, None, 0.75)
    assert loop_figures("hubbub_connections_open 3\n") == (None, None, None)


def test_commit_counts_add_up_over_workers() -> None:
    """Commits, the publishes in them and their seconds, every worker's summed; the
    longest commit, the longest of any worker's."""
    one = (
        "hubbub_commits_total 40\nhubbub_publish_seconds_count 1000\nhubbub_publish_seconds_sum 2\n"
        "hubbub_commit_seconds_total 0.5\nhubbub_commit_longest_seconds 0.03\n"
    )
    assert commit_counts(one) == (40.0, 1000.0, 0.5, 0.03)
    workers = (
        'hubbub_commits_total{worker="1"} 10\nhubbub_commits_total{worker="2"} 30\n'
        'hubbub_publish_seconds_count{worker="1"} 100\n'
        'hubbub_publish_seconds_count{worker="2"} 300\n'
        'hubbub_commit_seconds_total{worker="1"} 0.25\n'
        'hubbub_commit_seconds_total{worker="2"} 0.5\n'
        'hubbub_commit_longest_seconds{worker="1"} 0.02\n'
        'hubbub_commit_longest_seconds{worker="2"} 0.01\n'
    )
    assert commit_counts(workers) == (40.0, 400.0, 0.75, 0.02)
    assert commit_counts("") == (0.0, 0.0, 0.0, 0.0)


def test_thread_cpu_per_message_busiest_first() -> None:
    """Each thread's CPU over the window per message, in microseconds; idle ones left out."""
    start = {"loop": 1.0, "thread-7": 0.5, "thread-8": 0.0}
    end = {"loop": 2.3, "thread-7": 0.9, "thread-8": 0.000001, "thread-9": 0.1}
    assert per_message(start, end, 10_000) == {"loop": 130.0, "thread-7": 40.0, "thread-9": 10.0}


def test_the_loop_lag_histogram_is_read_per_bound_and_over_the_window() -> None:
    def scrape(by_worker: dict[str, list[int]]) -> str:
        lines = []
        for worker, counts in by_worker.items():
            for le, count in zip(("0.005", "0.01", "0.025", "+Inf"), counts, strict=True):
                lines.append(
                    f'hubbub_event_loop_lag_seconds_bucket{{le="{le}",worker="{worker}"}} {count}'
                )
        return "\n".join(lines) + "\n"

    start = lag_counts(scrape({"1": [10, 10, 10, 10], "2": [5, 6, 6, 6]}))
    assert start == {"0.005": 15, "0.01": 16, "0.025": 16, "+Inf": 16}
    # Worker 1 fires 20 times, 2 of them over 10 ms (one over 25); worker 2 10, on time.
    end = lag_counts(scrape({"1": [28, 28, 29, 30], "2": [15, 16, 16, 16]}))
    assert lag_in_window(start, end) == (2, None)  # one past the largest finite bound
    end = lag_counts(scrape({"1": [28, 28, 30, 30], "2": [15, 16, 16, 16]}))
    assert lag_in_window(start, end) == (2, 25.0)
    end = lag_counts(scrape({"1": [30, 30, 30, 30], "2": [15, 16, 16, 16]}))
    assert lag_in_window(start, end) == (0, 5.0)
    assert lag_in_window({}, {}) == (0, None)  # Nchan, or a server without the histogram
