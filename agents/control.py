"""Control agent: ``qstream.control`` -> cancel a task, answer with a ``cancel`` event.

A ``qstream.control.v1`` record with ``action: cancel`` (from ``qstream cancel``, the
gateway's ``DELETE /v1/tasks/{id}``, or any Kafka client) ends an active task:

- a **circuit task**: its pending sub-tasks are withdrawn from the scheduler, its
  in-flight ones are stopped (a stop request, :mod:`qstream.stream.stops`; a
  backend that cannot stop has its result discarded, since post-processing drops
  parts of tasks that are no longer active), and it gets exactly one result with
  status ``cancelled``: the circuits that had completed, the spend so far;
- a **problem task** (a hybrid loop, :mod:`qstream.agents.workflow`): the loop stops
  where it is (a step result arriving later is ignored), the current step's circuit
  task is withdrawn and stopped like the above, a running classical solve is
  cancelled (its pool process is terminated), and the result holds the spend of the
  steps so far.

The result goes out through the write-ahead :meth:`Outbox.publish_result`, so it
holds across a worker crash. Before anything else the request is noted on the
task's durable record (:meth:`TaskLedger.mark_cancelling`): a successor that
restored the task as active finishes a noted cancel (:func:`resume`), and the
control record, redelivered because it was not committed, cancels an un-noted one;
a successor that finds the result recorded settles it (recovery) and a redelivered
request is answered ``already_finished``. Every request is answered on ``qstream.telemetry`` with a
``cancel`` event: ``cancelled``, ``already_finished`` (nothing changed) or
``unknown_task`` (nothing changed).

Runs on the owner of the control topics (``qstream.control`` has 1 partition, so
it is co-partitioned with the scheduler's topics).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import trace

from qstream.core.assembly import cancelled_result, mark_cancelled
from qstream.errors import ValidationError
from qstream.stream import budgets, codec, ledger
from qstream.stream import topics as T
from qstream.stream.agent_spec import Agent
from qstream.stream.crash_points import crash_point
from qstream.stream.ledger import EARLY_CANCEL_TTL_S
from qstream.stream.messages import failed_result
from qstream.stream.runtime import Runtime
from qstream.stream.stops import stop_request

log = logging.getLogger("qstream.agents.control")


def answer(request: dict[str, Any], outcome: str, message: str, **counts: int) -> dict[str, Any]:
    """The ``cancel`` telemetry event answering ``request`` (a ``qstream.control.v1``)."""
    event: dict[str, Any] = {"schema": "qstream.telemetry.v1", "event": "cancel",
                             "at": time.time(), "task_id": request["task_id"],
                             "outcome": outcome, "message": message, **counts}
    if request.get("request_id"):
        event["request_id"] = request["request_id"]
    return event


def who_and_why(request: dict[str, Any]) -> str:
    """``cancelled by WHO: WHY`` for the result's error."""
    who = request.get("requested_by") or "an unnamed client"
    return f"cancelled by {who}: {request.get('reason') or 'no reason given'}"


async def handle(rt: Runtime, message: Any) -> None:
    try:
        request = codec.decode(message.value, expected="qstream.control.v1")
    except ValidationError as exc:
        await rt.outbox.send_dlq(reason="control", error=str(exc), message=message)
        return
    task_id = request["task_id"]
    trace.get_current_span().set_attributes({"qstream.task_id": task_id,
                                             "qstream.control.action": request["action"]})
    record = rt.ledger.task_record(task_id)
    if record is not None and record.get("parent"):
        # A loop step's circuit task: cancelling it cancels its problem task.
        task_id = record["parent"]
        request = {**request, "task_id": task_id}
        record = rt.ledger.task_record(task_id)
    if record is None or record["state"] == "cancel_requested":
        # It may still be on its way (qstream.tasks is another topic): remembered a while.
        rt.ledger.note_early_cancel(task_id, request)
        event = answer(request, "unknown_task", (
            f"no task {task_id!r} is known; nothing changed. If it arrives within "
            f"{EARLY_CANCEL_TTL_S:.0f} s it is cancelled on arrival"))
    elif record["state"] != "active":
        status = record.get("status") or (record.get("result") or {}).get("status") or "finished"
        event = answer(request, "already_finished",
                       f"task {task_id!r} already has its result ({status}); nothing changed")
    else:
        # Write-ahead: once the note is in the changelog, a successor finishes the cancel
        # even if this record's offset was committed (Faust has been seen to do so).
        rt.ledger.mark_cancelling(task_id, request)
        await rt.outbox.producer.flush()
        crash_point("cancel-received")
        event = await carry_out(rt, task_id, record, request)
    log.info("cancel %s: %s", task_id, event["message"])
    await rt.outbox.send(T.TELEMETRY, task_id, event)


async def carry_out(rt: Runtime, task_id: str, record: dict[str, Any],
                    request: dict[str, Any]) -> dict[str, Any]:
    """Cancel the active task ``task_id`` (circuit or problem task); return the answer."""
    if record.get("workflow"):
        return await cancel_workflow(rt, task_id, request)
    return await cancel_circuit_task(rt, task_id, record, request)


async def resume(rt: Runtime) -> None:
    """After a takeover: finish every cancel a crashed owner had noted but not published."""
    for task_id, record in rt.ledger.tasks_in_state("active").items():
        request = record.get("cancel")
        if request:
            log.warning("finishing the cancel of %s after a takeover", task_id)
            event = await carry_out(rt, task_id, record, request)
            await rt.outbox.send(T.TELEMETRY, task_id, event)


def _parts_of(rt: Runtime, task_id: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The task's pending sub-task ids and in-flight ``(backend, subtask_id)`` pairs."""
    pending = [sid for ids in rt.scheduler.pending().values() for sid in ids
               if ledger.task_of(sid) == task_id]
    in_flight = [(b, sid) for b, ids in rt.scheduler.in_flight().items() for sid in ids
                 if ledger.task_of(sid) == task_id]
    return pending, in_flight


async def withdraw(rt: Runtime, task_id: str, request: dict[str, Any]) -> dict[str, int]:
    """Stop a circuit task's in-flight executions; count what gets withdrawn.

    The pending sub-tasks leave the scheduler when the task is forgotten (after its
    result is recorded). Returns ``withdrawn`` (pending), ``stopped`` (in-flight
    executions stopped in this process) and ``discarded`` (in-flight copies left to
    executors elsewhere or to backends that cannot stop: their results are dropped).
    """
    pending, in_flight = _parts_of(rt, task_id)
    stopped = 0
    if in_flight:
        stopped = await rt.request_stop(stop_request(
            task_id, "cancelled", message=who_and_why(request),
            request_id=request.get("request_id")))
    return {"withdrawn": len(pending), "stopped": stopped,
            "discarded": max(len(in_flight) - stopped, 0)}


def _summary(counts: dict[str, int]) -> str:
    return (f"withdrew {counts['withdrawn']} pending sub-tasks, stopped {counts['stopped']} "
            f"running executions, discarded {counts['discarded']}")


async def cancel_circuit_task(rt: Runtime, task_id: str, record: dict[str, Any],
                              request: dict[str, Any]) -> dict[str, Any]:
    """Cancel an active circuit task and publish its one ``cancelled`` result."""
    assembly = rt.ledger.assemblies.get(task_id)
    if assembly is None and record.get("plan"):
        assembly = ledger.assembly_from_plan(record["plan"])  # its plan is still on its way
        for part in rt.ledger.orphan_parts.get(task_id, []):
            ledger.apply_part(assembly, part)
    counts = await withdraw(rt, task_id, request)
    error = f"{who_and_why(request)}; {_summary(counts)}"
    now = time.time()
    result = (cancelled_result(assembly, now, error) if assembly is not None else
              mark_cancelled(failed_result(task_id, error), error))
    # Tenant and budget metrics; the spend is the larger of the parts' and the recorded one.
    budgets.stamp(rt, result, record, spent_usd=rt.scheduler.spent_usd(task_id))
    # Publish first (as post-processing does): its parts may only go once the result is
    # recorded. A crash before this line redoes it all on the redelivered record.
    await rt.outbox.publish_result(result)
    rt.ledger.assemblies.pop(task_id, None)
    rt.ledger.orphan_parts.pop(task_id, None)
    rt.forget_task(task_id, cancel=True)
    return answer(request, "cancelled", f"task {task_id!r} cancelled: {_summary(counts)}; "
                  f"{len(result['results'])} completed circuits kept, "
                  f"{result['metrics']['cost_usd']:.6g} USD spent", **counts)


async def cancel_workflow(rt: Runtime, task_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """Stop an active problem task's loop and publish its one ``cancelled`` result."""
    from . import workflow
    from . import workflow_moves as moves

    state = rt.workflows.get(task_id)
    counts = {"withdrawn": 0, "stopped": 0, "discarded": 0}
    if state is None:  # not started yet: its start event will find it answered
        error = f"{who_and_why(request)}; the loop had not started"
        result = mark_cancelled(failed_result(task_id, error), error)
        budgets.stamp(rt, result, rt.ledger.task_record(task_id))
        await rt.outbox.publish_result(result)
        return answer(request, "cancelled", f"task {task_id!r} cancelled before its loop "
                      "started", **counts)
    if state.phase == "publishing":  # its answer is being published: let it finish
        await workflow.publish(rt, state)
        return answer(request, "already_finished",
                      f"task {task_id!r} already has its answer; nothing changed")
    step = state.step_task_id()
    step_record = rt.ledger.task_record(step)
    if step_record is not None and step_record["state"] == "active":
        counts = await withdraw(rt, step, request)
        assembly = rt.ledger.assemblies.get(step)
        if assembly is not None:  # the parts of the step that did run were paid for
            state.spent_usd += float(assembly.result(time.time())["metrics"]["cost_usd"])
        moves.retire_step(rt, step)
    solve = rt.workflows.solves.get(step)
    if solve is not None and not solve.done():
        solve.cancel()  # the classical solve's pool process is terminated
        counts["stopped"] += 1
    error = (f"{who_and_why(request)}; the {state.algorithm or 'selected'} loop stopped at "
             f"step {state.step} (iteration {state.iteration}); {_summary(counts)}")
    result = workflow.problem_result(task_id, error=error, metrics=workflow.metrics_of(state),
                                     now_s=time.time())
    state.answer = mark_cancelled(result, error)
    state.phase = "publishing"
    rt.workflows.put(state)
    await workflow.publish(rt, state)
    return answer(request, "cancelled", f"task {task_id!r} cancelled at step {state.step}: "
                  f"{_summary(counts)}; {state.spent_usd:.6g} USD spent", **counts)


async def cancel_on_arrival(rt: Runtime, task_id: str, record: dict[str, Any], source: str,
                            *, tenant: str, budget_usd: float | None,
                            cloudevent: dict[str, str] | None) -> None:
    """Answer a task whose cancel request came before it (a ``cancel_requested`` note):
    one ``cancelled`` result, nothing run."""
    request = record["cancel"]
    error = f"{who_and_why(request)}; cancelled on arrival (the request came first)"
    result = mark_cancelled(failed_result(task_id, error), error)
    budgets.stamp(rt, result, None, tenant=tenant, budget_usd=budget_usd)
    await rt.outbox.publish_result(result, source=source, cloudevent=cloudevent)
    await rt.outbox.send(T.TELEMETRY, task_id, answer(
        request, "cancelled", f"task {task_id!r} cancelled on arrival",
        withdrawn=0, stopped=0, discarded=0))


AGENT = Agent("qstream.agents.control", T.CONTROL, handle, "control")
