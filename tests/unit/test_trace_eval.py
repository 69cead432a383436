"""Prequential trace evaluation: no leakage, correct metrics, the online model learns."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
from helpers.trace import constant_delay_jobs, mixed_fleet_jobs, synthetic_jobs

from qstream.core.run_time_fit import RunTimeFit
from qstream.core.trace import TraceJob
from qstream.core.trace_baselines import RunningMedianModel
from qstream.core.trace_eval import (
    evaluate_trace,
    is_scored,
    label,
    label_arrival_s,
    prediction_metrics,
)
from qstream.core.trace_model import RUN_UNIT_S, OnlineTraceModel
from qstream.errors import ConfigError, ValidationError

# -- leakage -----------------------------------------------------------------------------


def test_prediction_uses_exactly_the_labels_arrived_by_submission() -> None:
    # Job i is submitted at t = i and its run_s label arrives at exactly i + 50: the
    # prediction for job j may use jobs 0..j-50 (arrival == submission counts as known).
    delay = 50.0
    jobs = constant_delay_jobs(300, delay)
    ev = evaluate_trace(jobs, "run_s")
    median = ev.models["running_median"].pred
    for j in range(300):
        known = [1.0 + i / 64.0 for i in range(j + 1) if i + delay <= j]  # run_s of job i
        assert median[j] == (statistics.median(known) if known else 0.0), j
    assert ev.no_label_known.tolist() == [j < delay for j in range(300)]
    # The online model knows nothing either before the first label arrives.
    assert (ev.models["online"].pred[:50] == 0.0).all()
    assert ev.models["online"].pred[50] > 0.0


def _leaky_within_20pct(jobs: Sequence[TraceJob]) -> float:
    """What a leaky evaluator (learn each label right after predicting) would score."""
    model = OnlineTraceModel()
    preds, actual = [], []
    for job in jobs:
        assert job.run_s is not None
        preds.append(model.predict(job)[0])
        actual.append(job.run_s)
        model.learn(job, job.run_s)
    return prediction_metrics(preds, actual)["within_20pct"]


def test_labels_known_only_after_later_submissions_are_not_leaked() -> None:
    # Identical jobs with a constant run time: knowing the previous job's label predicts
    # the next one perfectly. But every label arrives after the last submission.
    jobs = [TraceJob(i + 2, float(i), "ibm_alpha", 1, 1000, 5, 10, 4, 20, queue_s=1000.0,
                     run_s=42.0) for i in range(200)]
    assert _leaky_within_20pct(jobs) > 0.9  # the trace does tell leaky from honest
    ev = evaluate_trace(jobs, "run_s", warmup=10)
    m = ev.metrics()
    for window in ("second_half", "all_after_warmup"):
        for name in ("online", "running_median"):
            assert m[window][name]["within_20pct"] == 0.0
            assert m[window][name]["n_no_prediction"] == m[window][name]["n"]
    assert (ev.models["online"].pred == 0.0).all()


def test_queue_label_arrives_at_start_and_run_label_at_completion() -> None:
    job = TraceJob(2, 100.0, "b", 1, 1, 1, 1, queue_s=30.0, run_s=5.0)
    assert label_arrival_s(job, "queue_s") == (130.0, False)
    assert label_arrival_s(job, "run_s") == (135.0, False)
    assert label_arrival_s(replace(job, queue_s=None), "run_s") == (105.0, True)
    assert label_arrival_s(replace(job, queue_s=None), "queue_s") is None
    assert label_arrival_s(replace(job, run_s=None), "run_s") is None


def test_unknown_queue_uses_lower_bound_and_is_counted() -> None:
    # Job 0's queue wait is unknown: its run_s (10 s) is assumed known at t = 10, so
    # job 1 (t = 10) sees it. Job 2's label arrives at 12 + 100 + 10: after job 3.
    jobs = [
        TraceJob(2, 0.0, "b", 1, 1, 1, 1, queue_s=None, run_s=10.0),
        TraceJob(3, 10.0, "b", 1, 1, 1, 1, queue_s=None, run_s=20.0),
        TraceJob(4, 12.0, "b", 1, 1, 1, 1, queue_s=100.0, run_s=10.0),
        TraceJob(5, 40.0, "b", 1, 1, 1, 1, queue_s=0.0, run_s=5.0),
    ]
    ev = evaluate_trace(jobs, "run_s")
    assert ev.n_completion_time_assumed == 2
    assert ev.models["running_median"].pred.tolist() == [0.0, 10.0, 10.0, 15.0]


def test_run_time_is_scored_on_done_jobs_but_learned_from_all() -> None:
    err = TraceJob(2, 0.0, "b", 1, 1, 1, 1, queue_s=0.0, run_s=7.0, status="ERROR")
    done = TraceJob(3, 10.0, "b", 1, 1, 1, 1, queue_s=0.0, run_s=9.0)
    cancelled = TraceJob(4, 11.0, "b", 1, 1, 1, 1, queue_s=3.0, run_s=None, status="CANCELLED")
    assert [is_scored(j, "run_s") for j in (err, done, cancelled)] == [False, True, False]
    assert [is_scored(j, "queue_s") for j in (err, done, cancelled)] == [True, True, True]
    ev = evaluate_trace([err, done, cancelled], "run_s")
    assert ev.lines.tolist() == [3]
    assert ev.models["running_median"].pred.tolist() == [7.0]  # learned from the ERROR job
    assert evaluate_trace([err, done, cancelled], "queue_s").lines.tolist() == [2, 3, 4]


def test_offline_baseline_sees_only_first_half_labels_known_at_the_split() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.fitted: list[TraceJob] = []
            self.y: list[float] = []
            self.predicted: list[TraceJob] = []

        def fit(self, jobs: Sequence[TraceJob], y: Sequence[float]) -> None:
            self.fitted, self.y = list(jobs), list(y)

        def predict(self, jobs: Sequence[TraceJob]) -> list[float]:
            self.predicted.extend(jobs)
            return [1.0] * len(jobs)

    jobs = synthetic_jobs(400, seed=5)
    rec = Recorder()
    ev = evaluate_trace(jobs, "run_s", warmup=20, offline=rec)
    split = jobs[200].submitted_at_s
    assert ev.split_at_s == split
    assert len(rec.fitted) >= 10
    for job, y in zip(rec.fitted, rec.y, strict=True):
        arrival = label_arrival_s(job, "run_s")
        assert arrival is not None and arrival[0] <= split and job.submitted_at_s < split
        assert y == job.run_s
    # A first-half job whose label arrives after the split is left out.
    late = [j for j in jobs[:200] if (a := label_arrival_s(j, "run_s")) and a[0] > split]
    assert late and not set(map(id, late)) & set(map(id, rec.fitted))
    hgb = ev.models["offline_hgb"].pred
    assert np.isnan(hgb[~ev.second_half]).all() and (hgb[ev.second_half] == 1.0).all()
    m = ev.metrics()["second_half"]
    assert m["offline_hgb"]["n"] == m["online"]["n"] == m["running_median"]["n"] > 0
    assert m["offline_hgb"]["n_train"] == len(rec.fitted)


# -- metrics -----------------------------------------------------------------------------


def test_metrics_on_a_hand_checked_example() -> None:
    pred = [10.0, 12.0, 30.0, 4.0, 0.0, 0.0, 5.0]
    actual = [10.0, 10.0, 10.0, 10.0, 0.0, 8.0, 0.0]
    m = prediction_metrics(pred, actual)
    assert m["n"] == 7
    # |err| = 0, 2, 20, 6, 0, 8, 5 -> 41 / 7
    assert m["mae_s"] == pytest.approx(41 / 7)
    # APE on actual > 0: 0, 0.2, 2.0, 0.6, 1.0 -> median 0.6
    assert m["median_ape"] == pytest.approx(0.6)
    # within 20%: rows 0, 1 (exactly 20%) and 4 (both zero)
    assert m["within_20pct"] == pytest.approx(3 / 7)
    # off by 2x: row 2 (3x), row 3 (2.5x), row 5 (pred 0) and row 6 (actual 0)
    assert m["off_by_2x"] == pytest.approx(4 / 7)


def test_metrics_of_nothing_are_none() -> None:
    assert prediction_metrics([], []) == {"n": 0, "mae_s": None, "median_ape": None,
                                          "within_20pct": None, "off_by_2x": None}
    assert prediction_metrics([0.0], [0.0])["median_ape"] is None
    with pytest.raises(ValueError, match="shape"):
        prediction_metrics([1.0], [1.0, 2.0])


def test_warmup_rows_are_excluded_from_every_window() -> None:
    jobs = constant_delay_jobs(100, 5.0)
    ev = evaluate_trace(jobs, "run_s", warmup=30)
    m = ev.metrics()
    assert m["all_after_warmup"]["online"]["n"] == 70
    assert m["second_half"]["online"]["n"] == 50  # rows 50..99, all after the warm-up
    assert evaluate_trace(jobs, "run_s", warmup=80).metrics()["second_half"]["running_median"]["n"] == 20
    ev_all = evaluate_trace(jobs, "run_s", warmup=0)
    expected = prediction_metrics(ev_all.models["running_median"].pred[30:], ev_all.actual[30:])
    got = m["all_after_warmup"]["running_median"]
    assert {k: got[k] for k in expected} == expected


def test_bad_arguments_raise() -> None:
    jobs = constant_delay_jobs(5, 2.0)
    with pytest.raises(ConfigError, match="target"):
        evaluate_trace(jobs, "price_usd")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="warmup"):
        evaluate_trace(jobs, "run_s", warmup=-1)
    with pytest.raises(ValidationError, match="no queue_s column"):
        evaluate_trace(jobs, "queue_s", columns=("submitted_at", "run_s"))


def test_empty_trace_gives_empty_metrics() -> None:
    ev = evaluate_trace([], "run_s", warmup=3)
    assert math.isnan(ev.split_at_s)
    m = ev.metrics()
    assert m["second_half"]["online"]["n"] == 0 and m["second_half"]["online"]["mae_s"] is None


# -- learning ----------------------------------------------------------------------------


def test_online_model_beats_running_median_on_a_structured_trace() -> None:
    jobs = synthetic_jobs(1500, seed=11)
    ev = evaluate_trace(jobs, "run_s", warmup=100)
    m = ev.metrics()
    for window in ("second_half", "all_after_warmup"):
        online, median = m[window]["online"], m[window]["running_median"]
        # Measured 0.66 vs 0.35 (second half); with the running median as the prior 0.55,
        # and 0.40 without the repeat memory either, which fails.
        assert online["within_20pct"] >= median["within_20pct"] + 0.1, window
        assert online["off_by_2x"] < median["off_by_2x"]
        assert online["mae_s"] < 0.7 * median["mae_s"]
        # An 80% interval covers about 80% of the actuals.
        assert 0.7 <= online["interval_coverage"] <= 0.9
        assert online["n_interval"] == online["n"]
        assert online["learn_predict_us"] > 0.0


def test_physics_prior_beats_the_median_prior_on_a_structured_trace() -> None:
    # The synthetic run time is IBM's QPU-time structure (overhead + shots x circuits x
    # (1 + depth / 200)) with LogNormal(0, 0.2) noise, which caps within-20% near 0.69.
    jobs = synthetic_jobs(1500, seed=11)
    physics = evaluate_trace(jobs, "run_s", warmup=100).metrics()["second_half"]["online"]
    median = evaluate_trace(jobs, "run_s", warmup=100,
                            online=OnlineTraceModel()).metrics()["second_half"]["online"]
    # Measured 0.66 vs 0.55, 0.3% vs 4.9%, 4.5 s vs 6.3 s.
    assert physics["within_20pct"] >= median["within_20pct"] + 0.05
    assert physics["off_by_2x"] < 0.5 * median["off_by_2x"]
    assert physics["mae_s"] < 0.8 * median["mae_s"]


def test_choice_keeps_the_median_where_the_regressor_chases_outliers() -> None:
    # A statevector simulator takes 37 ms except for wide circuits (2**n): the median is
    # right for most jobs, while the regressor's level jumps at every outlier. On the
    # QPU beside it the physics prior wins. Per backend, the model must use the better.
    jobs = mixed_fleet_jobs(1500)

    def per_backend(online: OnlineTraceModel) -> dict[str, tuple[float, float]]:
        ev = evaluate_trace(jobs, "run_s", warmup=100, online=online)
        mask = ev.second_half & ev.after_warmup
        out = {}
        for b in ("cpu_statevector", "ibm_qpu"):
            rows = mask & (np.array(ev.backends) == b)
            out[b] = (prediction_metrics(ev.models["online"].pred[rows], ev.actual[rows])["within_20pct"],
                      prediction_metrics(ev.models["running_median"].pred[rows],
                                         ev.actual[rows])["within_20pct"])
        return out

    chosen = per_backend(OnlineTraceModel(physics=RunTimeFit(), unit_s=RUN_UNIT_S))
    always = per_backend(OnlineTraceModel(physics=RunTimeFit(), unit_s=RUN_UNIT_S, select_rate=None))
    # Measured: simulator 0.87 (median 0.87; 0.26 without the choice), QPU 1.00 (median 0.38).
    sim, qpu = chosen["cpu_statevector"], chosen["ibm_qpu"]
    assert sim[0] >= sim[1] - 0.02 and always["cpu_statevector"][0] < sim[1] - 0.3
    assert qpu[0] >= 0.95 and qpu[1] < 0.5


def test_bad_online_settings_raise() -> None:
    for kwargs in ({"unit_s": 0.0}, {"select_rate": 0.0}, {"select_rate": 1.5}, {"select_min": -1},
                   {"repeat_weight": -1.0}):
        with pytest.raises(ConfigError):
            OnlineTraceModel(**kwargs)  # type: ignore[arg-type]


def test_repeat_memory_pulls_predictions_to_what_the_job_did() -> None:
    job = TraceJob(2, 0.0, "ibm_alpha", 1, 1000, 5, 10, 4, 20)
    other = replace(job, shots=4000)
    model = OnlineTraceModel()
    for _ in range(20):
        model.learn(other, 400.0)
    before = model.predict(job)[0]
    for _ in range(3):
        model.learn(job, 20.0)
    after = model.predict(job)[0]
    assert abs(math.log(after / 20.0)) < 0.5 * abs(math.log(before / 20.0))


def test_interval_shrinks_with_less_noise() -> None:
    def width(sigma: float) -> float:
        jobs = synthetic_jobs(600, seed=2, sigma=sigma, repeat_share=1.0, n_templates=10)
        ev = evaluate_trace(jobs, "run_s", warmup=100)
        return ev.metrics()["all_after_warmup"]["online"]["interval_width_ratio"]

    # Measured 0.16 and 1.20: the width follows the label noise, not a constant. (Before
    # cold-start predictions were kept out of the interval's residuals: 6.6 and 10.9.)
    assert width(0.05) < 0.5 * width(0.4)


def test_running_median_model_falls_back_to_all_backends() -> None:
    rm = RunningMedianModel()
    a, b = TraceJob(2, 0.0, "a", 1, 1, 1, 1), TraceJob(3, 0.0, "b", 1, 1, 1, 1)
    assert rm.predict(a) == (0.0, False)
    rm.learn(a, 4.0)
    rm.learn(a, 8.0)
    assert rm.predict(b) == (6.0, True)
    rm.learn(b, 100.0)
    assert rm.predict(b) == (100.0, True) and rm.predict(a) == (6.0, True)


def test_last_value_baseline_uses_the_last_arrived_label_of_the_backend() -> None:
    # Job i is submitted at t = i and its run_s label arrives at exactly i + 50: the
    # last-value prediction for job j is the label of job j - 50 (the last one arrived).
    delay = 50.0
    jobs = constant_delay_jobs(300, delay)
    ev = evaluate_trace(jobs, "run_s")
    last = ev.models["last_value"].pred
    for j in range(300):
        assert last[j] == (1.0 + (j - 50) / 64.0 if j >= 50 else 0.0), j
    m = ev.metrics()
    assert set(m["all_after_warmup"]) == {"online", "running_median", "last_value"}
    assert m["second_half"]["last_value"]["n"] == m["second_half"]["online"]["n"]


@pytest.mark.parametrize("target", ["queue_s", "run_s"])
def test_rows_with_unknown_features_are_used_and_counted(target: str) -> None:
    # Every third job lost its shape; one of them also lost its labels, one is an ERROR.
    jobs = synthetic_jobs(600, seed=5)
    lost = [replace(j, shots=None, num_qubits=None, depth=None) if i % 3 == 0 else j
            for i, j in enumerate(jobs)]
    lost[3] = replace(lost[3], queue_s=None, run_s=None)
    lost[6] = replace(lost[6], status="ERROR")
    ev = evaluate_trace(lost, target, warmup=20)  # type: ignore[arg-type]
    unknown_jobs = [j for j in lost if not j.features_known]
    assert len(unknown_jobs) == 200
    no_label = [j for j in unknown_jobs if label(j, target) is None]  # type: ignore[arg-type]
    scored = [j for j in unknown_jobs if is_scored(j, target)]  # type: ignore[arg-type]
    assert lost[3] in no_label and (lost[6] not in scored) == (target == "run_s")
    assert ev.unknown_features == {"n": 200, "used": len(scored), "skipped": len(no_label),
                                   "learned_only": 200 - len(scored) - len(no_label)}
    # They are scored, and predicted from what is known (no cold start after warm-up).
    unknown_lines = {j.line for j in lost if not j.features_known}
    rows = np.array([line in unknown_lines for line in ev.lines])
    assert rows.sum() == len(scored)
    assert (ev.models["online"].pred[rows][20:] > 0.0).all()
    assert ev.actual.size == sum(is_scored(j, target) for j in lost)  # type: ignore[arg-type]
    assert evaluate_trace(jobs, target).unknown_features["n"] == 0  # type: ignore[arg-type]
