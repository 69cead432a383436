"""Spend per tenant: the SLI, the ``qstream status`` table, the OpenTelemetry counter."""

from __future__ import annotations

import io

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from rich.console import Console

from qstream.cli.status import render
from qstream.core.sli import SLIAggregator
from qstream.stream.metrics import MetricsRecorder


def result(task_id: str, tenant: str | None, cost: float, status: str = "completed") -> dict:
    r = {"schema": "qstream.result.v1", "task_id": task_id, "status": status, "results": [],
         "error": None if status == "completed" else "x", "metrics": {"cost_usd": cost,
                                                                       "jct_s": 1.0}}
    if tenant is not None:
        r["tenant"] = tenant
    return r


def test_spend_per_tenant_is_an_sli_and_a_status_table() -> None:
    sli = SLIAggregator()
    sli.observe(result("a1", "teamA", 1.25))
    sli.observe(result("a2", "teamA", 0.5, status="failed"))
    sli.observe(result("a2", "teamA", 0.5, status="failed"))  # a duplicate counts once
    sli.observe(result("d1", None, 0.125))
    snap = sli.snapshot(0.0)
    assert snap["tenants"] == {"default": {"tasks": 1, "failed": 0, "spend_usd": 0.125},
                               "teamA": {"tasks": 2, "failed": 1, "spend_usd": 1.75}}
    out = io.StringIO()
    Console(file=out, width=160).print(render(snap))
    text = out.getvalue()
    assert "spend per tenant" in text and "teamA" in text and "1.7500" in text


def test_spend_per_tenant_is_an_opentelemetry_counter() -> None:
    reader = InMemoryMetricReader()
    rec = MetricsRecorder(MeterProvider(metric_readers=[reader]).get_meter("test"),
                          clock=lambda: 0.0)
    rec.observe(result("a1", "teamA", 1.25))
    rec.observe(result("a2", "teamA", 0.75))
    rec.observe(result("b1", "teamB", 2.0))
    data = reader.get_metrics_data()
    assert data is not None
    points = [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
              if m.name == "qstream.tenant.spend_usd" for p in m.data.data_points]
    assert {p.attributes["tenant"]: p.value for p in points} == {"teamA": 2.0, "teamB": 2.0}
