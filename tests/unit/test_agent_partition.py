"""Partition agent ``handle`` in process (no broker): DLQ reasons, redelivery, duplicates."""

from __future__ import annotations

import base64

from helpers import harness, run, task
from qstream.agents import partition

from qstream.stream import topics as T


def test_bad_record_goes_to_the_dlq_with_its_reason_and_origin() -> None:
    h, _ = harness()
    record = h.produce(T.TASKS, b"{not json", key="k1")
    h.produce(T.TASKS, b"padding")  # not delivered; only fixes offsets
    run(partition.handle(h.rt, record))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "json"
    assert base64.b64decode(entry["original_b64"]) == b"{not json"
    assert entry["source"] == {"topic": T.TASKS, "partition": 0, "offset": 0,
                               "key_b64": base64.b64encode(b"k1").decode()}
    assert h.sent(T.RESULTS) == []  # no task id: nobody waits for a result
    assert h.rt.metrics.tasks_rejected == 1


def test_invalid_task_that_names_its_id_also_gets_one_failed_result() -> None:
    h, _ = harness()
    record = h.produce(T.TASKS, task(task_id="t-bad", shots=0), key="t-bad")
    run(h.deliver(record))
    assert [e["reason"] for e in h.sent(T.DLQ)] == ["schema"]
    [result] = h.sent(T.RESULTS)
    assert result["task_id"] == "t-bad" and result["status"] == "failed"
    assert h.rt.ledger.task_record("t-bad")["state"] == "done"
    # Redelivered (same topic/partition/offset): nothing new is sent.
    before = h.count()
    run(h.deliver(record))
    assert h.count() == before


def test_valid_task_is_accepted_and_partitioned() -> None:
    h, _ = harness()
    run(h.deliver(h.produce(T.TASKS, task(task_id="t1", shots=1000), key="t1")))
    [plan] = h.sent(T.SUBTASK_RESULTS)
    assert plan["schema"] == "qstream.plan.v1" and plan["task_id"] == "t1"
    assert plan["circuits"] == [{"name": "bell", "shots": 1000}]
    subtasks = h.sent(T.SUBTASKS)
    assert len(subtasks) == plan["subtasks"] >= 1
    assert sum(s["shots"] for s in subtasks) == 1000
    record = h.rt.ledger.task_record("t1")
    assert record["state"] == "active" and record["source"] == f"{T.TASKS}/0/0"
    assert h.sent(T.DLQ) == []


def test_redelivered_task_after_its_result_is_ignored() -> None:
    h, _ = harness()
    record = h.produce(T.TASKS, task(task_id="t1"), key="t1")
    run(h.deliver(record))
    h.rt.ledger.mark_done("t1", f"{T.TASKS}/0/0", 0, "completed")
    before = h.count()
    run(h.deliver(record))
    assert h.count() == before


def test_resubmitted_task_id_is_rejected_as_duplicate() -> None:
    h, _ = harness()
    run(h.deliver(h.produce(T.TASKS, task(task_id="t1"), key="t1")))
    run(h.deliver(h.produce(T.TASKS, task(task_id="t1"), key="t1")))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "duplicate" and entry["source"]["offset"] == 1
    assert len(h.sent(T.SUBTASK_RESULTS)) == 1  # one plan: the first submission's


def test_key_differing_from_task_id_is_rejected() -> None:
    h, _ = harness()
    run(h.deliver(h.produce(T.TASKS, task(task_id="t1"), key="other")))
    assert [e["reason"] for e in h.sent(T.DLQ)] == ["missing_key"]
    assert h.sent(T.SUBTASKS) == []
