"""Hedging live: a straggler gets a backup copy on an idle backend; one result per task."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from helpers.watch import submit_and_watch

from qstream.broker import EmbeddedBroker
from qstream.stream import topics as T
from qstream.workload import mqt_qasm


def test_stragglers_are_hedged_and_each_task_completes_once(
        tmp_path: Path, worker_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    # At 20,000 emulated seconds per wall second a simulator job of a few tens of
    # milliseconds is far past twice its predicted time: a straggler by the rule.
    monkeypatch.setenv("QSTREAM_REALLOC_INTERVAL_S", "0.05")
    tasks = [{"schema": "qstream.task.v1", "task_id": f"hedge-{uuid.uuid4()}",
              "circuits": [{"name": "qft12", "qasm": mqt_qasm("qft", 12)}], "shots": 4000}
             for _ in range(4)]
    with EmbeddedBroker() as broker:
        w = worker_factory(broker.url, tmp_path / "worker.log",
                           "--fleet", "cpu_statevector,braket_local", "--time-scale", "20000")
        try:
            results, moves, n_results = submit_and_watch(
                broker.url, tasks, T.REALLOCATIONS, timeout_s=180, linger_s=5)
        finally:
            w.stop()
    hedges = [m for m in moves if m["reason"].startswith("straggler:")]
    assert hedges, f"no hedge among {moves}\n{w.log()[-3000:]}"
    assert all(h["from_backend"] != h["to_backend"] for h in hedges)
    assert n_results == len(tasks)  # exactly one result per task, hedged or not
    for t in tasks:
        r = results[t["task_id"]]
        assert r["status"] == "completed", r.get("error")
        assert sum(r["results"][0]["counts"].values()) == 4000
