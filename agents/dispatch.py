"""Dispatch agent: ``qstream.subtasks`` -> score every capable backend -> queue -> release.

The scheduler keeps unreleased sub-tasks pending in qstream and releases one to a
backend's exec topic only when that backend has a free credit, so pending work
can still be reallocated when predictions change.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from qstream.core.scheduler import Decision
from qstream.core.subtask import SubTask
from qstream.errors import BudgetError, CapacityError, ValidationError
from qstream.stream import budgets, codec
from qstream.stream import topics as T
from qstream.stream.agent_spec import Agent
from qstream.stream.runtime import Runtime

log = logging.getLogger("qstream.agents.dispatch")


def decision_event(decision: Decision) -> dict[str, Any]:
    """The ``dispatch`` telemetry event for one decision."""
    return {
        "schema": "qstream.telemetry.v1", "event": "dispatch", "at": time.time(),
        "subtask_id": decision.subtask.subtask_id, "task_id": decision.subtask.task_id,
        "backend": decision.backend, "decision_latency_ms": decision.decision_latency_ms,
        "split_of": decision.split_of,
        "scores": [
            {"backend": s.backend, "total": s.total, "time": s.terms.time,
             "error": s.terms.error, "cost": s.terms.cost,
             "queue_s": s.prediction.queue_s, "run_s": s.prediction.run_s,
             "wait_s": s.wait_s, "price_usd": s.prediction.price_usd,
             "error_rate": s.prediction.error}
            for s in decision.scores
        ],
    }


def decision_attributes(decision: Decision) -> dict[str, Any]:
    """Span attributes of one decision: chosen backend, its predictions and cost terms."""
    attrs: dict[str, Any] = {
        "qstream.subtask_id": decision.subtask.subtask_id,
        "qstream.task_id": decision.subtask.task_id,
        "qstream.backend": decision.backend, "qstream.shots": decision.subtask.shots,
        "qstream.decision_latency_ms": decision.decision_latency_ms,
        "qstream.candidates": len(decision.scores),
    }
    if decision.split_of is not None:
        attrs["qstream.split_of"] = decision.split_of
    chosen = next((s for s in decision.scores if s.backend == decision.backend), None)
    if chosen is not None:
        p = chosen.prediction
        attrs.update({
            "qstream.predicted.queue_s": p.queue_s, "qstream.predicted.run_s": p.run_s,
            "qstream.predicted.wait_s": chosen.wait_s, "qstream.predicted.error": p.error,
            "qstream.predicted.price_usd": p.price_usd,
            "qstream.cost.time": chosen.terms.time, "qstream.cost.error": chosen.terms.error,
            "qstream.cost.cost": chosen.terms.cost, "qstream.cost.total": chosen.total,
        })
    return attrs


def decide_span(rt: Runtime, decision: Decision) -> otel_context.Context:
    """Record ``decision`` as a ``qstream.decide`` child of the current (process) span.

    Returns the context of that span: the sub-task's release, reallocations and
    hedges are traced under it.
    """
    if not trace.get_current_span().is_recording():
        return otel_context.get_current()  # tracing off: skip building the attributes
    end_ns = time.time_ns()
    start_ns = end_ns - int(decision.decision_latency_ms * 1e6)
    span = rt.tracer.start_span("qstream.decide", start_time=start_ns,
                                attributes=decision_attributes(decision))
    span.end(end_time=end_ns)
    return trace.set_span_in_context(span)


async def handle(rt: Runtime, message: Any) -> None:
    try:
        subtask = codec.decode_subtask(message.value)
    except ValidationError as exc:
        await rt.outbox.send_dlq(reason=exc.reason, error=str(exc), message=message)
        return
    if rt.ledger.subtask(subtask.subtask_id) is not None:
        return  # redelivered: already placed
    record = rt.ledger.task_record(subtask.task_id)
    if record is None or record["state"] != "active":
        return  # redelivered after its task finished (or of a task never accepted)
    try:
        decisions = rt.scheduler.submit(subtask, rt.now_s())
    except BudgetError as exc:
        budgets.note_task(rt, subtask.task_id, fail_reason=budgets.BUDGET)
        await fail_task(rt, subtask, str(exc))
        return
    except CapacityError as exc:
        await fail_task(rt, subtask, str(exc))
        return
    for decision in decisions:
        rt.ledger.track(decision.subtask).trace_context = decide_span(rt, decision)
        rt.metrics.decisions += 1
        rt.metrics.decision_latency_ms.append(decision.decision_latency_ms)
        await rt.outbox.send(T.TELEMETRY, subtask.task_id, decision_event(decision))
    await rt.release()


async def fail_task(rt: Runtime, subtask: SubTask, error: str) -> None:
    """Report a sub-task that no backend can run; the post-process agent fails the task."""
    await rt.outbox.send(T.SUBTASK_RESULTS, subtask.task_id, {
        "schema": "qstream.subtask_result.v1", "subtask_id": subtask.subtask_id,
        "task_id": subtask.task_id, "circuit_index": subtask.circuit_index,
        "circuit_name": subtask.circuit_name, "attempt": rt.ledger.attempt(subtask.subtask_id),
        "backend": "none", "status": "failed", "shots": 0, "counts": {},
        "metrics": {"queue_s": 0.0, "run_s": 0.0, "price_usd": 0.0, "esp": 0.0,
                    "quality": None},
        "error": error,
    })


AGENT = Agent("qstream.agents.dispatch", T.SUBTASKS, handle, "dispatch")
