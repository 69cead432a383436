"""Execute agent: one per backend, ``qstream.exec.<backend>`` -> run -> telemetry + result.

Simulation runs in the backend's process pool (``Backend.execute`` awaits it), never
in the event loop. Concurrency per backend equals its credit capacity.

Each execution runs as an asyncio task registered in ``rt.executions``, so a stop
request (:mod:`qstream.stream.stops`: a cancelled task, an abandoned copy) can
cancel it; the agent then answers with a ``cancel`` telemetry event and sends no
result. A released record of work already stopped is skipped the same way.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from typing import Any

from opentelemetry import trace
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from qstream.backends.base import Backend, ExecutionRequest, ExecutionResult
from qstream.errors import QStreamError, TransientBackendError, ValidationError
from qstream.stream import codec
from qstream.stream import topics as T
from qstream.stream.agent_spec import Agent, Timer
from qstream.stream.runtime import Runtime
from qstream.stream.stops import Execution

log = logging.getLogger("qstream.agents.execute")


def _seed(base: int, subtask_id: str, attempt: int) -> int:
    digest = hashlib.blake2b(f"{base}/{subtask_id}/{attempt}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def execution_event(data: dict[str, Any], backend: str, result: ExecutionResult | None,
                    error: str | None, wall_s: float, pending_jobs: int) -> dict[str, Any]:
    """The ``execution`` telemetry event of one attempt (successful or not)."""
    return {
        "schema": "qstream.telemetry.v1", "event": "execution", "at": time.time(),
        "backend": backend, "subtask_id": data["subtask_id"], "task_id": data["task_id"],
        "attempt": int(data.get("attempt", 0)), "shots": int(data["shots"]),
        "success": result is not None,
        "queue_s": result.queue_s if result else 0.0,
        "run_s": result.run_s if result else 0.0,
        "price_usd": result.price_usd if result else 0.0,
        "esp": result.esp if result else 0.0,
        "quality": result.quality if result else None,
        "pending_jobs": result.pending_jobs if result else pending_jobs,
        "features": data["features"], "error": error, "predicted": None, "wall_s": wall_s,
        "sim_method": result.sim_method if result else None,
        "tenant": data.get("tenant") or "default",
    }


def retry_event(request: ExecutionRequest, backend: str, retry: int, error: str,
                wait_s: float) -> dict[str, Any]:
    """The ``retry`` telemetry event: try ``retry`` (1-based) failed, the next follows in ``wait_s``."""
    return {
        "schema": "qstream.telemetry.v1", "event": "retry", "at": time.time(),
        "backend": backend, "subtask_id": request.subtask_id, "task_id": request.task_id,
        "attempt": request.attempt, "retry": retry, "error": error, "wait_s": wait_s,
    }


async def execute_with_retries(rt: Runtime, backend: Backend,
                               request: ExecutionRequest) -> ExecutionResult:
    """``backend.execute(request)``, retried on :class:`TransientBackendError` (tenacity).

    Up to ``retry_attempts`` tries with exponential backoff and jitter (wall
    seconds, see :class:`~qstream.config.WorkerConfig`); each retry is published as
    a ``retry`` telemetry event. The last error is raised with the number of tries.
    """
    cfg = rt.config
    name = backend.spec.name

    async def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait_s = state.next_action.sleep if state.next_action is not None else 0.0
        log.info("retrying %s on %s in %.3f s: %s", request.subtask_id, name, wait_s, exc)
        await rt.outbox.send(T.TELEMETRY, request.task_id, retry_event(
            request, name, state.attempt_number, f"{name}: {exc}", float(wait_s)))

    retrying = AsyncRetrying(
        stop=stop_after_attempt(cfg.retry_attempts),
        wait=wait_exponential_jitter(multiplier=cfg.retry_initial_s, max=cfg.retry_max_s,
                                     jitter=cfg.retry_initial_s),
        retry=retry_if_exception_type(TransientBackendError),
        before_sleep=before_sleep, reraise=True)
    tries = 0
    try:
        async for attempt in retrying:
            with attempt:
                tries += 1
                return await backend.execute(request)
    except TransientBackendError as exc:
        if tries > 1:
            raise TransientBackendError(f"{exc} (after {tries} tries)") from exc
        raise
    raise AssertionError("unreachable: tenacity either returns or raises")


def subtask_result(data: dict[str, Any], result: ExecutionResult) -> dict[str, Any]:
    """The ``qstream.subtask_result.v1`` of one successful execution (``sim_method``: the
    classical simulation method that produced the counts, None on a real device)."""
    return {
        "schema": "qstream.subtask_result.v1", "subtask_id": data["subtask_id"],
        "task_id": data["task_id"], "circuit_index": int(data["circuit_index"]),
        "circuit_name": data["circuit_name"], "attempt": int(data.get("attempt", 0)),
        "backend": result.backend, "status": "completed", "shots": result.shots,
        "counts": result.counts,
        "metrics": {"queue_s": result.queue_s, "run_s": result.run_s,
                    "price_usd": result.price_usd, "esp": result.esp,
                    "quality": result.quality},
        "readout": [list(pair) for pair in result.readout] if result.readout else None,
        "physical_qubits": result.physical_qubits, "error": None,
        "sim_method": result.sim_method,
    }


async def handle(rt: Runtime, backend: Backend, message: Any) -> None:
    try:
        data = codec.decode(message.value, expected="qstream.subtask.v1")
    except ValidationError as exc:
        await rt.outbox.send_dlq(reason=exc.reason, error=str(exc), message=message)
        return
    name = backend.spec.name
    request = ExecutionRequest(
        subtask_id=data["subtask_id"], task_id=data["task_id"],
        attempt=int(data.get("attempt", 0)), qasm=data["qasm"], shots=int(data["shots"]),
        seed=_seed(rt.config.seed, data["subtask_id"], int(data.get("attempt", 0))),
    )
    trace.get_current_span().set_attributes({
        "qstream.subtask_id": request.subtask_id, "qstream.task_id": request.task_id,
        "qstream.attempt": request.attempt, "qstream.backend": name})
    stop = rt.executions.request_for(request.task_id, request.subtask_id, name)
    if stop is not None:  # released before its task was cancelled or its copy abandoned
        await rt.outbox.send(T.TELEMETRY, request.task_id, stopped_event(
            stop, request, name, stopped=0, message="skipped: stopped before it started"))
        return
    started = time.perf_counter()
    pending_jobs = backend.pending_jobs()
    job = asyncio.ensure_future(execute_with_retries(rt, backend, request))
    execution = Execution(request.task_id, request.subtask_id, name, request.attempt, job)
    rt.executions.start(execution)
    try:
        result = await job
    except asyncio.CancelledError:
        trace.get_current_span().set_attribute("qstream.cancelled", True)
        current = asyncio.current_task()
        if execution.stopped_by is None or (current is not None and current.cancelling()):
            raise  # this handler itself is cancelled (the worker stops)
        stoppable = bool(getattr(backend, "stoppable", lambda: False)())
        log.info("stopped %s on %s after %.2f s", request.subtask_id, name,
                 time.perf_counter() - started)
        await rt.outbox.send(T.TELEMETRY, request.task_id, stopped_event(
            execution.stopped_by, request, name, stopped=int(stoppable),
            message=(f"stopped the running execution on {name}" if stoppable else
                     f"{name} cannot stop a running job; its result is discarded")))
        return
    except Exception as exc:  # the sub-task must be requeued whatever broke
        error = f"{name}: {exc}" if isinstance(exc, QStreamError) else \
            f"{name}: {type(exc).__name__}: {exc}"
        log.warning("execution failed: %s", error)
        trace.get_current_span().set_attribute("qstream.error", error)
        await rt.outbox.send(T.TELEMETRY, request.task_id, execution_event(
            data, name, None, error, time.perf_counter() - started, pending_jobs))
        return
    finally:
        rt.executions.finish(execution)
    wall_s = time.perf_counter() - started
    trace.get_current_span().set_attributes({
        "qstream.backend": result.backend, "qstream.shots": result.shots,
        "qstream.queue_s": result.queue_s, "qstream.run_s": result.run_s,
        "qstream.price_usd": result.price_usd, "qstream.wall_s": wall_s,
        "qstream.sim_method": result.sim_method or ""})
    # The result goes out before the telemetry that frees the credit, so the
    # post-process agent never sees a task finish with a part missing.
    await rt.outbox.send(T.SUBTASK_RESULTS, request.task_id, subtask_result(data, result))
    await rt.outbox.send(T.TELEMETRY, request.task_id,
                  execution_event(data, name, result, None, wall_s, pending_jobs))


def stopped_event(stop: dict[str, Any], request: ExecutionRequest, backend: str, *,
                  stopped: int, message: str) -> dict[str, Any]:
    """The executor's ``cancel`` telemetry event for one execution a stop request covered.

    ``stopped`` 1: the run was stopped on its backend; 0: it was not (skipped before it
    started, or the backend cannot stop it: then ``discarded`` is 1).
    """
    event: dict[str, Any] = {
        "schema": "qstream.telemetry.v1", "event": "cancel", "at": time.time(),
        "task_id": request.task_id, "outcome": stop["outcome"],
        "subtask_id": request.subtask_id, "backend": backend, "stopped": stopped,
        "discarded": 0 if stopped or "skipped" in message else 1, "message": message}
    if stop.get("request_id"):
        event["request_id"] = stop["request_id"]
    return event


def status_event(backend: Backend) -> dict[str, Any]:
    """The ``backend_status`` event; ``calibration_age_s`` and ``calibration`` (the
    published snapshot's medians) only for a calibrated backend.

    A device replaying calibration drift reports the age on its emulated clock
    (``calibration_age_s()``); others the wall age of their snapshot's date. The
    pipeline worker learns each new snapshot from ``calibration``
    (:func:`qstream.agents.learn.on_status`), as qstream would from IBM's
    ``backend.properties()``.
    """
    event: dict[str, Any] = {
        "schema": "qstream.telemetry.v1", "event": "backend_status", "at": time.time(),
        "backend": backend.spec.name, "pending_jobs": int(backend.pending_jobs()),
        "operational": bool(backend.operational()),
    }
    calibration = backend.spec.calibration
    age = getattr(backend, "calibration_age_s", None)
    age_s = age() if age is not None else None
    if age_s is not None:
        event["calibration_age_s"] = max(0.0, float(age_s))
    elif calibration is not None and calibration.updated_at_s > 0:  # 0: date unknown
        event["calibration_age_s"] = max(0.0, event["at"] - calibration.updated_at_s)
    if calibration is not None:
        event["calibration"] = calibration.to_dict()
    return event


def agents(backends: dict[str, Backend]) -> list[Agent]:
    """One execute agent per backend (on its exec topic, ``capacity`` records at once)."""
    return [Agent(f"qstream.agents.execute.{backend.spec.name}", T.exec_topic(name),
                  functools.partial(_handle_on, backend), f"execute on {backend.spec.name}",
                  concurrency=backend.spec.capacity)
            for name, backend in backends.items()]


async def _handle_on(backend: Backend, rt: Runtime, message: Any) -> None:
    await handle(rt, backend, message)


def status_timer(backends: dict[str, Backend]) -> Timer:
    """The timer publishing every backend's ``backend_status`` event."""
    async def publish_status(rt: Runtime) -> None:
        for backend in backends.values():
            await rt.outbox.send(T.TELEMETRY, None, status_event(backend))

    return Timer("qstream.agents.execute.status", lambda config: config.status_interval_s,
                 publish_status)
