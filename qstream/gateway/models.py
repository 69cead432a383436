"""The gateway's response bodies (pydantic models, hence the OpenAPI document), and the
``qstream.task.v1`` JSON Schema bundled as the request body of ``POST /v1/tasks``.

Units follow the rest of qstream: ``_s`` seconds, ``_usd`` US dollars, ``error`` a
probability in [0, 1] (1 - estimated success probability).
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from qstream.stream.codec import load_schema

Status = Literal["accepted", "running", "completed", "failed", "cancelled"]


class ErrorBody(BaseModel):
    """Every 4xx/5xx body: a machine ``reason`` (the DLQ reasons for rejected input, or
    ``not_found``, ``finished``, ``not_ready``, ``broker``, ``unsupported``) and a message."""

    reason: str
    error: str
    status: Status | None = Field(None, description="The task's status, where one is known.")


class Accepted(BaseModel):
    task_id: str


class EventOut(BaseModel):
    """One record about a task: ``kind`` is a telemetry event (``dispatch``, ``execution``,
    ``retry``, ``failover``, ``cancel``, ...), ``reallocation``, ``control``, ``dlq`` or
    ``result``; ``seq`` orders the events this gateway has seen."""

    seq: int
    kind: str
    message: dict[str, Any]


class EventsSummary(BaseModel):
    counts: dict[str, int] = Field(description="Events seen per kind.")
    last: list[EventOut] = Field(description="The last few events, oldest first.")


class TaskStatus(BaseModel):
    task_id: str
    status: Status
    result: dict[str, Any] | None = Field(description="The qstream.result.v1 message, or null.")
    reason: str | None = Field(None, description="Machine reason of a failure or cancellation.")
    error: str | None = None
    events: EventsSummary


class CancelAccepted(BaseModel):
    task_id: str
    request_id: str
    status: Literal["cancelling"]


class Probe(BaseModel):
    status: Literal["ok", "not_ready"]
    producer: bool | None = None
    caught_up: bool | None = None
    records: int | None = None
    tasks: int | None = None


class Prediction(BaseModel):
    queue_s: float
    run_s: float
    error: float
    price_usd: float


class PredictorInfo(BaseModel):
    source: Literal["snapshot", "priors"]
    observations: int
    note: str


class BackendOut(BaseModel):
    name: str
    kind: str
    qubits: int
    max_shots: int
    breaker: str = Field(description="closed | open | half_open (latest breaker event; "
                                     "closed when none was seen)")
    operational: bool | None = Field(description="Device up (latest backend_status) and "
                                                 "breaker not open; null if no status yet.")
    calibration_age_s: float | None
    pending_jobs: int | None = Field(description="External jobs queued on the device "
                                                 "(latest backend_status).")
    status_at: float | None = Field(description="Epoch seconds of the latest backend_status.")
    reference: Prediction = Field(description="Predicted queue wait, run time, error and price "
                                              "of the reference circuit.")


class BackendsOut(BaseModel):
    reference_circuit: str = Field(description="OpenQASM of the reference circuit.")
    reference_shots: int
    predictor: PredictorInfo
    backends: list[BackendOut]


class CostOut(BaseModel):
    time: float
    error: float
    cost: float
    total: float


class CandidateOut(BaseModel):
    backend: str
    queue_s: float
    run_s: float
    wait_s: float = Field(description="qstream's local backlog wait (0: unknown to the gateway).")
    time_s: float
    error: float
    price_usd: float
    cost: CostOut


class SubtaskEstimate(BaseModel):
    subtask_id: str
    circuit: str
    shots: int
    split_of: str | None
    backend: str = Field(description="The backend qstream would choose now.")
    candidates: list[CandidateOut] = Field(description="Every capable backend, cheapest first.")


class ChoiceOut(BaseModel):
    backends: list[str]
    price_usd: float
    time_s: float = Field(description="The slowest chosen sub-task's predicted time.")
    error: float = Field(description="The largest chosen sub-task's predicted error.")


class BudgetOut(BaseModel):
    budget_usd: float = Field(description="The task's budget_usd.")
    fits: bool = Field(description="Whether the worker would accept the task under it now.")
    error: str | None = Field(None, description="Why not (the worker's `budget` reason: "
                                                "the cheapest option and its price).")


class EstimateOut(BaseModel):
    task_id: str
    policy: str
    predictor: PredictorInfo
    subtasks: list[SubtaskEstimate] = Field(description="Circuit tasks: every sub-task's "
                                                         "placement (empty for a problem task).")
    selection: dict[str, Any] | None = Field(
        None, description="Problem tasks: the solver selection (every configuration's "
                          "queue_s, run_s, accuracy, price_usd and cost terms, and the chosen).")
    choice: ChoiceOut
    budget: BudgetOut | None = Field(
        None, description="Circuit tasks with budget_usd: whether it fits; `subtasks` and "
                          "`choice` are then the placements under the budget (or, when it "
                          "does not fit, without it).")
    at: float


def _rewrite(node: Any, local: str) -> Any:
    """Point ``$ref``s at ``#/components/schemas``: ``#/$defs/X`` -> ``{local}_X`` and
    ``defs/qstream.defs.v1.json#/$defs/X`` -> ``defs_X``."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                prefix, _, name = v.rpartition("/")
                owner = "defs" if v.startswith("defs/") else local
                out[k] = f"#/components/schemas/{owner}_{name}" if prefix.endswith("$defs") else v
            else:
                out[k] = _rewrite(v, local)
        return out
    if isinstance(node, list):
        return [_rewrite(v, local) for v in node]
    return node


@cache
def _bundled() -> tuple[dict[str, Any], dict[str, Any]]:
    from importlib import resources

    import orjson

    task = load_schema("qstream.task.v1")
    defs = orjson.loads(resources.files("qstream.schemas").joinpath(
        "defs/qstream.defs.v1.json").read_bytes())
    components = {f"task_{k}": _rewrite(v, "task") for k, v in task.pop("$defs", {}).items()}
    components |= {f"defs_{k}": _rewrite(v, "defs") for k, v in defs.get("$defs", {}).items()}
    body = _rewrite({k: v for k, v in task.items() if k not in ("$schema", "$id")}, "task")
    # POST /v1/tasks: task_id and schema may be left out (generated / filled in).
    body["required"] = [f for f in body.get("required", []) if f not in ("task_id", "schema")]
    body["description"] = ("A qstream.task.v1 task (schemas/qstream.task.v1.json); `task_id` "
                           "and `schema` are optional here. " + body.get("description", ""))
    return body, components


def task_request_body() -> dict[str, Any]:
    """The ``requestBody`` of ``POST /v1/tasks`` and ``POST /v1/estimate``."""
    body, _ = _bundled()
    return {"required": True, "content": {"application/json": {"schema": copy.deepcopy(body)}}}


def task_components() -> dict[str, Any]:
    """The ``$defs`` of the task schema, as OpenAPI component schemas."""
    return copy.deepcopy(_bundled()[1])
