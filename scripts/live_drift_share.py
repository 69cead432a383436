"""Live run with calibration drift on: does a degrading device lose its share of sub-tasks?

Starts the embedded broker and a real ``qstream worker`` (through ``qstream demo``'s
runner) over three emulated 7-qubit devices with ``QSTREAM_DRIFT=1``: they replay the
packaged daily calibration series, one snapshot per ``--day-s`` emulated seconds. The
worker seed picks each device's start day (:func:`qstream.core.calibration_drift.day_offset`);
``--seed 6463`` starts ``ibm_perth_emu`` at day 80 of its series (2023-03-22; the
three queues are short at that seed's offsets in the load series); on the next day
(81) its median two-qubit error is about 0.5 (a broken calibration that IBM
published).
The tasks are small MQT Bench circuits (3-5 qubits) on quantum
devices only, submitted at ``--rate`` per second.

The worker learns each new snapshot from ``backend_status`` telemetry
(:func:`qstream.agents.learn.learn_calibration`). Printed: each device's share of
first dispatches before the degraded device published its new snapshot, while it
held, and after the next (recovered) snapshot.

    .venv/bin/python scripts/live_drift_share.py --tasks 150 --rate 1 --day-s 3600 --seed 6463
    .venv/bin/python scripts/live_drift_share.py --tasks 150 --rate 1 --seed 6463 --no-drift \
        --split 57,117
"""

from __future__ import annotations

import argparse
import os
import random
from collections import Counter
from typing import Any

FLEET = "ibm_perth_emu,ibm_nairobi_emu,ibm_lagos_emu"
WEIGHTS = {"time": 1.0, "error": 10.0, "cost": 1.0}
"""Error-sensitive tasks (a hardware experiment that cares about fidelity): with equal
weights the queue wait of the moment decides and calibration barely matters."""


def small_tasks(n_tasks: int, *, seed: int = 7, prefix: str | None = None) -> list[dict[str, Any]]:
    from qstream.workload import mqt_qasm

    rng = random.Random(seed)
    return [{"schema": "qstream.task.v1", "task_id": f"{prefix or 'drift'}-{i:05d}",
             "circuits": [{"name": "c", "qasm": mqt_qasm(rng.choice(("ghz", "qft", "dj")),
                                                         rng.randint(3, 5))}],
             "shots": rng.choice((1000, 2000)), "kinds": ["qpu"],
             "weights": WEIGHTS} for i in range(n_tasks)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=80)
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument("--day-s", type=float, default=3600.0)
    ap.add_argument("--time-scale", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=6463)
    ap.add_argument("--watch", default="ibm_perth_emu")
    ap.add_argument("--faults", default="", help="also inject faults (QSTREAM_FAULTS)")
    ap.add_argument("--no-drift", action="store_true",
                    help="control run: drift off, split after --split dispatches")
    ap.add_argument("--split", default="76", help="control: dispatch counts A[,B] to split at")
    args = ap.parse_args()
    os.environ.update({"QSTREAM_FLEET": FLEET, "QSTREAM_DRIFT": "0" if args.no_drift else "1",
                       "QSTREAM_DRIFT_DAY_S": str(args.day_s), "QSTREAM_FAULTS": args.faults})
    import qstream.workload
    from qstream.cli.demo import run_demo

    qstream.workload.demo_tasks = small_tasks  # type: ignore[assignment]
    summary = run_demo(args.tasks, time_scale=args.time_scale, rate_per_s=args.rate,
                       seed=args.seed, workload="circuits", timeout_s=600.0)
    tl = summary["timeline"]
    changes = [(at, cal) for at, b, cal in tl["calibrations"] if b == args.watch]
    print(f"{args.watch} snapshots: " + ", ".join(
        f"2q error {c['two_qubit_error']:.4f} readout {c['readout_error']:.4f}" for _, c in changes))
    if args.no_drift:
        ats = sorted(at for at, _ in tl["dispatches"])
        changes = [(0.0, {})] + [(ats[min(int(n), len(ats) - 1)], {})
                                 for n in args.split.split(",")]
    if len(changes) < 2:
        print("no new snapshot during the run: raise --tasks or lower --day-s")
        return
    switch = changes[1][0]
    back = changes[2][0] if len(changes) > 2 else float("inf")
    for label, part in (("before", [b for at, b in tl["dispatches"] if at < switch]),
                        ("after", [b for at, b in tl["dispatches"] if switch <= at < back]),
                        ("next", [b for at, b in tl["dispatches"] if at >= back])):
        n = Counter(part)
        total = max(len(part), 1)
        print(f"{label:6s} sub-tasks={len(part)} " + " ".join(
            f"{b}={n[b]} ({n[b] / total:.0%})" for b in FLEET.split(",")))
    print(f"anomalies: {[(a['backend'], a['signal'], round(a['score'], 1)) for a in tl['anomalies']]}")
    print(f"completed {summary['tasks_completed']} / {summary['tasks_submitted']}, "
          f"failed {summary['tasks_failed']}")


if __name__ == "__main__":
    main()
