"""Benchmark: simulator speed at 10,000+ sub-tasks, and the predictor's cost per event.

Prints medians of ``--repeats`` runs and ratios against a baseline measured in the
same process (round-robin for the simulator, a per-backend running median for the
predictor). Performance targets (issue 3): >= 10,000 sub-tasks simulated in under
a minute on 2 cores; learn + predict <= 100 µs per event.

Run: ``.venv/bin/python scripts/bench_sim.py [--repeats 3] [--tasks 6300]``
"""

from __future__ import annotations

import argparse
import statistics
import time

from qstream.backends.fleet import fleet_specs
from qstream.core.observation import ExecutionObservation
from qstream.core.predictor import Predictor
from qstream.core.running_median import RunningMedian
from qstream.sim.experiment import Scenario, prepare, run_policy
from qstream.sim.workload import mqt_mix
from qstream.sim.world import World


def bench_sim(tasks: int, repeats: int) -> None:
    specs = fleet_specs()
    run = prepare(Scenario("bench", 0.95, tasks), specs, seed=0)
    print(f"simulator: {tasks} tasks at load 0.95, seed 0, median of {repeats} runs")
    base = None
    for policy in ("round-robin", "shortest-queue", "qonductor", "predictive",
                   "predictive-realloc", "oracle"):
        walls, subtasks, decision = [], 0, []
        for _ in range(repeats):
            row, result = run_policy(run, policy)
            walls.append(result.wall_s)
            subtasks = result.subtasks
            decision.append(row["metrics"]["decision_ms_per_subtask"])
        wall = statistics.median(walls)
        base = base or wall
        print(f"  {policy:20s} {subtasks:6d} sub-tasks  wall {wall:6.2f} s (runs "
              f"{', '.join(f'{w:.2f}' for w in walls)})  {subtasks / wall:8.0f} sub-tasks/s  "
              f"x{wall / base:5.1f} vs round-robin  decision {statistics.median(decision):.3f} ms")


def bench_predictor(events: int, repeats: int) -> None:
    specs = fleet_specs()
    world = World(specs, seed=0)
    tasks = mqt_mix(events, 0.01, seed=0)
    obs = []
    for i, t in enumerate(tasks):
        spec = specs[i % 4]  # the four QPUs
        f = next((c for c in t.circuits if spec.can_run(c) is None), None)
        if f is None:
            continue
        pj = world.pending_jobs(spec.name, t.submit_s)
        run_s = world.sample_run_s(spec.name, f, t.shots, t.submit_s, key=str(i))
        obs.append((spec, ExecutionObservation(
            spec.name, f, t.shots, pj, world.sample_queue_s(spec.name, pj, t.submit_s, str(i)),
            run_s, world.sample_error(spec.name, f, t.shots, t.submit_s, str(i)),
            spec.pricing.price_usd(t.shots, run_s))))
    print(f"predictor: {len(obs)} telemetry events (4 QPUs), median of {repeats} runs")

    def online() -> float:
        p = Predictor(specs)
        t0 = time.perf_counter()
        for spec, o in obs:
            p.predict(spec, o.features, o.shots, o.pending_jobs)
            p.learn(o)
        return (time.perf_counter() - t0) / len(obs) * 1e6

    def median_baseline() -> float:
        meds = {s.name: RunningMedian() for s in specs}
        t0 = time.perf_counter()
        for spec, o in obs:
            meds[spec.name].median()
            meds[spec.name].add(o.run_s)
        return (time.perf_counter() - t0) / len(obs) * 1e6

    on = statistics.median(online() for _ in range(repeats))
    med = statistics.median(median_baseline() for _ in range(repeats))
    print(f"  online Predictor (4 targets) predict+learn {on:6.1f} µs/event  (x{on / med:.0f} vs "
          f"running median {med:.1f} µs/event)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=6300, help="~10,000 sub-tasks")
    ap.add_argument("--events", type=int, default=5000)
    args = ap.parse_args()
    bench_predictor(args.events, args.repeats)
    bench_sim(args.tasks, args.repeats)


if __name__ == "__main__":
    main()
