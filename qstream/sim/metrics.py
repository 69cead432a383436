"""Per-run metrics and their mean with a 95% confidence interval over seeds.

The metric names are the live demo's (:func:`qstream.cli.demo.summarize`), so a live
run and a simulated one can be put side by side.

The interval is Student's t: ``mean +- t(0.975, n - 1) * sd / sqrt(n)`` over the
per-seed values (``scipy.stats.t``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from qstream.sim.engine import RunResult

METRICS: tuple[str, ...] = (
    "throughput_tasks_per_s", "jct_mean_s", "jct_p95_s", "makespan_s", "error_rate_mean",
    "cost_usd", "deadline_miss_rate", "reallocations", "hedges", "decision_ms_per_subtask",
    "tasks_completed", "tasks_failed", "subtasks", "anomalies", "breaker_opens",
)
"""Every metric of a run, in report order."""

LOWER_IS_BETTER = {"jct_mean_s", "jct_p95_s", "makespan_s", "error_rate_mean", "cost_usd",
                   "deadline_miss_rate", "decision_ms_per_subtask", "tasks_failed"}


def run_metrics(r: RunResult) -> dict[str, float]:
    """The metrics of one run (see :data:`METRICS`); a run with no completed task gives NaNs.

    - throughput: completed tasks / makespan (first arrival to last completion), tasks/s;
    - JCT: task completion minus submission, s; p95 by linear interpolation;
    - error rate: per task, the shot-weighted mean of 1 - fidelity over its
      sub-tasks, then the mean over tasks;
    - deadline-miss rate: among tasks with a deadline, the share finished late or failed;
    - decision time: mean wall ms of one scheduler decision (submit or requeue);
    - anomalies: sustained anomalies the detectors found; breaker opens: times a
      circuit breaker opened (:mod:`qstream.sim.health`).
    """
    jct = np.asarray(r.jct_s, dtype=float)
    nan = float("nan")
    return {
        "throughput_tasks_per_s": r.completed / r.makespan_s if r.makespan_s > 0 else nan,
        "jct_mean_s": float(jct.mean()) if jct.size else nan,
        "jct_p95_s": float(np.percentile(jct, 95)) if jct.size else nan,
        "makespan_s": r.makespan_s,
        "error_rate_mean": float(np.mean(r.errors)) if r.errors else nan,
        "cost_usd": r.cost_usd,
        "deadline_miss_rate": r.deadline_missed / r.deadline_tasks if r.deadline_tasks else 0.0,
        "reallocations": float(r.reallocations),
        "hedges": float(r.hedges),
        "decision_ms_per_subtask": float(np.mean(r.decision_ms)) if r.decision_ms else nan,
        "tasks_completed": float(r.completed),
        "tasks_failed": float(r.failed),
        "subtasks": float(r.subtasks),
        "anomalies": float(len(r.anomalies)),
        "breaker_opens": float(r.breaker_opens),
    }


def mean_ci95(values: Sequence[float]) -> dict[str, float]:
    """Mean and Student-t 95% confidence interval of per-seed values.

    >>> ci = mean_ci95([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> ci["mean"], round(ci["lo"], 3), round(ci["hi"], 3), ci["n"]
    (3.0, 1.037, 4.963, 5)
    >>> mean_ci95([2.0])["hi"]
    2.0
    """
    from scipy import stats

    xs = [v for v in values if not math.isnan(v)]
    if not xs:
        nan = float("nan")
        return {"mean": nan, "lo": nan, "hi": nan, "n": 0}
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return {"mean": m, "lo": m, "hi": m, "n": len(xs)}
    half = float(stats.t.ppf(0.975, len(xs) - 1)) * statistics.stdev(xs) / math.sqrt(len(xs))
    return {"mean": m, "lo": m - half, "hi": m + half, "n": len(xs)}


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and 95% CI of every metric over the given per-seed rows (``row["metrics"]``)."""
    return {m: mean_ci95([row["metrics"][m] for row in rows]) for m in METRICS}
