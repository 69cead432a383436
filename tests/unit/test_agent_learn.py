"""Learn agent ``handle`` in process: learning once per attempt, failover, breakers, DLQ."""

from __future__ import annotations

from helpers import harness, run, task
from qstream.agents import learn

from qstream.stream import topics as T

FLEET = ("cpu_statevector", "braket_local")


def _in_flight(h) -> dict:
    """Partition and dispatch one task; return its released exec message."""
    run(h.deliver(h.produce(T.TASKS, task(task_id="t1"), key="t1")))
    run(h.deliver(h.records(T.SUBTASKS)[0]))
    [released] = [r.decoded() for name, t in h.broker.items() if name.startswith("qstream.exec.")
                  for r in t.records]
    return released


def _execution(released: dict, *, success: bool, attempt: int = 0) -> dict:
    return {
        "schema": "qstream.telemetry.v1", "event": "execution", "at": 1.0,
        "backend": released["backend"], "subtask_id": released["subtask_id"],
        "task_id": released["task_id"], "attempt": attempt, "shots": released["shots"],
        "success": success, "queue_s": 1.0, "run_s": 0.5, "price_usd": 0.01, "esp": 0.9,
        "quality": 0.95, "pending_jobs": 3, "features": released["features"],
        "error": None if success else f"{released['backend']}: boom", "predicted": None,
        "wall_s": 0.1}


def test_bad_record_goes_to_the_dlq_with_its_reason() -> None:
    h, _ = harness(with_executor=False)
    record = h.produce(T.TELEMETRY, {"schema": "qstream.telemetry.v1"})
    run(learn.handle(h.rt, record))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "schema" and entry["source"]["topic"] == T.TELEMETRY


def test_success_is_learned_once_and_completes_the_subtask() -> None:
    h, _ = harness(with_executor=False)
    released = _in_flight(h)
    record = h.produce(T.TELEMETRY, _execution(released, success=True))
    run(h.deliver(record))
    assert h.rt.metrics.learned == 1 and h.rt.predictor.n_learned == 1
    assert h.rt.scheduler.is_completed(released["subtask_id"])
    assert h.tables.subtasks.get(released["subtask_id"]) == {"task_id": "t1",
                                                              "state": "completed"}
    before = h.count()
    run(h.deliver(record))  # redelivered: not learned twice, nothing new sent
    assert h.rt.metrics.learned == 1 and h.rt.predictor.n_learned == 1
    assert h.count() == before


def test_failure_fails_over_to_the_next_backend_with_a_new_attempt() -> None:
    h, _ = harness(with_executor=False, fleet=FLEET)
    released = _in_flight(h)
    sid = released["subtask_id"]
    record = h.produce(T.TELEMETRY, _execution(released, success=False))
    run(h.deliver(record))
    [failover] = [e for e in h.sent(T.TELEMETRY) if e["event"] == "failover"]
    assert failover["from_backend"] == released["backend"] != failover["to_backend"]
    assert failover["attempt"] == 1
    rec = h.rt.ledger.records[sid]
    assert rec.attempt == 1 and rec.failed_backends == [released["backend"]]
    assert rec.failed_attempts == [f"{released['backend']}#0"]
    durable = h.tables.subtasks.get(sid)
    assert durable["attempt"] == 1 and durable["failed_backends"] == [released["backend"]]
    assert durable["reasons"] == [f"{released['backend']}: boom"]
    # The same failure redelivered after a failover (its learned-once key forgotten).
    h.rt.seen_executions.clear()
    before = h.count()
    run(h.deliver(record))
    assert h.count() == before and h.rt.ledger.records[sid].attempt == 1


def test_failure_on_the_only_backend_fails_the_task_with_its_reason() -> None:
    h, _ = harness(with_executor=False)
    released = _in_flight(h)
    run(h.deliver(h.produce(T.TELEMETRY, _execution(released, success=False))))
    [failed] = [r for r in h.sent(T.SUBTASK_RESULTS) if r.get("status") == "failed"]
    assert "cpu_statevector: boom" in failed["error"] and failed["attempt"] == 1


def test_device_status_down_keeps_its_backend_from_new_work() -> None:
    h, _ = harness(with_executor=False, fleet=FLEET)
    status = {"schema": "qstream.telemetry.v1", "event": "backend_status", "at": 1.0,
              "backend": "cpu_statevector", "pending_jobs": 0, "operational": False}
    run(h.deliver(h.produce(T.TELEMETRY, status)))
    assert h.rt.health.device_up["cpu_statevector"] is False
    released = _in_flight(h)
    assert released["backend"] == "braket_local"


def test_breaker_opens_after_repeated_failures_and_says_so() -> None:
    h, _ = harness(with_executor=False, fleet=FLEET, breaker_failures=1, breaker_window=1)
    released = _in_flight(h)
    run(h.deliver(h.produce(T.TELEMETRY, _execution(released, success=False))))
    [event] = [e for e in h.sent(T.TELEMETRY) if e["event"] == "breaker"]
    assert event["backend"] == released["backend"] and event["state"] == "open"


def test_predictor_snapshot_is_restored_by_a_worker_taking_over() -> None:
    h, _ = harness(with_executor=False, snapshot_every=1)
    released = _in_flight(h)
    run(h.deliver(h.produce(T.TELEMETRY, _execution(released, success=True))))
    assert b"predictor" in h.tables.snapshots
    assert h.restart().predictor.n_learned == 1
