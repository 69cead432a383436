"""Queue-wait forecasters of the online trace model and the built traces (issue 13, section 4)."""

from __future__ import annotations

import numpy as np
import pytest

from qstream.core.queue_model import PendingJobsSeries
from qstream.core.recent_labels import RecentLabels, WaitingJobs
from qstream.core.trace import TraceJob
from qstream.core.trace_eval import evaluate_trace
from qstream.core.trace_model import QUEUE_SETTINGS, OnlineTraceModel, default_online_model
from qstream.core.trace_synth import pending_jobs_trace
from qstream.errors import ConfigError


def _series(levels: list[int], minutes_each: int = 600) -> PendingJobsSeries:
    """One backend ``b`` whose pending jobs step through ``levels``."""
    rows = []
    for i, level in enumerate(levels):
        for m in range(minutes_each):
            t = i * minutes_each + m
            rows.append((f"2023-11-{16 + t // 1440:02d}T{t // 60 % 24:02d}:{t % 60:02d}:00Z", "b",
                         str(level), "1", "active"))
    return PendingJobsSeries(rows)


def test_waiting_jobs_floor_is_the_wait_of_the_oldest_unlabelled_job() -> None:
    w = WaitingJobs()
    assert w.enter("b", (0.0, 2)) == 0.0
    assert w.enter("b", (50.0, 3)) == 50.0
    assert w.leave("b", (0.0, 2)) == 0.0
    assert w.enter("b", (80.0, 4)) == 30.0  # job 3 (t = 50) is now the oldest waiting
    assert w.leave("b", (9.0, 9)) is None


def test_recent_labels_freshest_is_by_submission_not_arrival() -> None:
    r = RecentLabels(rate=1.0)
    r.learn("b", 5.0, submitted_at_s=100.0)
    r.learn("b", 1.0, submitted_at_s=10.0)  # arrives later, submitted earlier
    last, ewma, freshest, median3 = r.forecasts("b") or (0, 0, 0, 0)
    assert (last, ewma, freshest, median3) == (1.0, 1.0, 5.0, 5.0)


def test_floor_raises_the_queue_forecast_before_any_long_wait_is_learned() -> None:
    # Jobs 60 s apart; the first 50 wait 10 s; then the queue jumps to 3600 s. Until the
    # first long label arrives (an hour later) only the waiting jobs tell of the jump.
    jobs = [TraceJob(i + 2, 60.0 * i, "b", 1, 100, 2, 5, queue_s=10.0 if i < 50 else 3600.0,
                     run_s=1.0) for i in range(80)]
    with_floor = evaluate_trace(jobs, "queue_s", online=OnlineTraceModel(**QUEUE_SETTINGS))
    settings = {**QUEUE_SETTINGS, "censor_floor": False,
                "select_exclude": ("regressor", "median")}
    without = evaluate_trace(jobs, "queue_s", online=OnlineTraceModel(**settings))
    late = slice(70, 80)  # 20-30 min after the jump, no long label known yet
    assert (without.models["online"].pred[late] < 20.0).all()
    assert (with_floor.models["online"].pred[late] > 2.0 * without.models["online"].pred[late]).all()


def test_select_exclude_is_validated() -> None:
    with pytest.raises(ConfigError, match="select_exclude"):
        OnlineTraceModel(select_exclude=("nope",))
    with pytest.raises(ConfigError, match="select_exclude"):
        OnlineTraceModel(select_exclude=("regressor", "median"))  # nothing left to choose


def test_drift_detection_resets_the_choice_after_a_step() -> None:
    model = OnlineTraceModel(drift_delta=0.002, recent_rate=0.3, select_min=5)
    job = TraceJob(2, 0.0, "b", 1, 100, 2, 5)
    for i in range(400):
        y = 10.0 if i < 200 else 1000.0
        model.learn(job, y, predicted=model.predict(job)[0])
        if i == 199:
            assert model._scores["b"][-1] == 200
    assert model._scores["b"][-1] < 200  # the scores restarted at the detected change


def test_pending_jobs_trace_follows_the_series_and_jumps_tenfold() -> None:
    series = _series([20, 20])
    base = pending_jobs_trace(400, seed=3, series=series, unknown_share=0.0)
    jumped = pending_jobs_trace(400, seed=3, series=series, unknown_share=0.0,
                                regime_backend="b", regime_factor=10.0)
    assert all(j.features_known for j in base)
    half = base[0].submitted_at_s + series.duration_s / 2
    before = np.median([j.queue_s for j in base if j.submitted_at_s < half])
    after = np.median([j.queue_s for j in jumped if j.submitted_at_s >= half])
    assert 100.0 < before < 300.0  # 20 jobs x ~10 s
    assert 8.0 < after / before < 12.0
    assert [j.queue_s for j in base if j.submitted_at_s < half] == \
        [j.queue_s for j in jumped if j.submitted_at_s < half]


def test_default_queue_model_beats_last_value_on_a_real_series_trace() -> None:
    # Two real backends of the packaged series, a tenfold jump on one of them.
    jobs = pending_jobs_trace(1500, seed=11, backends=("ibm_hanoi", "ibm_nazca"),
                              regime_backend="ibm_hanoi", regime_factor=10.0)
    m = evaluate_trace(jobs, "queue_s", warmup=50, online=default_online_model("queue_s")).metrics()
    for window in ("second_half", "all_after_warmup"):
        online, last = m[window]["online"], m[window]["last_value"]
        assert online["within_20pct"] > last["within_20pct"], window
        assert online["off_by_2x"] < last["off_by_2x"], window
