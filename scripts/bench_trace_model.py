"""Learn + predict cost per event of the default online trace model (issue 13: <= 100 µs).

Replays each trace prequentially (``evaluate_trace``) with the model wrapped in a
timer, and reports the model's own time per event two ways: wall clock
(``perf_counter``, what ``predictor eval`` prints) and the process's CPU time
(``process_time``), which leaves out the time the process waited for a core. On
a shared machine the second is the fairer figure; both are medians over
``--repeats`` replays.

    python scripts/bench_trace_model.py examples/traces/*.csv --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from qstream.core.run_time_fit import RunTimeFit
from qstream.core.trace import TraceJob, read_trace
from qstream.core.trace_eval import evaluate_trace
from qstream.core.trace_model import RUN_UNIT_S, OnlineTraceModel, default_online_model


class _Timed:
    """Proxy that times ``predict`` and ``learn`` of an :class:`OnlineTraceModel`."""

    def __init__(self, model: OnlineTraceModel) -> None:
        self.model = model
        # [wall s, cpu s, calls] of predict and of learn
        self.predict_t = [0.0, 0.0, 0]
        self.learn_t = [0.0, 0.0, 0]

    def predict(self, job: TraceJob) -> Any:
        w, c = time.perf_counter(), time.process_time()
        out = self.model.predict(job)
        self._add(self.predict_t, w, c)
        return out

    def learn(self, job: TraceJob, y: float, predicted: float | None = None) -> None:
        w, c = time.perf_counter(), time.process_time()
        self.model.learn(job, y, predicted)
        self._add(self.learn_t, w, c)

    @staticmethod
    def _add(acc: list[Any], w: float, c: float) -> None:
        acc[1] += time.process_time() - c
        acc[0] += time.perf_counter() - w
        acc[2] += 1

    def per_event_us(self, i: int) -> float:
        """Per prediction plus per learned label, as ``predictor eval`` counts it."""
        p, ell = self.predict_t, self.learn_t
        return 1e6 * (p[i] / max(p[2], 1) + ell[i] / max(ell[2], 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("traces", nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--previous", action="store_true",
                        help="also time the settings before issue 13 (interleaved, same conditions)")
    args = parser.parse_args()
    print(f"{'trace':44s} {'target':8s} {'model':9s} {'events':>6s} {'wall µs/event':>14s} "
          f"{'cpu µs/event':>13s}")
    for path in args.traces:
        jobs = read_trace(path).jobs
        for target in ("queue_s", "run_s"):
            makers = {"default": lambda t=target: default_online_model(t)}
            if args.previous:
                makers["previous"] = lambda t=target: (
                    OnlineTraceModel(physics=RunTimeFit(), unit_s=RUN_UNIT_S) if t == "run_s"
                    else OnlineTraceModel())
            times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in makers}
            n = 0
            for _ in range(args.repeats):
                for name, make in makers.items():
                    timed = _Timed(make())
                    evaluate_trace(jobs, target, online=timed)  # type: ignore[arg-type]
                    times[name][0].append(timed.per_event_us(0))
                    times[name][1].append(timed.per_event_us(1))
                    n = timed.predict_t[2]
            for name, (wall, cpu) in times.items():
                print(f"{path[-44:]:44s} {target:8s} {name:9s} {n:6d} {statistics.median(wall):14.1f} "
                      f"{statistics.median(cpu):13.1f}")

if __name__ == "__main__":
    main()
