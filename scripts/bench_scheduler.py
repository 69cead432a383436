"""Benchmark: scheduler decision latency and one reallocation pass versus pending work.

For each fleet size (6 = the default fleet, 30 = five renamed copies of it) and each
pending level (1k, 10k, 100k sub-tasks of the MQT Bench mix), a scheduler is filled
through :meth:`Scheduler.restore` (pending on their cheapest capable backend, two in
flight per backend), one reallocation pass settles it, and then:

- **decision**: ``--decisions`` further sub-tasks are submitted; p50 and p99 of
  :attr:`Decision.decision_latency_ms` (per placement decision);
- **realloc pass**: one :meth:`Scheduler.reallocate` one second later (in-flight
  load moved, predictions cached), and one after the estimator changed its
  predictions for one backend (``drift``: that backend's shapes are re-predicted).

Each figure is the median over ``--repeats`` fresh schedulers. The baseline row is
the round-robin policy in the same scheduler, same process, same pending work;
``x rr`` is the ratio to it. It scores with the calibration estimator (no learning),
so the figures are the scheduler's own cost, not the predictor's.

Run: ``.venv/bin/python scripts/bench_scheduler.py [--repeats 3] [--sizes 1000,10000,100000]``
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from dataclasses import replace

from qstream.backends.fleet import fleet_specs
from qstream.core.backend_spec import BackendSpec
from qstream.core.cost import CostWeights
from qstream.core.estimators import CalibrationEstimator
from qstream.core.policies import make_policy
from qstream.core.scheduler import Placement, Scheduler
from qstream.core.subtask import SubTask
from qstream.sim.workload import SHOTS_CHOICES, mqt_circuits
from qstream.workload import WEIGHT_PROFILES


def fleet(n: int) -> list[BackendSpec]:
    base = fleet_specs()
    out = list(base)
    copy = 1
    while len(out) < n:
        out.extend(replace(s, name=f"{s.name}_{copy}") for s in base)
        copy += 1
    return out[:n]


def subtasks(n: int, seed: int, prefix: str) -> list[SubTask]:
    rng = random.Random(seed)
    circuits = [f for _, f in mqt_circuits()]
    out = []
    for i in range(n):
        w = WEIGHT_PROFILES[rng.randrange(len(WEIGHT_PROFILES))]
        out.append(SubTask(
            subtask_id=f"{prefix}{i}/c0/s0", task_id=f"{prefix}{i}", circuit_index=0,
            circuit_name="c", qasm="", shots=rng.choice(SHOTS_CHOICES),
            features=circuits[rng.randrange(len(circuits))],
            weights=w if isinstance(w, CostWeights) else CostWeights(**w),
            priority=rng.choice((0, 0, 0, 1)), deadline_s=rng.choice((None, None, 3600.0)),
            submitted_at_s=0.0))
    return out


def filled(specs: list[BackendSpec], policy: str, pending: int, seed: int) -> Scheduler:
    sched = Scheduler(specs, CalibrationEstimator(), policy=make_policy(policy, seed=seed))
    placements = []
    for i, s in enumerate(subtasks(pending, seed, "p")):
        found = sched.cheapest(s)
        if found is None:
            continue
        placements.append(Placement(s, found[0], None, i))
    sched.restore(placements, [], now_s=0.0)
    sched.release(now_s=0.0)
    sched.reallocate(now_s=0.5)
    return sched


def measure(specs: list[BackendSpec], policy: str, pending: int, decisions: int,
            seed: int, freeze: bool = False) -> dict[str, float]:
    sched = filled(specs, policy, pending, seed)
    if freeze:
        # What is alive after warm-up leaves the collector's view (gc.freeze): a
        # full collection no longer walks the pending work.
        gc.collect()
        gc.freeze()
    lat = []
    for s in subtasks(decisions, seed + 1000, "d"):
        for d in sched.submit(s, now_s=1.0):
            lat.append(d.decision_latency_ms)
            break
    lat.sort()
    out = {"p50": lat[len(lat) // 2], "p99": lat[min(int(len(lat) * 0.99), len(lat) - 1)]}
    t0 = time.perf_counter()
    sched.reallocate(now_s=2.0)
    out["realloc"] = (time.perf_counter() - t0) * 1e3
    est = sched.predictor
    assert isinstance(est, CalibrationEstimator)
    est.invalidate(specs[0].name)
    t0 = time.perf_counter()
    sched.reallocate(now_s=3.0)
    out["drift"] = (time.perf_counter() - t0) * 1e3
    out["pending"] = float(sum(len(q) for q in sched.pending().values()))
    if freeze:
        gc.unfreeze()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--decisions", type=int, default=300)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--fleets", default="6,30")
    ap.add_argument("--gc-freeze", action="store_true",
                    help="gc.freeze() after each scheduler is filled and settled")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    fleets = [int(x) for x in args.fleets.split(",")]
    print(f"scheduler scale: median of {args.repeats} runs; decision p50/p99 over "
          f"{args.decisions} submissions per run; times in ms"
          f"{'; gc.freeze() after warm-up' if args.gc_freeze else ''}")
    print(f"{'backends':>8} {'pending':>8} {'policy':20} {'dec p50':>8} {'dec p99':>8} "
          f"{'x rr p99':>8} {'realloc':>9} {'drift':>9}")
    for nb in fleets:
        specs = fleet(nb)
        for n in sizes:
            rows = {}
            for policy in ("round-robin", "predictive-realloc"):
                runs = [measure(specs, policy, n, args.decisions, seed, args.gc_freeze)
                        for seed in range(args.repeats)]
                rows[policy] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            rr = rows["round-robin"]
            for policy, r in rows.items():
                realloc = "-" if policy == "round-robin" else f"{r['realloc']:9.2f}"
                drift = "-" if policy == "round-robin" else f"{r['drift']:9.2f}"
                print(f"{nb:8d} {int(r['pending']):8d} {policy:20} {r['p50']:8.3f} "
                      f"{r['p99']:8.3f} {r['p99'] / rr['p99']:8.2f} {realloc:>9} {drift:>9}",
                      flush=True)


if __name__ == "__main__":
    main()
