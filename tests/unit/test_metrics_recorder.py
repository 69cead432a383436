"""The OpenTelemetry edge records the aggregator's samples on the catalogued instruments."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from qstream.config import WorkerConfig
from qstream.core.metric_catalog import METRICS
from qstream.errors import ConfigError
from qstream.stream import metrics
from qstream.stream.metrics import MetricsRecorder


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[str, list[Any]] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                assert m.unit == METRICS[m.name].unit, m.name
                out[m.name] = list(m.data.data_points)
    return out


def test_recorder_exports_counters_histograms_and_gauges() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    rec = MetricsRecorder(provider.get_meter("test"), clock=lambda: 1060.0)
    tel = {"schema": "qstream.telemetry.v1", "at": 1000.0}
    rec.observe({**tel, "event": "backend_status", "backend": "q", "pending_jobs": 2,
                 "operational": True, "calibration_age_s": 40.0})
    rec.observe({**tel, "event": "dispatch", "subtask_id": "t/0", "task_id": "t", "backend": "q",
                 "decision_latency_ms": 1.0,
                 "scores": [{"backend": "q", "queue_s": 30.0, "run_s": 2.0}]})
    for attempt, ok in ((0, True), (1, False)):
        rec.observe({**tel, "event": "execution", "backend": "q", "subtask_id": "t/0",
                     "task_id": "t", "attempt": attempt, "shots": 500, "success": ok,
                     "queue_s": 20.0, "run_s": 4.0, "price_usd": 1.6})
    rec.observe({"schema": "qstream.result.v1", "task_id": "t", "status": "completed",
                 "results": [{"name": "c", "shots": 500}], "error": None,
                 "metrics": {"cost_usd": 1.6, "jct_s": 3.0}})
    p = _points(reader)
    executions = {(d.attributes["backend"], d.attributes["outcome"]): d.value
                  for d in p["qstream.executions"]}
    assert executions == {("q", "success"): 1, ("q", "failed"): 1}
    assert sum(d.value for d in p["qstream.shots.executed"]) == 1000
    assert [d.value for d in p["qstream.shots.delivered"]] == [500]
    [jct] = p["qstream.task.jct"]
    assert (jct.count, jct.sum, dict(jct.attributes)) == (1, 3.0, {"status": "completed"})
    assert list(jct.explicit_bounds) == list(METRICS["qstream.task.jct"].bounds)
    errs = {d.attributes["target"]: d.sum for d in p["qstream.predictor.error"]}
    assert errs == {"queue_s": 0.5, "run_s": 0.5}
    assert [d.value for d in p["qstream.shots.utilization"]] == [0.5]
    assert [d.value for d in p["qstream.task.success_rate"]] == [1.0]
    assert [d.value for d in p["qstream.execution.retry_rate"]] == [0.0]
    [age] = p["qstream.backend.calibration_age"]
    assert (age.value, dict(age.attributes)) == (100.0, {"backend": "q"})
    provider.shutdown()


def test_observe_is_a_noop_unless_configured_and_the_spec_is_checked() -> None:
    assert metrics.recorder() is None
    metrics.observe("qstream.results", {"schema": "qstream.result.v1"})  # no error, no state
    with pytest.raises(ConfigError):
        metrics.configure("prometheus", "x")
    with pytest.raises(ConfigError):
        WorkerConfig(otel_metrics_exporter="memory:")


def test_anomaly_events_count_on_the_otel_counter() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    rec = MetricsRecorder(provider.get_meter("test"))
    event = {"schema": "qstream.telemetry.v1", "event": "anomaly", "at": 1000.0,
             "backend": "q", "score": 6.0, "action": "open_breaker",
             "evidence": {"signal": "run_s", "value": 1.0, "median": 0.0, "mad": 0.05,
                          "window": 64}}
    rec.observe({**event, "signal": "run_s"})
    rec.observe({**event, "signal": "run_s"})
    rec.observe({**event, "signal": "error", "action": "lower_placement"})
    counts = {(d.attributes["backend"], d.attributes["signal"]): d.value
              for d in _points(reader)["qstream.anomalies"]}
    assert counts == {("q", "run_s"): 2, ("q", "error"): 1}
