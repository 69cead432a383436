"""Seeded scheduler workloads whose discrete decisions are recorded as test data.

``tests/data/scheduler_golden.json`` holds the decisions the scheduler made on
these workloads *before* its scale work (issue 13, section 2): where each
sub-task was placed, what each release returned, every reallocation and hedge,
and a seeded simulation's executions. ``tests/unit/test_scheduler_golden.py``
replays them and asserts the same decisions, so the faster code paths provably
keep behaviour.

Both workloads score with :class:`DriftingEstimator` (calibration priors times a
per-backend factor that moves when told), not the online predictor, so that
work on the predictor does not change these decisions.

Regenerate (only when a decision change is intended)::

    .venv/bin/python -m tests.helpers.sched_golden > tests/data/scheduler_golden.json
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

from qstream.core.backend_spec import BackendSpec
from qstream.core.cost import CostWeights
from qstream.core.estimators import CalibrationEstimator
from qstream.core.features import CircuitFeatures
from qstream.core.policies import make_policy
from qstream.core.prediction import Prediction
from qstream.core.scheduler import Scheduler, SchedulerConfig
from qstream.core.scheduler.fairness import TenantShare
from qstream.core.subtask import SubTask
from qstream.errors import BudgetError, CapacityError, SchedulerLookupError


class DriftingEstimator:
    """Calibration priors scaled per backend by factors that :meth:`drift` redraws."""

    def __init__(self, seed: int) -> None:
        self._base = CalibrationEstimator()
        self._rng = random.Random(seed)
        self._factor: dict[str, tuple[float, float, float]] = {}
        self._version = 0
        self._backend_version: dict[str, int] = {}

    def drift(self, backend: str) -> None:
        r = self._rng
        self._factor[backend] = (r.uniform(0.5, 2.0), r.uniform(0.5, 2.0), r.uniform(0.8, 1.2))
        self._version += 1
        self._backend_version[backend] = self._backend_version.get(backend, 0) + 1

    def predict(self, spec: BackendSpec, features: CircuitFeatures, shots: int,
                pending_jobs: int) -> Prediction:
        p = self._base.predict(spec, features, shots, pending_jobs)
        fq, fr, fe = self._factor.get(spec.name, (1.0, 1.0, 1.0))
        return Prediction(p.queue_s * fq, p.run_s * fr, min(p.error * fe, 1.0),
                          p.price_usd * fr)

    def version(self) -> int:
        return self._version

    def backend_version(self, backend: str) -> int:
        return self._backend_version.get(backend, 0)

    def set_spec(self, spec: BackendSpec) -> None:
        self._base.set_spec(spec)
        self._version += 1
        self._backend_version[spec.name] = self._backend_version.get(spec.name, 0) + 1


def _specs() -> list[BackendSpec]:
    from qstream.backends.fleet import fleet_specs

    return fleet_specs()


def _circuits() -> list[CircuitFeatures]:
    from qstream.sim.workload import mqt_circuits

    return [f for _, f in mqt_circuits()]


def scheduler_trace(seed: int, *, steps: int = 120, tenants: bool = False,
                    policy: str = "predictive-realloc") -> list[Any]:
    """Drive a :class:`Scheduler` through a seeded mix of every operation; return its log.

    Submissions with random priorities, deadlines, weights, shots (some split),
    allowed backends and budgets; releases, completions, failures and requeues;
    estimator drift, pending-job and up/down changes; reallocation and hedging.
    The log holds only discrete outcomes (ids, backends, counts).
    """
    rng = random.Random(seed)
    specs = _specs()
    names = [s.name for s in specs]
    circuits = _circuits()
    est = DriftingEstimator(seed)
    shares = {"a": TenantShare(weight=2.0), "b": TenantShare(weight=1.0, max_concurrent=3)}
    sched = Scheduler(specs, est, SchedulerConfig(hedge_min_s=5.0), make_policy(policy, seed=seed),
                      tenants=shares if tenants else None)
    log: list[Any] = []
    inflight: list[str] = []
    n = 0
    for step in range(steps):
        now = float(step) * 10.0
        for _ in range(rng.randrange(0, 8)):
            n += 1
            f = circuits[rng.randrange(len(circuits))]
            task = f"t{n // 3}"
            weights = CostWeights(time=rng.choice((1.0, 0.2, 3.0)),
                                  error=rng.choice((1.0, 0.0, 5.0)),
                                  cost=rng.choice((1.0, 0.1)))
            allowed = None
            if rng.random() < 0.15:
                allowed = tuple(sorted(rng.sample(names, rng.randrange(1, len(names)))))
            s = SubTask(
                subtask_id=f"{task}/c{n % 3}/s0", task_id=task, circuit_index=n % 3,
                circuit_name="c", qasm="", shots=rng.choice((100, 1000, 4000, 8000, 20_000)),
                features=f, weights=weights, priority=rng.choice((0, 0, 0, 1, 5)),
                deadline_s=rng.choice((None, None, 300.0, 3000.0)), allowed_backends=allowed,
                submitted_at_s=now, budget_usd=rng.choice((None,) * 6 + (50.0, 5.0)),
                tenant=rng.choice(("a", "b")) if tenants else "default",
            )
            try:
                ds = sched.submit(s, now)
                log.append(["submit", s.subtask_id, [[d.subtask.subtask_id, d.backend]
                                                     for d in ds]])
            except (CapacityError, BudgetError) as exc:
                log.append(["submit-error", s.subtask_id, type(exc).__name__])
        if rng.random() < 0.3:
            est.drift(rng.choice(names))
        if rng.random() < 0.3:
            b = rng.choice(names)
            sched.set_pending_jobs(b, rng.randrange(0, 300))
        if rng.random() < 0.05:
            b = rng.choice(names)
            up = rng.random() < 0.5
            sched.set_operational(b, up)
            log.append(["operational", b, up])
        if step % 3 == 0:
            moved = sched.reallocate(now)
            log.append(["realloc", [[m.subtask_id, m.from_backend, m.to_backend] for m in moved]])
        hedges = sched.hedge(now)
        if hedges:
            log.append(["hedge", [[h.subtask.subtask_id, h.to_backend] for h in hedges]])
            inflight.extend(h.subtask.subtask_id for h in hedges)
        released = sched.release(now)
        log.append(["release", [[s.subtask_id, b] for s, b in released]])
        inflight.extend(s.subtask_id for s, _ in released)
        rng.shuffle(inflight)
        keep: list[str] = []
        for sid in inflight:
            r = rng.random()
            if r < 0.35:
                log.append(["complete", sid, sched.complete(sid, now + 5.0)])
            elif r < 0.38:
                try:
                    d = sched.requeue(sid, now + 5.0, exclude=(rng.choice(names),))
                    log.append(["requeue", sid, d.backend])
                except (CapacityError, BudgetError, SchedulerLookupError) as exc:
                    log.append(["requeue-error", sid, type(exc).__name__])
            else:
                keep.append(sid)
        inflight = keep
        if step % 10 == 9:
            log.append(["pending", sched.pending()])
    return log


def sim_trace(tasks: int = 150, seed: int = 0) -> dict[str, Any]:
    """A seeded simulation under ``predictive-realloc``'s rule with :class:`DriftingEstimator`.

    Returns every execution (sub-task, backend, state) and start, and the counts.
    """
    from qstream.sim.engine import Simulation
    from qstream.sim.experiment import Scenario, prepare

    specs = _specs()
    run = prepare(Scenario("golden", 0.95, tasks, drift=False), specs, seed=seed)
    est = DriftingEstimator(seed)
    # Detectors off: the recording predates them, and this checks the scheduler alone.
    sim = Simulation(run.specs, run.world, run.tasks, make_policy("predictive-realloc"), est,
                     detectors=False)
    rng = random.Random(seed)
    original = sim._finish

    def finish(eid: int) -> None:  # drift the estimator as a learner would
        original(eid)
        if rng.random() < 0.5:
            est.drift(rng.choice(run.specs).name)

    sim._finish = finish  # type: ignore[method-assign]
    r = sim.run()
    return {
        "executions": [list(x) for x in sim.executions()],
        "starts": [[round(t, 6), b] for t, b in r.starts],
        "reallocations": r.reallocations, "hedges": r.hedges, "completed": r.completed,
        "failed": r.failed, "subtasks": r.subtasks,
    }


def record() -> dict[str, Any]:
    """Every golden workload's log."""
    return {
        "scheduler": {str(seed): scheduler_trace(seed) for seed in (0, 1)},
        "tenants": {str(seed): scheduler_trace(seed, tenants=True) for seed in (2,)},
        "round_robin": {"3": scheduler_trace(3, policy="round-robin", steps=60)},
        "simulation": sim_trace(),
    }


if __name__ == "__main__":
    json.dump(record(), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
