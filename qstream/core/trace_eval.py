"""Prequential evaluation of queue-wait and run-time forecasters on a job trace.

Prequential = test then train, in time order (Dawid, "Statistical theory: the
prequential approach", JRSS A 147, 1984): at each job's submission every model
predicts, and learns the label only once it could really have been observed.

No leakage
    A job's ``queue_s`` becomes known when it starts (``submitted_at + queue_s``),
    its ``run_s`` when it completes (``submitted_at + queue_s + run_s``). Labels
    wait in a heap keyed by that arrival time, and before each prediction at
    time ``t`` every label with arrival ``<= t`` is learned, in arrival order.
    When ``queue_s`` is unknown the completion time is too; ``run_s`` then
    arrives at the lower bound ``submitted_at + run_s`` (counted in
    ``n_completion_time_assumed``).

Scored and learned rows
    ``run_s`` is scored on ``DONE`` jobs only (an errored job's run time says
    little about a successful one's), ``queue_s`` on every job that has one.
    Every known label is learned, whatever the status.

Models, on the same rows
    ``online`` (:func:`~qstream.core.trace_model.default_online_model` of the
    target unless one is given; it learns the residual of each prediction for
    its interval, except of a cold-start prediction made before any label was
    known),
    ``running_median`` (:class:`~qstream.core.trace_baselines.RunningMedianModel`),
    ``last_value`` (:class:`~qstream.core.trace_baselines.LastValueModel`: the last
    label known on the backend, with the same delayed labels),
    and optionally an injected offline baseline (``offline_hgb`` in the CLI,
    :mod:`qstream.offline_model`): fitted once on the first half of the trace
    (by submission order: the labels of those jobs known at the split time,
    the first second-half submission), it predicts the second half without
    updating. So every model is compared on the scored rows of the second half
    after warm-up; the online models are also reported on all scored rows
    after warm-up.

Metrics (:func:`prediction_metrics`)
    ``n``, ``mae_s``, ``median_ape`` (median of ``|pred - actual| / actual`` on
    rows with ``actual > 0``, a fraction), ``within_20pct`` (share with
    ``|pred - actual| <= 0.2 actual``), ``off_by_2x`` (share with
    ``max(pred / actual, actual / pred) >= 2``). Where both are within
    :data:`ZERO_S` of zero a prediction counts as exact; where only one is, it
    is off by 2x and not within 20%.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from qstream.core.trace import TraceJob, TraceReadResult
from qstream.core.trace_baselines import LastValueModel, RunningMedianModel
from qstream.core.trace_model import OnlineTraceModel, default_online_model
from qstream.errors import ConfigError, ValidationError

Target = Literal["run_s", "queue_s"]
TARGETS: tuple[str, ...] = ("run_s", "queue_s")
#: Times at or below this many seconds count as zero in the ratio metrics: 1 ms is
#: below any queue wait or run time a trace records to the second.
ZERO_S = 1e-3
#: Fewest training labels the offline baseline is fitted on.
MIN_OFFLINE_TRAIN = 10

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class Baseline(Protocol):
    """An online baseline: :class:`RunningMedianModel`, :class:`LastValueModel`."""

    def predict(self, job: TraceJob) -> tuple[float, bool]:
        """``(prediction_s, known)``; ``known`` is False when no label was known."""

    def learn(self, job: TraceJob, y: float) -> None:
        """Learn the label ``y`` (seconds) of ``job``."""


class OfflineBaseline(Protocol):
    """A batch model fitted once, e.g. :class:`qstream.offline_model.HGBBaseline`."""

    def fit(self, jobs: Sequence[TraceJob], y: Sequence[float]) -> None:
        """Fit on jobs and their labels (seconds)."""

    def predict(self, jobs: Sequence[TraceJob]) -> Sequence[float] | FloatArray:
        """Predict labels (seconds, >= 0) for jobs."""


def label(job: TraceJob, target: Target) -> float | None:
    """The job's ``target`` value in seconds, ``None`` if unknown."""
    return job.run_s if target == "run_s" else job.queue_s


def label_arrival_s(job: TraceJob, target: Target) -> tuple[float, bool] | None:
    """When the label becomes known (epoch s) and whether that time is a lower bound.

    Examples
    --------
    >>> job = TraceJob(2, 100.0, "b", 1, 1, 1, 1, queue_s=30.0, run_s=5.0)
    >>> label_arrival_s(job, "queue_s"), label_arrival_s(job, "run_s")
    ((130.0, False), (135.0, False))
    >>> from dataclasses import replace
    >>> label_arrival_s(replace(job, queue_s=None), "run_s")   # queue unknown: lower bound
    (105.0, True)
    """
    if target == "queue_s":
        return None if job.queue_s is None else (job.submitted_at_s + job.queue_s, False)
    if job.run_s is None:
        return None
    if job.queue_s is None:
        return job.submitted_at_s + job.run_s, True
    return job.submitted_at_s + job.queue_s + job.run_s, False


def is_scored(job: TraceJob, target: Target) -> bool:
    """Whether the job's prediction is scored: label known (and status DONE for ``run_s``)."""
    if label(job, target) is None:
        return False
    return target != "run_s" or job.status == "DONE"


def prediction_metrics(pred: Sequence[float] | FloatArray,
                       actual: Sequence[float] | FloatArray) -> dict[str, Any]:
    """Accuracy of predictions against actuals (both seconds, same length).

    Returns
    -------
    dict
        ``n``, ``mae_s``, ``median_ape``, ``within_20pct``, ``off_by_2x`` (see the
        module docstring); ``None`` for a metric without rows.

    Examples
    --------
    >>> m = prediction_metrics([10.0, 12.0, 30.0, 0.0], [10.0, 10.0, 10.0, 0.0])
    >>> m["n"], m["mae_s"], m["median_ape"], m["within_20pct"], m["off_by_2x"]
    (4, 5.5, 0.2, 0.75, 0.25)
    """
    p = np.asarray(pred, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if p.shape != a.shape:
        raise ValueError(f"pred and actual differ in shape: {p.shape} vs {a.shape}")
    n = int(p.size)
    if n == 0:
        return {"n": 0, "mae_s": None, "median_ape": None, "within_20pct": None, "off_by_2x": None}
    err = np.abs(p - a)
    pos = a > 0.0
    both_zero = (np.abs(p) <= ZERO_S) & (np.abs(a) <= ZERO_S)
    one_zero = ~both_zero & ((p <= ZERO_S) | (a <= ZERO_S))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(p / a, a / p)
    off = np.where(both_zero, False, np.where(one_zero, True, ratio >= 2.0))
    within = both_zero | (~one_zero & (err <= 0.2 * a))
    return {
        "n": n,
        "mae_s": float(err.mean()),
        "median_ape": float(np.median(err[pos] / a[pos])) if pos.any() else None,
        "within_20pct": float(within.mean()),
        "off_by_2x": float(off.mean()),
    }


@dataclass
class ModelResult:
    """One model's predictions on the scored rows (``NaN`` where it made none)."""

    pred: FloatArray
    learn_predict_us: float | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TraceEvaluation:
    """Result of :func:`evaluate_trace`; arrays are per scored row, in time order.

    Attributes
    ----------
    target, warmup:
        As given.
    split_at_s:
        Submission time of the first job of the second half (epoch s; NaN for
        an empty trace).
    n_completion_time_assumed:
        Labels learned at the lower bound ``submitted_at + run_s``.
    lines, submitted_at_s, backends, actual:
        The scored rows: trace line, submission time, backend, label (seconds).
    second_half, no_label_known:
        Row masks: submitted in the second half; predicted before any label was known.
    models:
        ``"online"``, ``"running_median"``, ``"last_value"`` and, when given,
        ``"offline_hgb"``.
    lo, hi:
        The online model's 80% interval (seconds; NaN before it has one).
    unknown_features:
        Rows with an unknown ``shots``, ``num_qubits`` or ``depth``: ``n``;
        ``used``, scored (predicted from the known features, label learned);
        ``learned_only``, label learned but not scored (``run_s`` of a job not
        ``DONE``); ``skipped``, no label of the target to score or learn.
    """

    target: str
    warmup: int
    split_at_s: float
    n_completion_time_assumed: int
    lines: npt.NDArray[np.int64]
    submitted_at_s: FloatArray
    backends: list[str]
    actual: FloatArray
    second_half: BoolArray
    no_label_known: BoolArray
    models: dict[str, ModelResult]
    lo: FloatArray
    hi: FloatArray
    unknown_features: dict[str, int] = field(
        default_factory=lambda: {"n": 0, "used": 0, "learned_only": 0, "skipped": 0})

    @property
    def after_warmup(self) -> BoolArray:
        """Rows after the first ``warmup`` scored rows."""
        return np.arange(self.actual.size) >= self.warmup

    def _model_metrics(self, name: str, mask: BoolArray) -> dict[str, Any]:
        result = self.models[name]
        out = prediction_metrics(result.pred[mask], self.actual[mask])
        out["learn_predict_us"] = result.learn_predict_us
        out.update(result.extra)
        if name != "offline_hgb":
            out["n_no_prediction"] = int(self.no_label_known[mask].sum())
        if name == "online":
            lo, hi, a, p = self.lo[mask], self.hi[mask], self.actual[mask], result.pred[mask]
            has = ~np.isnan(lo)
            out["n_interval"] = int(has.sum())
            if has.any():
                covered = (lo[has] <= a[has]) & (a[has] <= hi[has])
                out["interval_coverage"] = float(covered.mean())
                width = (hi[has] - lo[has]) / np.maximum(p[has], ZERO_S)
                out["interval_width_ratio"] = float(width.mean())
            else:
                out["interval_coverage"] = out["interval_width_ratio"] = None
        return out

    def metrics(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Metrics per window and model.

        Returns
        -------
        dict
            ``{"second_half": {model: metrics}, "all_after_warmup": {"online": ...,
            "running_median": ..., "last_value": ...}}``. Online metrics add ``interval_coverage``
            (share of actuals inside the 80% interval), ``interval_width_ratio``
            (mean ``(hi - lo) / pred``) and ``n_interval``; online and the online
            baselines add ``n_no_prediction`` (rows predicted before any label was
            known: 0 s); the offline baseline adds ``fit_s``, ``n_train`` and
            ``predict_one_us``.
        """
        second = self.second_half & self.after_warmup
        return {
            "second_half": {name: self._model_metrics(name, second) for name in self.models},
            "all_after_warmup": {name: self._model_metrics(name, self.after_warmup)
                                 for name in self.models if name != "offline_hgb"},
        }

    def report(self, read: TraceReadResult, trace: str) -> dict[str, Any]:
        """The JSON report of ``qstream predictor eval`` for a trace read as ``read``."""
        return {
            "trace": trace,
            "target": self.target,
            "rows_read": read.rows_read,
            "rows_skipped": [{"line": e.line, "reason": e.reason} for e in read.errors],
            "n_jobs": len(read.jobs),
            "n_scored": int(self.actual.size),
            "n_completion_time_assumed": self.n_completion_time_assumed,
            "warmup": self.warmup,
            "split_at_s": None if math.isnan(self.split_at_s) else self.split_at_s,
            "rows_unknown_features": dict(self.unknown_features),
            **self.metrics(),
        }


def _check(target: str, warmup: int) -> None:
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if warmup < 0:
        raise ConfigError(f"warmup must be >= 0, got {warmup}")


def evaluate_trace(
    jobs: Sequence[TraceJob],
    target: Target,
    *,
    warmup: int = 0,
    online: OnlineTraceModel | None = None,
    offline: OfflineBaseline | None = None,
    columns: Sequence[str] | None = None,
) -> TraceEvaluation:
    """Evaluate the online model, the running median, the last value and ``offline``
    prequentially.

    Parameters
    ----------
    jobs:
        The trace (:attr:`TraceReadResult.jobs`); sorted again by submission time.
    target:
        ``"run_s"`` or ``"queue_s"``.
    warmup:
        Scored rows, from the first, left out of every metric.
    online:
        The online model (fresh state); ``None``: ``default_online_model(target)``.
    offline:
        Batch baseline fitted on the first half; ``None`` leaves it out.
    columns:
        The trace's columns (:attr:`TraceReadResult.columns`); when given, the
        target must be among them.

    Returns
    -------
    TraceEvaluation

    Raises
    ------
    ConfigError
        On an unknown ``target`` or a negative ``warmup``.
    ValidationError
        If ``columns`` lacks the target column.
    """
    _check(target, warmup)
    if columns is not None and target not in columns:
        raise ValidationError(f"the trace has no {target} column to evaluate", reason="trace_header")
    jobs = sorted(jobs, key=lambda j: j.submitted_at_s)
    online = online if online is not None else default_online_model(target)
    baselines: dict[str, Baseline] = {"running_median": RunningMedianModel(),
                                      "last_value": LastValueModel()}
    mid = len(jobs) // 2
    split_at_s = jobs[mid].submitted_at_s if jobs else math.nan

    # (arrival_s, job index, online prediction; None if made before any label was known)
    pending: list[tuple[float, int, float | None]] = []
    rows: list[int] = []
    pred_online: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    pred_base: dict[str, list[float]] = {name: [] for name in baselines}
    no_label: list[bool] = []
    n_assumed = 0
    n_learned = 0
    t_predict = dict.fromkeys(("online", *baselines), 0.0)
    t_learn = dict.fromkeys(("online", *baselines), 0.0)
    n_predicted = 0
    unknown = {"n": 0, "used": 0, "learned_only": 0, "skipped": 0}
    clock = time.perf_counter
    for i, job in enumerate(jobs):
        while pending and pending[0][0] <= job.submitted_at_s:
            _, k, predicted = heapq.heappop(pending)
            y = label(jobs[k], target)
            assert y is not None
            t0 = clock()
            online.learn(jobs[k], y, predicted)
            t_learn["online"] += clock() - t0
            for name, base in baselines.items():
                t0 = clock()
                base.learn(jobs[k], y)
                t_learn[name] += clock() - t0
            n_learned += 1
        arrival = label_arrival_s(job, target)
        if not job.features_known:
            unknown["n"] += 1
            unknown["skipped" if arrival is None else "used" if is_scored(job, target)
                    else "learned_only"] += 1
        if arrival is None:
            continue
        t0 = clock()
        p, p_lo, p_hi = online.predict(job)
        t_predict["online"] += clock() - t0
        base_pred: dict[str, float] = {}
        known = False
        for name, base in baselines.items():
            t0 = clock()
            base_pred[name], known = base.predict(job)
            t_predict[name] += clock() - t0
        n_predicted += 1
        # A cold-start prediction (0 s, no label known) says nothing about the model's
        # residuals: it would put a log1p(label) outlier into the interval's window.
        heapq.heappush(pending, (arrival[0], i, p if known else None))
        n_assumed += arrival[1]
        if is_scored(job, target):
            rows.append(i)
            pred_online.append(p)
            lo.append(math.nan if p_lo is None else p_lo)
            hi.append(math.nan if p_hi is None else p_hi)
            for name, value in base_pred.items():
                pred_base[name].append(value)
            no_label.append(not known)

    def per_event_us(name: str) -> float | None:
        if not n_predicted:
            return None
        return 1e6 * (t_predict[name] / n_predicted + (t_learn[name] / n_learned if n_learned else 0.0))

    actual = np.array([label(jobs[i], target) for i in rows], dtype=np.float64)
    second_half = np.array([i >= mid for i in rows], dtype=np.bool_)
    models = {
        "online": ModelResult(np.array(pred_online, dtype=np.float64), per_event_us("online")),
        **{name: ModelResult(np.array(values, dtype=np.float64), per_event_us(name))
           for name, values in pred_base.items()},
    }
    if offline is not None:
        models["offline_hgb"] = _run_offline(offline, jobs, target, mid, split_at_s,
                                             [i for i in rows if i >= mid], second_half)
    return TraceEvaluation(
        target=target, warmup=warmup, split_at_s=split_at_s, n_completion_time_assumed=n_assumed,
        lines=np.array([jobs[i].line for i in rows], dtype=np.int64),
        submitted_at_s=np.array([jobs[i].submitted_at_s for i in rows], dtype=np.float64),
        backends=[jobs[i].backend for i in rows], actual=actual, second_half=second_half,
        no_label_known=np.array(no_label, dtype=np.bool_), models=models,
        lo=np.array(lo, dtype=np.float64), hi=np.array(hi, dtype=np.float64),
        unknown_features=unknown,
    )


def _run_offline(offline: OfflineBaseline, jobs: Sequence[TraceJob], target: Target, mid: int,
                 split_at_s: float, scored_second: list[int], second_half: BoolArray) -> ModelResult:
    """Fit ``offline`` on the first-half labels known at ``split_at_s``; predict the second half."""
    train = []
    for job in jobs[:mid]:
        arrival = label_arrival_s(job, target)
        if arrival is not None and arrival[0] <= split_at_s:
            train.append(job)
    pred = np.full(second_half.size, np.nan)
    extra: dict[str, Any] = {"n_train": len(train), "fit_s": None, "predict_one_us": None}
    if len(train) < MIN_OFFLINE_TRAIN or not scored_second:
        extra["skipped"] = (f"{len(train)} labels known before the split (need {MIN_OFFLINE_TRAIN})"
                            if len(train) < MIN_OFFLINE_TRAIN else "no scored rows in the second half")
        return ModelResult(pred, None, extra)
    y = [label(j, target) or 0.0 for j in train]
    t0 = time.perf_counter()
    offline.fit(train, y)
    extra["fit_s"] = time.perf_counter() - t0
    batch = [jobs[i] for i in scored_second]
    t0 = time.perf_counter()
    values = np.asarray(offline.predict(batch), dtype=np.float64)
    batch_us = 1e6 * (time.perf_counter() - t0) / len(batch)
    pred[second_half] = np.maximum(values, 0.0)
    sample = batch[:: max(1, len(batch) // 20)][:20]
    t0 = time.perf_counter()
    for job in sample:
        offline.predict([job])
    extra["predict_one_us"] = 1e6 * (time.perf_counter() - t0) / len(sample)
    return ModelResult(pred, batch_us, extra)
