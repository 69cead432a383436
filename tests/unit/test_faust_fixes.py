"""The faust-streaming fixes in qstream.stream.faust_fixes, on Faust's own code paths."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from qstream.stream import faust_fixes

TOPIC = TP("qstream.exec.sim", 0)


def consumer_state(committed: int | None, acked: list[int], unacked: list[int]) -> Any:
    """The attributes ``Consumer._new_offset`` reads, for one partition."""
    messages = [SimpleNamespace(tp=TOPIC, offset=o, acked=False) for o in unacked]
    return SimpleNamespace(
        _acked=defaultdict(list, {TOPIC: list(acked)}),
        _acked_index=defaultdict(set, {TOPIC: set(acked)}),
        _gap=defaultdict(IntervalTree),
        _committed_offset=defaultdict(lambda: None, {TOPIC: committed}),
        _unacked_messages=messages,
    )


def test_faust_alone_commits_past_a_record_still_being_processed() -> None:
    # Why the fix exists: record 10 still executing, 11 acked, committed position 10.
    faust_fixes.apply()
    original = faust_fixes.ORIGINAL_NEW_OFFSET
    assert original(consumer_state(10, [11], [10]), TOPIC) == 12   # skips record 10
    assert original(consumer_state(None, [1], [0]), TOPIC) == 2    # nothing committed yet


def test_fixed_commit_waits_for_the_oldest_unacked_record() -> None:
    faust_fixes.apply()
    state = consumer_state(10, [11, 12], [10])
    assert Consumer._new_offset(state, TOPIC) is None
    assert state._acked[TOPIC] == [11, 12]  # kept for later
    state._unacked_messages = []            # record 10 acked now
    state._acked[TOPIC] = [10, 11, 12]
    assert Consumer._new_offset(state, TOPIC) == 13
    # Acked records below the oldest unacked one are still committed.
    assert Consumer._new_offset(consumer_state(5, [5, 6, 9], [7]), TOPIC) == 7
    assert Consumer._new_offset(consumer_state(None, [1], [0]), TOPIC) is None
