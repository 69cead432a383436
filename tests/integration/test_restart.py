"""Learned predictor state survives a worker restart (changelog-backed Faust table)."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pytest

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.workload import mqt_qasm


def test_predictor_is_restored_after_restart(tmp_path: Path, worker_factory) -> None:
    # A broker of its own: the restored count must come from this test's tasks only.
    with EmbeddedBroker() as broker:
        first = worker_factory(broker.url, tmp_path / "first.log")
        try:
            tasks = [{"schema": "qstream.task.v1", "task_id": f"rs-{uuid.uuid4()}",
                      "circuits": [{"name": f"ghz{n}", "qasm": mqt_qasm("ghz", n)}],
                      "shots": 200} for n in (3, 4, 5, 6) * 6]

            async def run() -> dict[str, dict]:
                async with Client(broker.url) as client:
                    for t in tasks:
                        await client.submit(t)
                    return await client.wait_results([t["task_id"] for t in tasks], 240)
            results = asyncio.run(run())
            assert len(results) == len(tasks)
        finally:
            assert first.stop() == 0

        second = worker_factory(broker.url, tmp_path / "second.log")
        try:
            # The predictor is restored lazily on the first event after table recovery.
            t = {"schema": "qstream.task.v1", "task_id": f"rs-{uuid.uuid4()}",
                 "circuits": [{"name": "ghz3", "qasm": mqt_qasm("ghz", 3)}], "shots": 100}

            async def one() -> dict[str, dict]:
                async with Client(broker.url) as client:
                    await client.submit(t)
                    return await client.wait_results([t["task_id"]], 120)
            assert t["task_id"] in asyncio.run(one())
            match = re.search(r"predictor restored: (\d+) observations", second.log())
        finally:
            second.stop()
    if match is None:
        pytest.fail(f"no restore line in the second worker's log:\n{second.log()[-3000:]}")
    # 24 tasks were learned from; snapshots are written every 10 observations.
    assert int(match.group(1)) >= 20
