"""Broker outage: the embedded broker is frozen (SIGSTOP) for 15 s mid-run, then resumed.

Workers and producers ride through, and every task completes with exactly one result
on ``qstream.results``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.stream import topics as T
from qstream.workload import mqt_qasm

FREEZE_S = 15.0


def test_tasks_complete_across_a_15_s_broker_freeze(tmp_path: Path, worker_factory) -> None:
    tasks = [{"schema": "qstream.task.v1", "task_id": f"freeze-{uuid.uuid4()}",
              "circuits": [{"name": f"ghz{n}", "qasm": mqt_qasm("ghz", n)}], "shots": 300}
             for n in (3, 4, 5) * 8]
    with EmbeddedBroker() as broker:
        assert broker.process is not None
        w = worker_factory(broker.url, tmp_path / "worker.log")
        try:
            async def run() -> tuple[dict[str, dict[str, Any]], float]:
                async with Client(broker.url) as client:
                    for t in tasks[:12]:
                        await client.submit(t)
                    await asyncio.sleep(1.0)  # mid-run: tasks are in flight
                    os.killpg(broker.process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
                    frozen_at = time.monotonic()
                    # A producer keeps publishing into the frozen broker; its sends
                    # must go through once the broker resumes.
                    later = asyncio.gather(*(client.submit(t) for t in tasks[12:]))
                    await asyncio.sleep(FREEZE_S)
                    os.killpg(broker.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
                    frozen = time.monotonic() - frozen_at
                    await later
                    results = await client.wait_results([t["task_id"] for t in tasks], 240)
                    ids = set(results)
                    counts: dict[str, int] = {}
                    async for _, msg in client.stream(T.RESULTS, idle_timeout_s=3.0):
                        if msg["task_id"] in ids:
                            counts[msg["task_id"]] = counts.get(msg["task_id"], 0) + 1
                    assert all(n == 1 for n in counts.values()), \
                        {k: n for k, n in counts.items() if n > 1}
                    assert set(counts) == ids
                    return results, frozen

            results, frozen = asyncio.run(run())
        finally:
            if broker.process is not None and broker.process.poll() is None:
                os.killpg(broker.process.pid, signal.SIGCONT)
            code = w.stop()
    assert frozen >= FREEZE_S
    missing = [t["task_id"] for t in tasks if t["task_id"] not in results]
    assert not missing, f"{len(missing)} tasks without a result\n{w.log()[-3000:]}"
    assert all(r["status"] == "completed" for r in results.values()), \
        [r.get("error") for r in results.values() if r["status"] != "completed"]
    assert code == 0, w.log()[-3000:]
