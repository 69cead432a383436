"""`qstream worker` configured only through the environment, as deploy/README.md documents.

The worker is started with no ``--broker`` and no ``--time-scale``: the broker comes from
``QSTREAM_BROKER``, the time scale from ``QSTREAM_TIME_SCALE`` and the fleet from
``QSTREAM_FLEET``. Its own broker (not the session one), so that no other worker's
``backend_status`` can stand in for this one's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import WorkerProcess, wait_ready
from helpers import task

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.stream import topics as T


async def _ready_or_exited(handle: WorkerProcess, url: str, started: float) -> None:
    """:func:`wait_ready`, but fail as soon as the worker process exits."""
    ready = asyncio.ensure_future(wait_ready(url, timeout_s=90.0, after=started))
    while not ready.done():
        if handle.proc.poll() is not None:
            ready.cancel()
            raise AssertionError(f"worker exited with code {handle.proc.returncode}")
        await asyncio.sleep(0.2)
    ready.result()


async def _scheduler_clock(url: str, task_id: str) -> float:
    """Submit a task; return the scheduler clock its sub-task was stamped with
    (``submitted_at_s`` on ``qstream.subtasks``: wall seconds x the time scale)."""
    async with Client(url) as client:
        await client.submit(task(task_id=task_id))
        async def first() -> float:
            async for _, msg in client.stream(T.SUBTASKS):
                if msg.get("task_id") == task_id:
                    return float(msg["submitted_at_s"])
            raise AssertionError("qstream.subtasks ended")
        return await asyncio.wait_for(first(), 60.0)


def test_worker_takes_broker_time_scale_and_fleet_from_the_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSTREAM_")}
    log_path = tmp_path / "worker.log"
    with EmbeddedBroker() as broker:
        env.update(QSTREAM_BROKER=f"kafka://{broker.bootstrap}", QSTREAM_TIME_SCALE="1",
                   QSTREAM_FLEET="cpu_statevector", QSTREAM_SCHEDULER__MAX_SPLITS="1")
        started = time.time()
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "qstream", "worker", "--loglevel", "INFO"],
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        handle = WorkerProcess(proc, log_path, broker.url)
        try:
            # The worker came up on QSTREAM_BROKER: it publishes backend status there.
            asyncio.run(_ready_or_exited(handle, broker.url, started))
        except Exception:
            handle.stop()
            raise AssertionError("worker did not come up on $QSTREAM_BROKER:\n"
                                 + handle.log()[-4000:]) from None
        try:
            # The time scale reached the runtime: at QSTREAM_TIME_SCALE=1 the scheduler
            # clock is the wall clock (at the default 60 it would be 60 times larger).
            clock_s = asyncio.run(_scheduler_clock(broker.url, "env-time-scale"))
        finally:
            handle.stop()
        assert abs(clock_s - time.time()) < 120.0, (clock_s, time.time())
    log = handle.log()
    [settings] = [line for line in log.splitlines() if "effective settings:" in line]
    assert f"broker=tansu://{broker.bootstrap}" in settings, settings
    assert "time_scale=1.0" in settings, settings
    assert "fleet=('cpu_statevector',)" in settings, settings
    assert "max_splits=1" in settings, settings
