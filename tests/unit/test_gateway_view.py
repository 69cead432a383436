"""The gateway's task index and fleet state: pure functions of the topics' records."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from qstream.errors import ValidationError
from qstream.gateway.follower import FleetState, apply
from qstream.gateway.service import parse_task
from qstream.gateway.view import MAX_EVENTS, TaskIndex
from qstream.stream import topics as T
from qstream.stream.runtime import SNAPSHOT_KEY

TASK = {"schema": "qstream.task.v1", "task_id": "t1", "shots": 10,
        "circuits": [{"name": "c", "qasm": "x"}]}


def fed(*records: tuple[str, bytes | None, object]) -> TaskIndex:
    index = TaskIndex()
    for topic, key, message in records:
        index.feed(topic, key, message)
    return index


def test_status_goes_accepted_running_then_the_results_status() -> None:
    index = fed((T.TASKS, b"t1", TASK))
    assert index.get("t1").status == "accepted" and index.get("t1").result is None
    index.feed(T.REALLOCATIONS, b"t1", {"task_id": "t1", "subtask_id": "t1/c0/s0"})
    assert index.get("t1").status == "accepted"  # a move of pending work is not a start
    index.feed(T.TELEMETRY, None, {"event": "execution", "task_id": "t1"})
    assert index.get("t1").status == "running"
    result = {"schema": "qstream.result.v1", "task_id": "t1", "status": "cancelled",
              "reason": "cancelled", "error": "cancelled by the user"}
    index.feed(T.RESULTS, b"t1", result)
    view = index.get("t1")
    assert (view.status, view.reason, view.error, view.result) == (
        "cancelled", "cancelled", "cancelled by the user", result)
    # a second result (at-least-once delivery) changes nothing
    index.feed(T.RESULTS, b"t1", {**result, "status": "completed"})
    assert index.get("t1").status == "cancelled" and index.get("t1").counts["result"] == 1


def test_a_dlq_rejection_fails_the_task_but_a_duplicate_does_not() -> None:
    dlq = {"schema": "qstream.dlq.v1", "task_id": "t1", "reason": "duplicate", "error": "again",
           "source": {"topic": T.TASKS, "partition": 0, "offset": 3}}
    index = fed((T.TASKS, b"t1", TASK), (T.DLQ, None, dlq))
    assert index.get("t1").status == "accepted" and index.get("t1").counts == {"dlq": 1}
    index.feed(T.DLQ, None, {**dlq, "task_id": "t2", "reason": "invalid_qasm", "error": "bad"})
    view = index.get("t2")
    assert (view.status, view.reason, view.error) == ("failed", "invalid_qasm", "bad")
    # a bad control record naming a task is not a rejection of the task
    index.feed(T.DLQ, None, {**dlq, "reason": "control", "source": {"topic": T.CONTROL}})
    assert index.get("t1").status == "accepted"


def test_workflow_step_events_count_for_their_problem_task() -> None:
    index = fed((T.TASKS, b"p1", {**TASK, "task_id": "p1"}))
    index.feed(T.TELEMETRY, None, {"event": "dispatch", "task_id": "p1/w3"})
    assert index.get("p1").status == "running" and index.get("p1/w3") is None
    index.feed(T.TELEMETRY, None, {"event": "dispatch", "task_id": "nobody/w1"})
    assert index.get("nobody") is None and len(index) == 1


def test_events_are_bounded_and_counts_are_not() -> None:
    index = fed((T.TASKS, b"t1", TASK))
    for _ in range(MAX_EVENTS + 5):
        index.feed(T.TELEMETRY, None, {"event": "retry", "task_id": "t1"})
    assert len(index.get("t1").events) == MAX_EVENTS
    assert index.get("t1").counts["retry"] == MAX_EVENTS + 5


def test_cloudevent_records_and_keys_name_the_task() -> None:
    index, fleet = TaskIndex(), FleetState()
    task = orjson.dumps({k: v for k, v in TASK.items() if k != "task_id"})
    binary = [("ce_specversion", b"1.0"), ("ce_id", b"ev-bin"), ("ce_source", b"/test"),
              ("ce_type", b"dev.qstream.task.submitted"), ("content-type", b"application/json")]
    apply(index, fleet, T.TASKS, None, task, 0, binary)
    structured = orjson.dumps({"specversion": "1.0", "id": "ev-str", "source": "/test",
                               "type": "dev.qstream.task.submitted",
                               "datacontenttype": "application/json",
                               "data": orjson.loads(task)})
    apply(index, fleet, T.TASKS, None, structured,
          1, [("content-type", b"application/cloudevents+json")])
    apply(index, fleet, T.TASKS, b"keyed", orjson.dumps({"schema": "qstream.task.v1"}), 2)
    apply(index, fleet, T.TASKS, None, b"[1, 2]", 3)
    apply(index, fleet, T.TASKS, None, task, 4, [*binary[:1], ("ce_type", b"other")])  # bad event
    assert set(index.tasks) == {"ev-bin", "ev-str", "keyed"}


def test_subscribers_get_later_events_until_they_unsubscribe() -> None:
    async def go() -> None:
        index = fed((T.TASKS, b"t1", TASK),
                    (T.TELEMETRY, None, {"event": "dispatch", "task_id": "t1"}))
        known, queue = index.subscribe("t1")
        assert [e.kind for e in known] == ["dispatch"]
        index.feed(T.RESULTS, b"t1", {"task_id": "t1", "status": "completed"})
        event = queue.get_nowait()
        assert event.kind == "result" and event.seq > known[0].seq
        index.unsubscribe("t1", queue)
        index.feed(T.TELEMETRY, None, {"event": "cancel", "task_id": "t1"})
        assert queue.empty()
    asyncio.run(go())


def test_fleet_state_keeps_the_latest_status_breaker_and_snapshot() -> None:
    index, fleet = TaskIndex(), FleetState()
    status = {"event": "backend_status", "backend": "b", "pending_jobs": 7, "operational": False,
              "calibration_age_s": 100.0, "at": 1000.0}
    apply(index, fleet, T.TELEMETRY, None, orjson.dumps(status), 0)
    apply(index, fleet, T.TELEMETRY, None, orjson.dumps(
        {"event": "breaker", "backend": "b", "state": "open", "reason": "x"}), 1)
    apply(index, fleet, T.TELEMETRY, None, b"not json", 2)
    apply(index, fleet, T.PREDICTOR_CHANGELOG, b"other", b"zzz", 3)
    assert fleet.snapshot is None
    apply(index, fleet, T.PREDICTOR_CHANGELOG, SNAPSHOT_KEY, b"pickle", 4)
    assert (fleet.snapshot, fleet.snapshot_offset) == (b"pickle", 4)
    assert fleet.pending_jobs("b") == 7 and fleet.device_up("b") is False
    assert fleet.breaker_state("b") == "open" and fleet.breaker_state("other") == "closed"
    assert fleet.calibration_age_s("b", now_s=1060.0) == pytest.approx(160.0)
    assert fleet.pending_jobs("other") is None and fleet.calibration_age_s("other") is None


def test_parse_task_fills_in_schema_and_id_and_keeps_given_ones() -> None:
    message, task = parse_task(orjson.dumps({**TASK, "task_id": "mine"}), max_bytes=10_000)
    assert task.task_id == "mine" and message["schema"] == "qstream.task.v1"
    with pytest.raises(ValidationError, match="limit is 10") as err:
        parse_task(orjson.dumps(TASK), max_bytes=10)
    assert err.value.reason == "too_large"


def test_planner_restores_the_workers_snapshot_and_predicts_with_it() -> None:
    from qstream.backends.fleet import fleet_specs
    from qstream.config import WorkerConfig
    from qstream.core.observation import ExecutionObservation
    from qstream.core.predictor import Predictor
    from qstream.gateway.estimate import REFERENCE_SHOTS, Planner

    config = WorkerConfig(fleet=("cpu_statevector", "braket_local"))
    specs = fleet_specs(config.fleet)
    planner, fleet = Planner(config, specs), FleetState()
    cpu = specs[0]
    before = planner.reference_prediction(cpu, fleet)["run_s"]
    learned = Predictor(specs)
    for _ in range(20):  # the CPU backend turned out 10x slower than its prior
        learned.learn(ExecutionObservation(cpu.name, planner.reference, REFERENCE_SHOTS, 0,
                                           queue_s=0.0, run_s=10 * before, error=0.0,
                                           price_usd=0.0))
    fleet.feed_snapshot(SNAPSHOT_KEY, learned.snapshot(), 7)
    asyncio.run(planner.refresh(fleet))
    info = planner.info(fleet)
    assert (info.source, info.observations) == ("snapshot", 20)
    assert planner.reference_prediction(cpu, fleet)["run_s"] > 3 * before
    fleet.feed_snapshot(SNAPSHOT_KEY, b"not a pickle", 8)  # a bad snapshot keeps the last good
    asyncio.run(planner.refresh(fleet))
    assert planner.info(fleet).observations == 20
