"""Reallocate agent in process: moves and hedges published and traced; standby does nothing."""

from __future__ import annotations

from helpers import harness, run, task
from qstream.agents import reallocate

from qstream.core.scheduler import Hedge, Reallocation
from qstream.stream import topics as T

FLEET = ("cpu_statevector", "braket_local")


def _placed(h):
    run(h.deliver(h.produce(T.TASKS, task(task_id="t1"), key="t1")))
    run(h.deliver(h.records(T.SUBTASKS)[0]))
    sid = h.records(T.SUBTASKS)[0].decoded()["subtask_id"]
    return h.rt.ledger.subtask(sid)


def test_a_move_is_published_once_with_its_costs() -> None:
    h, _ = harness(with_executor=False, fleet=FLEET)
    subtask = _placed(h)
    move = Reallocation(subtask.subtask_id, "t1", "cpu_statevector", "braket_local", 2.0, 1.0,
                        "cheaper", 0.0)
    moves = [[move], []]
    h.rt.scheduler.reallocate = lambda now_s: moves.pop(0)
    assert run(reallocate.reallocate_now(h.rt)) == 1
    assert run(reallocate.reallocate_now(h.rt)) == 0
    [sent] = h.sent(T.REALLOCATIONS)
    assert (sent["subtask_id"], sent["from_backend"], sent["to_backend"]) == (
        subtask.subtask_id, "cpu_statevector", "braket_local")
    assert (sent["old_cost"], sent["new_cost"], sent["reason"]) == (2.0, 1.0, "cheaper")
    assert h.rt.metrics.reallocations == 1


def test_a_hedge_sends_a_backup_copy_as_the_next_attempt() -> None:
    h, _ = harness(with_executor=False, fleet=FLEET)
    subtask = _placed(h)
    hedge = Hedge(subtask, "cpu_statevector", "braket_local", 5.0, 1.0, "straggler: slow", 0.0)
    h.rt.scheduler.hedge = lambda now_s: [hedge]
    run(reallocate.reallocate_now(h.rt))
    [copy] = h.sent(T.exec_topic("braket_local"))
    assert copy["subtask_id"] == subtask.subtask_id and copy["attempt"] == 1
    assert h.rt.ledger.attempt(subtask.subtask_id) == 1
    assert h.sent(T.REALLOCATIONS)[0]["reason"].startswith("straggler:")
    assert h.rt.metrics.hedges == 1


def test_the_timer_of_a_standby_worker_does_nothing() -> None:
    h, _ = harness(with_executor=False, fleet=FLEET)
    calls: list[float] = []
    h.rt.scheduler.reallocate = lambda now_s: calls.append(now_s) or []
    h.rt.owner = False
    run(reallocate.tick(h.rt))
    assert calls == []
    h.rt.owner = True
    run(reallocate.tick(h.rt))
    assert len(calls) == 1


def test_after_an_execution_a_slow_recent_pass_is_not_repeated() -> None:
    import time

    h, _ = harness(with_executor=False, fleet=FLEET)
    calls: list[float] = []

    def slow_pass(now_s: float) -> list[Reallocation]:
        calls.append(now_s)
        time.sleep(reallocate.SLOW_PASS_S * 2)
        return []

    h.rt.scheduler.reallocate = slow_pass
    run(reallocate.after_execution(h.rt))            # no pass yet: runs
    run(reallocate.after_execution(h.rt))            # slow and recent: skipped
    assert len(calls) == 1
    started, took_s = h.rt.realloc_pass
    assert took_s >= reallocate.SLOW_PASS_S
    h.rt.realloc_pass = (started - took_s / reallocate.MAX_SHARE, took_s)
    run(reallocate.after_execution(h.rt))            # long enough ago: runs
    run(reallocate.reallocate_now(h.rt))             # the periodic pass never skips
    assert len(calls) == 3
    h.rt.realloc_pass = (time.perf_counter(), reallocate.SLOW_PASS_S / 2)
    run(reallocate.after_execution(h.rt))            # a fast pass always runs again
    assert len(calls) == 4
