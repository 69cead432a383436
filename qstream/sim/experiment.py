"""Scenarios, load factors, seeds: what ``qstream simulate`` and ``qstream report`` run.

Load factor
-----------
``load`` is the task arrival rate as a fraction of the fleet's service rate
``mu``, a fluid upper bound computed from the world's truth and the workload mix:

- each backend ``b`` serves ``r_b = capacity_b / E[queue_b + run_b]`` sub-tasks
  per second (its credits cycle once per queue wait plus run), and a QPU at most
  ``1 / E[run_b]`` (qstream's jobs run one at a time on it); ``E[queue_b]`` is
  the time-mean of the device's real pending jobs over the simulated window
  times its true mean service time, ``E[run_b]`` the mean true run time over
  the sub-tasks it can run;
- sub-tasks that only QPUs can run (``kinds: ["qpu"]``, or too wide for every
  simulator) have ``R_qpu = sum of r_b over QPUs``, so
  ``mu = min(R_qpu / share_qpu_only, sum of all r_b)`` sub-tasks/s.

It ignores that a wide circuit fits fewer devices, so ``mu`` over-estimates what
any policy can sustain: at load 0.95 the fleet is at, or past, saturation.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from qstream.core.backend_spec import BackendSpec
from qstream.core.policies import POLICY_NAMES
from qstream.errors import ConfigError
from qstream.sim.engine import RunResult, Simulation
from qstream.sim.metrics import run_metrics, summarize
from qstream.sim.policies import build, qonductor_history
from qstream.sim.workload import (
    SHOTS_CHOICES,
    Arrival,
    SimTask,
    mqt_circuits,
    mqt_mix,
    trace_tasks,
)
from qstream.sim.world import Fault, World

STANDARD_LOADS: tuple[float, ...] = (0.5, 0.8, 0.95)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One simulated setting.

    Attributes
    ----------
    name:
        Label in reports.
    load:
        Arrival rate over the fleet's service rate (see the module docstring);
        ignored by a trace replay (its arrivals are the trace's).
    tasks:
        Tasks per run (MQT Bench mix).
    arrival:
        ``poisson`` or ``bursty``.
    drift:
        Replay calibration drift.
    faults:
        ``(kind, backend, start, end, factor)`` with ``start``/``end`` as fractions
        of the expected arrival span (resolved per run by :meth:`faults_for`).
    trace:
        Job-trace rows to replay instead of the MQT Bench mix.
    detectors:
        Run the anomaly detectors and their actions (:mod:`qstream.sim.health`).
    """

    name: str = "baseline"
    load: float = 0.95
    tasks: int = 1000
    arrival: Arrival = "poisson"
    drift: bool = True
    faults: tuple[tuple[str, str, float, float, float], ...] = ()
    trace: tuple[Any, ...] = ()
    detectors: bool = True

    def __post_init__(self) -> None:
        if not self.trace and not (0 < self.load <= 10):
            raise ConfigError(f"load must be in (0, 10], got {self.load}")
        if self.tasks < 1:
            raise ConfigError(f"tasks must be >= 1, got {self.tasks}")

    def faults_for(self, span_s: float) -> list[Fault]:
        return [Fault(backend, start * span_s, end * span_s, kind, factor)  # type: ignore[arg-type]
                for kind, backend, start, end, factor in self.faults]


def service_rate(specs: Sequence[BackendSpec], world: World, tasks: Sequence[SimTask],
                 window_s: tuple[float, float] | None = None) -> dict[str, Any]:
    """The fleet's fluid service rate ``mu`` for a workload (see the module docstring).

    Returns
    -------
    dict
        ``subtasks_per_s``, ``tasks_per_s``, ``per_backend`` (sub-tasks/s) and
        ``share_qpu_only``.
    """
    subtasks = [(t, f) for t in tasks for f in t.circuits]
    if not subtasks:
        raise ConfigError("empty workload")
    per_backend: dict[str, float] = {}
    for spec in specs:
        runs = [world.expected_run_s(spec.name, f, t.shots, 0.0)
                for t, f in subtasks if spec.can_run(f) is None and t.shots <= spec.max_shots]
        if not runs:
            continue
        e_run = statistics.fmean(runs)
        pending = (world.mean_pending_jobs(spec.name) if window_s is None
                   else world.mean_pending_jobs(spec.name, *window_s))
        e_queue = pending * world.expected_queue_s(spec.name, 1, 0.0)
        rate = spec.capacity / (e_queue + e_run)
        if spec.kind == "qpu":
            rate = min(rate, 1.0 / e_run)
        per_backend[spec.name] = rate
    non_qpu = [s for s in specs if s.kind != "qpu"]
    qpu_only = sum(
        1 for t, f in subtasks
        if (t.kinds is not None and set(t.kinds) <= {"qpu"})
        or not any(s.can_run(f) is None for s in non_qpu)
    ) / len(subtasks)
    r_qpu = sum(r for b, r in per_backend.items() if b in {s.name for s in specs if s.kind == "qpu"})
    r_all = sum(per_backend.values())
    mu = min(r_qpu / qpu_only, r_all) if qpu_only > 0 else r_all
    per_task = len(subtasks) / len(tasks)
    return {"subtasks_per_s": mu, "tasks_per_s": mu / per_task, "per_backend": per_backend,
            "share_qpu_only": qpu_only}


@dataclass(slots=True)
class RunSpec:
    """Everything one run needs; built by :func:`prepare`."""

    scenario: Scenario
    seed: int
    specs: list[BackendSpec]
    world: World
    tasks: list[SimTask]
    rate_tasks_per_s: float
    history: list[Any] = field(default_factory=list)


def prepare(scenario: Scenario, specs: Sequence[BackendSpec], seed: int) -> RunSpec:
    """Draw the world and the workload of one seed (shared by every policy of that seed)."""
    probe_world = World(specs, seed=seed, drift=scenario.drift)
    if scenario.trace:
        tasks = trace_tasks(scenario.trace)
        rate = len(tasks) / max(tasks[-1].submit_s - tasks[0].submit_s, 1.0)
    else:
        sample = mqt_mix(min(scenario.tasks, 2000), 1.0, process=scenario.arrival, seed=seed)
        # The external load over the simulated window sets the service rate, and the
        # rate sets the window: a few fixed-point steps from the whole-series mean.
        rate = scenario.load * service_rate(specs, probe_world, sample)["tasks_per_s"]
        for _ in range(4):
            span = scenario.tasks / rate
            rate = scenario.load * service_rate(specs, probe_world, sample,
                                                (0.0, span))["tasks_per_s"]
        tasks = mqt_mix(scenario.tasks, rate, process=scenario.arrival, seed=seed)
    span_s = tasks[-1].submit_s - tasks[0].submit_s
    world = World(specs, seed=seed, drift=scenario.drift, faults=scenario.faults_for(span_s))
    circuits = [f for _, f in mqt_circuits()] if not scenario.trace else [
        f for t in tasks for f in t.circuits]
    history = qonductor_history(specs, world, circuits, SHOTS_CHOICES if not scenario.trace
                                else sorted({t.shots for t in tasks}), seed=seed)
    return RunSpec(scenario, seed, list(specs), world, tasks, rate, history)


def run_policy(run: RunSpec, policy: str) -> tuple[dict[str, Any], RunResult]:
    """Run one policy on a prepared seed; return its row (``policy``, ``load``, metrics) and raw result."""
    row, result, _ = run_simulation(run, policy)
    return row, result


def run_simulation(run: RunSpec, policy: str) -> tuple[dict[str, Any], RunResult, Simulation]:
    """:func:`run_policy`, also returning the finished :class:`Simulation` (for its trace)."""
    holder: dict[str, Simulation] = {}
    shapes = [(f, t.shots) for t in run.tasks for f in t.circuits]
    built = build(policy, run.specs, run.world, lambda: holder["sim"].now_s, seed=run.seed,
                  history=run.history, shapes=shapes)
    sim = Simulation(run.specs, run.world, run.tasks, built.policy, built.estimator,
                     on_truth_change=built.on_truth_change, detectors=run.scenario.detectors)
    holder["sim"] = sim
    result = sim.run()
    row = {
        "scenario": run.scenario.name, "policy": policy, "load": run.scenario.load,
        "seed": run.seed, "arrival": run.scenario.arrival,
        "rate_tasks_per_s": run.rate_tasks_per_s, "wall_s": result.wall_s,
        "events": result.events, "metrics": run_metrics(result),
        "anomalies": [{"at_s": at, "backend": b, "signal": sig, "action": act}
                      for at, b, sig, act in result.anomalies],
    }
    return row, result, sim


def run_scenario(
    scenario: Scenario,
    specs: Sequence[BackendSpec],
    *,
    policies: Sequence[str] = POLICY_NAMES,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    keep: Callable[[dict[str, Any], RunResult], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every policy on every seed of ``scenario``.

    Returns
    -------
    dict
        ``rows`` (one per policy and seed, each with ``policy`` and ``load``) and
        ``summary`` (per policy: mean and 95% CI of each metric, with ``policy``
        and ``load`` keys).
    """
    for p in policies:
        if p not in POLICY_NAMES:
            raise ConfigError(f"unknown policy {p!r}; choose from {', '.join(POLICY_NAMES)}")
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        run = prepare(scenario, specs, seed)
        for policy in policies:
            row, result = run_policy(run, policy)
            rows.append(row)
            if keep is not None:
                keep(row, result)
            if progress is not None:
                progress(f"{scenario.name} load={scenario.load} seed={seed} {policy}: "
                         f"{result.subtasks} sub-tasks in {result.wall_s:.1f} s")
    summary = [
        {"scenario": scenario.name, "policy": p, "load": scenario.load,
         "metrics": summarize([r for r in rows if r["policy"] == p])}
        for p in policies
    ]
    return {"rows": rows, "summary": summary}


def with_load(scenario: Scenario, load: float) -> Scenario:
    return replace(scenario, load=load)
