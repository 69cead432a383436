"""Dispatch agent ``handle`` in process (no broker): placement, release, redelivery, DLQ."""

from __future__ import annotations

from helpers import harness, run, task
from qstream.agents import dispatch

from qstream.stream import topics as T

EXEC = T.exec_topic("cpu_statevector")


def _accepted(h, task_id: str = "t1") -> list:
    """Partition one task; return its sub-task records (undelivered)."""
    run(h.deliver(h.produce(T.TASKS, task(task_id=task_id), key=task_id)))
    return [r for r in h.records(T.SUBTASKS) if r.key == task_id.encode()]


def test_bad_record_goes_to_the_dlq_with_its_reason() -> None:
    h, _ = harness(with_executor=False)
    record = h.produce(T.SUBTASKS, {"schema": "qstream.subtask.v1", "subtask_id": 3})
    run(dispatch.handle(h.rt, record))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "schema"
    assert (entry["source"]["topic"], entry["source"]["offset"]) == (T.SUBTASKS, 0)
    assert h.sent(EXEC) == []


def test_subtask_is_placed_traced_and_released_with_attempt_0() -> None:
    h, _ = harness(with_executor=False)
    [record] = _accepted(h)
    run(h.deliver(record))
    sid = record.decoded()["subtask_id"]
    [event] = [e for e in h.sent(T.TELEMETRY) if e["event"] == "dispatch"]
    assert event["subtask_id"] == sid and event["backend"] == "cpu_statevector"
    [released] = h.sent(EXEC)
    assert released["subtask_id"] == sid and released["attempt"] == 0
    assert h.rt.ledger.subtask(sid) is not None
    assert h.rt.ledger.records[sid].trace_context is not None
    assert h.rt.metrics.decisions == 1
    # The placement is durable once the record is processed.
    assert h.tables.subtasks.get(sid)["state"] == "placed"


def test_redelivered_subtask_is_ignored() -> None:
    h, _ = harness(with_executor=False)
    [record] = _accepted(h)
    run(h.deliver(record))
    before = h.count()
    run(h.deliver(record))
    assert h.count() == before
    assert h.rt.metrics.decisions == 1


def test_subtask_of_a_finished_or_unknown_task_is_ignored() -> None:
    h, _ = harness(with_executor=False)
    [record] = _accepted(h)
    h.rt.ledger.mark_done("t1", None, 0, "completed")
    run(h.deliver(record))
    assert h.sent(EXEC) == [] and h.rt.ledger.subtask(record.decoded()["subtask_id"]) is None


def test_subtask_no_backend_can_run_fails_its_task() -> None:
    h, _ = harness(with_executor=False)
    [record] = _accepted(h)
    data = record.decoded()
    data["features"]["num_qubits"] = 10_000  # wider than any backend of the fleet
    run(h.deliver(h.produce(T.SUBTASKS, data, key="t1")))
    [failed] = [r for r in h.sent(T.SUBTASK_RESULTS) if r["schema"] == "qstream.subtask_result.v1"]
    assert failed["status"] == "failed" and failed["backend"] == "none" and failed["error"]
    assert h.sent(EXEC) == []
