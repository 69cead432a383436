"""The stoppable process pool: a cancelled run's worker process is terminated and replaced
(warm again), and shutting the pool down leaves no worker process behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil
import pytest
from helpers.slow import burn, mark_warm, pid

from qstream.backends.payloads import WarmUp
from qstream.backends.pool import make_pool, warm


def _gone(p: int) -> bool:
    try:
        return psutil.Process(p).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cancelling_a_running_task_kills_its_process_and_a_warm_one_replaces_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marks = tmp_path / "warm.txt"
    monkeypatch.setenv("QSTREAM_TEST_WARM", str(marks))
    pool = make_pool(1)
    try:
        warm(pool, [type("B", (), {"warm_ups": lambda self: (WarmUp("t", mark_warm),)})()])

        async def go() -> tuple[int, int, float]:
            loop = asyncio.get_running_loop()
            first = await loop.run_in_executor(pool, pid)
            job = asyncio.ensure_future(loop.run_in_executor(pool, burn, 120.0))
            await asyncio.sleep(0.5)
            assert psutil.Process(first).cpu_percent(0.3) > 50.0  # it is burning a CPU
            cancelled_at = time.monotonic()
            job.cancel()
            while not _gone(first):
                assert time.monotonic() - cancelled_at < 10, "the run was not stopped"
                await asyncio.sleep(0.02)
            freed_s = time.monotonic() - cancelled_at
            second = await loop.run_in_executor(pool, pid)
            return first, second, freed_s

        first, second, freed_s = asyncio.run(go())
        print(f"cancel -> process gone in {freed_s:.3f} s")
        assert second != first and pool.stopped == 1
        # The replacement built the registered warm-up before taking work.
        built = [int(x) for x in marks.read_text().split()]
        assert built[0] == first and built[-1] == second and built.count(second) == 1
    finally:
        pool.shutdown()


def test_shutdown_terminates_a_running_simulation_process() -> None:
    pool = make_pool(1)
    future = pool.submit(burn, 120.0)
    deadline = time.monotonic() + 30
    while not pool.worker_pids() or not future.running():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [child] = pool.worker_pids()
    pool.shutdown()
    assert _gone(child)
