"""Workflow agent: ``qstream.workflow-events`` -> select, loop, solve, answer a problem task.

Events (``qstream.workflow_event.v1``, key = the problem task's id):

- ``start`` (from the partition agent): select a configuration (solver x backend,
  :mod:`qstream.core.selection`), store the workflow, and emit its first step: the
  circuits of the first loop iteration, or a classical solve.
- ``step`` (from post-processing): a step's circuit task has its result. The
  optimiser is told, the next iteration's circuits are emitted, or the final run; after
  the final run the task's one result is published.
- ``solved`` (from the classical executor): a classical solve ended.

A step is an ordinary circuit task ``{task_id}/w{step}`` pinned to the loop's backend,
so it gets predictions, placement, retries, failover and tracing like any task. A step
result whose number is not the workflow's current step is stale (redelivered, or from
before a move) and is ignored: no iteration is lost or counted twice.

The rebalance timer (:data:`TIMER`) re-scores each running loop's *remaining* iterations
on every candidate, classical solvers included; when another configuration is cheaper
by the scheduler's ``realloc_margin`` (or the loop's backend is down), the rest of the
loop moves (:mod:`qstream.agents.workflow_moves`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from opentelemetry import trace

from qstream.core.selection.model import SolveObservation
from qstream.core.selection.priors import configuration_prior
from qstream.core.task import Task
from qstream.errors import BudgetError, QStreamError, ValidationError
from qstream.stream import budgets, codec
from qstream.stream import topics as T
from qstream.stream.agent_spec import Agent, Timer
from qstream.stream.runtime import Runtime
from qstream.workflow import loop
from qstream.workflow.answer import problem_result, solution
from qstream.workflow.state import WorkflowState

from . import workflow_moves as moves

log = logging.getLogger("qstream.agents.workflow")


async def handle(rt: Runtime, message: Any) -> None:
    try:
        event = codec.decode(message.value, expected="qstream.workflow_event.v1")
    except ValidationError as exc:
        await rt.outbox.send_dlq(reason=exc.reason, error=str(exc), message=message)
        return
    task_id = event["task_id"]
    record = rt.ledger.task_record(task_id)
    if record is None or record["state"] != "active":
        return  # answered already (a late or redelivered event)
    trace.get_current_span().set_attributes({"qstream.task_id": task_id,
                                             "qstream.workflow.event": event["event"]})
    state = rt.workflows.get(task_id)
    try:
        await dispatch_event(rt, event, state)
    except (QStreamError, ValueError) as exc:
        current = rt.workflows.get(task_id)
        if current is None:
            raise
        await fail(rt, current, f"{type(exc).__name__}: {exc}")


async def dispatch_event(rt: Runtime, event: dict[str, Any], state: WorkflowState | None) -> None:
    """Route one event: start a workflow, or advance it by a step result or a solve."""
    task_id = event["task_id"]
    if event["event"] == "start":
        if state is None:
            await start(rt, Task.from_message(event["task"]))
        else:
            await ensure_step(rt, state)  # redelivered start: make sure its step is out
        return
    if state is None:
        log.info("%s event for %s, which has no workflow; ignored", event["event"], task_id)
        return
    if int(event["step"]) != state.step:
        log.info("stale %s event of step %s for %s (now at step %d); ignored",
                 event["event"], event["step"], task_id, state.step)
        await ensure_step(rt, state)
        return
    if event["event"] == "step":
        await on_step(rt, state, event["result"])
    else:
        await on_solved(rt, state, event.get("outcome"), event.get("error"))


def new_state(rt: Runtime, task: Task) -> WorkflowState:
    """The initial workflow of a problem task (before selection)."""
    assert task.problem is not None
    return WorkflowState(
        task_id=task.task_id, problem=task.problem.to_dict(), algorithm="", backend="",
        shots=task.shots, weights=task.weights.to_dict(), optimizer_name=task.optimizer,
        algorithms=list(task.algorithms) if task.algorithms else None,
        accuracy_target=task.accuracy_target, kinds=list(task.kinds) if task.kinds else None,
        allowed_backends=list(task.backends) if task.backends else None,
        seed=rt.config.seed, submitted_at=task.submitted_at or time.time(),
        max_iterations=task.max_iterations or 0, budget_usd=task.budget_usd, tenant=task.tenant)


async def start(rt: Runtime, task: Task) -> None:
    """Select a configuration for a new problem task and emit its first step."""
    assert task.problem is not None
    state = new_state(rt, task)
    try:
        chosen = moves.choose(rt, state, task.problem, iterations=task.max_iterations)
    except BudgetError as exc:
        await fail(rt, state, str(exc), reason=budgets.BUDGET)
        return
    except QStreamError as exc:
        await fail(rt, state, str(exc))
        return
    state.selection = {**chosen.to_dict(), "cost": float(chosen.chosen.terms.total)}
    state.predicted_queue_s = chosen.chosen.queue_s / max(chosen.chosen.prior.jobs, 1)
    await moves.publish_selection(rt, state, chosen)
    config = chosen.chosen.configuration
    state.algorithm, state.backend = config.solver, config.backend
    if config.kind == "quantum":
        defaults = moves.settings(state.shots, task.max_iterations)
        state.max_iterations = (defaults.qaoa_evaluations if config.solver == "qaoa"
                                else defaults.vqe_evaluations)
        ansatz = await rt.workflows.ansatz(state)
        state.step_points = loop.start_loop(state, task.problem, ansatz)
    else:
        state.phase = "classical"
    rt.workflows.put(state)
    await ensure_step(rt, state)


async def ensure_step(rt: Runtime, state: WorkflowState) -> None:
    """Make sure the current step is out: its circuit task admitted, or its solve running.

    Idempotent: a step already admitted (its task record exists) or a solve already
    running in this process is left alone. Called after every state change, for a
    redelivered event, and after a takeover.
    """
    if state.phase == "classical":
        moves.launch_solve(rt, state)
        return
    if state.phase == "publishing":
        await publish(rt, state)
        return
    if rt.ledger.task_record(state.step_task_id()) is not None:
        return
    await moves.emit_step(rt, state)


async def on_step(rt: Runtime, state: WorkflowState, result: dict[str, Any]) -> None:
    """A step's circuit task has its result: advance the loop, or finish."""
    metrics = result.get("metrics") or {}
    state.spent_usd += float(metrics.get("cost_usd", 0.0))
    state.queue_s += float(metrics.get("queue_s", 0.0))
    state.run_s += float(metrics.get("run_s", 0.0))
    if result.get("reason") == budgets.BUDGET:
        await fail(rt, state, f"step {state.step}: {result.get('error')}", reason=budgets.BUDGET)
        return
    if result["status"] == "failed":
        await moves.after_failure(rt, state, result.get("error") or "failed")
        return
    problem = rt.workflows.problem(state)
    # The classical step (evaluate the counts, tell and ask the optimiser: COBYLA's replay
    # grows with the iterations) runs off the event loop; the handler awaits it, so
    # nothing else touches ``state`` meanwhile.
    run = asyncio.get_running_loop().run_in_executor
    ev = await run(None, loop.evaluate_step, problem, state.algorithm, result,
                   len(state.step_points))
    if state.phase == "final":
        loop.finish_final(state, problem, ev, state.step_points[0])
        await answer(rt, state, iterations=state.iteration)
        return
    wall_s = max(time.time() - state.step_sent_at, 0.0)
    points = await run(None, loop.advance, state, problem, ev)
    await moves.publish_iteration(rt, state, result, wall_s)
    if state.budget_usd is not None and state.spent_usd >= state.budget_usd:
        await fail(rt, state, f"the loop stopped after {state.iteration} iterations: spend "
                              f"{state.spent_usd:.4g} USD reached the budget "
                              f"{state.budget_usd:.4g} USD", reason=budgets.BUDGET)
        return
    if not points or state.iteration >= state.max_iterations:
        state.phase = "final"
        points = [loop.best_parameters(state)]
    state.step_points = points
    state.step += 1
    rt.workflows.put(state)
    await ensure_step(rt, state)


async def on_solved(rt: Runtime, state: WorkflowState, outcome: dict[str, Any] | None,
                    error: str | None) -> None:
    """A classical solve ended: answer with its outcome, or fail with its error."""
    if outcome is None:
        await fail(rt, state, f"{state.algorithm} on {state.backend}: {error or 'failed'}")
        return
    state.queue_s += float(outcome.get("queue_s", 0.0))
    state.run_s += float(outcome.get("run_s", 0.0))
    state.spent_usd += rt.workflows.classical.spec.pricing.per_second_usd * float(outcome["run_s"])
    state.best = {"bitstring": outcome.get("bitstring"), "objective": float(outcome["objective"]),
                  "parameters": None, "std_error": None}
    state.history = [float(v) for v in outcome.get("history") or ()]
    state.solve_details = dict(outcome.get("details") or {})
    await answer(rt, state, iterations=0)


async def answer(rt: Runtime, state: WorkflowState, *, iterations: int) -> None:
    """Build the solution (off the event loop: it may compute the exact optimum), publish it."""
    problem = rt.workflows.problem(state)
    exact = state.algorithm == "exact"
    sol = await asyncio.get_running_loop().run_in_executor(None, lambda: solution(
        problem, algorithm=state.algorithm, backends=state.backends_used,
        objective=float(state.best["objective"]), iterations=iterations,
        history=state.history, selection=state.selection,
        bitstring=state.best.get("bitstring"), parameters=state.best.get("parameters"),
        std_error=state.best.get("std_error"), moves=state.moves,
        method=moves.method_text(state), known_optimum=exact))
    learn(rt, state, problem, sol)
    state.answer = problem_result(state.task_id, solution=sol, metrics=metrics_of(state),
                                  now_s=time.time())
    state.phase = "publishing"
    rt.workflows.put(state)
    await publish(rt, state)


def learn(rt: Runtime, state: WorkflowState, problem: Any, sol: dict[str, Any]) -> None:
    """Teach the selection models this solve's realised run time and accuracy."""
    ratio = sol.get("approximation_ratio")
    if ratio is None:
        return  # the realised accuracy is not known
    candidate = moves.candidate_for(rt, problem, state.algorithm, state.backend)
    if candidate is None:
        return
    prior = configuration_prior(problem, candidate, predictor=rt.predictor)
    rt.workflows.model.learn_one(SolveObservation.of(
        problem, candidate.configuration, prior, run_s=state.run_s, accuracy=float(ratio),
        iterations=max(state.iteration, 1)))
    rt.workflows.save_model(rt.snapshots)


def metrics_of(state: WorkflowState) -> dict[str, Any]:
    """The result's ``metrics`` of a problem task (sums over its steps)."""
    return {"queue_s": state.queue_s, "run_s": state.run_s, "cost_usd": state.spent_usd,
            "jct_s": max(time.time() - state.submitted_at, 0.0),
            "backends": list(state.backends_used), "reallocations": len(state.moves)}


async def publish(rt: Runtime, state: WorkflowState) -> None:
    """Publish the task's one result (write-ahead, :meth:`Outbox.publish_result`), then forget."""
    assert state.answer is not None
    if state.fail_reason is not None:
        state.answer.setdefault("reason", state.fail_reason)
    budgets.stamp(rt, state.answer, None, tenant=state.tenant, budget_usd=state.budget_usd,
                  spent_usd=state.spent_usd)
    await rt.outbox.publish_result(state.answer)
    rt.workflows.delete(state.task_id)


async def fail(rt: Runtime, state: WorkflowState, error: str, *,
               reason: str | None = None) -> None:
    """End the problem task with a failed result carrying ``error`` (and ``reason``)."""
    log.warning("problem task %s failed: %s", state.task_id, error)
    await rt.stop_in_flight(state.step_task_id(), "its problem task failed")
    state.fail_reason = reason
    moves.retire_step(rt, state.step_task_id())
    state.answer = problem_result(state.task_id, error=error, metrics=metrics_of(state),
                                  now_s=time.time())
    state.phase = "publishing"
    rt.workflows.put(state)
    await publish(rt, state)


async def resume(rt: Runtime) -> None:
    """After a takeover: drop answered workflows, and make sure every other one's step is out."""
    for state in rt.workflows.states():
        record = rt.ledger.task_record(state.task_id)
        if record is None or record["state"] != "active":
            rt.workflows.delete(state.task_id)
            continue
        log.warning("resuming workflow %s: %s, iteration %d, step %d", state.task_id,
                    state.phase, state.iteration, state.step)
        await ensure_step(rt, state)


async def rebalance_tick(rt: Runtime) -> None:
    """The rebalance timer: move the rest of a loop where it is cheaper (owner only)."""
    if not rt.owner:
        return
    for state in rt.workflows.states():
        if state.phase == "loop" and state.remaining_iterations() > 0:
            try:
                await moves.rebalance(rt, state)
            except QStreamError as exc:
                # Only a move that found nowhere to go raises: the task cannot go on.
                current = rt.workflows.get(state.task_id)
                if current is not None:
                    await fail(rt, current, f"{type(exc).__name__}: {exc}")
    rt.sync_state()


AGENT = Agent("qstream.agents.workflow", T.WORKFLOW_EVENTS, handle, "workflow")
TIMER = Timer("qstream.agents.workflow.rebalance", lambda config: config.realloc_interval_s,
              rebalance_tick)
