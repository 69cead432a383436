"""Live runs with calibration drift on: does a degrading device lose its share of sub-tasks?

A paired experiment per seed, each run a real ``qstream worker`` on the embedded broker
(through ``qstream demo``'s runner) over three emulated 7-qubit devices, the same
error-sensitive MQT Bench tasks (3-5 qubits, quantum devices only) at ``--rate`` per
second:

- **drift**: ``QSTREAM_DRIFT=1``, one calibration snapshot per ``--day-s`` emulated
  seconds. The split is where the watched device publishes its day-1 snapshot (the
  worker learns it from ``backend_status``, :func:`qstream.agents.learn.learn_calibration`).
- **control**: the same seed, so the same tasks, load-series offsets and day-0
  calibrations, drift on but ``--day-s`` 1e9 (the day-0 snapshot never changes), split
  at the same dispatch index as the drift run.

Why this control: the earlier control turned drift *off*, which gives the devices their
``Fake*`` snapshots instead of the day-0 ones (another fleet), and it runs into the same
non-stationarity as the drift run: the packaged pending-jobs series moves during a run
(at 60 emulated s per wall s a 3-minute run replays 3 hours), and the online
predictors warm up. Here both arms share both, so the drift effect is the drift arm's
change minus the control's. The first ``--warmup`` dispatches are left out of "before".

Seeds (chosen before any run, from the packaged data alone, by :func:`qualifying_seeds`):
the first seeds >= 1 where the watched device's published GHZ-5 error rises by at least
``--min-rise`` from day 0 to day 1, its external queue stays at most 30 pending jobs
over the first 200 emulated minutes (else it gets no work to lose), and so does another
device's (else the work has nowhere to go).

Printed per run: each device's share of first dispatches before / after the split, and
the median cost terms of the watched device in each window (which term moved); at the
end the median over seeds of the watched device's share before and after, per arm.

    .venv/bin/python scripts/live_drift_share.py --seeds 3 --tasks 150 --rate 1 --day-s 5400
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
from collections import Counter
from dataclasses import replace
from typing import Any

FLEET = "ibm_perth_emu,ibm_nairobi_emu,ibm_lagos_emu"
WEIGHTS = {"time": 1.0, "error": 10.0, "cost": 1.0}
"""Error-sensitive tasks (a hardware experiment that cares about fidelity): with equal
weights the queue wait of the moment decides and calibration barely matters."""
FROZEN_DAY_S = 1e9
"""The control's snapshot period (emulated s): no new day during a run."""


def small_tasks(n_tasks: int, *, seed: int = 7, prefix: str | None = None) -> list[dict[str, Any]]:
    from qstream.workload import mqt_qasm

    rng = random.Random(seed)
    return [{"schema": "qstream.task.v1", "task_id": f"{prefix or 'drift'}-{i:05d}",
             "circuits": [{"name": "c", "qasm": mqt_qasm(rng.choice(("ghz", "qft", "dj")),
                                                         rng.randint(3, 5))}],
             "shots": rng.choice((1000, 2000)), "kinds": ["qpu"],
             "weights": WEIGHTS} for i in range(n_tasks)]


def qualifying_seeds(watch: str, others: list[str], n: int, min_rise: float,
                     max_pending: int = 30) -> list[int]:
    """The first ``n`` seeds >= 1 that can show the effect (see the module docstring)."""
    from qstream.backends.ibm_emulated import device_spec
    from qstream.core.calibration_drift import DriftSeries, day_offset
    from qstream.core.features import CircuitFeatures
    from qstream.core.queue_model import PendingJobsSeries, start_offset_s

    ghz5 = CircuitFeatures(5, 6, 4, 5, 5, 5)
    drift, load = DriftSeries.load(), PendingJobsSeries.load()
    spec = device_spec(watch)
    assert spec.calibration is not None

    def error(seed: int, day: int) -> float:
        k = drift.index(day * drift.day_s, day_offset(seed, watch, len(drift.days)))
        cal = drift.scaled(spec.calibration, k, own=watch.removesuffix("_emu") == drift.reference)
        return 1.0 - replace(spec, calibration=cal).prior_esp(ghz5)

    def short_queue(seed: int, name: str) -> bool:
        offset = start_offset_s(seed, name, load.duration_s)
        return max(load.pending_jobs(name.removesuffix("_emu"), m * 60.0, offset_s=offset)
                   for m in range(200)) <= max_pending

    seeds: list[int] = []
    seed = 0
    while len(seeds) < n:
        seed += 1
        if (error(seed, 1) - error(seed, 0) >= min_rise and short_queue(seed, watch)
                and any(short_queue(seed, o) for o in others)):
            seeds.append(seed)
    return seeds


def one_run(args: argparse.Namespace, seed: int, day_s: float) -> dict[str, Any]:
    os.environ.update({"QSTREAM_FLEET": FLEET, "QSTREAM_DRIFT": "1",
                       "QSTREAM_DRIFT_DAY_S": str(day_s), "QSTREAM_FAULTS": args.faults})
    import qstream.workload
    from qstream.cli.demo import run_demo

    qstream.workload.demo_tasks = small_tasks  # type: ignore[assignment]
    return run_demo(args.tasks, time_scale=args.time_scale, rate_per_s=args.rate,
                    seed=seed, workload="circuits", timeout_s=600.0)


def windows(summary: dict[str, Any], watch: str, split: int | None, warmup: int
            ) -> tuple[int | None, dict[str, list[int]]]:
    """Dispatch indices before (after ``warmup``) and after the split; the drift arm's
    split is the first dispatch at or after the watched device's day-1 snapshot."""
    tl = summary["timeline"]
    ats = [at for at, _ in tl["dispatches"]]
    if split is None:
        changes = [at for at, b, _ in tl["calibrations"] if b == watch]
        if len(changes) < 2:
            return None, {}
        split = sum(at < changes[1] for at in ats)
    return split, {"before": list(range(min(warmup, split), split)),
                   "after": list(range(split, len(ats)))}


def describe(summary: dict[str, Any], idx: dict[str, list[int]], watch: str) -> dict[str, Any]:
    tl = summary["timeline"]
    out: dict[str, Any] = {}
    for label, ids in idx.items():
        chosen = Counter(tl["dispatches"][i][1] for i in ids)
        terms: dict[str, dict[str, float]] = {}
        for b in FLEET.split(","):
            scores = [s for i in ids for s in tl["dispatch_scores"][i] if s["backend"] == b]
            terms[b] = {k: statistics.median(s[k] for s in scores) if scores else float("nan")
                        for k in ("total", "time", "error", "cost", "wait_s", "error_rate")}
        out[label] = {"n": len(ids), "share": chosen[watch] / max(len(ids), 1),
                      "counts": dict(chosen), "terms": terms}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="how many qualifying seeds")
    ap.add_argument("--seed-list", default="", help="explicit seeds instead (comma-separated)")
    ap.add_argument("--tasks", type=int, default=150)
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument("--day-s", type=float, default=5400.0)
    ap.add_argument("--time-scale", type=float, default=60.0)
    ap.add_argument("--watch", default="ibm_perth_emu")
    ap.add_argument("--min-rise", type=float, default=0.3, help="GHZ-5 error rise, day 0 -> 1")
    ap.add_argument("--warmup", type=int, default=30, help="first dispatches left out")
    ap.add_argument("--faults", default="", help="also inject faults (QSTREAM_FAULTS)")
    args = ap.parse_args()
    seeds = ([int(s) for s in args.seed_list.split(",")] if args.seed_list
             else qualifying_seeds(args.watch, [b for b in FLEET.split(",") if b != args.watch],
                                   args.seeds, args.min_rise))
    print(f"seeds: {seeds}", flush=True)
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        drift = one_run(args, seed, args.day_s)
        split, idx = windows(drift, args.watch, None, args.warmup)
        if split is None:
            print(f"seed {seed}: no day-1 snapshot of {args.watch} during the run", flush=True)
            continue
        control = one_run(args, seed, FROZEN_DAY_S)
        _, cidx = windows(control, args.watch, split, args.warmup)
        row = {"seed": seed, "split": split, "drift": describe(drift, idx, args.watch),
               "control": describe(control, cidx, args.watch),
               "anomalies": [(a["backend"], a["signal"]) for a in drift["timeline"]["anomalies"]],
               "completed": (drift["tasks_completed"], control["tasks_completed"])}
        rows.append(row)
        for arm in ("drift", "control"):
            for label in ("before", "after"):
                w = row[arm][label]
                print(f"seed {seed} {arm:7s} {label:6s} n={w['n']:3d} "
                      f"{args.watch}={w['share']:.0%} {w['counts']} | median predicted "
                      + "; ".join(f"{b.removesuffix('_emu')}: cost={t['total']:.2f} "
                                  f"wait_s={t['wait_s']:.0f} error_rate={t['error_rate']:.3f}"
                                  for b, t in w["terms"].items()), flush=True)
        print(f"seed {seed}: split after dispatch {split}; anomalies {row['anomalies']}; "
              f"completed {row['completed']} of {args.tasks}", flush=True)
    if not rows:
        return
    print("\n| arm | runs | median share before | median share after | median change |")
    print("|---|---|---|---|---|")
    for arm in ("drift", "control"):
        b = [r[arm]["before"]["share"] for r in rows]
        a = [r[arm]["after"]["share"] for r in rows]
        print(f"| {arm} | {len(rows)} | {statistics.median(b):.1%} | {statistics.median(a):.1%} "
              f"| {statistics.median(y - x for x, y in zip(b, a, strict=True)):+.1%} |")


if __name__ == "__main__":
    main()
