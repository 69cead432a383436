"""The workflow agent's decisions and sends: selection, steps, solves, moves of a loop.

:func:`choose` runs the pure-core selection (:func:`qstream.core.selection.select.select`)
over the fleet as it stands: quantum backends that are up (device status and circuit
breaker), not excluded and allowed by the task, and the classical executor. Queue
terms include each backend's local backlog (:meth:`Scheduler.backlog_s`) and the
classical executor's predicted queue wait.

:func:`rebalance` re-scores a running loop's remaining iterations and, when another
configuration is cheaper by the scheduler's ``realloc_margin`` (the same margin that
moves a pending sub-task) or the loop's backend is down, :func:`move` moves the rest of
the loop there: to another backend (the optimiser state carries over), or to a
classical solver. Each move is a ``qstream.reallocation.v1`` with ``scope: loop`` and a
reason a person can read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from qstream.core.cost import CostWeights
from qstream.core.problems import Problem
from qstream.core.selection import Candidate, Executor, enumerate_candidates
from qstream.core.selection.priors import DEFAULT_SETTINGS, QuantumSettings, classical_resources
from qstream.core.selection.select import Estimate, Selection, select
from qstream.core.task import CircuitRequest, Task
from qstream.errors import (
    BudgetError,
    CapacityError,
    CircuitError,
    TaskContentError,
    ValidationError,
)
from qstream.stream import topics as T
from qstream.stream.runtime import Runtime
from qstream.workflow import loop
from qstream.workflow.state import WorkflowState

from . import partition

log = logging.getLogger("qstream.agents.workflow")


def settings(shots: int, max_iterations: int | None) -> QuantumSettings:
    """The loop settings of a task: its shots and iteration budget, default depths."""
    base = DEFAULT_SETTINGS
    return QuantumSettings(qaoa_reps=base.qaoa_reps, vqe_reps=base.vqe_reps,
                           qaoa_evaluations=max_iterations or base.qaoa_evaluations,
                           vqe_evaluations=max_iterations or base.vqe_evaluations, shots=shots)


def executors(rt: Runtime, state: WorkflowState, exclude: tuple[str, ...] = ()) -> list[Executor]:
    """Where the task may run now (module docstring); the classical executor last."""
    out = []
    for spec in rt.specs:
        if spec.name in exclude or not rt.scheduler.is_operational(spec.name):
            continue
        if state.allowed_backends is not None and spec.name not in state.allowed_backends:
            continue
        if state.kinds is not None and spec.kind not in state.kinds:
            continue
        out.append(Executor(spec.name, "quantum", qubits=spec.num_qubits, spec=spec))
    classical = rt.workflows.classical
    if classical.name not in exclude and (state.kinds is None or "classical" in state.kinds):
        out.append(classical.executor())
    return out


def choose(rt: Runtime, state: WorkflowState, problem: Problem, *, iterations: int | None,
           exclude: tuple[str, ...] = ()) -> Selection:
    """The selection for ``problem`` now, with ``iterations`` of a loop still to run.

    Raises
    ------
    qstream.errors.CapacityError
        If no configuration can take the problem (the reasons are in the message).
    qstream.errors.TaskContentError
        If the task's ``algorithms`` name an unknown solver.
    """
    found = enumerate_candidates(problem, executors(rt, state, exclude),
                                 algorithms=state.algorithms)
    extra = {s.name: rt.scheduler.backlog_s(s.name) for s in rt.specs}
    extra[rt.workflows.classical.name] = rt.workflows.classical.predicted_queue_s()
    return select(problem, found, CostWeights.from_dict(state.weights),
                  accuracy_target=state.accuracy_target, model=rt.workflows.model,
                  predictor=rt.predictor,
                  pending_jobs={s.name: rt.scheduler.pending_jobs(s.name) for s in rt.specs},
                  now_s=rt.now_s(), settings=settings(state.shots, iterations),
                  extra_queue_s=extra, budget_usd=remaining_budget(state))


def remaining_budget(state: WorkflowState) -> float | None:
    """What a problem task may still spend (USD): its budget minus its spend; None: no budget."""
    return None if state.budget_usd is None else state.budget_usd - state.spent_usd


def candidate_for(rt: Runtime, problem: Problem, solver: str, backend: str) -> Candidate | None:
    """The candidate ``solver@backend`` over the whole fleet, or None."""
    everything = [Executor(s.name, "quantum", qubits=s.num_qubits, spec=s) for s in rt.specs]
    everything.append(rt.workflows.classical.executor())
    found = enumerate_candidates(problem, everything)
    return next((c for c in found.candidates
                 if c.configuration.solver == solver and c.configuration.backend == backend), None)


async def publish_selection(rt: Runtime, state: WorkflowState, chosen: Selection) -> None:
    """The decision as a ``selection`` telemetry event and a ``qstream.select`` span."""
    decision = chosen.to_dict()
    with rt.tracer.start_as_current_span("qstream.select", attributes={
            "qstream.task_id": state.task_id, "qstream.problem.kind": state.problem["kind"],
            "qstream.selection.chosen": decision["chosen"],
            "qstream.selection.reason": decision["reason"],
            "qstream.selection.candidates": len(decision["candidates"]),
            "qstream.workflow.iteration": state.iteration}) as span:
        for c in decision["candidates"]:
            span.add_event("candidate", {
                "qstream.configuration": f"{c['solver']}@{c['backend']}",
                "qstream.queue_s": c["queue_s"], "qstream.run_s": c["run_s"],
                "qstream.accuracy": c["accuracy"], "qstream.price_usd": c["price_usd"],
                "qstream.cost.total": c["terms"]["total"]})
        await rt.outbox.send(T.TELEMETRY, state.task_id, {
            "schema": "qstream.telemetry.v1", "event": "selection", "at": time.time(),
            "task_id": state.task_id, "selection": decision, "iteration": state.iteration})


async def emit_step(rt: Runtime, state: WorkflowState) -> None:
    """Send the current step's circuits as a circuit task pinned to the loop's backend.

    A step that cannot be admitted there (a capacity or limit error) counts as a failure
    of that backend: the loop moves (:func:`after_failure`).
    """
    problem = rt.workflows.problem(state)
    ansatz = await rt.workflows.ansatz(state)
    circuits = await asyncio.get_running_loop().run_in_executor(
        None, loop.step_circuits, problem, state.algorithm, ansatz, state.step_points)
    task = Task(task_id=state.step_task_id(),
                circuits=tuple(CircuitRequest(c.name, c.qasm, (), c.observables) for c in circuits),
                shots=state.shots, weights=CostWeights.from_dict(state.weights),
                backends=(state.backend,), submitted_at=time.time(),
                budget_usd=remaining_budget(state), tenant=state.tenant)
    state.step_sent_at = time.time()
    state.use(state.backend)
    rt.workflows.put(state)
    try:
        await partition.admit(rt, task, f"workflow:{state.task_id}", None, parent=state.task_id)
    except BudgetError as exc:
        from .workflow import fail

        await fail(rt, state, f"cannot take step {state.step}: {exc}", reason="budget")
    except (CircuitError, CapacityError, ValidationError, TaskContentError) as exc:
        await after_failure(rt, state, f"cannot take step {state.step}: {exc}")


def launch_solve(rt: Runtime, state: WorkflowState) -> None:
    """Start the current step's classical solve on the classical executor (once per process)."""
    job = state.step_task_id()
    running = rt.workflows.solves.get(job)
    if running is not None and not running.done():
        return
    problem = rt.workflows.problem(state)
    run_s, memory = classical_resources(problem, state.algorithm)
    if state.backend not in state.backends_used:
        state.use(state.backend)
        rt.workflows.put(state)
    task = asyncio.get_running_loop().create_task(_solve(
        rt, state.task_id, state.step, state.algorithm, state.problem, state.seed,
        state.max_iterations or None, float(run_s), int(memory)))
    rt.workflows.solves[job] = task
    task.add_done_callback(lambda _: rt.workflows.solves.pop(job, None))


async def _solve(rt: Runtime, task_id: str, step: int, solver: str, problem: dict[str, Any],
                 seed: int, max_iterations: int | None, run_s: float, memory: int) -> None:
    executor = rt.workflows.classical
    outcome: dict[str, Any] | None = None
    error: str | None = None
    try:
        outcome = await executor.run(f"{task_id}/w{step}", solver, problem, seed=seed,
                                     max_iterations=max_iterations, predicted_run_s=run_s,
                                     memory_bytes=memory)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the solve failed; the task gets a failed result with why
        error = f"{type(exc).__name__}: {exc}"
        log.warning("classical solve %s of %s failed: %s", solver, task_id, error)
    try:
        await rt.outbox.send(T.WORKFLOW_EVENTS, task_id, {
            "schema": "qstream.workflow_event.v1", "event": "solved", "task_id": task_id,
            "at": time.time(), "step": step, "outcome": outcome, "error": error})
        await rt.outbox.send(T.TELEMETRY, None, executor.status_event())
    except Exception:  # a lost event is recovered: the next owner runs the solve again
        log.exception("could not report the solve of %s", task_id)


async def publish_iteration(rt: Runtime, state: WorkflowState, result: dict[str, Any],
                            wall_s: float) -> None:
    """The ``iteration`` telemetry event of the iteration just completed."""
    exec_s = float((result.get("metrics") or {}).get("run_s", 0.0))
    await rt.outbox.send(T.TELEMETRY, state.task_id, {
        "schema": "qstream.telemetry.v1", "event": "iteration", "at": time.time(),
        "task_id": state.task_id, "iteration": state.iteration, "backend": state.backend,
        "objective": state.history[-1], "circuits": len(state.step_points),
        "wall_s": wall_s, "exec_s": exec_s, "overhead_s": wall_s - exec_s})


def retire_step(rt: Runtime, step_task_id: str) -> None:
    """Withdraw a step's circuit task that the loop no longer waits for.

    Its pending sub-tasks leave the scheduler; its task record is marked done, so any
    part that still arrives is dropped by post-processing.
    """
    record = rt.ledger.task_record(step_task_id)
    if record is None or record["state"] != "active":
        return
    rt.ledger.assemblies.pop(step_task_id, None)
    rt.ledger.orphan_parts.pop(step_task_id, None)
    rt.ledger.mark_done(step_task_id, record.get("source"), -1, "withdrawn")
    rt.forget_task(step_task_id, cancel=True)


async def move(rt: Runtime, state: WorkflowState, to: Estimate, reason: str) -> None:
    """Move the rest of the loop to ``to`` (another backend, or a classical solver)."""
    config = to.configuration
    old = f"{state.algorithm}@{state.backend}"
    remaining = state.remaining_iterations()
    old_step = state.step_task_id()
    await rt.stop_in_flight(old_step, "the rest of its loop moved")
    retire_step(rt, old_step)
    old_algorithm = state.algorithm
    if config.kind == "classical":
        text = f"{reason}: switched to {config.solver} on {config.backend}"
        state.phase = "classical"
        state.algorithm = config.solver
    else:
        what = (f"{remaining} remaining iterations" if state.phase == "loop"
                else "the final sampling run")
        text = f"{reason}: {what} moved to {config.backend}"
    state.backend = config.backend
    state.predicted_queue_s = _queue_per_job(to)
    state.moves.append({"at_iteration": state.iteration, "from": old, "to": config.key,
                        "reason": text})
    state.step += 1
    rt.workflows.put(state)
    log.warning("task %s: %s", state.task_id, text)
    rt.metrics.reallocations += 1
    old_backend = old.split("@", 1)[1]
    with rt.tracer.start_as_current_span("qstream.workflow.move", attributes={
            "qstream.task_id": state.task_id, "qstream.from_backend": old_backend,
            "qstream.to_backend": config.backend, "qstream.reason": text}):
        await rt.outbox.send(T.REALLOCATIONS, state.task_id, {
            "schema": "qstream.reallocation.v1", "subtask_id": old_step,
            "task_id": state.task_id, "from_backend": old_backend,
            "to_backend": config.backend, "old_cost": float(state.selection.get("cost", 0.0)),
            "new_cost": float(to.terms.total), "reason": text, "at": time.time(),
            "scope": "loop", "remaining_iterations": remaining,
            "from_algorithm": old_algorithm, "to_algorithm": config.solver})
    state.selection["cost"] = float(to.terms.total)
    rt.workflows.put(state)
    if state.phase == "classical":
        launch_solve(rt, state)
    else:
        await emit_step(rt, state)


def _queue_per_job(e: Estimate) -> float:
    return e.queue_s / max(e.prior.jobs, 1)


async def after_failure(rt: Runtime, state: WorkflowState, error: str) -> None:
    """The loop's backend failed a step: re-select without it and move the rest of the loop.

    Raises
    ------
    qstream.errors.CapacityError
        If nothing else can take the problem (the task then fails with the reasons).
    """
    failed = state.backend
    if failed not in state.failed_backends:
        state.failed_backends.append(failed)
    problem = rt.workflows.problem(state)
    why = f"{failed} failed iteration {state.iteration + 1} ({error})"
    try:
        chosen = choose(rt, state, problem, iterations=state.remaining_iterations() or None,
                        exclude=tuple(state.failed_backends))
    except CapacityError as exc:
        raise CapacityError(f"{why}; nowhere else to go: {exc}") from exc
    await publish_selection(rt, state, chosen)
    await move(rt, state, chosen.chosen, why)


async def rebalance(rt: Runtime, state: WorkflowState) -> bool:
    """Move the rest of a running loop if it is cheaper elsewhere by the margin; return
    whether it moved (module docstring)."""
    problem = rt.workflows.problem(state)
    remaining = state.remaining_iterations()
    try:
        chosen = choose(rt, state, problem, iterations=remaining,
                        exclude=tuple(state.failed_backends))
    except CapacityError:
        return False  # nothing else can take it: stay
    current = next((e for e in chosen.estimates if e.configuration.solver == state.algorithm
                    and e.configuration.backend == state.backend), None)
    best = chosen.chosen
    if current is best:
        state_cost = float(best.terms.total)
        if state.selection.get("cost") != state_cost:
            state.selection["cost"] = state_cost
            state.predicted_queue_s = _queue_per_job(best)
            rt.workflows.put(state)
        return False
    margin = rt.scheduler.config.realloc_margin
    if current is not None and best.terms.total >= current.terms.total * (1.0 - margin):
        return False
    if current is not None and state.moves and state.moves[-1]["at_iteration"] == state.iteration:
        return False  # hysteresis: a loop that just moved runs an iteration before moving again
    if current is None:
        reason = (f"{state.backend} is down (device status or circuit breaker)"
                  if not rt.scheduler.is_operational(state.backend)
                  else f"{state.backend} can no longer take the loop")
    else:
        state.selection["cost"] = float(current.terms.total)
        before, now = state.predicted_queue_s, _queue_per_job(current)
        if now > 2.0 * before + 1.0:
            reason = f"queue on {state.backend} rose from {before:.0f} s to {now:.0f} s"
        else:
            reason = (f"predicted cost of the rest on {state.backend} is "
                      f"{current.terms.total:.3g}, on {best.configuration.key} "
                      f"{best.terms.total:.3g}")
    await publish_selection(rt, state, chosen)
    await move(rt, state, best, reason)
    return True


def method_text(state: WorkflowState) -> str:
    """How the answer was computed, in a line."""
    if state.algorithm in loop.QUANTUM_ALGORITHMS:
        depth = "p" if state.algorithm == "qaoa" else "reps"
        return (f"{state.algorithm} {depth}={state.reps}, {state.optimizer_name}, "
                f"{state.iteration} iterations, {state.shots} shots per circuit")
    details = ", ".join(f"{k}={v}" for k, v in sorted(state.solve_details.items())
                        if isinstance(v, str | int | float))
    return f"{state.algorithm} on {state.backend}" + (f" ({details})" if details else "")

