"""Estimates without running anything: the dispatch agent's own scheduler, on the live state.

:class:`Planner` holds a *shadow* :class:`~qstream.stream.runtime.Runtime` built from
the same :class:`~qstream.config.WorkerConfig` as a worker (fleet, policy, scheduler
settings, limits). Its predictor is restored from the worker's latest snapshot
(``qstream.predictor-changelog``) with :meth:`Runtime.restore_predictor`, and its
scheduler gets each backend's pending jobs and operational state from the latest
``backend_status`` and ``breaker`` telemetry, as the learn agent applies them. An
estimate then admits the task with the partition agent's checks
(:func:`qstream.agents.partition.admission_checks`), partitions it with
:func:`qstream.core.partition.partition_task` and places every sub-task with
:meth:`Scheduler.submit <qstream.core.scheduler.Scheduler.submit>` on a fresh
scheduler: the same scores and the same choice the dispatch agent would make now,
except that qstream's own backlog (sub-tasks pending or in flight on the worker) is
not known to the gateway and counts as zero local wait.

Without a snapshot (no worker has learned yet, or no broker) the predictor is the
calibration priors' and the answer says so (``predictor.source = "priors"``).

A problem task is estimated as the workflow agent selects its solver
(:func:`qstream.agents.workflow_moves.choose`: every configuration's predicted queue
wait, run time, accuracy and price, and the chosen one), with the selection models of
the worker's snapshot (key ``b"selection"``) when there is one.

The reference circuit of ``/v1/backends`` is :data:`REFERENCE_QASM`, a 2-qubit Bell
circuit, with :data:`REFERENCE_SHOTS` shots.

Unpickling a snapshot runs code: the gateway trusts ``qstream.predictor-changelog``
as much as a worker does (only qstream workers may write it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Any

from qstream.agents.partition import admission_checks
from qstream.circuits import analyze_qasm
from qstream.config import WorkerConfig
from qstream.core.backend_spec import BackendSpec
from qstream.core.features import CircuitFeatures
from qstream.core.partition import partition_task
from qstream.core.scheduler import Decision
from qstream.core.task import Task
from qstream.errors import BudgetError, ConfigError, EstimateError
from qstream.gateway.follower import FleetState
from qstream.stream.ledger import TaskLedger
from qstream.stream.runtime import Runtime

REFERENCE_QASM = ('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; '
                  "h q[0]; cx q[0], q[1]; measure q -> c;")
"""The reference circuit of ``/v1/backends``: a 2-qubit Bell pair, measured."""

REFERENCE_SHOTS = 1000
"""Shots of the reference circuit."""


class _NoProducer:
    """The shadow runtime sends nothing: its outbox is never flushed."""

    async def flush(self) -> None:  # pragma: no cover - never called
        raise EstimateError("the gateway's shadow runtime publishes nothing")


@dataclass(frozen=True, slots=True)
class PredictorInfo:
    """Where the predictions come from: ``source`` is ``snapshot`` (the worker's learned
    predictor) or ``priors`` (calibration priors only); ``observations`` it learned."""

    source: str
    observations: int
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "observations": self.observations, "note": self.note}


class Planner:
    """The shadow runtime behind ``/v1/backends`` and ``/v1/estimate``.

    Parameters
    ----------
    config:
        The worker settings (fleet, policy, scheduler, limits).
    specs:
        The fleet's specs (:func:`qstream.backends.fleet.fleet_specs` of ``config.fleet``).

    Notes
    -----
    Every method runs on the event loop except what the methods themselves send to an
    executor (QASM parsing, unpickling); an :class:`asyncio.Lock` keeps one estimate
    at a time on the shared scheduler.
    """

    def __init__(self, config: WorkerConfig, specs: list[BackendSpec]) -> None:
        self.rt = Runtime(config, specs, topics={}, producer=_NoProducer(), ledger=TaskLedger(),
                          snapshots={})
        self._offset = -1  # offset of the snapshot in use (-1: the priors)
        self._tried = -1  # offset of the last snapshot tried (a bad one is not retried)
        self._lock = asyncio.Lock()
        self.reference: CircuitFeatures = analyze_qasm(REFERENCE_QASM, "bell")

    @property
    def specs(self) -> list[BackendSpec]:
        return self.rt.specs

    def info(self, fleet: FleetState) -> PredictorInfo:
        """Where the predictions come from, and whether pending jobs were known."""
        if self._offset < 0:
            info = PredictorInfo("priors", 0, "no predictor snapshot on the broker yet: "
                                 "calibration priors only")
        else:
            n = self.rt.predictor.n_learned
            info = PredictorInfo("snapshot", n, f"the worker's online predictor ({n} observations)")
        unknown = [s.name for s in self.rt.specs if fleet.pending_jobs(s.name) is None]
        if unknown:
            note = (f"{info.note}; no backend_status telemetry of {', '.join(unknown)}: "
                    "their queue waits assume 0 pending jobs")
            info = PredictorInfo(info.source, info.observations, note)
        return info

    async def refresh(self, fleet: FleetState) -> None:
        """Restore the predictor when a newer snapshot was read (unpickled in an executor)."""
        if fleet.snapshot_offset == self._tried or fleet.snapshot is None:
            return
        offset = self._tried = fleet.snapshot_offset
        config, specs, snapshots = self.rt.config, self.rt.specs, dict(fleet.snapshots)

        def restored() -> Runtime:  # builds models and unpickles: off the event loop
            shadow = Runtime(config, specs, topics={}, producer=_NoProducer(),
                             ledger=TaskLedger(), snapshots=snapshots)
            shadow.restore_predictor()
            return shadow

        try:
            shadow = await asyncio.get_running_loop().run_in_executor(None, restored)
        except ConfigError:
            return  # not a snapshot of this format: keep what we have
        self.rt = shadow
        self._offset = offset

    def _apply_fleet(self, fleet: FleetState) -> None:
        """Pending jobs and operational state as the learn agent applies them."""
        scheduler = self.rt.scheduler
        for spec in self.rt.specs:
            pending = fleet.pending_jobs(spec.name)
            if pending is not None:
                scheduler.set_pending_jobs(spec.name, pending)
            up = fleet.device_up(spec.name)
            scheduler.set_operational(
                spec.name, (up is not False) and fleet.breaker_state(spec.name) != "open")

    def reference_prediction(self, spec: BackendSpec, fleet: FleetState) -> dict[str, float]:
        """Predicted queue wait and run time of the reference circuit on ``spec``, seconds."""
        pending = fleet.pending_jobs(spec.name) or 0
        p = self.rt.predictor.predict(spec, self.reference, REFERENCE_SHOTS, pending)
        return {"queue_s": p.queue_s, "run_s": p.run_s, "error": p.error,
                "price_usd": p.price_usd}

    async def estimate(self, task: Task, fleet: FleetState) -> dict[str, Any]:
        """Per sub-task, every capable backend's predictions and cost, and the choice.

        Raises
        ------
        ValidationError, TaskContentError, CircuitError, CapacityError
            As the partition agent would reject the task (nothing is published anyway).
        """
        await self.refresh(fleet)
        rt = self.rt
        if task.problem is not None:
            return await self._estimate_problem(task, fleet)
        circuits = await asyncio.get_running_loop().run_in_executor(
            None, admission_checks, task, rt)
        from qstream.agents.partition import allowed_backends

        async with self._lock:
            rt.clear_state()
            self._apply_fleet(fleet)
            now_s = rt.now_s()
            subtasks = partition_task(
                task.task_id, circuits, task.shots, rt.specs, weights=task.weights,
                priority=task.priority, deadline_s=task.deadline_s,
                allowed_backends=allowed_backends(task, rt), submitted_at_s=now_s)
            budget: dict[str, Any] | None = None
            decisions = None
            if task.budget_usd is not None:
                # The worker's own budget rules (admission check, then placement).
                budgeted = [replace(s, budget_usd=task.budget_usd, tenant=task.tenant)
                            for s in subtasks]
                try:
                    rt.scheduler.check_budget(budgeted)
                    decisions = [d for s in budgeted for d in rt.scheduler.submit(s, now_s)]
                    budget = {"budget_usd": task.budget_usd, "fits": True, "error": None}
                except BudgetError as exc:
                    budget = {"budget_usd": task.budget_usd, "fits": False, "error": str(exc)}
                    rt.clear_state()
                    self._apply_fleet(fleet)
            if decisions is None:
                decisions = [d for s in subtasks for d in rt.scheduler.submit(s, now_s)]
            rt.clear_state()
        return {
            "task_id": task.task_id,
            "policy": rt.policy.name,
            "predictor": self.info(fleet).to_dict(),
            "subtasks": [_decision(d) for d in decisions], "selection": None,
            "choice": _choice(decisions), "budget": budget,
            "at": time.time(),
        }


    async def _estimate_problem(self, task: Task, fleet: FleetState) -> dict[str, Any]:
        """A problem task: the workflow agent's selection (:func:`agents.workflow_moves.choose`)
        over every configuration, on the live state."""
        from qstream.agents.partition import check_solvable
        from qstream.agents.workflow import new_state
        from qstream.agents.workflow_moves import choose

        assert task.problem is not None
        rt = self.rt
        await asyncio.get_running_loop().run_in_executor(None, check_solvable, rt, task)
        async with self._lock:
            rt.clear_state()
            self._apply_fleet(fleet)
            selection = choose(rt, new_state(rt, task), task.problem,
                               iterations=task.max_iterations)
            rt.clear_state()
        best = selection.chosen
        return {
            "task_id": task.task_id, "policy": rt.policy.name,
            "predictor": self.info(fleet).to_dict(), "subtasks": [],
            "selection": selection.to_dict(),
            "choice": {"backends": [best.configuration.backend], "price_usd": best.price_usd,
                       "time_s": best.queue_s + best.run_s, "error": 1.0 - best.accuracy},
            "at": time.time(),
        }


def _decision(d: Decision) -> dict[str, Any]:
    return {
        "subtask_id": d.subtask.subtask_id, "circuit": d.subtask.circuit_name,
        "shots": d.subtask.shots, "split_of": d.split_of, "backend": d.backend,
        "candidates": [{
            "backend": s.backend, "queue_s": s.prediction.queue_s, "run_s": s.prediction.run_s,
            "wait_s": s.wait_s, "time_s": s.time_s, "error": s.prediction.error,
            "price_usd": s.prediction.price_usd,
            "cost": {"time": s.terms.time, "error": s.terms.error, "cost": s.terms.cost,
                     "total": s.total},
        } for s in d.scores],
    }


def _choice(decisions: list[Decision]) -> dict[str, Any]:
    """The chosen placements summed: price, and the slowest sub-task's time (they run in
    parallel on different backends; a lower bound when several share one)."""
    chosen = [next(s for s in d.scores if s.backend == d.backend) for d in decisions]
    return {
        "backends": sorted({d.backend for d in decisions}),
        "price_usd": sum(s.prediction.price_usd for s in chosen),
        "time_s": max((s.time_s for s in chosen), default=0.0),
        "error": max((s.prediction.error for s in chosen), default=0.0),
    }
