"""Budgets and tenants through the agents, in process: admission, dispatch, spend, takeover."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from helpers import BELL_QASM, FakeBackend, config, run, task

from qstream.backends.base import ExecutionRequest, ExecutionResult
from qstream.backends.fleet import fleet_specs
from qstream.config_tenants import TenantSettings
from qstream.stream import codec
from qstream.stream import topics as T
from qstream.stream.testing import Harness

QPU, CPU = "ibm_perth_emu", "cpu_statevector"


@dataclass
class PricedBackend(FakeBackend):
    """A :class:`FakeBackend` that charges ``price_usd`` per execution (whatever was predicted)."""

    price_usd: float = 0.0
    seen: list[ExecutionRequest] = field(default_factory=list)

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        r = await super().execute(request)
        return ExecutionResult(r.backend, r.counts, r.shots, r.queue_s, r.run_s,
                               self.price_usd, r.esp, r.quality, r.readout, r.pending_jobs,
                               r.physical_qubits, r.wall_s)


def two_backend_harness(*, cpu_price: float = 0.0, qpu_price: float = 5.0,
                        **overrides: Any) -> tuple[Harness, dict[str, PricedBackend]]:
    cfg = config(fleet=(QPU, CPU), **overrides)
    specs = fleet_specs(cfg.fleet)
    backends = {s.name: PricedBackend(s, price_usd=cpu_price if s.name == CPU else qpu_price)
                for s in specs}
    return Harness(cfg, specs, backends=backends), backends


def circuits(n: int) -> list[dict[str, str]]:
    return [{"name": f"bell{i}", "qasm": BELL_QASM} for i in range(n)]


def telemetry_spend(h: Harness, task_id: str) -> float:
    return sum(e["price_usd"] for e in h.sent(T.TELEMETRY)
               if e["event"] == "execution" and e["task_id"] == task_id)


def test_a_budget_far_below_the_qpu_price_runs_on_the_cheap_backend() -> None:
    h, backends = two_backend_harness(cpu_price=1e-6)
    h.produce(T.TASKS, task(task_id="t", budget_usd=0.01), key="t")
    run(h.run())
    [result] = h.sent(T.RESULTS)
    codec.validate(result)
    assert result["status"] == "completed" and result["metrics"]["backends"] == [CPU]
    assert result["tenant"] == "default"
    assert result["metrics"]["budget_usd"] == 0.01 and result["metrics"]["over_budget"] is False
    assert backends[QPU].requests == []
    spent = telemetry_spend(h, "t")
    assert result["metrics"]["cost_usd"] == spent <= 0.01
    # Every dispatch decision scored the QPU out: it was never a candidate.
    for e in h.sent(T.TELEMETRY):
        if e["event"] == "dispatch":
            assert [s["backend"] for s in e["scores"]] == [CPU]


def test_a_task_that_only_fits_the_qpu_is_rejected_at_admission_with_reason_budget() -> None:
    h, backends = two_backend_harness()
    h.produce(T.TASKS, task(task_id="t", budget_usd=0.01, backends=[QPU]), key="t")
    run(h.run())
    [dlq] = h.sent(T.DLQ)
    [result] = h.sent(T.RESULTS)
    codec.validate(result)
    assert dlq["reason"] == "budget" and result["reason"] == "budget"
    assert result["status"] == "failed" and result["tenant"] == "default"
    assert result["metrics"]["budget_usd"] == 0.01 and result["metrics"]["over_budget"] is False
    assert f"cheapest option is {QPU} at" in result["error"] and "0.01 USD" in result["error"]
    assert h.sent(T.SUBTASKS) == [] and backends[QPU].requests == []


def test_spend_past_the_budget_stops_the_task_and_the_result_says_so() -> None:
    # Predicted ~6e-7 USD per Bell run on the CPU; it charges 1 mUSD: the prediction is wrong.
    h, backends = two_backend_harness(cpu_price=0.001)
    h.produce(T.TASKS, task(task_id="t", circuits=circuits(4), budget_usd=0.0005,
                            backends=[CPU]), key="t")
    run(h.run())
    [result] = h.sent(T.RESULTS)
    codec.validate(result)
    assert result["status"] == "failed" and result["reason"] == "budget"
    m = result["metrics"]
    assert m["over_budget"] is True and m["budget_usd"] == 0.0005
    assert "passed the budget" in result["error"] and "withdrawn" in result["error"]
    # Two were in flight (the CPU's two credits); the other two were never started.
    assert len(backends[CPU].requests) == 2
    assert m["cost_usd"] == telemetry_spend(h, "t") == 0.002
    assert h.rt.scheduler.pending() == {QPU: [], CPU: []}


def test_the_tenant_window_budget_rejects_new_tasks_and_spares_other_tenants() -> None:
    h, _ = two_backend_harness(cpu_price=0.001, tenants={
        "teamA": TenantSettings(budget_usd=0.0015, window_s=3600)})
    for i in range(2):
        h.produce(T.TASKS, task(task_id=f"a{i}", tenant="teamA", backends=[CPU]), key=f"a{i}")
        run(h.run())
    h.produce(T.TASKS, task(task_id="a2", tenant="teamA", backends=[CPU]), key="a2")
    h.produce(T.TASKS, task(task_id="b0", tenant="teamB", backends=[CPU]), key="b0")
    run(h.run())
    results = {r["task_id"]: r for r in h.sent(T.RESULTS)}
    assert [results[t]["status"] for t in ("a0", "a1", "b0")] == ["completed"] * 3
    assert results["a2"]["status"] == "failed" and results["a2"]["reason"] == "tenant_budget"
    assert results["a2"]["tenant"] == "teamA" and results["b0"]["tenant"] == "teamB"
    assert [d["reason"] for d in h.sent(T.DLQ)] == ["tenant_budget"]
    assert "teamA" in results["a2"]["error"] and "0.0015 USD" in results["a2"]["error"]


def test_spend_per_task_and_per_tenant_survive_a_takeover() -> None:
    h, _ = two_backend_harness(cpu_price=0.001, tenants={
        "teamA": TenantSettings(budget_usd=1.0, window_s=3600)})
    h.produce(T.TASKS, task(task_id="t", circuits=circuits(3), budget_usd=0.5, tenant="teamA",
                            backends=[CPU]), key="t")
    # Partition, dispatch, run the two released sub-tasks, learn from one of them only.
    run(h.deliver(h.records(T.TASKS)[0]))
    for record in h.records(T.SUBTASKS):
        run(h.deliver(record))
    for record in h.records(T.exec_topic(CPU)):
        run(h.deliver(record))
    first = next(r for r in h.records(T.TELEMETRY)
                 if r.decoded().get("event") == "execution")
    run(h.deliver(first))
    assert h.rt.scheduler.spent_usd("t") == 0.001
    rt = h.restart()
    assert rt.scheduler.spent_usd("t") == 0.001
    assert rt.tenant_spend.spent("teamA", now_s=first.decoded()["at"]) == 0.001
    probe = next(s for s in (rt.ledger.subtask(sid) for sid in rt.ledger.task_subtasks["t"])
                 if s is not None)
    held = sum(1 for _ in rt.ledger.task_subtasks["t"])
    assert held == 2 and rt.scheduler.remaining_usd(probe) < 0.5 - 0.001 + 1e-9
    run(h.run())
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "completed" and result["metrics"]["cost_usd"] == 0.003


def test_a_second_tenants_tasks_are_not_starved_by_a_flood() -> None:
    def order(tenant_b: str) -> list[str]:
        h, _ = two_backend_harness(cpu_price=0.0)
        for i in range(30):
            h.produce(T.TASKS, task(task_id=f"a{i}", tenant="A", backends=[CPU]), key=f"a{i}")
        for i in range(3):
            h.produce(T.TASKS, task(task_id=f"b{i}", tenant=tenant_b, backends=[CPU]),
                      key=f"b{i}")
        run(h.run())
        return [r["task_id"][0] for r in h.sent(T.RESULTS)]

    fair = order("B")
    assert len(fair) == 33 and max(i for i, t in enumerate(fair) if t == "b") < 10
    fifo = order("A")  # the same tasks under one tenant: B's come last
    assert min(i for i, t in enumerate(fifo) if t == "b") >= 30


def test_a_problem_task_does_not_select_past_its_budget() -> None:
    h, _ = two_backend_harness(qpu_price=5.0)
    problem = {"kind": "maxcut", "num_nodes": 4, "edges": [[0, 1], [1, 2], [2, 3], [3, 0]]}
    h.produce(T.TASKS, {"schema": "qstream.task.v1", "task_id": "p", "problem": problem,
                        "kinds": ["qpu"], "budget_usd": 0.001, "tenant": "teamP"}, key="p")

    async def go() -> None:
        for _ in range(50):
            await h.run()
            if h.sent(T.RESULTS):
                return
            await asyncio.sleep(0.01)

    run(go())
    [result] = h.sent(T.RESULTS)
    codec.validate(result)
    assert result["status"] == "failed" and result["reason"] == "budget"
    assert result["tenant"] == "teamP" and result["metrics"]["budget_usd"] == 0.001
    assert "cheapest is" in result["error"] and QPU in result["error"]
