"""Every pipeline agent driven in process, end to end: exactly one result per task."""

from __future__ import annotations

from helpers import harness, run, task
from qstream.agents import PIPELINE, TIMERS

from qstream.stream import topics as T

EXEC = T.exec_topic("cpu_statevector")


def test_agents_are_listed_once_each_on_their_topics() -> None:
    assert [a.topic for a in PIPELINE] == [T.TASKS, T.SUBTASKS, T.TELEMETRY, T.SUBTASK_RESULTS,
                                           T.WORKFLOW_EVENTS, T.CONTROL]
    assert len({t.name for t in TIMERS}) == len(TIMERS) == 3


def test_task_gets_exactly_one_result_even_when_a_subtask_result_is_redelivered() -> None:
    h, backend = harness()
    h.produce(T.TASKS, task(task_id="t1", shots=1000), key="t1")
    run(h.run())
    [result] = h.sent(T.RESULTS)
    assert result["task_id"] == "t1" and result["status"] == "completed"
    assert sum(result["results"][0]["counts"].values()) == 1000
    assert len(backend.requests) == len(h.sent(T.SUBTASKS))
    assert h.rt.ledger.task_record("t1")["state"] == "done"
    assert len(h.tables.parts) == 0 and len(h.tables.subtasks) == 0  # forgotten with the task
    assert h.rt.ledger.records == {} and h.rt.metrics.results_sent == 1
    # Redeliver every sub-task result and the task itself: nothing is published again.
    for record in h.records(T.SUBTASK_RESULTS) + h.records(T.TASKS):
        run(h.deliver(record))
    run(h.run())
    assert len(h.sent(T.RESULTS)) == 1 and h.sent(T.DLQ) == []


def test_two_tasks_each_get_one_result() -> None:
    h, _ = harness()
    h.produce(T.TASKS, task(task_id="a"), key="a")
    h.produce(T.TASKS, task(task_id="b", shots=500), key="b")
    run(h.run())
    assert sorted((r["task_id"], r["status"]) for r in h.sent(T.RESULTS)) == [
        ("a", "completed"), ("b", "completed")]


def test_a_worker_taking_over_restores_the_ledger_and_finishes_the_task() -> None:
    h, backend = harness()
    h.produce(T.TASKS, task(task_id="t1"), key="t1")
    # Partition and dispatch only: the sub-task is in flight when the worker dies.
    run(h.deliver(h.records(T.TASKS)[0]))
    for record in h.records(T.SUBTASKS):
        run(h.deliver(record))
    run(h.deliver(h.records(T.SUBTASK_RESULTS)[0]))  # the plan
    sid = h.records(T.SUBTASKS)[0].decoded()["subtask_id"]
    old = h.rt
    rt = h.restart()
    assert rt is not old and rt.owner and rt.metrics.recoveries == 1
    assert rt.ledger.subtask(sid) is not None and "t1" in rt.ledger.assemblies
    assert sid in rt.scheduler.in_flight()["cpu_statevector"]
    run(h.run())  # the exec record is still undelivered: it runs on the new worker
    assert [r["status"] for r in h.sent(T.RESULTS)] == ["completed"]
    assert len(backend.requests) == 1
