"""The HTTP routes of ``qstream gateway`` (FastAPI): tasks, events, cancel, backends, estimate.

=========================================  =================================================
route                                      answer
=========================================  =================================================
``POST /v1/tasks``                         202 ``{"task_id"}`` after the broker's ack; 4xx
                                           ``{"reason", "error"}`` (DLQ reasons) and nothing
                                           published; 409 ``duplicate`` for a known id
``GET /v1/tasks/{task_id}``                status, result, event counts and the last events
``GET /v1/tasks/{task_id}/events``         Server-Sent Events: replay, then live, until the
                                           result
``DELETE /v1/tasks/{task_id}``             202 ``cancelling`` (a ``qstream.control.v1``
                                           record); 404 unknown, 409 finished
``GET /v1/backends``                       the fleet, live state, reference predictions
``POST /v1/estimate``                      per sub-task and backend: predictions, cost,
                                           the choice; publishes nothing
``POST /``                                 the CloudEvents HTTP binding (binary or
                                           structured): a ``dev.qstream.task.submitted``
                                           event is taken like ``POST /v1/tasks``
``GET /healthz``, ``GET /readyz``          process up; producer connected and index caught up
=========================================  =================================================

Status codes of rejected input: 400 for a body that is not a JSON object (``json``,
``utf8``, ``not_object``), 413 ``too_large``, 422 for everything else.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse

from qstream.errors import (
    BrokerError,
    CapacityError,
    CircuitError,
    CloudEventError,
    EstimateError,
    TaskConflictError,
    TaskContentError,
    UnknownTaskError,
    ValidationError,
)
from qstream.gateway import models as M
from qstream.gateway.estimate import REFERENCE_QASM, REFERENCE_SHOTS
from qstream.gateway.service import Gateway
from qstream.gateway.view import Event, TaskView
from qstream.stream import cloudevents

LAST_EVENTS = 10
"""Events shown in ``GET /v1/tasks/{task_id}`` (all of them: ``/events``)."""

_BAD_BODY = frozenset({"json", "utf8", "not_object"})
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": M.ErrorBody} for code in (400, 404, 409, 413, 422, 503)}


def _error(code: int, reason: str, error: str, status: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"reason": reason, "error": error}
    if status is not None:
        body["status"] = status
    return JSONResponse(body, status_code=code)


def _rejected(exc: Exception) -> JSONResponse:
    """The 4xx answer of input the partition agent would send to the DLQ."""
    if isinstance(exc, ValidationError):
        code = 400 if exc.reason in _BAD_BODY else 413 if exc.reason == "too_large" else 422
        return _error(code, exc.reason, str(exc))
    if isinstance(exc, TaskContentError):
        return _error(422, exc.reason, str(exc))
    if isinstance(exc, CircuitError):
        return _error(422, "invalid_qasm", str(exc))
    if isinstance(exc, CapacityError):
        return _error(422, "capacity", str(exc))
    raise exc


def _event(e: Event) -> dict[str, Any]:
    return {"seq": e.seq, "kind": e.kind, "message": e.message}


def _status(view: TaskView) -> dict[str, Any]:
    return {"task_id": view.task_id, "status": view.status, "result": view.result,
            "reason": view.reason, "error": view.error,
            "events": {"counts": dict(view.counts),
                       "last": [_event(e) for e in list(view.events)[-LAST_EVENTS:]]}}


def create_app(gateway: Gateway) -> FastAPI:
    """The FastAPI app over ``gateway``; its lifespan starts and stops the Kafka clients."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(title="qstream gateway", version="1",
                  summary="Submit, follow, cancel and estimate qstream tasks over HTTP; "
                          "every answer comes from Kafka.", lifespan=lifespan)
    app.state.gateway = gateway

    @app.exception_handler(BrokerError)
    async def broker_down(request: Request, exc: BrokerError) -> JSONResponse:
        return _error(503, "broker", str(exc))

    @app.get("/healthz", response_model=M.Probe, response_model_exclude_none=True,
             tags=["probes"])
    async def healthz() -> dict[str, Any]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=M.Probe, responses={503: {"model": M.Probe}},
             tags=["probes"])
    async def readyz() -> Any:
        """The producer is connected and the task index has caught up with the topics."""
        body = {"status": "ok" if gateway.ready else "not_ready",
                "producer": gateway.client is not None,
                "caught_up": gateway.follower.caught_up.is_set(),
                "records": gateway.follower.records, "tasks": len(gateway.index)}
        return body if gateway.ready else JSONResponse(body, status_code=503)

    @app.post("/v1/tasks", status_code=202, response_model=M.Accepted, responses=_ERRORS,
              openapi_extra={"requestBody": M.task_request_body()}, tags=["tasks"])
    async def submit(request: Request) -> Any:
        """Submit a qstream.task.v1 task; ``task_id`` is generated when absent."""
        if not gateway.follower.caught_up.is_set():
            return _error(503, "not_ready", "the gateway is still reading the topics; retry")
        body = await request.body()
        try:
            task_id = await gateway.submit(body)
        except TaskConflictError as exc:
            return _error(409, exc.reason, str(exc), exc.status)
        except (ValidationError, TaskContentError, CircuitError, CapacityError) as exc:
            return _rejected(exc)
        return {"task_id": task_id}

    @app.post("/", status_code=202, response_model=M.Accepted, responses=_ERRORS,
              tags=["tasks"])
    async def submit_cloudevent(request: Request) -> Any:
        """CloudEvents HTTP binding: a ``dev.qstream.task.submitted`` event (binary mode:
        ``ce-`` headers and the task as the body; structured mode:
        ``application/cloudevents+json``) whose data is a qstream.task.v1. A task without
        ``task_id`` takes the event's ``id``; its result carries CloudEvent headers."""
        if not gateway.follower.caught_up.is_set():
            return _error(503, "not_ready", "the gateway is still reading the topics; retry")
        body = await request.body()
        limit = gateway.config.limits.max_message_bytes
        if len(body) > limit:
            return _error(413, "too_large", f"message is {len(body)} bytes; the limit is {limit}")
        try:
            event, _ = cloudevents.from_http(dict(request.headers), body)
            raw, origin = cloudevents.task_from_event(event, "http")
        except CloudEventError as exc:
            return _error(400, exc.reason, str(exc))
        try:
            task_id = await gateway.submit(raw, headers=cloudevents.submission_headers(origin))
        except TaskConflictError as exc:
            return _error(409, exc.reason, str(exc), exc.status)
        except (ValidationError, TaskContentError, CircuitError, CapacityError) as exc:
            return _rejected(exc)
        return {"task_id": task_id}

    def lookup(task_id: str) -> TaskView | JSONResponse:
        try:
            return gateway.view(task_id)
        except UnknownTaskError as exc:
            if not gateway.follower.caught_up.is_set():
                return _error(503, "not_ready", "the gateway is still reading the topics; "
                                                f"task {task_id!r} may exist; retry")
            return _error(404, "not_found", str(exc))

    @app.get("/v1/tasks/{task_id}", response_model=M.TaskStatus, responses=_ERRORS,
             tags=["tasks"])
    async def get_task(task_id: str) -> Any:
        """The task's status, result (when there is one) and events."""
        view = lookup(task_id)
        return view if isinstance(view, JSONResponse) else _status(view)

    @app.get("/v1/tasks/{task_id}/events", responses={
        **_ERRORS, 200: {"content": {"text/event-stream": {}},
                         "description": "Server-Sent Events; `event` is the kind, `data` the "
                                        "JSON message; the stream ends after `result`."}},
             tags=["tasks"])
    async def task_events(task_id: str) -> Any:
        """Dispatches, executions, reallocations, cancel events and the result, as SSE."""
        view = lookup(task_id)
        if isinstance(view, JSONResponse):
            return view
        known, queue = gateway.index.subscribe(task_id)

        async def stream() -> AsyncIterator[dict[str, Any]]:
            try:
                last = 0
                for e in known:
                    last = e.seq
                    yield {"event": e.kind, "id": str(e.seq), "data": orjson.dumps(e.message).decode()}
                    if e.kind == "result":
                        return
                while True:
                    e = await queue.get()
                    if e.seq <= last:
                        continue
                    yield {"event": e.kind, "id": str(e.seq), "data": orjson.dumps(e.message).decode()}
                    if e.kind == "result":
                        return
            finally:
                gateway.index.unsubscribe(task_id, queue)

        return EventSourceResponse(stream(), ping=15)

    @app.delete("/v1/tasks/{task_id}", status_code=202, response_model=M.CancelAccepted,
                responses=_ERRORS, tags=["tasks"])
    async def cancel(task_id: str) -> Any:
        """Ask the worker to cancel the task (a qstream.control.v1 record on qstream.control)."""
        view = lookup(task_id)
        if isinstance(view, JSONResponse):
            return view
        try:
            request_id = await gateway.cancel(task_id)
        except TaskConflictError as exc:
            return _error(409, exc.reason, str(exc), exc.status)
        return {"task_id": task_id, "request_id": request_id, "status": "cancelling"}

    @app.get("/v1/backends", response_model=M.BackendsOut, tags=["fleet"])
    async def backends() -> dict[str, Any]:
        """The fleet with its live state and the predicted queue wait and run time of a
        reference circuit (2-qubit Bell, 1000 shots)."""
        planner, fleet = gateway.planner, gateway.fleet
        await planner.refresh(fleet)
        now = time.time()
        out = []
        for spec in planner.specs:
            up = fleet.device_up(spec.name)
            breaker = fleet.breaker_state(spec.name)
            status = fleet.status.get(spec.name)
            out.append({
                "name": spec.name, "kind": spec.kind, "qubits": spec.num_qubits,
                "max_shots": spec.max_shots, "breaker": breaker,
                "operational": None if up is None else (up and breaker != "open"),
                "calibration_age_s": fleet.calibration_age_s(spec.name, now),
                "pending_jobs": fleet.pending_jobs(spec.name),
                "status_at": status.get("at") if status is not None else None,
                "reference": planner.reference_prediction(spec, fleet)})
        return {"reference_circuit": REFERENCE_QASM, "reference_shots": REFERENCE_SHOTS,
                "predictor": planner.info(fleet).to_dict(), "backends": out}

    @app.post("/v1/estimate", response_model=M.EstimateOut, responses=_ERRORS,
              openapi_extra={"requestBody": M.task_request_body()}, tags=["fleet"])
    async def estimate(request: Request) -> Any:
        """Predicted queue wait, run time, error, price and cost per capable backend, and
        the choice qstream would make now; publishes nothing."""
        from qstream.gateway.service import parse_task

        body = await request.body()
        try:
            _, task = parse_task(body, max_bytes=gateway.config.limits.max_message_bytes)
            return await gateway.planner.estimate(task, gateway.fleet)
        except EstimateError as exc:
            return _error(422, "unsupported", str(exc))
        except (ValidationError, TaskContentError, CircuitError, CapacityError) as exc:
            return _rejected(exc)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                                 routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                M.task_components())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
