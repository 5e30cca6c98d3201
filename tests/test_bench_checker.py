"""The load generator's stream checks: pure functions, no network."""

from __future__ import annotations

import random
import struct

from bench.checker import StreamCheck, StreamTally, latency_summary, percentile
from bench.payload import SeqScanner, make_text, read_text, seqs_in


def _ws_frame(seq: int) -> bytes:
    text = make_text(seq, 1_795_292_066_851_643_881 + seq)
    body = f'{{"type":"message","message":{{"id":{seq},"room":"r","text":"{text}"}}}}'.encode()
    return b"\x81\x7e" + struct.pack("!H", len(body)) + body


def _scan_all(stream: bytes, cuts: list[int]) -> StreamCheck:
    scanner, check = SeqScanner(), StreamCheck()
    last = 0
    for cut in [*cuts, len(stream)]:
        count, first, last_seq, body = scanner.feed(stream[last:cut])
        if count:
            check.feed_span(count, first, last_seq, body)
        last = cut
    return check


def test_text_is_100_bytes_and_reads_back() -> None:
    """A payload is 100 bytes and gives back its sequence number and send time."""
    text = make_text(42, 1_795_292_066_851_643_881)
    assert len(text.encode()) == 100
    assert read_text(text) == (42, 1_795_292_066_851_643_881)


def test_scanner_counts_every_token_whatever_the_read_boundaries() -> None:
    """Tokens split across reads at every possible byte are counted once each."""
    stream = b"".join(_ws_frame(seq) for seq in range(1, 41))
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 60)))
        check = _scan_all(stream, cuts)
        assert check.ok(40), check


def test_scanner_one_byte_reads() -> None:
    """Even one byte per read keeps the stream intact."""
    stream = b"".join(_ws_frame(seq) for seq in range(1, 6))
    assert _scan_all(stream, list(range(1, len(stream)))).ok(5)


def test_loss_duplicate_and_reorder_are_told_apart() -> None:
    """A gap, a repeat and a late arrival are each counted as what they are."""
    stream = b"".join(_ws_frame(seq) for seq in (1, 2, 4, 4, 3, 6))
    check = _scan_all(stream, [])
    assert (check.duplicates, check.reordered, check.lost(6)) == (1, 1, 1)
    assert not check.ok(6)


def test_sampled_reads_are_read_in_full() -> None:
    """A swap inside a read is caught when the read is one of the fully checked ones."""
    check = StreamCheck()
    for start in range(1, 8 * 3, 3):  # 8 clean reads of three messages each
        frames = b"".join(_ws_frame(seq) for seq in range(start, start + 3))
        check.feed_span(3, start, start + 2, frames)
    swapped = b"".join(_ws_frame(seq) for seq in (25, 27, 26))
    check.feed_span(3, 25, 26, swapped)  # the 9th read: checked in full
    assert check.reordered == 1


def test_swap_across_reads_is_caught() -> None:
    """Messages out of order across two reads fail the check."""
    stream_a = b"".join(_ws_frame(seq) for seq in (1, 3))
    stream_b = _ws_frame(2)
    check = _scan_all(stream_a + stream_b, [len(stream_a)])
    assert check.reordered == 1
    assert not check.ok(3)


def test_missing_tail_is_lost() -> None:
    """Messages never received at the end of the run count as lost."""
    check = StreamCheck()
    check.feed([1, 2, 3])
    assert check.lost(5) == 2
    assert not check.ok(5)


def test_seqs_in_reads_every_number() -> None:
    """The exact path reads every sequence number in order."""
    assert seqs_in(b"".join(_ws_frame(s) for s in (5, 9, 7))) == [5, 9, 7]


def test_tally_keeps_examples_of_broken_streams() -> None:
    """A tally sums checks and names the first broken streams."""
    good, bad = StreamCheck(), StreamCheck()
    good.feed([1, 2])
    bad.feed([2])
    tally = StreamTally()
    tally.add("a", good, 2)
    tally.add("b", bad, 2)
    assert (tally.subscribers, tally.complete, tally.lost) == (2, 1, 1)
    assert tally.examples and tally.examples[0].startswith("b:")


def test_percentiles_use_nearest_rank() -> None:
    """p50 and p99 are nearest-rank percentiles, in milliseconds."""
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    summary = latency_summary([1_000_000 * v for v in values])
    assert summary["p99_ms"] == 99.0
    assert summary["max_ms"] == 100.0
