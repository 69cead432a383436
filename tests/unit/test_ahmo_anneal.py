"""The seeds' policies (issue 13, section 5): ``ahmo`` and ``anneal``, core, simulator, live."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from helpers import harness, run, task
from hypothesis import given, settings
from hypothesis import strategies as st
from qstream.agents import dispatch

from qstream.backends.fleet import fleet_specs
from qstream.core.ahmo import AhmoPolicy, Outcome, fuse, hyperscore
from qstream.core.ahmo.bandit import DiscountedUCB
from qstream.core.anneal import AnnealPolicy
from qstream.core.anneal.qubo import decode, encode, feasible, greedy, objective
from qstream.core.backend_spec import BackendSpec
from qstream.core.features import CircuitFeatures
from qstream.core.policies import make_policy
from qstream.core.predictor import Predictor
from qstream.core.scheduler import Scheduler
from qstream.core.scheduler.batch import BatchItem, BatchOption, BatchProblem
from qstream.core.subtask import SubTask
from qstream.sim.experiment import Scenario, prepare, run_simulation
from qstream.solvers.assignment import annealer
from qstream.stream import topics as T

F = CircuitFeatures(5, 6, 4, 5, 5, 5)


@given(st.floats(1e-9, 1.0), st.floats(1e-9, 1.0))
def test_hyperscore_is_increasing_in_v_and_bounded(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert 100.0 <= hyperscore(lo) <= hyperscore(hi) <= 200.0


def test_fuse_ignores_unmeasured_components_and_gates_on_verify() -> None:
    assert fuse({"esp": 0.5, "repro": None}, {"esp": 1.0, "repro": 9.0}) == 0.5
    assert fuse({"verify": 0.0, "esp": 1.0, "time": 1.0}, {"esp": 1.0, "time": 1.0}) == 0.0


def test_bandit_finds_the_arm_with_the_best_reward() -> None:
    rng = random.Random(3)
    b = DiscountedUCB(4, discount=0.999)
    truth = [0.3, 0.5, 0.8, 0.4]
    pulls = [0] * 4
    for _ in range(2000):
        k = b.select()
        pulls[k] += 1
        b.update(k, float(rng.random() < truth[k]))
    assert max(range(4), key=pulls.__getitem__) == 2 and pulls[2] > 1000


def test_ahmo_respects_the_static_check_and_learns_from_outcomes() -> None:
    fleet = [BackendSpec("a", "simulator", 20, 10**6, job_overhead_s=1.0),
             BackendSpec("b", "simulator", 20, 10**6, job_overhead_s=2.0)]
    policy = AhmoPolicy()
    sched = Scheduler(fleet, Predictor(fleet), policy=policy)
    unmeasured = SubTask("t/c0/s0", "t", 0, "x", "", 100, CircuitFeatures(3, 4, 2, 3, 0, 0))
    [_] = sched.submit(unmeasured, now_s=0.0)
    # Every backend fails the check (no measured qubit): V = 0, the floor HyperScore.
    assert set(policy.last_scores.values()) == {100.0}
    for i in range(1, 30):
        s = SubTask(f"t/c{i}/s0", "t", i, "ghz", "", 100, F)
        sched.submit(s, now_s=float(i))
        assert policy.observe(s.subtask_id, Outcome(time_s=2.0, error=0.0, price_usd=0.0))
    stats = policy.stats()
    assert stats["rewards"] == 29 and sum(stats["pulls"]) == 30
    assert not policy.observe("unknown", Outcome(1.0, 0.0, 0.0))


def _random_problem(rng: random.Random) -> BatchProblem:
    backends = ["a", "b", "c"]
    free = {b: rng.randint(1, 2) for b in backends if rng.random() < 0.8} or {"a": 1}
    items = []
    for i in range(rng.randint(1, 4)):
        opts = [BatchOption(b, round(rng.uniform(0, 5), 2), True) for b in free
                if rng.random() < 0.7] or [BatchOption(next(iter(free)), 1.0, True)]
        opts.append(BatchOption("z", round(rng.uniform(0, 8), 2), False))
        items.append(BatchItem(f"s{i}", "z", tuple(opts)))
    return BatchProblem(tuple(items), free, 0.0, len(items))


def _optimum(problem: BatchProblem) -> float:
    best = math.inf
    for choice in itertools.product(*(range(len(it.options)) for it in problem.items)):
        if feasible(problem, choice):
            best = min(best, objective(problem, choice))
    return best


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6))
def test_qubo_ground_state_is_the_optimal_feasible_assignment(seed: int) -> None:
    problem = _random_problem(random.Random(seed))
    enc = encode(problem)
    if enc.qubo.num_vars > 16:
        return
    bits = min((list(b) for b in itertools.product((0, 1), repeat=enc.qubo.num_vars)),
               key=enc.qubo.value)
    choice, repaired = decode(problem, enc, bits)
    assert repaired == 0 and feasible(problem, choice)
    assert math.isclose(objective(problem, choice), _optimum(problem), abs_tol=1e-9)
    assert feasible(problem, greedy(problem))
    assert objective(problem, greedy(problem)) >= _optimum(problem) - 1e-9


def test_anneal_with_dwave_beats_greedy_where_greedy_is_myopic() -> None:
    # The first sub-task takes the one free credit greedily; waiting costs it little
    # and the second a lot, so the joint optimum gives the credit to the second.
    items = (BatchItem("s0", "a", (BatchOption("b", 1.0, True), BatchOption("a", 1.5, False))),
             BatchItem("s1", "a", (BatchOption("b", 1.0, True), BatchOption("a", 9.0, False))))
    problem = BatchProblem(items, {"b": 1}, 0.0, 2)
    plan = AnnealPolicy(solver=annealer()).plan_batch(problem)
    assert plan.method == "anneal" and dict(plan.assignment) == {"s1": "b"}
    assert (plan.objective, plan.greedy_objective) == (2.5, 10.0)
    capped = AnnealPolicy(solver=annealer(), max_vars=2).plan_batch(problem)
    assert capped.method == "greedy" and capped.reason.startswith("size cap")


def test_batch_hook_moves_a_pending_subtask_to_a_free_credit() -> None:
    fleet = [BackendSpec("fast", "simulator", 20, 10**6, capacity=1, job_overhead_s=1.0),
             BackendSpec("other", "simulator", 20, 10**6, capacity=1, job_overhead_s=1.5)]
    sched = Scheduler(fleet, Predictor(fleet), policy=make_policy("anneal"))
    sched.set_operational("other", False)     # all three queue on "fast"
    for i in range(3):
        sched.submit(SubTask(f"t/c{i}/s0", "t", i, "ghz", "", 100, F), now_s=0.0)
    assert [s.subtask_id for s, _ in sched.release(now_s=0.0)] == ["t/c0/s0"]
    assert sched.batch_problem(now_s=0.0) is None      # no free credit anywhere
    sched.set_operational("other", True)
    problem = sched.batch_problem(now_s=0.0)
    assert problem is not None and [it.subtask_id for it in problem.items] == [
        "t/c1/s0", "t/c2/s0"]
    plan = make_policy("anneal").plan_batch(problem)   # one credit: the joint optimum
    assert plan.method == "exact-trivial" or plan.objective <= plan.greedy_objective
    released = sched.apply_batch(plan, now_s=0.0)
    assert released and all(b == "other" for _, b in released)
    assert sched.in_flight() == {"fast": ["t/c0/s0"], "other": [released[0][0].subtask_id]}
    assert sched.apply_batch(plan, now_s=0.0) == []    # re-checked: no longer pending
    ledger = sched._ledger
    for b in ("fast", "other"):   # the per-backend queue (and its wait sums) agrees
        assert [e.subtask.subtask_id for e in ledger.queues[b]] == list(ledger.pending[b])
        assert ledger.queues[b].total_s() == pytest.approx(
            sum(e.dur_s for e in ledger.pending[b].values()))


def test_both_policies_run_in_the_simulator() -> None:
    run_spec = prepare(Scenario("small", 0.9, 40, drift=True), fleet_specs(), 0)
    _, res, sim = run_simulation(run_spec, "ahmo")
    assert res.completed == 40 and sim.policy.stats()["rewards"] >= res.subtasks - 5
    _, res, sim = run_simulation(run_spec, "anneal")
    stats = sim.policy.stats()
    assert res.completed == 40 and stats["plans"] == len(res.batch_ms) > 0
    assert res.batch_released > 0 and sum(stats["methods"].values()) == stats["plans"]


def test_ahmo_places_and_releases_live() -> None:
    h, _ = harness(with_executor=False, policy="ahmo")
    run(h.deliver(h.produce(T.TASKS, task(task_id="t1"), key="t1")))
    [record] = [r for r in h.records(T.SUBTASKS) if r.key == b"t1"]
    run(h.deliver(record))
    [released] = h.sent(T.exec_topic("cpu_statevector"))
    assert released["subtask_id"] == record.decoded()["subtask_id"]
    assert h.rt.policy.stats()["pulls"] and sum(h.rt.policy.stats()["pulls"]) == 1


def test_anneal_plans_in_the_executor_live() -> None:
    h, _ = harness(with_executor=False, policy="anneal")
    assert h.rt.policy.solver is not None
    run(h.deliver(h.produce(T.TASKS, task(task_id="t1"), key="t1")))
    [record] = [r for r in h.records(T.SUBTASKS) if r.key == b"t1"]
    run(dispatch.handle(h.rt, record))
    [released] = h.sent(T.exec_topic("cpu_statevector"))
    assert released["subtask_id"] == record.decoded()["subtask_id"]
    assert h.rt.metrics.batch_plans == 1 and len(h.rt.metrics.batch_solve_ms) == 1
