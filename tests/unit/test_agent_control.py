"""Cancel in process: the control agent, stop requests, the execute agent's stops.

Every path ends in exactly one result per task; the answers are ``cancel`` events.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from helpers import FakeBackend, config, harness, run, task
from test_agent_workflow import RING6, problem_task, statevector_harness

from qstream.backends.base import ExecutionRequest, ExecutionResult
from qstream.backends.fleet import fleet_specs
from qstream.stream import codec, stops
from qstream.stream import topics as T
from qstream.stream.testing import Harness

BACKEND = "cpu_statevector"
EXEC = T.exec_topic(BACKEND)


def control(task_id: str, **extra: Any) -> dict[str, Any]:
    return {"schema": "qstream.control.v1", "action": "cancel", "task_id": task_id,
            "requested_by": "ann", "reason": "too slow", "request_id": f"r-{task_id}", **extra}


def answers(h: Harness, task_id: str) -> list[dict[str, Any]]:
    """The control agent's answers (the ``cancel`` events without a sub-task)."""
    return [e for e in h.sent(T.TELEMETRY)
            if e["event"] == "cancel" and e["task_id"] == task_id and e.get("subtask_id") is None]


def circuits(n: int) -> list[dict[str, Any]]:
    qasm = task()["circuits"][0]["qasm"]
    return [{"name": f"c{i}", "qasm": qasm} for i in range(n)]


@dataclass
class BlockingBackend(FakeBackend):
    """Answers at once for the circuits in ``fast``; the others run until cancelled."""

    fast: set[int] = field(default_factory=set)
    started: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        if int(request.subtask_id.rsplit("/c", 1)[1].split("/")[0]) in self.fast:
            return await super().execute(request)
        self.started.append(request.subtask_id)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(request.subtask_id)
            raise
        raise AssertionError("unreachable")


def blocking_harness(fast: set[int]) -> tuple[Harness, BlockingBackend]:
    cfg = config()
    specs = fleet_specs(cfg.fleet)
    backend = BlockingBackend(specs[0], fast=fast)
    return Harness(cfg, specs, backends={BACKEND: backend}), backend


async def run_until_blocked(h: Harness, backend: BlockingBackend, n: int) -> list[asyncio.Task]:
    """Deliver records; exec records run as background tasks (they block)."""
    running: list[asyncio.Task] = []
    for _ in range(100):
        progressed = False
        for topic in list(h.agents):
            records = h.broker[topic].records
            while h.cursor.get(topic, 0) < len(records):
                record = records[h.cursor.get(topic, 0)]
                if topic == EXEC:
                    h.cursor[topic] = record.offset + 1
                    running.append(asyncio.ensure_future(h.deliver(record)))
                    await asyncio.sleep(0)
                else:
                    await h.deliver(record)
                progressed = True
        if not progressed and len(backend.started) >= n:
            return running
        await asyncio.sleep(0)
    raise AssertionError(f"only {len(backend.started)} of {n} executions started")


def test_cancel_withdraws_pending_subtasks_and_gives_one_cancelled_result() -> None:
    h, _backend = harness(with_executor=False)  # exec records pile up: nothing runs
    h.produce(T.TASKS, {**task(task_id="t1"), "circuits": circuits(6)}, key="t1")
    run(h.run())
    pending = [s for ids in h.rt.scheduler.pending().values() for s in ids]
    in_flight = [s for ids in h.rt.scheduler.in_flight().values() for s in ids]
    assert pending and in_flight
    h.produce(T.CONTROL, control("t1"), key="t1")
    run(h.run())
    [result] = h.sent(T.RESULTS)
    codec.validate(result)
    assert result["status"] == "cancelled" and result["reason"] == "cancelled"
    assert result["results"] == [] and result["metrics"]["cost_usd"] == 0.0
    assert "cancelled by ann: too slow" in result["error"]
    assert f"withdrew {len(pending)} pending" in result["error"]
    [event] = answers(h, "t1")
    assert event["outcome"] == "cancelled" and event["request_id"] == "r-t1"
    assert (event["withdrawn"], event["stopped"], event["discarded"]) == (
        len(pending), 0, len(in_flight))
    # Nothing of the task is left in the scheduler; a stop request went to the executors.
    assert not any(h.rt.scheduler.pending().values())
    assert not any(h.rt.scheduler.in_flight().values())
    [stop] = h.sent(T.STOPS)
    assert stop["outcome"] == "cancelled" and stop["task_id"] == "t1"
    # A late result of a copy that ran anyway is dropped: still one result.
    h.produce(T.SUBTASK_RESULTS, {
        "schema": "qstream.subtask_result.v1", "subtask_id": in_flight[0], "task_id": "t1",
        "circuit_index": 0, "circuit_name": "c0", "attempt": 0, "backend": BACKEND,
        "status": "completed", "shots": 1000, "counts": {"00": 1000},
        "metrics": {"queue_s": 0.0, "run_s": 0.1, "price_usd": 0.0, "esp": 1.0, "quality": None},
        "error": None})
    run(h.run())
    assert len(h.sent(T.RESULTS)) == 1 and h.sent(T.DLQ) == []
    assert len(h.tables.subtasks) == 0 and len(h.tables.parts) == 0


def test_cancel_stops_the_running_execution_and_keeps_the_completed_circuits() -> None:
    h, backend = blocking_harness(fast={0})

    async def go() -> list[asyncio.Task]:
        h.produce(T.TASKS, {**task(task_id="t2"), "circuits": circuits(2)}, key="t2")
        running = await run_until_blocked(h, backend, 1)
        h.produce(T.CONTROL, control("t2"), key="t2")
        await h.run()
        await asyncio.wait_for(asyncio.gather(*running), 5)
        await h.run()
        return running

    run(go())
    assert backend.cancelled == backend.started and len(backend.started) == 1
    [result] = h.sent(T.RESULTS)
    codec.validate(result)
    assert result["status"] == "cancelled"
    assert [r["name"] for r in result["results"]] == ["c0"]
    assert sum(result["results"][0]["counts"].values()) == 1000
    assert result["metrics"]["cost_usd"] > 0.0  # the completed circuit was paid for
    [event] = answers(h, "t2")
    assert event["outcome"] == "cancelled" and event["stopped"] == 1 and event["discarded"] == 0
    # The executor answered for the execution it stopped, and sent no sub-task result.
    [stopped] = [e for e in h.sent(T.TELEMETRY) if e["event"] == "cancel" and e.get("subtask_id")]
    assert stopped["subtask_id"] == backend.started[0] and stopped["stopped"] == 1
    assert [r["subtask_id"] for r in h.sent(T.SUBTASK_RESULTS)
            if r.get("schema") == "qstream.subtask_result.v1"] == ["t2/c0/s0"]


def test_finished_and_unknown_tasks_are_answered_and_left_alone() -> None:
    h, _ = harness()
    h.produce(T.TASKS, task(task_id="done1"), key="done1")
    run(h.run())
    before = h.rt.ledger.task_record("done1")
    h.produce(T.CONTROL, control("done1"), key="done1")
    h.produce(T.CONTROL, control("nope"), key="nope")
    run(h.run())
    assert [r["status"] for r in h.sent(T.RESULTS)] == ["completed"]
    assert h.rt.ledger.task_record("done1") == before
    [finished] = answers(h, "done1")
    [unknown] = answers(h, "nope")
    assert finished["outcome"] == "already_finished" and "completed" in finished["message"]
    assert unknown["outcome"] == "unknown_task" and unknown["request_id"] == "r-nope"
    assert h.sent(T.STOPS) == []


def test_bad_control_records_go_to_the_dlq_with_reason_control() -> None:
    h, _ = harness()
    h.produce(T.CONTROL, {"schema": "qstream.control.v1", "action": "pause", "task_id": "x"})
    run(h.run())
    assert [e["reason"] for e in h.sent(T.DLQ)] == ["control"]


def test_a_redelivered_cancel_after_a_takeover_changes_nothing() -> None:
    h, _ = harness(with_executor=False)
    h.produce(T.TASKS, {**task(task_id="t3"), "circuits": circuits(4)}, key="t3")
    run(h.run())
    record = h.produce(T.CONTROL, control("t3"), key="t3")
    run(h.run())
    rt = h.restart()  # its offset was not committed: the record comes again
    assert not any(rt.scheduler.pending().values()) and not any(rt.scheduler.in_flight().values())
    run(h.deliver(record))
    run(h.run())
    assert [r["status"] for r in h.sent(T.RESULTS)] == ["cancelled"]
    assert [e["outcome"] for e in answers(h, "t3")] == ["cancelled", "already_finished"]


def test_stop_requests_cover_tasks_sub_tasks_and_backends() -> None:
    ex = stops.Executions()

    async def go() -> list[str]:
        jobs = {key: asyncio.ensure_future(asyncio.Event().wait())
                for key in ("a/c0/s0@x", "a/c1/s0@x", "b/c0/s0@x", "b/c0/s0@y")}
        for key, job in jobs.items():
            sid, backend = key.split("@")
            ex.start(stops.Execution(sid.split("/")[0], sid, backend, 0, job))
        ex.stop(stops.stop_request("b", "abandoned_copy", subtask_id="b/c0/s0", backend="y",
                                   message="lost"))
        ex.stop(stops.stop_request("a", "cancelled", message="cancelled"))
        ex.stop(stops.stop_request("a", "cancelled", message="again"))  # idempotent
        await asyncio.sleep(0)
        for job in jobs.values():
            job.cancel()
        return sorted(e.subtask_id + "@" + e.backend for e in ex.running()
                      if e.stopped_by is not None)

    assert run(go()) == ["a/c0/s0@x", "a/c1/s0@x", "b/c0/s0@y"]
    # Records released later are covered too (the execute agent skips them).
    assert ex.request_for("a", "a/c9/s0", "x")["outcome"] == "cancelled"
    assert ex.request_for("b", "b/c0/s0", "x") is None
    assert ex.request_for("b", "b/c0/s0", "y")["outcome"] == "abandoned_copy"


def test_an_exec_record_of_a_cancelled_task_is_skipped_by_the_executor() -> None:
    h, backend = harness()
    h.rt.executions.stop(stops.stop_request("t4", "cancelled", message="cancelled"))
    h.produce(EXEC, {**task(), "schema": "qstream.subtask.v1"}, key="t4")  # not even decoded
    sub = {"schema": "qstream.subtask.v1", "subtask_id": "t4/c0/s0", "task_id": "t4",
           "circuit_index": 0, "circuit_name": "c0", "qasm": task()["circuits"][0]["qasm"],
           "shots": 10, "backend": BACKEND, "attempt": 0, "released_at": 1.0,
           "features": _features()}
    h.produce(EXEC, sub, key="t4")
    run(h.run())
    assert backend.requests == []
    [event] = [e for e in h.sent(T.TELEMETRY) if e["event"] == "cancel"]
    assert event["subtask_id"] == "t4/c0/s0" and event["stopped"] == 0
    assert "skipped" in event["message"]


def _features() -> dict[str, Any]:
    h, _ = harness(with_executor=False)
    h.produce(T.TASKS, task(task_id="f"), key="f")
    run(h.run())
    return h.sent(T.SUBTASKS)[0]["features"]


def test_a_resent_copy_is_stopped_once_the_sub_task_finished() -> None:
    h, _ = harness()
    h.produce(T.TASKS, task(task_id="t5"), key="t5")
    run(h.deliver(h.records(T.TASKS)[0]))
    for record in h.records(T.SUBTASKS):
        run(h.deliver(record))
    [sid] = [s for ids in h.rt.scheduler.in_flight().values() for s in ids]
    h.rt.resent.add(sid)  # as after a takeover (Runtime.resend_in_flight)
    run(h.run())
    assert [r["status"] for r in h.sent(T.RESULTS)] == ["completed"]
    [stop] = h.sent(T.STOPS)
    assert stop["outcome"] == "abandoned_copy" and stop["subtask_id"] == sid
    assert sid not in h.rt.resent


def test_cancelling_a_hybrid_loop_stops_it_with_the_spend_so_far() -> None:
    h = statevector_harness()
    h.produce(T.TASKS, problem_task("q9", RING6, algorithms=["qaoa"], max_iterations=30),
              key="q9")

    async def go() -> None:
        for _ in range(5000):  # run until two iterations are done
            state = h.rt.workflows.get("q9")
            if state is not None and state.iteration >= 2:
                break
            for topic in list(h.agents):
                records = h.broker[topic].records
                if h.cursor.get(topic, 0) < len(records):
                    await h.deliver(records[h.cursor.get(topic, 0)])
                    break
        h.produce(T.CONTROL, control("q9"), key="q9")
        await h.run()

    asyncio.run(go())
    [result] = h.sent(T.RESULTS)
    codec.validate(result)
    assert result["status"] == "cancelled" and result["reason"] == "cancelled"
    assert "loop stopped at step" in result["error"] and "cancelled by ann" in result["error"]
    assert result["metrics"]["cost_usd"] >= 0.0 and "solution" not in result
    iterations = [e["iteration"] for e in h.sent(T.TELEMETRY) if e["event"] == "iteration"]
    assert 2 <= len(iterations) < 30  # it stopped: no iteration after the cancel
    assert h.rt.workflows.get("q9") is None
    assert not any(h.rt.scheduler.pending().values())
    assert [e["outcome"] for e in answers(h, "q9")] == ["cancelled"]


def test_cancelling_a_running_classical_solve_cancels_it() -> None:
    h = Harness(config(), fleet_specs(config().fleet), classical_pool=ThreadPoolExecutor(1))
    h.produce(T.TASKS, problem_task("s1", {"kind": "maxcut", "num_nodes": 14, "edges": [
        [i, j] for i in range(14) for j in range(i + 1, 14)]}, algorithms=["exact"]), key="s1")

    async def go() -> bool:
        await h.run()
        solves = list(h.rt.workflows.solves.values())
        assert solves, "no classical solve started"
        h.produce(T.CONTROL, control("s1"), key="s1")
        await h.run()
        await asyncio.sleep(0)
        return all(s.cancelled() for s in solves)

    assert run(go())
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "cancelled"
    [event] = answers(h, "s1")
    assert event["stopped"] == 1


def test_the_losing_copy_of_a_hedge_is_stopped_when_the_other_copy_wins() -> None:
    from qstream.core.scheduler import Hedge

    cfg = config(fleet=("cpu_statevector", "braket_local"))
    specs = fleet_specs(cfg.fleet)
    backends = {s.name: BlockingBackend(s) for s in specs}
    h = Harness(cfg, specs, backends=backends)

    async def go() -> tuple[str, str, str]:
        await h.deliver(h.produce(T.TASKS, task(task_id="hx"), key="hx"))
        await h.deliver(h.records(T.SUBTASKS)[0])
        [(home, [sid])] = [(b, ids) for b, ids in h.rt.scheduler.in_flight().items() if ids]
        other = next(name for name in backends if name != home)
        backends[other].fast = {0}  # the backup copy answers at once; the original blocks
        [record] = h.records(T.exec_topic(home))
        h.cursor[record.topic] = record.offset + 1
        original = asyncio.ensure_future(h.deliver(record))
        while not backends[home].started:
            await asyncio.sleep(0)
        # What Scheduler.hedge records for a straggler (a copy in flight elsewhere).
        entry = h.rt.scheduler._ledger.entries[sid]
        h.rt.scheduler._ledger.add_copy(entry, other, h.rt.now_s())
        await h.rt.start_hedges([Hedge(entry.subtask, home, other, 5.0, 1.0, "straggler: slow",
                                       0.0)])
        await h.run()
        await asyncio.wait_for(original, 5)
        return home, other, sid

    home, other, sid = run(go())
    assert backends[home].cancelled == [sid]
    assert [r.subtask_id for r in backends[other].requests] == [sid]  # the winner
    assert [r["status"] for r in h.sent(T.RESULTS)] == ["completed"]
    [event] = [e for e in h.sent(T.TELEMETRY) if e["event"] == "cancel"]
    assert (event["outcome"], event["subtask_id"], event["backend"], event["stopped"]) == (
        "abandoned_copy", sid, home, 1)
    [stop] = h.sent(T.STOPS)
    assert stop["backend"] == home and stop["outcome"] == "abandoned_copy"


class _Killed(BaseException):
    """Stands in for the SIGKILL of crash point ``cancel-received``."""


def test_a_noted_cancel_is_finished_by_the_successor_without_the_control_record(
        monkeypatch) -> None:
    from qstream.agents import control as control_agent

    from qstream.stream import recovery

    h, _ = harness(with_executor=False)
    h.produce(T.TASKS, {**task(task_id="t6"), "circuits": circuits(4)}, key="t6")
    run(h.run())

    def die(name: str) -> None:
        raise _Killed(name)

    monkeypatch.setattr(control_agent, "crash_point", die)
    record = h.produce(T.CONTROL, control("t6"), key="t6")
    h.cursor[T.CONTROL] = record.offset + 1  # its offset was committed anyway
    try:
        run(h.deliver(record))
    except _Killed:
        pass
    else:
        raise AssertionError("the crash point was not passed")
    assert h.sent(T.RESULTS) == [] and h.rt.ledger.task_record("t6")["cancel"]["task_id"] == "t6"
    monkeypatch.undo()
    rt = h.restart()
    run(recovery.finish_recovery(rt))
    run(h.run())
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "cancelled" and "cancelled by ann" in result["error"]
    assert [e["outcome"] for e in answers(h, "t6")] == ["cancelled"]
    assert not any(rt.scheduler.pending().values()) and not any(rt.scheduler.in_flight().values())


def test_a_cancel_consumed_before_its_task_cancels_the_task_on_arrival() -> None:
    # qstream.control and qstream.tasks are separate topics: the cancel can come first.
    h, backend = harness()
    h.produce(T.CONTROL, control("early"), key="early")
    run(h.run())
    [unknown] = answers(h, "early")
    assert unknown["outcome"] == "unknown_task" and "cancelled on arrival" in unknown["message"]
    assert h.sent(T.RESULTS) == []
    h.produce(T.TASKS, task(task_id="early", tenant="lab"), key="early")
    run(h.run())
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "cancelled" and result["reason"] == "cancelled"
    assert "cancelled by ann: too slow" in result["error"] and result["tenant"] == "lab"
    assert result["metrics"]["cost_usd"] == 0.0 and backend.requests == []
    assert h.sent(T.SUBTASKS) == []
    assert [a["outcome"] for a in answers(h, "early")] == ["unknown_task", "cancelled"]
    # A redelivered task record is recognised: still one result.
    run(h.deliver(h.records(T.TASKS)[0]))
    assert len(h.sent(T.RESULTS)) == 1


def test_an_early_cancel_note_is_pruned_after_its_ttl() -> None:
    import time

    from qstream.stream import recovery
    from qstream.stream.ledger import EARLY_CANCEL_TTL_S

    h, _ = harness()
    h.produce(T.CONTROL, control("typo"), key="typo")
    run(h.run())
    assert h.rt.ledger.task_record("typo")["state"] == "cancel_requested"
    assert recovery.prune_done(h.rt, time.time()) == 0
    assert recovery.prune_done(h.rt, time.time() + EARLY_CANCEL_TTL_S + 1) == 1
    assert h.rt.ledger.task_record("typo") is None
    h.produce(T.TASKS, task(task_id="typo"), key="typo")  # too late: it runs
    run(h.run())
    assert [r["status"] for r in h.sent(T.RESULTS)] == ["completed"]
