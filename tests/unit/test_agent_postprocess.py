"""Post-process agent ``handle`` in process: one result per task, orphans, redelivery, DLQ."""

from __future__ import annotations

from helpers import harness, run
from qstream.agents import postprocess

from qstream.stream import topics as T


def _plan(task_id: str = "t1", shots: int = 100) -> dict:
    return {"schema": "qstream.plan.v1", "task_id": task_id,
            "circuits": [{"name": "bell", "shots": shots}], "subtasks": 1, "submitted_at": 1.0}


def _part(task_id: str = "t1", shots: int = 100, status: str = "completed") -> dict:
    return {"schema": "qstream.subtask_result.v1", "subtask_id": f"{task_id}/c0/s0",
            "task_id": task_id, "circuit_index": 0, "circuit_name": "bell", "attempt": 0,
            "backend": "cpu_statevector", "status": status,
            "shots": shots if status == "completed" else 0,
            "counts": {"00": shots // 2, "11": shots - shots // 2} if status == "completed" else {},
            "metrics": {"queue_s": 0.0, "run_s": 0.1, "price_usd": 0.0, "esp": 1.0,
                        "quality": None},
            "error": None if status == "completed" else "it broke"}


def _accepted(h, task_id: str = "t1") -> None:
    h.rt.ledger.accept_task(task_id, f"{T.TASKS}/0/0", _plan(task_id))


def test_bad_record_goes_to_the_dlq_with_its_reason() -> None:
    h, _ = harness(with_executor=False)
    record = h.produce(T.SUBTASK_RESULTS, {"schema": "qstream.result.v1", "task_id": "x"})
    run(postprocess.handle(h.rt, record))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "unknown_schema" and entry["source"]["topic"] == T.SUBTASK_RESULTS


def test_plan_and_part_publish_one_result_and_a_redelivered_part_is_ignored() -> None:
    h, _ = harness(with_executor=False)
    _accepted(h)
    run(h.deliver(h.produce(T.SUBTASK_RESULTS, _plan(), key="t1")))
    part = h.produce(T.SUBTASK_RESULTS, _part(), key="t1")
    run(h.deliver(part))
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "completed" and result["results"][0]["counts"] == {"00": 50,
                                                                                  "11": 50}
    assert h.producer.flushes == 1  # the write-ahead record was flushed before the send
    record = h.rt.ledger.task_record("t1")
    assert record["state"] == "done" and record["offset"] == 0
    assert "t1" not in h.rt.ledger.assemblies
    run(h.deliver(part))
    assert len(h.sent(T.RESULTS)) == 1


def test_part_before_its_plan_is_kept_until_the_plan_arrives() -> None:
    h, _ = harness(with_executor=False)
    _accepted(h)
    run(h.deliver(h.produce(T.SUBTASK_RESULTS, _part(), key="t1")))
    assert h.sent(T.RESULTS) == [] and len(h.rt.ledger.orphan_parts["t1"]) == 1
    assert h.tables.parts.get("t1/c0/s0")["shots"] == 100  # durable meanwhile
    run(h.deliver(h.produce(T.SUBTASK_RESULTS, _plan(), key="t1")))
    assert [r["status"] for r in h.sent(T.RESULTS)] == ["completed"]


def test_failed_part_fails_the_task_once() -> None:
    h, _ = harness(with_executor=False)
    _accepted(h)
    run(h.deliver(h.produce(T.SUBTASK_RESULTS, _plan(), key="t1")))
    failed = h.produce(T.SUBTASK_RESULTS, _part(status="failed"), key="t1")
    run(h.deliver(failed))
    run(h.deliver(failed))
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "failed" and "it broke" in result["error"]
