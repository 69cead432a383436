"""Budgets and tenants on the real embedded broker, with real worker processes.

- A task whose budget is far below the cheapest QPU price runs on a cheaper
  backend (or fails with reason ``budget``), and never spends more than its
  budget, summed from its result and from the execution telemetry.
- A two-tenant flood: tenant A floods, tenant B submits a few tasks right after;
  B's tasks complete while A is still flooding (start-time fair queuing at the
  scheduler), and, for comparison, the same tasks under one tenant finish last.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from helpers import BELL_QASM
from helpers.watch import submit_and_watch

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.stream import topics as T

QPUS = ("ibm_perth_emu", "ibm_nairobi_emu", "ibm_hanoi_emu", "ibm_sherbrooke_emu")


def bell(task_id: str, **extra: Any) -> dict[str, Any]:
    return {"schema": "qstream.task.v1", "task_id": task_id,
            "circuits": [{"name": "bell", "qasm": BELL_QASM}], "shots": 1000, **extra}


def test_a_budget_far_below_the_qpu_price_never_spends_more_than_the_budget(worker) -> None:
    stamp = f"budget-{time.time_ns()}"
    budget = 0.01  # a 1000-shot Bell circuit costs ~5 USD on an emulated IBM QPU (1.60 USD/s)
    tasks = [bell(f"{stamp}-any", budget_usd=budget),
             bell(f"{stamp}-qpu", budget_usd=budget, kinds=["qpu"])]
    results, telemetry, n_results = submit_and_watch(
        worker.broker_url, tasks, T.TELEMETRY, timeout_s=120, linger_s=3)
    assert n_results == 2

    cheap = results[f"{stamp}-any"]
    assert cheap["status"] == "completed", cheap
    assert not set(cheap["metrics"]["backends"]) & set(QPUS)
    assert cheap["metrics"]["budget_usd"] == budget and cheap["metrics"]["over_budget"] is False
    assert cheap["tenant"] == "default"
    # Every execution of it (a hedge copy too, on a cold worker) within the budget; the
    # result counts what was spent before it went out (a losing copy may end later).
    spent = sum(e["price_usd"] for e in telemetry
                if e.get("event") == "execution" and e["task_id"] == cheap["task_id"])
    assert 0.0 < cheap["metrics"]["cost_usd"] <= spent + 1e-12
    assert spent <= budget

    qpu_only = results[f"{stamp}-qpu"]
    assert qpu_only["status"] == "failed" and qpu_only["reason"] == "budget"
    assert "cheapest option is ibm_" in qpu_only["error"] and "0.01 USD" in qpu_only["error"]
    assert not [e for e in telemetry
                if e.get("event") == "execution" and e["task_id"] == qpu_only["task_id"]]


def flood(url: str, stamp: str, *, a: int, b: int,
          tenant_b: str) -> tuple[dict[str, dict[str, Any]], float]:
    """Tenant A submits ``a`` tasks, then tenant ``tenant_b`` submits ``b``.

    Returns every result and the wall time (epoch s) when the last task was submitted.
    """
    tasks = [bell(f"{stamp}-a{i}", tenant="A") for i in range(a)]
    tasks += [bell(f"{stamp}-b{i}", tenant=tenant_b) for i in range(b)]

    async def go() -> tuple[dict[str, dict[str, Any]], float]:
        async with Client(url) as client:
            for t in tasks:
                await client.submit(t)
            submitted = time.time()
            return await client.wait_results([t["task_id"] for t in tasks], 300), submitted
    return asyncio.run(go())


def completion_times(results: dict[str, dict[str, Any]], prefix: str) -> list[float]:
    return sorted(r["completed_at"] for tid, r in results.items() if f"-{prefix}" in tid)


SLOW_FROM_S = 15.0
"""Wall seconds after the worker is ready when its CPU backend slows down: the first
(cold) executions of a fresh pool take seconds and must not be stretched too."""


def test_a_second_tenant_completes_while_the_first_floods(worker_factory, tmp_path,
                                                          monkeypatch) -> None:
    # One CPU backend (2 credits), slowed 20,000x (a Bell run of a few ms then takes ~0.1 s)
    # so execution, not the pipeline, is the bottleneck: the flood queues inside the
    # scheduler, where fair sharing decides who goes next.
    monkeypatch.setenv("QSTREAM_TENANTS", '{"A": {"weight": 1}, "*": {"weight": 1}}')
    scale = 600.0  # the test worker's time scale (tests/conftest.py)
    with EmbeddedBroker() as broker:
        w = worker_factory(broker.url, tmp_path / "worker.log", "--fleet", "cpu_statevector",
                           "--faults", f"cpu_statevector:slow=20000@{SLOW_FROM_S * scale:g}-inf")
        ready = time.time()
        try:
            warm, _ = flood(broker.url, f"warm-{time.time_ns()}", a=4, b=0, tenant_b="B")
            assert all(r["status"] == "completed" for r in warm.values())
            time.sleep(max(ready + SLOW_FROM_S + 1.0 - time.time(), 0.0))
            run_floods(broker.url)
        finally:
            w.stop()


def run_floods(url: str) -> None:
    """Both floods on one worker: with two tenants (fair), then under one tenant (FIFO)."""
    stamp = f"flood-{time.time_ns()}"
    fair, submitted = flood(url, stamp, a=200, b=5, tenant_b="B")
    assert len(fair) == 205 and all(r["status"] == "completed" for r in fair.values())
    assert {fair[f"{stamp}-b0"]["tenant"], fair[f"{stamp}-a0"]["tenant"]} == {"A", "B"}
    a_done, b_done = completion_times(fair, "a"), completion_times(fair, "b")
    first_a, last_a, last_b = a_done[0], a_done[-1], b_done[-1]
    # B's last task is done early in A's flood, which goes on long after it: at about 10%
    # of A's span alone, 22% once beside the unit tests on the other pytest-xdist worker;
    # without fair sharing it comes at the end (the FIFO run below).
    assert last_b < first_a + 0.35 * (last_a - first_a), (first_a, last_b, last_a)
    assert sum(t > last_b for t in a_done) >= 150
    # Without fair sharing (the same tasks under one tenant) B's come after A's.
    stamp = f"fifo-{time.time_ns()}"
    fifo, fifo_submitted = flood(url, stamp, a=200, b=5, tenant_b="A")
    fa, fb = completion_times(fifo, "a"), completion_times(fifo, "b")
    assert sum(t > fb[-1] for t in fa) <= 10
    print(f"\nflood of 200 A + 5 B tasks, times after the last submission: two tenants: "
          f"B's last done {last_b - submitted:.2f} s, A's last {last_a - submitted:.2f} s; "
          f"one tenant: B's last {fb[-1] - fifo_submitted:.2f} s, "
          f"A's last {fa[-1] - fifo_submitted:.2f} s")
