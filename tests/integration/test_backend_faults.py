"""Backend faults live: retries, failover with every backend's reason, the circuit breaker.

Each test runs its own broker and a worker with ``QSTREAM_FAULTS`` set (the worker
subprocess inherits the environment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.watch import submit_and_watch

from qstream.broker import EmbeddedBroker
from qstream.stream import topics as T
from qstream.workload import mqt_qasm

FLEET = ("--fleet", "cpu_statevector,braket_local")


def _tasks(prefix: str, n: int) -> list[dict[str, Any]]:
    # Fixed ids (the broker is this test's own): the fault draws are then reproducible.
    return [{"schema": "qstream.task.v1", "task_id": f"{prefix}-{i}",
             "circuits": [{"name": "ghz3", "qasm": mqt_qasm("ghz", 3)}], "shots": 100}
            for i in range(n)]


def _run(tmp_path: Path, worker_factory: Any, tasks: list[dict[str, Any]],
         timeout_s: float = 30.0) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], int, Any]:
    """Run ``tasks`` on a worker of the two-backend fleet with its own broker; return
    (results, telemetry events, result messages of these tasks, the stopped worker)."""
    with EmbeddedBroker() as broker:
        w = worker_factory(broker.url, tmp_path / "worker.log", *FLEET)
        try:
            results, events, n_results = submit_and_watch(
                broker.url, tasks, T.TELEMETRY, timeout_s=timeout_s, linger_s=3)
        finally:
            w.stop()
    return results, events, n_results, w


def test_transient_failures_are_retried_and_every_task_completes_once(
        tmp_path: Path, worker_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSTREAM_FAULTS", "cpu_statevector:fail=0.5")
    tasks = _tasks("fa", 10)
    results, events, n_results, w = _run(tmp_path, worker_factory, tasks)
    assert len(results) == len(tasks), w.log()[-3000:]
    for t in tasks:
        r = results[t["task_id"]]
        assert r["status"] == "completed", r.get("error")
        assert sum(r["results"][0]["counts"].values()) == 100
    assert n_results == len(tasks)  # exactly one result per task
    retries = [e for e in events if e["event"] == "retry"]
    assert retries, f"no retry events\n{w.log()[-3000:]}"
    assert all(e["backend"] == "cpu_statevector" and e["retry"] >= 1 and e["wait_s"] >= 0
               and "injected transient failure" in e["error"] for e in retries)


def test_a_task_fails_only_when_every_capable_backend_failed_and_says_why(
        tmp_path: Path, worker_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSTREAM_FAULTS",
                       "braket_local:outage=0-100000;cpu_statevector:fail=1.0")
    tasks = _tasks("fb", 1)
    results, events, n_results, _ = _run(tmp_path, worker_factory, tasks)
    r = results[tasks[0]["task_id"]]
    assert r["status"] == "failed"
    error = r["error"]
    assert "cpu_statevector: injected transient failure" in error, error
    assert "(after 3 tries)" in error, error
    assert "braket_local: injected outage" in error, error
    assert n_results == 1
    failovers = [e for e in events if e["event"] == "failover"]
    assert len(failovers) == 1, events
    f = failovers[0]
    assert {f["from_backend"], f["to_backend"]} == {"cpu_statevector", "braket_local"}
    assert f["task_id"] == tasks[0]["task_id"] and f["attempt"] == 1
    # The outage is not retried on the same backend; the random failures are.
    assert not [e for e in events if e["event"] == "retry" and e["backend"] == "braket_local"]
    assert len([e for e in events if e["event"] == "retry"]) == 2


def test_a_breaker_opens_on_a_failing_backend_and_work_goes_elsewhere(
        tmp_path: Path, worker_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSTREAM_FAULTS", "cpu_statevector:fail=1.0")
    monkeypatch.setenv("QSTREAM_RETRY_ATTEMPTS", "1")
    monkeypatch.setenv("QSTREAM_BREAKER_FAILURES", "2")
    monkeypatch.setenv("QSTREAM_BREAKER_COOLDOWN_S", "600")
    tasks = _tasks("fc", 8)
    results, events, n_results, w = _run(tmp_path, worker_factory, tasks)
    opened = [e for e in events if e["event"] == "breaker" and e["state"] == "open"]
    assert opened, f"no breaker event\n{w.log()[-3000:]}"
    assert opened[0]["backend"] == "cpu_statevector"
    assert opened[0]["reason"] == "2 consecutive failures"
    assert n_results == len(tasks)
    for t in tasks:
        r = results[t["task_id"]]
        assert r["status"] == "completed", r.get("error")
        assert r["results"][0]["backends"] == ["braket_local"]
    failed_on_cpu = [e for e in events if e["event"] == "execution"
                     and e["backend"] == "cpu_statevector" and not e["success"]]
    # cpu_statevector runs 2 at a time (a hedge copy may add one): once its breaker
    # opens it gets no more work.
    assert 2 <= len(failed_on_cpu) <= 4, failed_on_cpu
