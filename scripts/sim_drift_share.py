"""The simulator's drift scenario: a device whose published calibration degrades loses work.

Runs ``qstream simulate``'s engine (the same scheduler and policy code as the live
worker) on a fleet of emulated QPUs with calibration drift on. Each simulated day the world
publishes every device's snapshot (:meth:`Scheduler.update_spec`). For every
(device, day) where the published error of a GHZ-5 circuit rises by more than
``--min-rise``, prints that device's share of the executions started in the day
before and in the day of the rise (and the mean over improvements, for contrast).

    .venv/bin/python scripts/sim_drift_share.py --tasks 1500 --seeds 3
"""

from __future__ import annotations

import argparse
from collections import Counter

from qstream.backends.fleet import fleet_specs
from qstream.core.calibration_drift import DAY_S
from qstream.core.features import CircuitFeatures
from qstream.sim.experiment import Scenario, prepare, run_simulation

GHZ5 = CircuitFeatures(5, 6, 4, 5, 5, 5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=1500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--load", type=float, default=0.8)
    ap.add_argument("--policy", default="predictive-realloc")
    ap.add_argument("--min-rise", type=float, default=0.03, help="GHZ-5 error rise")
    ap.add_argument("--fleet", default="ibm_perth_emu,ibm_lagos_emu,ibm_nairobi_emu,"
                                       "ibm_hanoi_emu,ibm_algiers_emu,ibm_brisbane_emu")
    args = ap.parse_args()
    specs = fleet_specs(args.fleet.split(","))
    before_all = after_all = 0.0
    cases = 0
    falls: list[tuple[float, float]] = []
    for seed in range(args.seeds):
        run = prepare(Scenario(name="drift", load=args.load, tasks=args.tasks, drift=True),
                      specs, seed)
        _, result, _ = run_simulation(run, args.policy)
        days = int(max(t for t, _ in result.starts) // DAY_S)
        per_day = [Counter(b for t, b in result.starts if int(t // DAY_S) == d)
                   for d in range(days + 1)]
        print(f"seed {seed}: {len(result.starts)} executions over {days + 1} simulated days")
        for spec in specs:
            if spec.calibration is None:
                continue
            for d in range(1, days):  # the last day is partial
                e0 = 1 - run.world.published_spec(spec.name, (d - 1) * DAY_S).prior_esp(GHZ5)
                e1 = 1 - run.world.published_spec(spec.name, d * DAY_S).prior_esp(GHZ5)
                n0, n1 = per_day[d - 1], per_day[d]
                s0 = n0[spec.name] / max(sum(n0.values()), 1)
                s1 = n1[spec.name] / max(sum(n1.values()), 1)
                if e0 - e1 >= args.min_rise:
                    falls.append((s0, s1))
                if e1 - e0 < args.min_rise:
                    continue
                cases += 1
                before_all += s0
                after_all += s1
                print(f"  {spec.name} day {d}: GHZ-5 error {e0:.3f} -> {e1:.3f}, "
                      f"share {s0:.1%} ({n0[spec.name]}) -> {s1:.1%} ({n1[spec.name]})")
    if cases:
        print(f"mean share over {cases} degradations: {before_all / cases:.1%} -> "
              f"{after_all / cases:.1%}")
    if falls:
        print(f"mean share over {len(falls)} improvements: "
              f"{sum(a for a, _ in falls) / len(falls):.1%} -> "
              f"{sum(b for _, b in falls) / len(falls):.1%}")


if __name__ == "__main__":
    main()
