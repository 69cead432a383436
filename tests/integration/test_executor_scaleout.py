"""Executors as separate processes: worker with --no-executors + `qstream executor`."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.workload import mqt_qasm


def test_separate_executor_process_runs_the_work(tmp_path: Path, worker_factory) -> None:
    with EmbeddedBroker() as broker:
        log = open(tmp_path / "executor.log", "wb")  # noqa: SIM115
        executor = subprocess.Popen(
            [sys.executable, "-m", "qstream", "executor", "--broker", broker.url,
             "--backends", "ibm_hanoi_emu,cpu_statevector", "--time-scale", "600"],
            stdout=log, stderr=subprocess.STDOUT)
        # Readiness is the executor's backend_status telemetry; the worker runs none.
        worker = worker_factory(broker.url, tmp_path / "worker.log", "--no-executors",
                                "--fleet", "ibm_hanoi_emu,cpu_statevector")
        try:
            t = {"schema": "qstream.task.v1", "task_id": f"so-{uuid.uuid4()}", "shots": 500,
                 "circuits": [{"name": "ghz4", "qasm": mqt_qasm("ghz", 4)}], "kinds": ["qpu"]}

            async def go() -> dict[str, dict]:
                async with Client(broker.url) as client:
                    await client.submit(t)
                    return await client.wait_results([t["task_id"]], 180)
            result = asyncio.run(go())[t["task_id"]]
        finally:
            executor.send_signal(signal.SIGTERM)
            executor.wait(30)
            worker.stop()
    assert result["status"] == "completed", result["error"]
    assert result["results"][0]["backends"] == ["ibm_hanoi_emu"]
    assert sum(result["results"][0]["counts"].values()) == 500
