"""The classical executor: CPU slots, memory reservations, queue telemetry and its queue model."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from qstream.stream.classical_executor import GIB, ClassicalExecutor

RING = {"kind": "maxcut", "num_nodes": 14,
        "edges": [[i, (i + 1) % 14] for i in range(14)] + [[0, 7], [3, 10]]}


def test_solves_beyond_the_slots_wait_and_the_queue_model_learns_the_wait() -> None:
    pool = ThreadPoolExecutor(2)
    ex = ClassicalExecutor(1, GIB, lambda: pool)
    assert ex.executor().cpu_slots == 1 and ex.executor().memory_bytes == GIB
    seen: list[dict] = []

    async def go() -> list[dict]:
        async def watch() -> None:
            while True:
                seen.append(ex.status_event())
                await asyncio.sleep(0.005)
        watcher = asyncio.create_task(watch())
        jobs = [ex.run(f"j{i}", "simulated_annealing", RING, seed=i, max_iterations=None,
                       predicted_run_s=0.2, memory_bytes=1000) for i in range(3)]
        out = await asyncio.gather(*jobs)
        watcher.cancel()
        return out

    outs = asyncio.run(go())
    assert [o["objective"] for o in outs] == [16.0, 16.0, 16.0]  # an even ring plus two chords
    waits = sorted(o["queue_s"] for o in outs)
    assert waits[0] < 0.05 and waits[2] > waits[1] > 0.0  # one slot: each waits for the last
    assert max(e["busy"] for e in seen) == 1 and max(e["queued"] for e in seen) == 2
    assert max(e["memory_reserved_bytes"] for e in seen) == 1000
    assert ex.busy == ex.queued == ex.reserved_bytes == 0
    assert ex.queue_model.n == 3
    assert ex.predicted_queue_s() >= 0.0


def test_a_failing_solve_releases_its_slot_and_memory() -> None:
    pool = ThreadPoolExecutor(1)
    ex = ClassicalExecutor(1, GIB, lambda: pool)

    async def go() -> str:
        try:
            await ex.run("bad", "local_search", {"kind": "qubo", "num_vars": 2}, seed=0,
                         max_iterations=None, predicted_run_s=0.1, memory_bytes=10)
        except Exception as exc:  # the solver refuses a QUBO
            return type(exc).__name__
        return "no error"

    assert asyncio.run(go()) == "CapacityError"
    assert ex.busy == ex.queued == ex.reserved_bytes == 0
