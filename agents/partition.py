"""Partition agent: ``qstream.tasks`` -> validate -> sub-tasks on ``qstream.subtasks``.

Rejected input goes to ``qstream.dlq`` with its reason. When the rejected message
still names a task (a JSON object with a string ``task_id``), the client also gets
a ``failed`` result, so a waiting client is never left hanging.

Budgets (:mod:`qstream.stream.budgets`): a new task of a tenant whose window
budget is spent is rejected with reason ``tenant_budget``, and a circuit task
whose cheapest placements already exceed its ``budget_usd`` with reason ``budget``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

import orjson
from qiskit.exceptions import QiskitError

from qstream.circuits import analyze_qasm, circuit_features, parse_qasm
from qstream.core.partition import (
    CircuitInput,
    MeasurementGroup,
    check_observables,
    partition_task,
    plan_circuits,
)
from qstream.core.task import CircuitRequest, Task
from qstream.errors import (
    BudgetError,
    CapacityError,
    CircuitError,
    TaskContentError,
    ValidationError,
)
from qstream.quantum.estimate import observable_circuits
from qstream.stream import budgets, cloudevents, codec
from qstream.stream import topics as T
from qstream.stream.agent_spec import Agent
from qstream.stream.cloudevents import EventOrigin
from qstream.stream.messages import failed_result
from qstream.stream.runtime import Runtime

log = logging.getLogger("qstream.agents.partition")


def _task_id_of(raw: bytes | None) -> str | None:
    """Best-effort task_id of a rejected message, for the failed result."""
    try:
        data = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None
    task_id = data.get("task_id") if isinstance(data, dict) else None
    return task_id if isinstance(task_id, str) and 0 < len(task_id) <= 200 else None


def _check_limits(task: Task, rt: Runtime) -> None:
    limits = rt.config.limits
    if task.shots > limits.max_shots:
        raise ValidationError(
            f"shots={task.shots} exceeds this worker's limit of {limits.max_shots}",
            reason="limit")
    if len(task.circuits) > limits.max_circuits:
        raise ValidationError(
            f"task has {len(task.circuits)} circuits; the limit is {limits.max_circuits}",
            reason="limit")


def _with_observables(c: CircuitRequest, shots: int, max_qubits: int | None) -> CircuitInput:
    """Parse a circuit with observables and build one measured circuit per QWC group."""
    assert c.observables is not None
    qc = parse_qasm(c.qasm, c.name, require_measurements=False)
    features = circuit_features(qc)
    _check_width(c.name, features.num_qubits, max_qubits)
    check_observables(c.name, c.observables, features, shots)
    try:
        measured = observable_circuits(qc, c.observables)
    except (ValueError, QiskitError) as exc:  # e.g. a gate the basis translation cannot lower
        raise TaskContentError(f"circuit {c.name!r}: cannot build its measurement circuits: {exc}",
                               reason="invalid_observable") from exc
    groups = tuple(MeasurementGroup(m.basis, m.qasm, analyze_qasm(m.qasm, c.name))
                   for m in measured)
    return CircuitInput(name=c.name, qasm=c.qasm, features=features, depends_on=c.depends_on,
                        observables=c.observables, groups=groups)


def _check_width(name: str, num_qubits: int, max_qubits: int | None) -> None:
    if max_qubits is not None and num_qubits > max_qubits:
        raise ValidationError(
            f"circuit '{name}' needs {num_qubits} qubits; "
            f"this worker's limit is {max_qubits}", reason="limit")


def _analyze(task: Task, rt: Runtime) -> list[CircuitInput]:
    circuits = []
    max_qubits = rt.config.limits.max_qubits
    for c in task.circuits:
        if c.observables is not None:
            circuits.append(_with_observables(c, task.shots, max_qubits))
            continue
        features = analyze_qasm(c.qasm, c.name)
        _check_width(c.name, features.num_qubits, max_qubits)
        circuits.append(CircuitInput(name=c.name, qasm=c.qasm, features=features,
                                     depends_on=c.depends_on))
    runs = sum(len(c.runs()) for c in circuits)
    if runs > rt.config.limits.max_circuits:
        # Each measurement group of a circuit with observables runs as a circuit of its own.
        raise ValidationError(
            f"task runs {runs} circuits ({len(circuits)} given, the rest measurement groups of "
            f"observables); the limit is {rt.config.limits.max_circuits}", reason="limit")
    return circuits


def allowed_backends(task: Task, rt: Runtime) -> list[str] | None:
    """The task's ``backends`` allow-list narrowed to its ``kinds``; None means any.

    Raises
    ------
    CapacityError
        If no backend of the fleet has one of the requested kinds.
    """
    names = None if task.backends is None else list(task.backends)
    kinds = task.kinds
    if kinds is None:
        return names
    pool = names if names is not None else [s.name for s in rt.specs]
    allowed = [n for n in pool if n in rt.spec_by_name and rt.spec_by_name[n].kind in kinds]
    if not allowed:
        raise CapacityError(f"no backend of kind {', '.join(kinds)} among "
                            f"{', '.join(pool)}")
    return allowed


def source_of(message: Any) -> str:
    """``topic/partition/offset`` of a record: tells a redelivery from a resubmission."""
    return f"{message.topic}/{message.partition}/{message.offset}"


async def handle(rt: Runtime, message: Any) -> None:
    """Process one raw ``qstream.tasks`` record.

    Idempotent under redelivery: a record whose task is already answered is
    skipped, and one whose task is still active is partitioned again (every
    downstream step deduplicates by sub-task id).
    """
    raw: bytes | None = message.value
    source = source_of(message)
    origin = None
    try:
        # A CloudEvent (binary or structured mode) is unwrapped to its task first.
        raw, origin = cloudevents.task_record_value(
            message.headers, raw, max_bytes=rt.config.limits.max_message_bytes)
        task = codec.decode_task(raw, max_bytes=rt.config.limits.max_message_bytes)
        _check_limits(task, rt)
    except (ValidationError, TaskContentError) as exc:
        task_id = _task_id_of(raw) if exc.reason != "too_large" else None
        await reject(rt, message, exc.reason, str(exc), task_id, origin=origin)
        return

    task_id = task.task_id
    key = message.key.decode("utf-8", "replace") if message.key is not None else None
    if key is not None and key != task_id:
        await reject(rt, message, "missing_key",
                     f"record key {key!r} differs from task_id {task_id!r}; "
                     "publish with key = task_id", task_id, origin=origin, task=task)
        return
    record = rt.ledger.task_record(task_id)
    if record is not None and record["state"] == "cancel_requested":
        from .control import cancel_on_arrival

        await cancel_on_arrival(rt, task_id, record, source, tenant=task.tenant,
                                budget_usd=task.budget_usd,
                                cloudevent=None if origin is None else origin.to_dict())
        return
    if record is not None and record.get("source") == source:
        if record["state"] != "active":
            return  # redelivered after its result went out
    elif record is not None:
        # Rejected, not coalesced: the first submission's result is the only result.
        running = record["state"] != "done"
        await rt.outbox.send_dlq(reason="duplicate", message=message, task_id=task_id, error=(
            f"task_id {task_id!r} is already running; resubmit under a new task_id after "
            "its result arrives" if running else
            f"task_id {task_id!r} already has its result on {T.RESULTS}; resubmit under "
            "a new task_id"))
        rt.metrics.tasks_rejected += 1
        return

    if record is None and (why := budgets.tenant_budget_error(rt, task.tenant)) is not None:
        await reject(rt, message, budgets.TENANT_BUDGET, why, task_id, origin=origin, task=task)
        return
    if task.problem is not None:
        if record is None:
            try:
                check_solvable(rt, task)
            except CapacityError as exc:
                await reject(rt, message, "capacity", str(exc), task_id, origin=origin, task=task)
                return
            except TaskContentError as exc:
                await reject(rt, message, exc.reason, str(exc), task_id, origin=origin, task=task)
                return
        await start_workflow(rt, task, raw, source, record, origin=origin)
        return
    try:
        await admit(rt, task, source, record, origin=origin)
    except BudgetError as exc:
        await reject(rt, message, budgets.BUDGET, str(exc), task_id, origin=origin, task=task)
    except CircuitError as exc:
        await reject(rt, message, "invalid_qasm", str(exc), task_id, origin=origin, task=task)
    except CapacityError as exc:
        await reject(rt, message, "capacity", str(exc), task_id, origin=origin, task=task)
    except (ValidationError, TaskContentError) as exc:
        await reject(rt, message, exc.reason, str(exc), task_id, origin=origin, task=task)


async def admit(rt: Runtime, task: Task, source: str, record: dict[str, Any] | None, *,
                parent: str | None = None, origin: EventOrigin | None = None) -> None:
    """Partition a circuit task and send its plan and sub-tasks (the pipeline's way in).

    Used for client tasks and for the steps of a problem task's loop (``parent`` = the
    problem task's id; post-processing then hands the step's result to the workflow
    agent instead of publishing it). ``record`` is the task's existing record (a
    redelivery keeps the plan it was accepted with), or None. ``origin``: the
    CloudEvent the task came in (its result then carries CloudEvent headers).

    Raises
    ------
    BudgetError
        A new task's cheapest placements already exceed its budget (nothing is sent).
    CircuitError, CapacityError, ValidationError, TaskContentError
        The task cannot run as given (nothing is sent).
    """
    task_id = task.task_id
    submitted_at = task.submitted_at or time.time()
    circuits = await asyncio.get_running_loop().run_in_executor(None, _analyze, task, rt)
    subtasks = partition_task(
        task_id, circuits, task.shots, rt.specs,
        weights=task.weights,
        priority=task.priority,
        deadline_s=task.deadline_s,
        allowed_backends=allowed_backends(task, rt),
        submitted_at_s=rt.now_s(),
    )
    subtasks = [replace(s, budget_usd=task.budget_usd, tenant=task.tenant) for s in subtasks]
    if record is None:
        rt.scheduler.check_budget(subtasks)
    if parent is None:
        rt.metrics.tasks_accepted += 1
    plan = {
        "schema": "qstream.plan.v1", "task_id": task_id,
        "circuits": plan_circuits(circuits, task.shots),
        "subtasks": len(subtasks), "submitted_at": submitted_at,
    }
    observed = [{"name": c.name, "observables": [[list(t) for t in terms] for terms in c.observables]}
                for c in circuits if c.observables is not None]
    if observed:
        plan["observables"] = observed
    if record is None:
        rt.ledger.accept_task(task_id, source, plan, parent=parent,
                              cloudevent=None if origin is None else origin.to_dict())
        budgets.note_task(rt, task_id, tenant=task.tenant, budget_usd=task.budget_usd)
    else:
        plan = record["plan"]  # a redelivery keeps the plan it was accepted with
    await rt.outbox.send(T.SUBTASK_RESULTS, task_id, plan)
    for subtask in subtasks:
        await rt.outbox.send(T.SUBTASKS, task_id, {"schema": "qstream.subtask.v1", **subtask.to_dict()})


def check_solvable(rt: Runtime, task: Task) -> None:
    """Reject a problem task no configuration of this fleet can take (before accepting it).

    Raises
    ------
    CapacityError
        With every configuration's reason (size, qubits, predicted memory, allow-list).
    TaskContentError
        ``unknown_backend`` for a ``backends`` entry this fleet does not have.
    """
    from qstream.core.selection import enumerate_candidates
    from qstream.core.selection.select import no_candidate_error

    from .workflow import new_state
    from .workflow_moves import executors

    assert task.problem is not None
    unknown = sorted(set(task.backends or ()) - set(rt.spec_by_name)
                     - {rt.workflows.classical.name})
    if unknown:
        raise TaskContentError(f"unknown backends {unknown}; this fleet has "
                               f"{', '.join([*rt.spec_by_name, rt.workflows.classical.name])}",
                               reason="unknown_backend")
    # Only the candidates: the workflow agent predicts and selects when it starts the task.
    found = enumerate_candidates(task.problem, executors(rt, new_state(rt, task)),
                                 algorithms=task.algorithms)
    if not found.candidates:
        raise no_candidate_error(task.problem, found.rejected)


async def start_workflow(rt: Runtime, task: Task, raw: bytes | None, source: str,
                         record: dict[str, Any] | None, *,
                         origin: EventOrigin | None = None) -> None:
    """Accept a problem task and hand it to the workflow agent (a ``start`` event).

    A redelivered record sends ``start`` again; the workflow agent ignores a start
    for a workflow it already holds.
    """
    if record is None:
        rt.metrics.tasks_accepted += 1
        rt.ledger.accept_task(task.task_id, source, None, workflow=True,
                              cloudevent=None if origin is None else origin.to_dict())
    await rt.outbox.send(T.WORKFLOW_EVENTS, task.task_id, {
        "schema": "qstream.workflow_event.v1", "event": "start", "task_id": task.task_id,
        "at": time.time(), "task": orjson.loads(raw or b"{}"), "source": source})


async def reject(rt: Runtime, message: Any, reason: str, error: str,
                 task_id: str | None, *, origin: EventOrigin | None = None,
                 task: Task | None = None) -> None:
    """DLQ entry for a rejected record; a ``failed`` result if it names a new task
    (with CloudEvent headers when the task came as a CloudEvent: ``origin``).

    A task id qstream already knows (running, answered, or this very record
    redelivered) gets no second result. The result has ``reason`` (the DLQ reason),
    the ``tenant`` of ``task`` (the decoded task, when it could be decoded) and, for a
    task with a budget, its budget metrics.
    """
    source = source_of(message)
    record = rt.ledger.task_record(task_id) if task_id is not None else None
    if record is not None and record.get("source") == source and record["state"] != "active":
        return  # this rejection was already handled before a failover
    rt.metrics.tasks_rejected += 1
    await rt.outbox.send_dlq(reason=reason, error=error, message=message, task_id=task_id)
    if task_id is not None and (record is None or record["state"] == "cancel_requested"):
        result = failed_result(task_id, error, reason=reason,
                               tenant=task.tenant if task is not None else None)
        if task is not None and task.budget_usd is not None:
            budgets.stamp(rt, result, None, budget_usd=task.budget_usd)
        await rt.outbox.publish_result(
            result, source=source, cloudevent=None if origin is None else origin.to_dict())


AGENT = Agent("qstream.agents.partition", T.TASKS, handle, "partition")


def admission_checks(task: Task, rt: Runtime) -> list[CircuitInput]:
    """Every check :func:`handle` runs on a circuit task before partitioning it, for
    callers that must answer before publishing (the HTTP gateway): the limits, the
    circuits' QASM and widths, and the ``kinds`` allow-list. Parses QASM, so call it
    in an executor.

    Returns
    -------
    list of CircuitInput
        The analysed circuits (features, measurement groups).

    Raises
    ------
    ValidationError
        ``reason="limit"``: shots, circuits or qubits beyond this worker's limits.
    CircuitError
        Invalid QASM (the DLQ reason is ``invalid_qasm``).
    CapacityError
        No backend of a requested kind (DLQ reason ``capacity``).
    TaskContentError
        Observables that do not fit their circuit.
    """
    _check_limits(task, rt)
    circuits = _analyze(task, rt)
    allowed_backends(task, rt)
    return circuits
