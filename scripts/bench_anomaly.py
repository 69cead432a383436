"""Precision, recall and false-positive rate of the anomaly detectors on injected faults.

Runs the same detector code as the live learn agent (:class:`qstream.core.anomaly.FleetMonitor`,
fed by :func:`qstream.agents.learn.watch`'s residuals against the online predictors)
over the simulator's ground truth (:class:`qstream.sim.world.World`), so it is fast on
2 cores: sub-tasks are executed one after another, round-robin over the fleet, every
``--dt`` emulated seconds, with calibration drift replayed (each new day is published
to the predictor, as the live pipeline learns it from ``backend_status``).

Faults, one per run on a random QPU, in the middle of the run (``--start``..``--end``
fractions of its span), like ``--faults`` injects them live:

- ``slow``:  queue wait and run time x ``--slow`` (``slow=`` / the simulator's slowdown);
- ``drift``: unannounced gate and readout errors x ``--drift`` (the new ``drift=``);
- ``fail``:  failure burst, each execution fails with probability ``--fail`` (``fail=``);
- ``clean``: no fault (false-positive rate).

An anomaly event is a true positive when it is on the faulted backend while the fault
is active or within ``--grace`` of its end (any signal); otherwise a false positive.
Recall: faults with at least one true positive. False-positive rate: false events per
observed sub-task.

    .venv/bin/python scripts/bench_anomaly.py --runs 10 --subtasks 1200
"""

from __future__ import annotations

import argparse
import math
import random
import time
import zlib
from collections import Counter

from qstream.backends.fleet import fleet_specs
from qstream.core.anomaly import FleetMonitor
from qstream.core.observation import ExecutionObservation
from qstream.core.predictor import Predictor
from qstream.sim.workload import SHOTS_CHOICES, mqt_circuits
from qstream.sim.world import Fault, World

FLEET = ("ibm_perth_emu", "ibm_lagos_emu", "ibm_nairobi_emu", "ibm_hanoi_emu")


def one_run(kind: str, seed: int, args: argparse.Namespace) -> dict:
    specs = fleet_specs(list(FLEET))
    rng = random.Random(zlib.crc32(f"{kind}/{seed}".encode()))
    span_s = args.subtasks * args.dt
    target = rng.choice(FLEET)
    start_s, end_s = args.start * span_s, args.end * span_s
    faults = []
    if kind == "slow":
        faults = [Fault(target, start_s, end_s, "slowdown", args.slow)]
    elif kind == "drift":
        faults = [Fault(target, start_s, end_s, "drift", args.drift)]
    world = World(specs, seed=seed, faults=faults)
    predictor = Predictor(specs)
    monitor = FleetMonitor()
    circuits = [f for _, f in mqt_circuits()]
    day = -1
    events = []
    observed = 0
    for i in range(args.subtasks):
        t = i * args.dt
        if world.day(t) != day:
            day = world.day(t)
            for s in specs:
                predictor.set_spec(world.published_spec(s.name, t))
        b = FLEET[i % len(FLEET)]
        spec = world.published_spec(b, t)
        f = rng.choice([c for c in circuits if spec.can_run(c) is None and c.num_qubits <= 7])
        shots = rng.choice(SHOTS_CHOICES)
        pending = world.pending_jobs(b, t)
        key = f"{seed}/{i}"
        if kind == "fail" and start_s <= t < end_s and b == target and rng.random() < args.fail:
            found = monitor.observe(b, success=False, at_s=t)
        else:
            pred = predictor.predict(spec, f, shots, pending)
            q = world.sample_queue_s(b, pending, t, key)
            r = world.sample_run_s(b, f, shots, t, key)
            e = world.sample_error(b, f, shots, t, key)
            predictor.learn(ExecutionObservation(b, f, shots, pending, q, r, e,
                                                 spec.pricing.price_usd(shots, r), t))
            found = monitor.observe(b, run_s=(r, pred.run_s), queue_s=(q, pred.queue_s),
                                    error=(e, pred.error), success=True, at_s=t)
        observed += 1
        events += found
    grace_s = args.grace * span_s
    tp = [a for a in events if kind != "clean" and a.backend == target
          and start_s <= a.at_s < end_s + grace_s]
    delay = (min(a.at_s for a in tp) - start_s) / (args.dt * len(FLEET)) if tp else math.nan
    return {"kind": kind, "seed": seed, "target": target, "events": len(events), "tp": len(tp),
            "fp": len(events) - len(tp), "detected": bool(tp), "observed": observed,
            "delay_obs": delay, "signals": Counter(a.signal for a in tp)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="seeds per fault kind")
    ap.add_argument("--subtasks", type=int, default=1200, help="sub-tasks per run")
    ap.add_argument("--dt", type=float, default=300.0, help="emulated s between sub-tasks")
    ap.add_argument("--start", type=float, default=0.5)
    ap.add_argument("--end", type=float, default=0.75)
    ap.add_argument("--grace", type=float, default=0.02, help="fraction of the span")
    ap.add_argument("--slow", type=float, default=3.0)
    ap.add_argument("--drift", type=float, default=3.0)
    ap.add_argument("--fail", type=float, default=0.5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    total_tp = total_ev = 0
    for kind in ("clean", "slow", "drift", "fail"):
        rows = [one_run(kind, seed, args) for seed in range(args.runs)]
        ev = sum(r["events"] for r in rows)
        tp = sum(r["tp"] for r in rows)
        fp = sum(r["fp"] for r in rows)
        obs = sum(r["observed"] for r in rows)
        total_ev += ev
        total_tp += tp
        det = sum(r["detected"] for r in rows)
        delays = [r["delay_obs"] for r in rows if r["detected"]]
        signals = sum((r["signals"] for r in rows), Counter())
        line = (f"{kind:6s} runs={len(rows)} sub-tasks={obs} events={ev} fp={fp} "
                f"fp_rate={fp / obs:.5f}/sub-task")
        if kind != "clean":
            median_delay = sorted(delays)[len(delays) // 2] if delays else math.nan
            line += (f" precision={tp / ev if ev else math.nan:.3f} recall={det}/{len(rows)}"
                     f"={det / len(rows):.2f} median_delay={median_delay:.1f} obs"
                     f" signals={dict(signals)}")
        print(line, flush=True)
    print(f"overall precision={total_tp / total_ev if total_ev else float('nan'):.3f} "
          f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
