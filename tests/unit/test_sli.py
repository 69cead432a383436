"""The SLI aggregator and its distribution summary, against hand-computed values."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qstream.core.distribution import SECONDS_BOUNDS, Distribution, quantile
from qstream.core.metric_catalog import METRICS
from qstream.core.sli import SLIAggregator
from qstream.errors import ConfigError


def tel(event: str, **fields: Any) -> dict[str, Any]:
    return {"schema": "qstream.telemetry.v1", "event": event, "at": fields.pop("at", 0.0), **fields}


def dispatch(sid: str, chosen: str, preds: dict[str, tuple[float, float]]) -> dict[str, Any]:
    return tel("dispatch", subtask_id=sid, task_id=sid.split("/")[0], backend=chosen,
               decision_latency_ms=1.0,
               scores=[{"backend": b, "queue_s": q, "run_s": r} for b, (q, r) in preds.items()])


def execution(sid: str, backend: str, *, attempt: int = 0, shots: int = 100, ok: bool = True,
              queue_s: float = 10.0, run_s: float = 2.0, price_usd: float = 0.0,
              predicted: dict[str, float] | None = None) -> dict[str, Any]:
    return tel("execution", backend=backend, subtask_id=sid, task_id=sid.split("/")[0],
               attempt=attempt, shots=shots, success=ok, queue_s=queue_s if ok else 0.0,
               run_s=run_s if ok else 0.0, price_usd=price_usd, predicted=predicted)


def result(task_id: str, status: str = "completed", shots: tuple[int, ...] = (100,),
           jct_s: float = 1.0, cost_usd: float = 0.0) -> dict[str, Any]:
    return {"schema": "qstream.result.v1", "task_id": task_id, "status": status,
            "results": [{"name": f"c{i}", "shots": s} for i, s in enumerate(shots)],
            "error": None if status == "completed" else "boom",
            "metrics": {"queue_s": 0.0, "run_s": 0.0, "cost_usd": cost_usd,
                        "est_fidelity": None, "jct_s": jct_s}}


def test_success_rate_jct_and_cost_per_task() -> None:
    agg = SLIAggregator()
    for i, (status, jct, cost) in enumerate([("completed", 2.0, 0.5), ("completed", 4.0, 1.5),
                                             ("failed", 10.0, 0.25), ("completed", 6.0, 0.0)]):
        agg.observe(result(f"t{i}", status, jct_s=jct, cost_usd=cost))
    agg.observe(result("t0", "failed", jct_s=99.0))  # a redelivered/duplicate result: ignored
    snap = agg.snapshot(0.0)
    assert snap["tasks"] == {"completed": 3, "failed": 1, "success_rate": 0.75}
    assert snap["jct_s"]["count"] == 4
    assert snap["jct_s"]["p50"] == 5.0  # median of 2, 4, 6, 10
    assert snap["jct_s"]["p95"] == pytest.approx(6.0 + (10.0 - 6.0) * 0.85)  # h = 3 * 0.95
    assert snap["cost_usd"]["sum"] == 2.25 and snap["cost_usd"]["mean"] == 2.25 / 4
    # Buckets (upper bound inclusive): 2 -> (1, 2.5], 4 -> (2.5, 5], 6 and 10 -> (5, 10].
    counts = dict(zip(SECONDS_BOUNDS, snap["jct_s"]["buckets"]["counts"], strict=False))
    assert counts[2.5] == 1 and counts[5.0] == 1 and counts[10.0] == 2


def test_shot_utilisation_counts_hedge_losers_failures_and_only_completed_deliveries() -> None:
    agg = SLIAggregator()
    agg.observe(execution("a/0", "x", shots=300))
    agg.observe(execution("a/0", "y", attempt=1, shots=300))         # hedge copy: also executed
    agg.observe(execution("a/1", "x", shots=200, ok=False))          # failed execution
    agg.observe(execution("a/1", "y", attempt=1, shots=200))         # its failover
    agg.observe(execution("a/1", "y", attempt=1, shots=200))         # redelivered telemetry
    agg.observe(result("a", shots=(300, 200)))
    agg.observe(execution("b/0", "x", shots=100))
    agg.observe(result("b", "failed", shots=(100,)))                  # failed: nothing delivered
    snap = agg.snapshot(0.0)
    assert snap["shots"] == {"executed": 1100, "delivered": 500, "utilization": 500 / 1100}
    assert snap["executions"]["total"] == 5 and snap["executions"]["failed"] == 1
    assert snap["backends"]["x"]["executions"] == 3 and snap["backends"]["x"]["failed"] == 1
    assert snap["backends"]["y"]["shots_executed"] == 500


def test_retry_rate_is_retries_over_tries() -> None:
    agg = SLIAggregator()
    for retry in (1, 2):
        agg.observe(tel("retry", backend="x", subtask_id="a/0", task_id="a", attempt=0,
                        retry=retry, error="x: flaky", wait_s=0.1))
    agg.observe(tel("retry", backend="x", subtask_id="a/0", task_id="a", attempt=0,
                    retry=2, error="x: flaky", wait_s=0.1))  # duplicate
    agg.observe(execution("a/0", "x"))
    agg.observe(execution("a/1", "x"))
    # 2 retries, 2 executions -> 4 tries.
    assert agg.retry_rate() == 0.5
    assert agg.snapshot(0.0)["backends"]["x"]["retries"] == 2
    assert SLIAggregator().retry_rate() is None


def test_predictor_error_joins_the_dispatch_prediction_of_the_backend_that_ran() -> None:
    agg = SLIAggregator()
    agg.observe(dispatch("t/0", "x", {"x": (100.0, 2.0), "y": (50.0, 4.0)}))
    # Reallocated (or hedged/failed over) to y: matched against y's prediction.
    agg.observe({"schema": "qstream.reallocation.v1", "subtask_id": "t/0", "task_id": "t",
                 "from_backend": "x", "to_backend": "y", "old_cost": 2.0, "new_cost": 1.0,
                 "reason": "cheaper", "at": 1.0})
    samples = agg.observe(execution("t/0", "y", attempt=0, queue_s=40.0, run_s=5.0))
    errs = {s.attributes["target"]: s.value for s in samples if s.name == "qstream.predictor.error"}
    assert errs == {"queue_s": pytest.approx(0.25), "run_s": pytest.approx(0.2)}
    y = agg.snapshot(0.0)["backends"]["y"]["predictor_error"]
    assert y["queue_s"]["count"] == 1 and y["queue_s"]["mean"] == pytest.approx(0.25)
    # The execution's own 'predicted' wins over the dispatch scores.
    agg.observe(dispatch("t/1", "x", {"x": (100.0, 2.0)}))
    samples = agg.observe(execution("t/1", "x", queue_s=10.0, run_s=1.0,
                                    predicted={"queue_s": 20.0, "run_s": 1.0, "error": 0.1,
                                               "price_usd": 0.0}))
    errs = {s.attributes["target"]: s.value for s in samples if s.name == "qstream.predictor.error"}
    assert errs == {"queue_s": 1.0, "run_s": 0.0}
    # No dispatch seen, or an actual of 0 (relative error undefined): no sample.
    samples = agg.observe(execution("u/0", "x"))
    assert not [s for s in samples if s.name == "qstream.predictor.error"]
    agg.observe(dispatch("v/0", "x", {"x": (5.0, 1.0)}))
    samples = agg.observe(execution("v/0", "x", queue_s=0.0, run_s=2.0))
    assert [s.attributes["target"] for s in samples if s.name == "qstream.predictor.error"] == [
        "run_s"]
    assert agg.snapshot(0.0)["reallocations"] == {"cheaper": 1}


def test_join_state_is_bounded_and_evicts_the_oldest() -> None:
    agg = SLIAggregator(max_tracked=2)
    for i in range(3):
        agg.observe(dispatch(f"t/{i}", "x", {"x": (10.0, 1.0)}))
    assert len(agg._predictions.keys) == 2
    evicted = agg.observe(execution("t/0", "x", queue_s=10.0, run_s=1.0))
    kept = agg.observe(execution("t/2", "x", queue_s=10.0, run_s=1.0))
    assert not [s for s in evicted if s.name == "qstream.predictor.error"]
    assert len([s for s in kept if s.name == "qstream.predictor.error"]) == 2


def test_calibration_age_breaker_and_status() -> None:
    agg = SLIAggregator()
    agg.observe(tel("backend_status", at=1000.0, backend="q", pending_jobs=7, operational=True,
                    calibration_age_s=3600.0))
    agg.observe(tel("backend_status", at=900.0, backend="q", pending_jobs=1, operational=False,
                    calibration_age_s=10.0))  # older, read late: ignored
    agg.observe(tel("backend_status", at=1000.0, backend="sim", pending_jobs=0, operational=True))
    agg.observe(tel("breaker", backend="q", state="open", reason="5 failures"))
    snap = agg.snapshot(1030.0)
    q, sim = snap["backends"]["q"], snap["backends"]["sim"]
    assert q["calibration_age_s"] == 3630.0 and q["pending_jobs"] == 7 and q["operational"]
    assert q["breaker"] == "open"
    assert sim["calibration_age_s"] is None


def test_failover_and_hedge_reasons() -> None:
    agg = SLIAggregator()
    agg.observe(tel("failover", subtask_id="a/0", task_id="a", from_backend="x", to_backend="y",
                    error="x: down", attempt=1))
    agg.observe(tel("failover", subtask_id="a/0", task_id="a", from_backend="x", to_backend="y",
                    error="x: down", attempt=1))  # duplicate
    samples = agg.observe({"schema": "qstream.reallocation.v1", "subtask_id": "a/1",
                           "task_id": "a", "from_backend": "x", "to_backend": "y", "old_cost": 1,
                           "new_cost": 0.5, "reason": "straggler: 3x its predicted run", "at": 0})
    assert [s.attributes for s in samples] == [{"reason": "straggler"}]
    snap = agg.snapshot(0.0)
    assert snap["executions"]["failovers"] == 1 and snap["backends"]["x"]["failovers"] == 1


def test_bad_messages_are_counted_and_change_nothing() -> None:
    agg = SLIAggregator()
    assert agg.observe({"schema": "qstream.task.v1"}) == []
    assert agg.observe(tel("execution", backend="x")) == []       # fields missing
    assert agg.observe({"schema": "qstream.result.v1", "task_id": "t", "status": "completed",
                        "metrics": {"jct_s": "soon"}}) == []      # not a number
    snap = agg.snapshot(0.0)
    assert snap["messages"] == {"ignored": 3}
    assert snap["tasks"]["completed"] == 0 and snap["executions"]["total"] == 0
    # The malformed result did not use up its task id.
    agg.observe(result("t"))
    assert agg.completed == 1


def test_every_sample_names_a_catalogued_metric_with_its_attributes() -> None:
    agg = SLIAggregator()
    messages = [
        dispatch("t/0", "x", {"x": (1.0, 1.0)}), execution("t/0", "x"),
        execution("t/1", "x", ok=False),
        tel("retry", backend="x", subtask_id="t/1", task_id="t", attempt=0, retry=1,
            error="e", wait_s=0.0),
        tel("failover", subtask_id="t/1", task_id="t", from_backend="x", to_backend="y",
            error="e", attempt=1),
        {"schema": "qstream.reallocation.v1", "subtask_id": "t/0", "task_id": "t",
         "from_backend": "x", "to_backend": "y", "old_cost": 1, "new_cost": 0, "reason": "cheaper",
         "at": 0},
        result("t", cost_usd=1.0),
        tel("anomaly", backend="x", signal="run_s", score=5.0, action="open_breaker",
            evidence={}),
    ]
    seen = set()
    for m in messages:
        for s in agg.observe(m):
            spec = METRICS[s.name]
            assert spec.instrument in ("counter", "histogram")
            assert set(s.attributes) == set(spec.attributes), s
            seen.add(s.name)
    pushed = {n for n, m in METRICS.items() if m.instrument != "gauge"}
    assert seen == pushed


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigError):
        SLIAggregator(window=0)
    with pytest.raises(ConfigError):
        Distribution((2.0, 1.0))
    with pytest.raises(ConfigError):
        quantile([], 0.5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=1, max_size=60),
       st.floats(min_value=0.0, max_value=1.0))
def test_quantile_is_bracketed_and_monotone(values: list[float], q: float) -> None:
    xs = sorted(values)
    v = quantile(xs, q)
    assert xs[0] <= v <= xs[-1]
    assert quantile(xs, min(1.0, q + 0.1)) >= v - 1e-9 * max(1.0, abs(v))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=2e5, allow_nan=False), max_size=80),
       st.integers(min_value=1, max_value=20))
def test_distribution_conserves_counts_and_windows_quantiles(values: list[float],
                                                             window: int) -> None:
    d = Distribution(SECONDS_BOUNDS, window=window)
    for v in values:
        d.add(v)
    assert sum(d.bucket_counts) == d.count == len(values)
    assert math.isclose(d.sum, math.fsum(values), rel_tol=1e-9, abs_tol=1e-6)
    expected = [0] * (len(SECONDS_BOUNDS) + 1)
    for v in values:  # bucket i holds bounds[i-1] < v <= bounds[i]
        expected[sum(1 for b in SECONDS_BOUNDS if b < v)] += 1
    assert d.bucket_counts == expected
    if values:
        recent = sorted(values[-window:])
        assert d.p50() == pytest.approx(quantile(recent, 0.5))
    else:
        assert d.p50() is None and d.mean() is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["completed", "failed"]), st.integers(0, 5)),
                max_size=40))
def test_success_rate_matches_first_result_per_task(events: list[tuple[str, int]]) -> None:
    agg = SLIAggregator()
    first: dict[int, str] = {}
    for status, task in events:
        agg.observe(result(f"t{task}", status))
        first.setdefault(task, status)
    done = sum(1 for s in first.values() if s == "completed")
    assert agg.success_rate() == (done / len(first) if first else None)
    assert 0.0 <= (agg.success_rate() or 0.0) <= 1.0
