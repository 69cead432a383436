"""Failover benchmark: run the SIGKILL test several times and print recovery-time medians.

Each run of ``tests/integration/test_worker_kill.py`` submits 200 tasks to two
workers and SIGKILLs the worker that owns the control topics 3 times. Per kill
it records the takeover time (kill -> the survivor has restored the state) and
the time to the first result the survivor publishes. This script runs the test
``--runs`` times and prints every kill and the medians.

Usage::

    .venv/bin/python scripts/bench_failover.py --runs 3
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KILL_LINE = re.compile(r"^kill (\d+): (\{.*\})$", re.M)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    kills: list[dict[str, float]] = []
    for run in range(1, args.runs + 1):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
             "tests/integration/test_worker_kill.py"],
            cwd=REPO, capture_output=True, text=True, check=False)
        found = [ast.literal_eval(m.group(2)) for m in KILL_LINE.finditer(proc.stdout)]
        status = "passed" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        print(f"run {run}: {status}, {len(found)} kills")
        for entry in found:
            print(f"  takeover {entry['takeover_s']:.2f} s, next result "
                  f"{entry['next_result_s']:.2f} s, restore {entry['restore_ms']:.1f} ms, "
                  f"restored {entry['active']} tasks / {entry['pending']} pending / "
                  f"{entry['in_flight']} in flight, predictor {entry['observations']} obs")
        if proc.returncode != 0:
            print(proc.stdout[-4000:])
            return 1
        kills += found
    print(f"\n{len(kills)} kills over {args.runs} runs, 0 tasks lost, 0 duplicated (each run "
          "asserts it)")
    for key, label in (("takeover_s", "takeover (kill -> state restored)"),
                       ("next_result_s", "kill -> first result from the survivor"),
                       ("restore_ms", "restore from tables, ms")):
        values = [k[key] for k in kills]
        print(f"{label}: median {statistics.median(values):.3g}, "
              f"min {min(values):.3g}, max {max(values):.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
