"""Execute agent ``handle`` in process with a fake backend: result, telemetry, failures, DLQ."""

from __future__ import annotations

from helpers import harness, run, task
from qstream.agents import execute

from qstream.stream import topics as T

EXEC = T.exec_topic("cpu_statevector")


def _exec_record(h):
    """Partition and dispatch one task; return its exec record (undelivered)."""
    run(h.deliver(h.produce(T.TASKS, task(task_id="t1", shots=1000), key="t1")))
    run(h.deliver(h.records(T.SUBTASKS)[0]))
    return h.records(EXEC)[0]


def test_bad_record_goes_to_the_dlq_with_its_reason() -> None:
    h, backend = harness()
    record = h.produce(EXEC, b"\xff\xfe")
    run(execute.handle(h.rt, backend, record))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "utf8" and entry["source"]["topic"] == EXEC
    assert backend.requests == []


def test_execution_sends_its_result_before_the_telemetry_that_frees_the_credit() -> None:
    h, backend = harness()
    record = _exec_record(h)
    n_results, n_telemetry = len(h.records(T.SUBTASK_RESULTS)), len(h.records(T.TELEMETRY))
    run(h.deliver(record))
    [request] = backend.requests
    assert request.subtask_id == record.decoded()["subtask_id"] and request.attempt == 0
    [result] = [r for r in h.records(T.SUBTASK_RESULTS)[n_results:]]
    [event] = [r for r in h.records(T.TELEMETRY)[n_telemetry:]]
    assert result.decoded()["status"] == "completed"
    assert sum(result.decoded()["counts"].values()) == request.shots
    assert event.decoded()["event"] == "execution" and event.decoded()["success"] is True
    # Same sub-task and attempt: same simulator seed (a re-execution reproduces it).
    run(h.deliver(record))
    assert backend.requests[1].seed == request.seed


def test_failed_execution_reports_the_error_and_no_result() -> None:
    h, backend = harness()
    backend.fail = lambda request: True
    record = _exec_record(h)
    n_results = len(h.records(T.SUBTASK_RESULTS))
    run(h.deliver(record))
    assert len(h.records(T.SUBTASK_RESULTS)) == n_results
    [event] = [e for e in h.sent(T.TELEMETRY) if e["event"] == "execution"]
    assert event["success"] is False and "injected failure" in event["error"]


def test_one_agent_per_backend_on_its_exec_topic() -> None:
    _, backend = harness()
    [agent] = execute.agents({"cpu_statevector": backend})
    assert agent.topic == EXEC and agent.concurrency == backend.spec.capacity
