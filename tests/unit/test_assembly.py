"""TaskAssembly: dedup, exactly-once completion, result message."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qstream.core.assembly import TaskAssembly
from qstream.core.partition import split_shots
from qstream.core.postprocess import PartResult, PostprocessError


def parts_for(circuits: list[tuple[str, int]], splits: list[int]) -> list[PartResult]:
    out = []
    for index, ((name, shots), k) in enumerate(zip(circuits, splits, strict=True)):
        for j, n in enumerate(split_shots(shots, min(k, shots))):
            counts = {"00": n // 2, "11": n - n // 2}
            out.append(PartResult(f"t/c{index}/s{j}", index, name, f"b{j % 2}", counts, n,
                                  queue_s=float(j), run_s=1.0, price_usd=0.25, esp=0.8,
                                  quality=0.9 if j % 2 else None, readout=None))
    return out


@given(
    shots=st.lists(st.integers(1, 5000), min_size=1, max_size=4),
    splits=st.lists(st.integers(1, 4), min_size=4, max_size=4),
    dup=st.lists(st.integers(0, 50), max_size=10),
    seed=st.integers(0, 1000),
)
def test_dedups_and_finishes_exactly_once(shots, splits, dup, seed) -> None:
    circuits = [(f"c{i}", s) for i, s in enumerate(shots)]
    parts = parts_for(circuits, splits[: len(circuits)])
    stream = parts + [parts[d % len(parts)] for d in dup]
    random.Random(seed).shuffle(stream)
    asm = TaskAssembly("t", circuits, submitted_at_s=10.0)
    flips = 0
    accepted = 0
    for i, p in enumerate(stream):
        was = asm.done
        accepted += asm.add(p, attempt=i)
        flips += (not was) and asm.done
    assert flips == 1
    assert accepted == len(parts)
    assert asm.done and not asm.failed
    r = asm.result(now_s=25.0)
    assert r["schema"] == "qstream.result.v1"
    assert r["status"] == "completed" and r["error"] is None
    assert [c["name"] for c in r["results"]] == [n for n, _ in circuits]
    for c, (_, s) in zip(r["results"], circuits, strict=True):
        assert c["shots"] == s == sum(c["counts"].values())
    m = r["metrics"]
    assert m["jct_s"] == 15.0 and r["completed_at"] == 25.0
    assert m["cost_usd"] == pytest.approx(0.25 * len(parts))
    assert m["run_s"] == pytest.approx(1.0 * len(parts))
    assert m["queue_s"] == max(p.queue_s for p in parts)
    assert m["backends"] == sorted({p.backend for p in parts})
    total = sum(p.shots for p in parts)
    expected = sum((0.9 if p.quality else 0.8) * p.shots for p in parts) / total
    assert m["est_fidelity"] == pytest.approx(expected)


def test_failure_reports_complete_circuits_only_and_is_final() -> None:
    circuits = [("a", 100), ("b", 100)]
    parts = parts_for(circuits, [1, 2])
    asm = TaskAssembly("t", circuits, submitted_at_s=0.0)
    asm.add(parts[0], 1)      # circuit a complete
    asm.add(parts[1], 1)      # half of circuit b
    assert not asm.done
    asm.fail("backend q2 failed 3 times")
    asm.fail("a later error")
    assert asm.done and asm.failed
    assert asm.add(parts[2], 1) is False
    r = asm.result(5.0)
    assert r["status"] == "failed"
    assert r["error"] == "backend q2 failed 3 times"
    assert [c["name"] for c in r["results"]] == ["a"]
    assert r["metrics"]["cost_usd"] == pytest.approx(0.5)


def test_fail_after_completion_is_ignored() -> None:
    circuits = [("a", 10)]
    asm = TaskAssembly("t", circuits, 0.0)
    asm.add(parts_for(circuits, [1])[0], 1)
    asm.fail("late timeout")
    assert asm.result(1.0)["status"] == "completed"


def test_result_before_done_says_what_is_missing() -> None:
    asm = TaskAssembly("t", [("a", 10), ("b", 20)], 0.0)
    r = asm.result(1.0)
    assert r["status"] == "failed"
    assert r["error"] == "incomplete: circuit 'a' has 0 of 10 shots, circuit 'b' has 0 of 20 shots"
    assert r["results"] == [] and r["metrics"]["est_fidelity"] is None


def test_parts_beyond_the_planned_shots_are_rejected() -> None:
    circuits = [("a", 100)]
    asm = TaskAssembly("t", circuits, 0.0)
    p = parts_for(circuits, [1])[0]
    hedge = PartResult("t/c0/s0.hedge", 0, "a", "b9", p.counts, p.shots, 0.0, 0.0, 0.0,
                       1.0, None, None)
    assert asm.add(hedge, 1) is True
    assert asm.add(p, 1) is False
    assert asm.received_shots() == [100]


def test_part_for_unknown_circuit_raises() -> None:
    asm = TaskAssembly("t", [("a", 10)], 0.0)
    with pytest.raises(PostprocessError):
        asm.add(PartResult("x", 3, "zz", "b", {"0": 10}, 10, 0, 0, 0, 1, None, None), 1)
