"""Learn agent: ``qstream.telemetry`` -> update the River models, free credits, release.

Every ``execution`` event is one labelled example for the queue-wait, run-time,
error and price models (test-then-train: the residual is taken before learning).
A ``backend_status`` event carrying a new calibration snapshot (a drifting device's
new day) replaces the backend's spec in the scheduler and predictor
(:func:`learn_calibration`). Every execution also feeds the backend's online anomaly
detectors (:func:`watch`, :mod:`qstream.core.anomaly`); a sustained anomaly is published
as an ``anomaly`` event and lowers the backend's placement or opens its breaker
(:func:`act`). The predictor is snapshotted to a changelog-backed Faust table every
``snapshot_every`` events, so learned state survives a worker restart.
A failed execution (after the execute agent's retries) feeds the backend's circuit
breaker, returns its credit and the sub-task fails over to the next-best backend
(a ``failover`` telemetry event); when none is left, the task fails with every
backend's reason.

Every execution's ``price_usd`` is its task's and its tenant's actual spend
(:func:`qstream.stream.budgets.record_spend`); when it takes the task past its
budget, nothing more of the task is started and the task fails with reason
``budget`` (:func:`stop_over_budget`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from qstream.core.ahmo import Outcome
from qstream.core.anomaly import Anomaly, lowered_spec
from qstream.core.backend_spec import CalibrationSummary
from qstream.core.features import CircuitFeatures
from qstream.core.observation import ExecutionObservation
from qstream.errors import (
    BudgetError,
    CapacityError,
    ConfigError,
    SchedulerLookupError,
    ValidationError,
)
from qstream.stream import budgets, codec
from qstream.stream import topics as T
from qstream.stream.agent_spec import Agent
from qstream.stream.runtime import Runtime

from . import dispatch, reallocate

log = logging.getLogger("qstream.agents.learn")


def observation(event: dict[str, Any], at_s: float) -> ExecutionObservation:
    quality = event.get("quality")
    error = 1.0 - (quality if quality is not None else event["esp"])
    return ExecutionObservation(
        backend=event["backend"], features=CircuitFeatures.from_dict(event["features"]),
        shots=int(event["shots"]), pending_jobs=int(event["pending_jobs"]),
        queue_s=float(event["queue_s"]), run_s=float(event["run_s"]),
        error=min(max(error, 0.0), 1.0), price_usd=float(event["price_usd"]), at_s=at_s,
    )


async def on_execution(rt: Runtime, event: dict[str, Any]) -> None:
    subtask_id = event["subtask_id"]
    attempt_key = f"{subtask_id}#{event['attempt']}"
    if attempt_key in rt.seen_executions:
        return  # redelivered telemetry: learn from each attempt once
    rt.seen_executions[attempt_key] = None
    while len(rt.seen_executions) > 100_000:
        rt.seen_executions.popitem(last=False)
    now_s = rt.now_s()
    if budgets.record_spend(rt, event):
        await stop_over_budget(rt, event)
    if event["success"]:
        found: tuple[list[Anomaly], float | None] = ([], None)
        if event["backend"] in rt.spec_by_name:
            try:
                obs = observation(event, now_s)
                found = watch(rt, obs)
                rt.predictor.learn(obs)
            except (ValidationError, ConfigError) as exc:
                log.warning("not learning from %s: %s", subtask_id, exc)
            else:
                rt.metrics.learned += 1
                if rt.metrics.learned % rt.config.snapshot_every == 0:
                    rt.save_snapshot()
                observe = getattr(rt.policy, "observe", None)
                if observe is not None:  # ahmo's bandit: credit the arm that placed it
                    observe(subtask_id, Outcome(time_s=obs.queue_s + obs.run_s,
                                                error=obs.error, price_usd=obs.price_usd))
        losers = rt.scheduler.complete(subtask_id, now_s, backend=event["backend"])
        # A half-open breaker closes on this success only if the detectors (which just
        # scored it) no longer flag the backend.
        await rt.health.record_outcome(event["backend"], True, rt.scheduler,
                                       flagged=rt.anomalies.holds_breaker(event["backend"]))
        await act(rt, *found)
        if losers:
            log.info("%s finished on %s first; stopping its copies on %s",
                     subtask_id, event["backend"], ", ".join(losers))
            await rt.stop_abandoned(subtask_id, event["task_id"], losers,
                                    f"{subtask_id} finished on {event['backend']} first")
        elif subtask_id in rt.resent:
            # Sent again after a takeover: the other copy may still be running.
            await rt.stop_abandoned(subtask_id, event["task_id"], None,
                                    f"{subtask_id} finished; its other copy is not needed")
        rt.resent.discard(subtask_id)
    else:
        await rt.health.record_outcome(event["backend"], False, rt.scheduler)
        if event["backend"] in rt.spec_by_name:
            await act(rt, rt.anomalies.observe(event["backend"], success=False, at_s=now_s),
                      None)
        await on_failure(rt, event, now_s)
    await reallocate.after_execution(rt)
    await rt.release()


def watch(rt: Runtime, obs: ExecutionObservation) -> tuple[list[Anomaly], float | None]:
    """Feed one successful execution's residuals against the predictors (taken before
    they learn from it) to the backend's anomaly detectors; return what they found and
    the predicted error (for :func:`act`)."""
    spec = rt.spec_by_name[obs.backend]
    pred = rt.predictor.predict(spec, obs.features, obs.shots, obs.pending_jobs)
    return rt.anomalies.observe_execution(obs, pred), pred.error


async def act(rt: Runtime, found: list[Anomaly], predicted_error: float | None) -> None:
    """Publish each anomaly as an ``anomaly`` telemetry event and apply its action.

    - ``lower_placement`` (an ``error`` anomaly, suspected drift): the backend's spec
      gets its calibrated errors inflated (:func:`~qstream.core.anomaly.lowered_spec`,
      what the observed excess error says), so its ESP prior, its error predictions
      and its placement drop until it publishes a new calibration
      (:func:`learn_calibration`).
    - ``open_breaker`` (run time, queue wait, failures): its circuit breaker opens
      (:meth:`FleetHealth.trip`), which publishes a ``breaker`` event; it half-opens
      after its cooldown and closes on a successful probe only once the detectors no
      longer flag the backend (:meth:`FleetMonitor.holds_breaker`).

    The simulator applies the same actions (:mod:`qstream.sim.engine`).
    """
    for a in found:
        event: dict[str, Any] = {
            "schema": "qstream.telemetry.v1", "event": "anomaly", "at": time.time(),
            "backend": a.backend, "signal": a.signal, "score": a.score, "action": a.action,
            "evidence": a.evidence()}
        if a.action == "lower_placement":
            lowered = lowered_spec(rt.spec_by_name[a.backend], a, predicted_error)
            if lowered is not None:
                spec, event["factor"] = lowered
                rt.spec_by_name[a.backend] = spec
                rt.scheduler.update_spec(spec)
        log.warning("anomaly on %s: %s z=%.1f (%s)", a.backend, a.signal, a.score, a.action)
        await rt.outbox.send(T.TELEMETRY, None, event)
        if a.action == "open_breaker":
            await rt.health.trip(a.backend, f"anomaly: {a.signal} z={a.score:.1f}", rt.scheduler)


async def on_failure(rt: Runtime, event: dict[str, Any], now_s: float) -> None:
    subtask_id = event["subtask_id"]
    subtask = rt.ledger.subtask(subtask_id)
    if subtask is None:
        return  # not ours (another scheduler's), or already finished
    backend = event["backend"]
    attempt_key = f"{backend}#{event['attempt']}"
    record = rt.ledger.record(subtask_id)
    if attempt_key in record.failed_attempts:
        return  # redelivered after a failover: this failure was already handled
    record.failed_attempts.append(attempt_key)
    rt.ledger.changed.add(subtask_id)
    error = event.get("error") or f"{backend}: execution failed"
    tried = record.failed_backends
    tried.append(backend)
    reasons = record.failure_reasons
    reasons.append(error)
    if rt.scheduler.fail_copy(subtask_id, backend, now_s):
        return  # a hedge copy of it is still running elsewhere
    record.attempt += 1
    try:
        decision = rt.scheduler.requeue(subtask_id, now_s, exclude=tried)
    except SchedulerLookupError:
        return  # neither pending nor in flight: a stale redelivery
    except CapacityError as exc:
        if isinstance(exc, BudgetError):
            budgets.note_task(rt, subtask.task_id, fail_reason=budgets.BUDGET)
        rt.scheduler.complete(subtask_id, now_s)
        await dispatch.fail_task(
            rt, subtask, f"sub-task {subtask_id!r} failed on every backend that can run it: "
                         f"{'; '.join(reasons)} ({exc})")
        return
    await rt.outbox.send(T.TELEMETRY, subtask.task_id, {
        "schema": "qstream.telemetry.v1", "event": "failover", "at": time.time(),
        "subtask_id": subtask_id, "task_id": subtask.task_id, "from_backend": backend,
        "to_backend": decision.backend, "error": error, "attempt": record.attempt})


async def stop_over_budget(rt: Runtime, event: dict[str, Any]) -> None:
    """Fail a task whose actual spend just passed its budget (reason ``budget``).

    The scheduler already releases none of its pending sub-tasks; the failed
    result withdraws them (:meth:`Runtime.forget_task` with ``cancel``).
    """
    task_id = str(event["task_id"])
    subtask = rt.ledger.subtask(str(event["subtask_id"])) or next(
        (s for sid in sorted(rt.ledger.task_subtasks.get(task_id, ()))
         if (s := rt.ledger.subtask(sid)) is not None), None)
    if subtask is None:
        return  # nothing of it is tracked here: its result is already settled
    log.warning("task %s went over its budget (spent %.4g USD)", task_id,
                rt.scheduler.spent_usd(task_id))
    budgets.note_task(rt, task_id, fail_reason=budgets.BUDGET)
    await dispatch.fail_task(rt, subtask, budgets.over_budget_message(
        rt, task_id, subtask.budget_usd))


def learn_calibration(rt: Runtime, backend: str, calibration: dict[str, Any] | None) -> bool:
    """Adopt a ``backend_status`` event's published calibration when it is new.

    The scheduler's spec (:meth:`Scheduler.update_spec`, which also hands it to the
    predictor) then carries it: ESP priors, error predictions and the cost function
    use the current snapshot. Returns whether the spec changed.
    """
    spec = rt.spec_by_name.get(backend)
    if spec is None or calibration is None or spec.calibration is None:
        return False
    try:
        new = CalibrationSummary(**{k: float(v) for k, v in calibration.items()})
    except TypeError as exc:
        log.warning("ignoring %s's calibration: %s", backend, exc)
        return False
    if new == rt.published_calibration.get(backend, spec.calibration):
        return False  # (a suspected drift's inflated errors stay until a new snapshot)
    rt.published_calibration[backend] = new
    spec = replace(spec, calibration=new)
    rt.spec_by_name[backend] = spec
    rt.scheduler.update_spec(spec)
    return True


async def on_status(rt: Runtime, event: dict[str, Any]) -> None:
    if event["backend"] in rt.spec_by_name:
        if learn_calibration(rt, event["backend"], event.get("calibration")):
            log.info("%s published a new calibration", event["backend"])
        rt.scheduler.set_pending_jobs(event["backend"], int(event["pending_jobs"]))
        # The device's own status AND its circuit breaker: a status report must not
        # undo an open breaker.
        await rt.health.set_device_up(event["backend"], bool(event["operational"]),
                                      rt.scheduler)


async def handle(rt: Runtime, message: Any) -> None:
    try:
        event = codec.decode(message.value, expected="qstream.telemetry.v1")
    except ValidationError as exc:
        await rt.outbox.send_dlq(reason=exc.reason, error=str(exc), message=message)
        return
    kind = event["event"]
    if kind == "execution":
        await on_execution(rt, event)
    elif kind == "backend_status":
        await on_status(rt, event)


AGENT = Agent("qstream.agents.learn", T.TELEMETRY, handle, "learn")
