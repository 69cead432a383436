"""Hedging live: a straggler gets a backup copy on an idle backend; one result per task."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from qstream.broker import EmbeddedBroker
from qstream.client import Client
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
            async def run() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], int]:
                async with Client(broker.url) as client:
                    for t in tasks:
                        await client.submit(t)
                    results = await client.wait_results([t["task_id"] for t in tasks], 180)
                    moves: list[dict[str, Any]] = []
                    n_results = 0

                    async def collect_moves() -> None:
                        async for _, msg in client.stream(T.REALLOCATIONS):
                            moves.append(msg)

                    async def count_results() -> None:
                        nonlocal n_results
                        async for _, msg in client.stream(T.RESULTS):
                            if msg["task_id"] in results:
                                n_results += 1

                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.gather(collect_moves(), count_results()), 5)
                    return results, moves, n_results

            results, moves, n_results = asyncio.run(run())
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
