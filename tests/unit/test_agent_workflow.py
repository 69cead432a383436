"""Problem tasks in process: selection, hybrid loops as circuit tasks, classical solves,
failover mid-loop, moves of the rest of a loop, and bad problem input."""

from __future__ import annotations

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from helpers import FakeBackend, config

from qstream.backends.classical import ClassicalStatevectorBackend
from qstream.backends.fleet import fleet_specs
from qstream.core.problems import GroundState, ground_energy, problem_from_dict, solve_qubo
from qstream.stream import codec, recovery
from qstream.stream import topics as T
from qstream.stream.testing import Harness

RING6 = {"kind": "maxcut", "num_nodes": 6, "edges": [[i, (i + 1) % 6] for i in range(6)]}
TWO_QUBIT = {"kind": "ground_state", "num_qubits": 2,
             "pauli_terms": [["ZZ", 1.0], ["XI", 0.5], ["IX", 0.5]]}


def problem_task(task_id: str, problem: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schema": "qstream.task.v1", "task_id": task_id, "problem": problem, **extra}


def statevector_harness(**overrides: Any) -> Harness:
    cfg = config(**overrides)
    backend = ClassicalStatevectorBackend(seed=11, pool=ThreadPoolExecutor(1))
    return Harness(cfg, fleet_specs(cfg.fleet), backends={backend.spec.name: backend},
                   classical_pool=ThreadPoolExecutor(1))


async def pump(h: Harness, *, until_results: int = 1, rounds: int = 400) -> None:
    """Deliver records, and wait for background classical solves, until the results are out."""
    for _ in range(rounds):
        await h.run()
        if len(h.sent(T.RESULTS)) >= until_results:
            return
        solves = list(h.rt.workflows.solves.values())
        if solves:
            await asyncio.wait(solves, timeout=30)
        else:
            await asyncio.sleep(0.01)
    raise AssertionError("no result")


def solve(h: Harness, task: dict[str, Any]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        h.produce(T.TASKS, task, key=task["task_id"])
        await pump(h)
        [result] = h.sent(T.RESULTS)
        return result
    return asyncio.run(go())


def test_qaoa_loop_runs_its_iterations_as_circuit_tasks_and_answers_once() -> None:
    h = statevector_harness()
    result = solve(h, problem_task("q1", RING6, algorithms=["qaoa"], max_iterations=8))
    codec.validate(result)
    assert result["status"] == "completed" and result["results"] == []
    sol = result["solution"]
    assert sol["algorithm"] == "qaoa" and sol["backends"] == ["cpu_statevector"]
    assert sol["iterations"] == 8 and len(sol["history"]) == 8
    assert sol["optimum"] == 6.0 and sol["approximation_ratio"] >= 0.9
    assert problem_from_dict(RING6).cut_value(
        tuple(int(b) for b in reversed(sol["bitstring"]))) == sol["objective"]
    assert sol["selection"]["chosen"] == "qaoa@cpu_statevector"
    assert {c["solver"] for c in sol["selection"]["candidates"]} == {"qaoa"}
    # Every candidate the allow-list left out is in the decision, with its reason.
    assert {r["solver"] for r in sol["selection"]["rejected"]} >= {"exact", "simulated_annealing"}
    events = [e["event"] for e in h.sent(T.TELEMETRY)]
    assert events.count("selection") == 1 and events.count("iteration") == 8
    # 8 iterations and the final sampling run: 9 circuit tasks, none answered publicly.
    plans = h.sent(T.SUBTASK_RESULTS)
    steps = sorted({p["task_id"] for p in plans if p.get("schema") == "qstream.plan.v1"})
    assert steps == [f"q1/w{i}" for i in range(9)]
    assert [r["task_id"] for r in h.sent(T.RESULTS)] == ["q1"]
    assert h.rt.workflows.get("q1") is None and h.rt.ledger.task_record("q1")["state"] == "done"


def test_default_selection_answers_a_small_maxcut_exactly_on_the_classical_executor() -> None:
    h = statevector_harness()
    result = solve(h, problem_task("auto-1", RING6))
    sol = result["solution"]
    assert sol["algorithm"] == "exact" and sol["backends"] == ["cpu_solvers"]
    assert sol["objective"] == 6.0 and sol["approximation_ratio"] == 1.0
    chosen = sol["selection"]["chosen"]
    keys = [f"{c['solver']}@{c['backend']}" for c in sol["selection"]["candidates"]]
    assert chosen == keys[0] and "qaoa@cpu_statevector" in keys
    for c in sol["selection"]["candidates"]:  # every candidate's predictions are given
        assert c["queue_s"] >= 0 and c["run_s"] > 0 and 0 <= c["accuracy"] <= 1
    status = [e for e in h.sent(T.TELEMETRY) if e["event"] == "classical_status"]
    assert status and status[-1]["executor"] == "cpu_solvers" and status[-1]["busy"] == 0
    # The finished solve taught the selection models, and their snapshot is durable.
    assert h.rt.workflows.model.n_learned == 1 and b"selection" in h.tables.snapshots
    assert h.restart().workflows.model.n_learned == 1


def test_twelve_variable_qubo_lands_within_one_percent_of_the_optimum() -> None:
    rng = np.random.default_rng(7)
    n = 12
    linear = [[i, float(rng.normal())] for i in range(n)]
    quadratic = [[i, j, float(rng.normal())] for i, j in itertools.combinations(range(n), 2)
                 if rng.random() < 0.4]
    qubo = {"kind": "qubo", "num_vars": n, "linear": linear, "quadratic": quadratic,
            "offset": 0.0}
    exact = solve_qubo(problem_from_dict(qubo)).value
    for algorithm in ("simulated_annealing", "exact"):
        h = statevector_harness()
        sol = solve(h, problem_task(f"qubo-{algorithm}", qubo, algorithms=[algorithm]))["solution"]
        assert sol["algorithm"] == algorithm
        assert abs(sol["objective"] - exact) <= 0.01 * abs(exact)


def test_vqe_reports_an_honest_energy_and_standard_error() -> None:
    h = statevector_harness()
    result = solve(h, problem_task("v1", TWO_QUBIT, algorithms=["vqe"], max_iterations=25,
                                   shots=4000))
    sol = result["solution"]
    assert sol["algorithm"] == "vqe" and sol["iterations"] == 25 and sol["bitstring"] is None
    assert len(sol["parameters"]) == 8 and sol["std_error"] > 0
    exact = ground_energy(GroundState(2, (("ZZ", 1.0), ("XI", 0.5), ("IX", 0.5))))
    assert sol["optimum"] == pytest.approx(exact)
    # The final energy is a fresh estimate at the best parameters: not below the ground
    # energy by more than its noise (a minimum over noisy estimates would be).
    assert sol["objective"] >= exact - 4 * sol["std_error"]


def test_a_takeover_mid_loop_resumes_from_the_last_completed_iteration() -> None:
    h = statevector_harness()
    h.produce(T.TASKS, problem_task("k1", RING6, algorithms=["qaoa"], optimizer="spsa",
                                    max_iterations=6), key="k1")

    async def go() -> None:
        # Run until three iterations are recorded, then a new worker takes over.
        for _ in range(2000):
            state = h.rt.workflows.get("k1")
            if state is not None and state.iteration >= 3:
                break
            delivered = False
            for topic in list(h.agents):
                records = h.broker[topic].records
                if h.cursor.get(topic, 0) < len(records):
                    await h.deliver(records[h.cursor.get(topic, 0)])
                    delivered = True
                    break
            assert delivered
        rt = h.restart()
        await recovery.finish_recovery(rt)
        # The step events delivered before the takeover arrive again: all stale.
        for record in h.records(T.WORKFLOW_EVENTS)[:-1]:
            await h.deliver(record)
        await pump(h)

    asyncio.run(go())
    [result] = h.sent(T.RESULTS)
    sol = result["solution"]
    assert sol["iterations"] == 6 and len(sol["history"]) == 6
    iterations = [e["iteration"] for e in h.sent(T.TELEMETRY) if e["event"] == "iteration"]
    assert iterations == [1, 2, 3, 4, 5, 6]  # none lost, none counted twice


def two_backend_harness(fail_first: bool) -> tuple[Harness, FakeBackend, FakeBackend]:
    cfg = config(fleet=("cpu_statevector", "braket_local"))
    specs = fleet_specs(cfg.fleet)
    first = FakeBackend(specs[0], width=6, fail=lambda request: fail_first)
    second = FakeBackend(specs[1], width=6)
    h = Harness(cfg, specs, backends={b.spec.name: b for b in (first, second)},
                classical_pool=ThreadPoolExecutor(1))
    return h, first, second


def test_a_failing_backend_moves_the_rest_of_the_loop_elsewhere() -> None:
    h, first, second = two_backend_harness(fail_first=True)
    sol = solve(h, problem_task("f1", RING6, algorithms=["qaoa"], max_iterations=4,
                                backends=["cpu_statevector", "braket_local"],
                                weights={"time": 0.0, "error": 1.0, "cost": 100.0}))["solution"]
    assert sol["iterations"] == 4 and sol["backends"] == ["cpu_statevector", "braket_local"]
    [move] = h.sent(T.REALLOCATIONS)
    assert move["scope"] == "loop" and move["from_backend"] == "cpu_statevector"
    assert move["to_backend"] == "braket_local" and move["remaining_iterations"] == 4
    assert "cpu_statevector failed iteration 1" in move["reason"]
    assert "4 remaining iterations moved to braket_local" in move["reason"]
    assert sol["moves"][0]["reason"] == move["reason"]
    assert first.requests and second.requests


def test_a_backend_going_down_mid_loop_switches_the_rest_to_a_classical_solver() -> None:
    h = statevector_harness()

    async def go() -> None:
        h.produce(T.TASKS, problem_task("d1", RING6, algorithms=["qaoa"], max_iterations=30),
                  key="d1")
        await h.deliver(h.records(T.TASKS)[0])
        await h.deliver(h.records(T.WORKFLOW_EVENTS)[0])  # start: the first step is out
        # Allow every algorithm from now on, and take the loop's backend down.
        state = h.rt.workflows.get("d1")
        state.algorithms = None
        h.rt.workflows.put(state)
        h.rt.scheduler.set_operational("cpu_statevector", False)
        from qstream.agents import workflow
        await workflow.rebalance_tick(h.rt)
        await pump(h)

    asyncio.run(go())
    [result] = h.sent(T.RESULTS)
    sol = result["solution"]
    assert sol["algorithm"] == "exact" and sol["objective"] == 6.0
    [move] = [m for m in h.sent(T.REALLOCATIONS) if m.get("scope") == "loop"]
    assert move["to_algorithm"] == "exact" and move["from_algorithm"] == "qaoa"
    assert move["reason"].startswith("cpu_statevector is down")
    assert "switched to exact on cpu_solvers" in move["reason"]


@pytest.mark.parametrize(("task", "reason", "says"), [
    ({"schema": "qstream.task.v1", "task_id": "b1", "shots": 10, "problem": RING6,
      "circuits": [{"name": "c", "qasm": "OPENQASM 2.0;"}]}, "circuits_or_problem", "not both"),
    ({"schema": "qstream.task.v1", "task_id": "b2"}, "circuits_or_problem", "neither"),
    (problem_task("b3", {"kind": "maxcut", "num_nodes": 2, "edges": [[0, 5]]}),
     "invalid_problem", "outside 0..1"),
    (problem_task("b4", {"kind": "ground_state", "num_qubits": 34,
                         "pauli_terms": [["Z" * 34, 1.0]]}, algorithms=["exact"]),
     "capacity", "memory"),
    (problem_task("b5", TWO_QUBIT, algorithms=["qaoa"]), "capacity", "no configuration"),
])
def test_bad_problem_tasks_go_to_the_dlq_with_a_failed_result(task: dict[str, Any], reason: str,
                                                               says: str) -> None:
    h = statevector_harness()
    asyncio.run(h.deliver(h.produce(T.TASKS, task, key=task["task_id"])))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == reason and says in entry["error"]
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "failed" and says in result["error"]
    assert h.sent(T.WORKFLOW_EVENTS) == []


def test_a_queue_jump_on_the_loops_backend_moves_the_rest_of_the_loop() -> None:
    cfg = config(fleet=("ibm_hanoi_emu", "ibm_sherbrooke_emu"))
    specs = fleet_specs(cfg.fleet)
    fakes = {s.name: FakeBackend(s, width=6) for s in specs}
    h = Harness(cfg, specs, backends=fakes, classical_pool=ThreadPoolExecutor(1))

    async def go() -> None:
        h.produce(T.TASKS, problem_task("j1", RING6, algorithms=["qaoa"], max_iterations=6),
                  key="j1")
        await h.deliver(h.records(T.TASKS)[0])
        await h.deliver(h.records(T.WORKFLOW_EVENTS)[0])
        first = h.rt.workflows.get("j1").backend
        from qstream.agents import workflow
        await workflow.rebalance_tick(h.rt)  # nothing changed: the loop stays
        assert h.sent(T.REALLOCATIONS) == [] and h.rt.workflows.get("j1").backend == first
        h.rt.scheduler.set_pending_jobs(first, 5000)
        await workflow.rebalance_tick(h.rt)
        await pump(h)

    asyncio.run(go())
    [move] = [m for m in h.sent(T.REALLOCATIONS) if m.get("scope") == "loop"]
    assert move["reason"].startswith(f"queue on {move['from_backend']} rose from")
    assert "6 remaining iterations moved to" in move["reason"]
    [result] = h.sent(T.RESULTS)
    sol = result["solution"]
    assert sol["iterations"] == 6 and sol["backends"] == [move["from_backend"], move["to_backend"]]


def test_unknown_backend_in_a_problem_task_goes_to_the_dlq() -> None:
    h = statevector_harness()
    task = problem_task("u1", RING6, backends=["ibm_nowhere"])
    asyncio.run(h.deliver(h.produce(T.TASKS, task, key="u1")))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "unknown_backend" and "ibm_nowhere" in entry["error"]


def test_a_loop_whose_only_backend_fails_ends_with_a_failed_result_saying_why() -> None:
    cfg = config()
    [spec] = fleet_specs(cfg.fleet)
    broken = FakeBackend(spec, width=6, fail=lambda request: True)
    h = Harness(cfg, [spec], backends={spec.name: broken}, classical_pool=ThreadPoolExecutor(1))
    result = solve(h, problem_task("x1", RING6, algorithms=["qaoa"], max_iterations=3))
    assert result["status"] == "failed" and "solution" not in result
    assert "cpu_statevector failed iteration 1" in result["error"]
    assert "nowhere else to go" in result["error"]
    assert h.rt.workflows.get("x1") is None and h.rt.ledger.task_record("x1")["state"] == "done"
    assert h.rt.scheduler.pending() == {"cpu_statevector": []}
