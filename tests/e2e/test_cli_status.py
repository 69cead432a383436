"""`qstream status` and the worker's OpenTelemetry metrics against a real broker and worker.

The expected values are computed here, independently, from the messages on the
public topics; the worker is stopped first, so the topics no longer change while
both sides read them.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from qstream.backends.ibm_emulated import device_spec
from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.stream import topics as T
from qstream.workload import mqt_qasm

FAULTS = "cpu_statevector:fail=0.5;braket_local:fail=0.5"


def _status(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qstream", "status", "--broker", url, *args],
                          capture_output=True, text=True, timeout=timeout)


def _read_all(url: str) -> dict[str, list[dict[str, Any]]]:
    async def run() -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {T.TELEMETRY: [], T.RESULTS: [], T.REALLOCATIONS: []}
        async with Client(url) as client:
            async for topic, msg in client.stream(*out, idle_timeout_s=3.0):
                out[topic].append(msg)
        return out
    return asyncio.run(run())


def _metric_points(path: Path) -> dict[str, list[dict[str, Any]]]:
    data = json.loads(path.read_text())
    points: dict[str, list[dict[str, Any]]] = {}
    for rm in data["resource_metrics"]:
        assert rm["resource"]["attributes"]["service.name"] == "qstream-worker"
        for sm in rm["scope_metrics"]:
            for m in sm["metrics"]:
                points[m["name"]] = m["data"]["data_points"]
    return points


def test_status_and_worker_metrics_match_the_messages(tmp_path: Path, worker_factory,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    metrics_path = tmp_path / "metrics.json"
    monkeypatch.setenv("QSTREAM_OTEL_METRICS_EXPORTER", f"memory:{metrics_path}")
    tasks = [{"schema": "qstream.task.v1", "task_id": f"sli-{uuid.uuid4()}", "shots": 300,
              "circuits": [{"name": f"ghz{n}", "qasm": mqt_qasm("ghz", n)},
                           {"name": f"qft{n}", "qasm": mqt_qasm("qft", n)}]}
             for n in (3, 4, 5)]
    with EmbeddedBroker() as broker:  # its own broker: only this test's messages
        worker = worker_factory(broker.url, tmp_path / "worker.log", "--faults", FAULTS)
        try:
            async def submit() -> dict[str, dict[str, Any]]:
                async with Client(broker.url) as client:
                    for t in tasks:
                        await client.submit(t)
                    return await client.wait_results([t["task_id"] for t in tasks], 120)
            results = asyncio.run(submit())
        finally:
            assert worker.stop() == 0, worker.log()[-3000:]
        assert len(results) == len(tasks), worker.log()[-3000:]

        started = time.perf_counter()
        proc = _status(broker.url, "--once", "--json")
        once_s = time.perf_counter() - started
        assert proc.returncode == 0, proc.stderr[-3000:]
        snap = orjson.loads(proc.stdout)
        seen = _read_all(broker.url)
        from_now = orjson.loads(_status(broker.url, "--once", "--json", "--from-now").stdout)
        table = _status(broker.url.replace("tansu://", "kafka://"), "--once")
        follow = subprocess.Popen(
            [sys.executable, "-m", "qstream", "status", "--broker", broker.url, "--json",
             "--interval", "0.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            assert follow.stdout is not None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                    lines and lines[-1]["tasks"]["completed"] == snap["tasks"]["completed"]):
                lines.append(orjson.loads(follow.stdout.readline()))
        finally:
            follow.terminate()
            follow.wait(30)
    print(f"status --once took {once_s:.2f} s")
    print(orjson.dumps({k: snap[k] for k in ("tasks", "executions", "shots", "reallocations")}).decode())

    # --- what the test computes itself from the topics -----------------------------------
    first: dict[str, dict[str, Any]] = {}
    for r in seen[T.RESULTS]:
        first.setdefault(r["task_id"], r)
    completed = [r for r in first.values() if r["status"] == "completed"]
    failed = [r for r in first.values() if r["status"] == "failed"]
    events = seen[T.TELEMETRY]
    executions = {(e["subtask_id"], e["attempt"], e["backend"]): e for e in events
                  if e["event"] == "execution"}
    retries = {(e["subtask_id"], e["attempt"], e["backend"], e["retry"]) for e in events
               if e["event"] == "retry"}
    per_backend: dict[str, int] = {}
    for _, _, backend in executions:
        per_backend[backend] = per_backend.get(backend, 0) + 1
    jcts = [r["metrics"]["jct_s"] for r in first.values()]
    shots_executed = sum(e["shots"] for e in executions.values())
    shots_delivered = sum(c["shots"] for r in completed for c in r["results"])

    # --- qstream status --once --json ------------------------------------------------------
    assert snap["tasks"]["completed"] == len(completed) == len(tasks) - len(failed)
    assert snap["tasks"]["failed"] == len(failed)
    assert snap["tasks"]["success_rate"] == pytest.approx(len(completed) / len(first))
    assert min(jcts) <= snap["jct_s"]["p50"] <= max(jcts)
    assert snap["jct_s"]["p50"] == pytest.approx(statistics.median(jcts))
    assert snap["jct_s"]["count"] == len(jcts)
    assert snap["executions"]["total"] == len(executions) >= 6  # 6 circuits, no splits
    assert snap["executions"]["failed"] == sum(not e["success"] for e in executions.values())
    assert {b: v["executions"] for b, v in snap["backends"].items() if v["executions"]} == per_backend
    assert sum(v["executions"] for v in snap["backends"].values()) == len(executions)
    assert snap["executions"]["retries"] == len(retries) > 0  # the injected faults
    assert snap["executions"]["retry_rate"] == pytest.approx(
        len(retries) / (len(retries) + len(executions)))
    assert snap["shots"]["executed"] == shots_executed
    assert snap["shots"]["delivered"] == shots_delivered == 2 * 300 * len(completed)
    assert snap["shots"]["utilization"] == pytest.approx(shots_delivered / shots_executed)
    assert 0.0 < snap["shots"]["utilization"] <= 1.0
    assert snap["cost_usd"]["mean"] == pytest.approx(
        statistics.fmean(r["metrics"]["cost_usd"] for r in first.values()))
    assert sum(snap["reallocations"].values()) == len(seen[T.REALLOCATIONS])
    # Calibration age: the Fake* snapshot's date for emulated IBM devices, none for simulators.
    now = time.time()
    for name, b in snap["backends"].items():
        if name.startswith("ibm_"):
            expected = now - device_spec(name).calibration.updated_at_s
            assert b["calibration_age_s"] == pytest.approx(expected, abs=120.0), name
        else:
            assert b["calibration_age_s"] is None, name
    # Predictor error: every successful execution with a dispatch event and run_s > 0 joins.
    dispatched = {e["subtask_id"] for e in events if e["event"] == "dispatch"}
    for name, b in snap["backends"].items():
        joinable = sum(1 for (sid, _, be), e in executions.items()
                       if be == name and e["success"] and e["run_s"] > 0 and sid in dispatched)
        assert b["predictor_error"]["run_s"]["count"] == joinable, name
    assert from_now["tasks"]["completed"] == 0 and from_now["executions"]["total"] == 0
    anomalies: dict[str, int] = {}
    for e in events:
        if e["event"] == "anomaly":
            anomalies[e["backend"]] = anomalies.get(e["backend"], 0) + 1
    assert {b: v["anomalies"] for b, v in snap["backends"].items() if v["anomalies"]} == anomalies

    # --- the table, via kafka:// (flavour detection) --------------------------------------
    assert table.returncode == 0, table.stderr[-3000:]
    assert "job success rate" in table.stdout and "per backend" in table.stdout
    assert "Traceback" not in table.stderr
    # --- follow mode: JSON lines that reach the same totals -------------------------------
    assert lines[-1]["tasks"] == snap["tasks"], lines[-1]["tasks"]
    assert lines[-1]["executions"]["total"] == snap["executions"]["total"]

    # --- the worker's OpenTelemetry metrics -------------------------------------------------
    assert metrics_path.exists()
    p = _metric_points(metrics_path)
    by_status = {d["attributes"]["status"]: d["value"] for d in p["qstream.tasks"]}
    assert by_status.get("completed", 0) == len(completed)
    assert sum(d["value"] for d in p["qstream.executions"]) == len(executions)
    assert sum(d["value"] for d in p["qstream.execution.retries"]) == len(retries)
    assert sum(d["value"] for d in p["qstream.shots.executed"]) == shots_executed
    assert sum(d["value"] for d in p["qstream.shots.delivered"]) == shots_delivered
    [jct] = [d for d in p["qstream.task.jct"] if d["attributes"]["status"] == "completed"]
    assert jct["count"] == len(completed)
    assert jct["min"] == pytest.approx(min(r["metrics"]["jct_s"] for r in completed))
    assert sum(jct["bucket_counts"]) == jct["count"]
    queue = {d["attributes"]["backend"]: d["count"] for d in p["qstream.subtask.queue_wait"]}
    assert sum(queue.values()) == sum(e["success"] for e in executions.values())
    errs = p["qstream.predictor.error"]
    assert errs and all(d["attributes"]["target"] in ("run_s", "queue_s") and d["min"] >= 0
                        for d in errs)
    ages = {d["attributes"]["backend"]: d["value"] for d in p["qstream.backend.calibration_age"]}
    assert set(ages) == {n for n in snap["backends"] if n.startswith("ibm_")}
    assert all(age > 86_400 for age in ages.values())  # the snapshots are months old
    assert sum(d["value"] for d in p.get("qstream.anomalies", [])) == sum(anomalies.values())
    [util] = p["qstream.shots.utilization"]
    assert util["value"] == pytest.approx(shots_delivered / shots_executed)


def test_status_without_a_broker_fails_clearly() -> None:
    for url in ("tansu://127.0.0.1:9", "kafka://127.0.0.1:9"):
        proc = _status(url, "--once", "--timeout-s", "2", timeout=60)
        assert proc.returncode == 2, (url, proc.stdout, proc.stderr)
        assert "error:" in proc.stderr and "127.0.0.1:9" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
