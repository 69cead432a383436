"""Scheduler budgets (placement, splits, requeue, moves, hedges, spend) and tenant fairness."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.core import GHZ5, qpu, sim, subtask

from qstream.core.cost import CostWeights
from qstream.core.predictor import Predictor
from qstream.core.scheduler import Scheduler, SchedulerConfig
from qstream.core.scheduler.fairness import TenantShare
from qstream.core.subtask import SubTask
from qstream.errors import BudgetError, CapacityError

NO_SPLIT = SchedulerConfig(max_splits=1)


def fleet(per_second_usd: float = 0.05, sim_overhead_s: float = 20.0):
    """A priced fast QPU and a free simulator 20 s slower: without a budget the QPU wins."""
    return [qpu("qpu", per_second_usd=per_second_usd, queue_s_per_pending_job=0.0),
            sim("sim", overhead_s=sim_overhead_s)]


def make(specs, config: SchedulerConfig = NO_SPLIT, **kw) -> Scheduler:
    return Scheduler(specs, Predictor(specs), config, **kw)


def budgeted(sid: str, budget: float | None, *, task_id: str = "t", **kw) -> SubTask:
    return replace(subtask(sid, task_id=task_id, **kw), budget_usd=budget)


def qpu_price(sched: Scheduler, s: SubTask) -> float:
    found = sched.cheapest(replace(s, allowed_backends=("qpu",)))
    assert found is not None
    return found[1]


# -- placement ---------------------------------------------------------------------------


def test_no_budget_takes_the_priced_qpu_and_a_tight_budget_the_free_simulator() -> None:
    sched = make(fleet())
    (free,) = sched.submit(budgeted("a/c0/s0", None, task_id="a"), 0.0)
    price = qpu_price(sched, free.subtask)
    assert free.backend == "qpu" and price > 0.0
    # A budget below the QPU's price: the QPU is not even scored.
    (cheap,) = sched.submit(budgeted("b/c0/s0", price / 10, task_id="b"), 0.0)
    assert cheap.backend == "sim"
    assert [x.backend for x in cheap.scores] == ["sim"]


def test_cheaper_placements_are_preferred_as_the_budget_tightens() -> None:
    sched = make(fleet())
    price = qpu_price(sched, subtask("x"))
    # Plenty of budget: as without one.
    (loose,) = sched.submit(budgeted("a/c0/s0", 100.0, task_id="a"), 0.0)
    assert loose.backend == "qpu"
    # The QPU fits (price < budget) but would spend nearly all of it: the free simulator wins.
    (tight,) = sched.submit(budgeted("b/c0/s0", price * 1.1, task_id="b"), 0.0)
    assert tight.backend == "sim"
    qpu_score = next(x for x in tight.scores if x.backend == "qpu")
    assert qpu_score.prediction.price_usd <= price * 1.1
    assert qpu_score.terms.cost > 5 * price  # the cost weight was scaled up (1 / remaining)


def test_no_fitting_placement_raises_budget_error_naming_the_cheapest_option() -> None:
    specs = [qpu("expensive", per_second_usd=1.6), qpu("cheaper", per_second_usd=0.5)]
    sched = make(specs)
    s = budgeted("t/c0/s0", 0.01)
    with pytest.raises(BudgetError) as info:
        sched.submit(s, 0.0)
    err = info.value
    assert isinstance(err, CapacityError) and err.reason == "budget"
    assert err.backend == "cheaper" and err.price_usd > 0.01
    assert "cheaper" in str(err) and f"{err.price_usd:.4g} USD" in str(err)
    assert "0.01 USD" in str(err)
    assert sched.pending() == {"expensive": [], "cheaper": []}


def test_other_placed_subtasks_hold_their_predicted_price() -> None:
    specs = fleet(per_second_usd=0.05)
    sched = make(specs, tenants=None)
    price = qpu_price(sched, subtask("x"))
    w = CostWeights(time=1.0, error=0.0, cost=0.0)  # no price preference: only the constraint
    budget = price * 1.5  # room for one QPU placement, not two
    backends = [sched.submit(budgeted(f"t/c{i}/s0", budget, weights=w), 0.0)[0].backend
                for i in range(3)]
    assert backends[0] == "qpu"
    assert backends.count("qpu") == 1
    assert sched.remaining_usd(budgeted("t/c9/s0", budget, weights=w)) == pytest.approx(
        budget - price)


def test_admission_check_sums_the_cheapest_placements() -> None:
    specs = [qpu("a", per_second_usd=0.5), qpu("b", per_second_usd=1.6)]
    sched = make(specs)
    subs = [budgeted(f"t/c{i}/s0", 1.0) for i in range(3)]
    price = sched.cheapest(subs[0])
    assert price is not None and price[0] == "a"
    ok = [replace(s, budget_usd=3 * price[1] + 1e-6) for s in subs]
    sched.check_budget(ok)
    with pytest.raises(BudgetError, match=r"cheapest option is a at"):
        sched.check_budget([replace(s, budget_usd=2.5 * price[1]) for s in subs])
    sched.check_budget([replace(s, budget_usd=None) for s in subs])  # no budget, no check


def test_a_split_must_fit_the_budget() -> None:
    # Two identical priced backends: splitting 20,000 shots halves the time, pays two overheads.
    specs = [qpu("q1", per_second_usd=0.05, queue_s_per_pending_job=0.0),
             qpu("q2", per_second_usd=0.05, queue_s_per_pending_job=0.0)]
    cfg = SchedulerConfig(split_min_shots=8000, max_splits=2, split_gain=0.25)
    w = CostWeights(time=1.0, error=0.0, cost=0.0)
    free = make(specs, cfg).submit(budgeted("a/c0/s0", None, shots=20_000, weights=w), 0.0)
    assert len(free) == 2  # split without a budget
    split_price = sum(d.scores[0].prediction.price_usd for d in free)
    whole = make(specs, NO_SPLIT).submit(budgeted("b/c0/s0", None, shots=20_000, weights=w), 0.0)
    whole_price = whole[0].scores[0].prediction.price_usd
    assert split_price > whole_price
    budget = (split_price + whole_price) / 2  # the whole fits, the split does not
    tight = make(specs, cfg).submit(budgeted("c/c0/s0", budget, shots=20_000, weights=w), 0.0)
    assert len(tight) == 1 and tight[0].split_of is None


def test_a_requeue_that_does_not_fit_fails_with_budget_error() -> None:
    specs = [sim("free"), qpu("paid", per_second_usd=1.6)]
    sched = make(specs)
    s = budgeted("t/c0/s0", 0.01)
    (d,) = sched.submit(s, 0.0)
    assert d.backend == "free"
    sched.release(0.0)
    with pytest.raises(BudgetError, match="cheapest option is paid"):
        sched.requeue("t/c0/s0", 1.0, exclude=("free",))
    assert sched.placement("t/c0/s0") is None


def test_reallocation_never_moves_past_the_budget() -> None:
    specs = [sim("free", overhead_s=20.0), qpu("paid", per_second_usd=0.05,
                                              queue_s_per_pending_job=0.0)]
    sched = Scheduler(specs, Predictor(specs), NO_SPLIT)
    w = CostWeights(time=1.0, error=0.0, cost=0.0)
    sched.set_operational("paid", False)
    a = budgeted("a/c0/s0", None, task_id="a", weights=w)
    b = budgeted("b/c0/s0", 1e-6, task_id="b", weights=w)
    for s in (a, b):
        sched.submit(s, 0.0)
    # Both wait on the free simulator; the paid QPU comes back and is faster.
    sched.set_operational("free", False)
    sched.set_operational("free", True)
    sched.set_operational("paid", True)
    moved = {m.subtask_id for m in sched.reallocate(1.0)}
    assert "a/c0/s0" in moved and "b/c0/s0" not in moved
    assert sched.placement("b/c0/s0").backend == "free"


def test_a_hedge_that_does_not_fit_is_not_started() -> None:
    cfg = SchedulerConfig(max_splits=1, hedge_factor=2.0, hedge_min_s=1.0)

    def straggle(budget: float | None) -> list:
        specs = [qpu("slow", per_second_usd=0.05, queue_s_per_pending_job=0.0),
                 qpu("idle", per_second_usd=0.05, queue_s_per_pending_job=0.0)]
        sched = Scheduler(specs, Predictor(specs), cfg)
        s = budgeted("t/c0/s0", budget, allowed=("slow", "idle"))
        (d,) = sched.submit(s, 0.0)
        price = d.scores[0].prediction.price_usd
        assert sched.release(0.0)
        if budget is not None:
            assert price < budget
        return sched.hedge(1000.0)

    assert len(straggle(None)) == 1
    specs = [qpu("slow", per_second_usd=0.05, queue_s_per_pending_job=0.0)]
    price = make(specs).cheapest(subtask("x"))[1]
    assert straggle(price * 1.5) == []  # the copy would spend a second price
    assert len(straggle(price * 2.5)) == 1


# -- actual spend ------------------------------------------------------------------------


def test_spend_past_the_budget_stops_the_task() -> None:
    sched = make([sim("a"), sim("b")])
    for i in range(3):
        sched.submit(budgeted(f"t/c{i}/s0", 1.0), 0.0)
    sched.submit(budgeted("u/c0/s0", None, task_id="u"), 0.0)
    first = sched.release(0.0)
    assert len(first) == 2
    for s, b in first:
        sched.complete(s.subtask_id, 1.0, backend=b)
    # A prediction was wrong: the free simulator charged 1.5 USD.
    assert sched.record_spend("t", 1.5) is True
    assert sched.record_spend("t", 0.1) is False  # reported once
    assert sched.is_over_budget("t") and sched.spent_usd("t") == pytest.approx(1.6)
    released = {s.task_id for s, _ in sched.release(2.0)}
    assert "t" not in released  # nothing more of t is started
    assert sched.is_over_budget("u") is False


def test_spend_and_held_prices_survive_a_restore() -> None:
    specs = fleet(per_second_usd=0.05)
    w = CostWeights(time=1.0, error=0.0, cost=0.0)
    sched = make(specs, record_changes=True)
    price = qpu_price(sched, subtask("x"))
    for i in range(2):
        sched.submit(budgeted(f"t/c{i}/s0", 10 * price, weights=w), 0.0)
    sched.record_spend("t", 2 * price)
    probe = budgeted("t/c9/s0", 10 * price, weights=w)
    before = sched.remaining_usd(probe)
    placements = [sched.placement(sid) for sid in sched.drain_changed()]
    fresh = make(specs)
    fresh.restore([p for p in placements if p is not None], [], 0.0)
    fresh.restore_spend({"t": sched.spent_usd("t")})
    assert fresh.remaining_usd(probe) == pytest.approx(before)
    assert before == pytest.approx(10 * price - 2 * price - 2 * price)


# -- tenants -----------------------------------------------------------------------------


def flood(sched: Scheduler, *, a: int, b: int, tenant_b: str = "B") -> list[str]:
    """Tenant A submits ``a`` sub-tasks (tasks ``a*``), then B ``b`` (tasks ``b*``); drain.

    Returns the first letter of each released task id ("a" or "b"), in release order.
    """
    for i in range(a):
        sched.submit(replace(subtask(f"a{i}/c0/s0", task_id=f"a{i}"), tenant="A"), 0.0)
    for i in range(b):
        sched.submit(replace(subtask(f"b{i}/c0/s0", task_id=f"b{i}"), tenant=tenant_b), 0.0)
    order: list[str] = []
    for step in range(10_000):
        released = sched.release(float(step))
        if not released:
            break
        for s, backend in released:
            order.append(s.task_id[0])
            sched.complete(s.subtask_id, step + 0.5, backend=backend)
    return order


def test_one_tenants_flood_does_not_starve_another() -> None:
    fair = flood(make([sim("only")]), a=50, b=5)
    # B's five are interleaved with A's backlog, one each: done by the 10th release.
    assert max(i for i, t in enumerate(fair) if t == "b") <= 10
    assert fair.count("b") == 5 and len(fair) == 55
    # The same work under one tenant is FIFO: B's first comes after all of A's.
    fifo = flood(make([sim("only")]), a=50, b=5, tenant_b="A")
    assert min(i for i, t in enumerate(fifo) if t == "b") == 50


def test_weights_share_credits_in_proportion() -> None:
    sched = make([sim("only")], tenants={"A": TenantShare(weight=1.0),
                                         "B": TenantShare(weight=3.0)})
    order = flood(sched, a=40, b=40)
    first = order[:40]
    assert first.count("b") == 30 and first.count("a") == 10


def test_max_concurrent_keeps_a_tenants_extra_work_pending() -> None:
    sched = make([sim("wide", capacity=6)], tenants={"A": TenantShare(max_concurrent=2)})
    for i in range(10):
        sched.submit(replace(subtask(f"a{i}/c0/s0", task_id=f"a{i}"), tenant="A"), 0.0)
    for i in range(2):
        sched.submit(replace(subtask(f"b{i}/c0/s0", task_id=f"b{i}"), tenant="B"), 0.0)
    released = sched.release(0.0)
    tenants = [s.tenant for s, _ in released]
    assert tenants.count("A") == 2 and tenants.count("B") == 2
    assert len(sched.pending()["wide"]) == 8
    a0 = next(s for s, _ in released if s.tenant == "A")
    sched.complete(a0.subtask_id, 1.0, backend="wide")
    assert [s.tenant for s, _ in sched.release(1.0)] == ["A"]


def test_a_single_tenant_is_released_in_key_order() -> None:
    sched = make([sim("only")])
    sched.submit(subtask("t/lo", priority=1), 0.0)
    sched.submit(subtask("t/hi", priority=9), 0.0)
    sched.submit(subtask("t/mid", priority=5, features=GHZ5), 0.0)
    order = []
    for step in range(3):
        (s, b), = sched.release(float(step))
        order.append(s.subtask_id)
        sched.complete(s.subtask_id, step + 0.5, backend=b)
    assert order == ["t/hi", "t/mid", "t/lo"]


# -- the same policy code in `qstream simulate` ------------------------------------------


@pytest.mark.parametrize("policy", ["predictive", "predictive-realloc"])
def test_fair_sharing_and_budgets_hold_in_the_simulator(policy: str) -> None:
    from qstream.backends.fleet import fleet_specs
    from qstream.sim.engine import Simulation
    from qstream.sim.policies import build
    from qstream.sim.workload import SimTask, mqt_circuits
    from qstream.sim.world import World

    specs = fleet_specs(("cpu_statevector",))
    _, features = mqt_circuits()[0]

    def run(tenant_b: str) -> Simulation:
        tasks = [SimTask(f"a{i}", 0.0, (features,), 1000, CostWeights(), tenant="A")
                 for i in range(100)]
        tasks += [SimTask(f"b{i}", 1.0, (features,), 1000, CostWeights(), tenant=tenant_b)
                  for i in range(5)]
        tasks.append(SimTask("poor", 1.0, (features,), 1000, CostWeights(), budget_usd=0.0))
        world = World(specs, seed=0, drift=False)
        sim: Simulation | None = None
        built = build(policy, specs, world, lambda: sim.now_s if sim else 0.0)
        sim = Simulation(specs, world, tasks, built.policy, built.estimator)
        sim.run()
        return sim

    fair = run("B").result
    assert fair.completed == 105 and fair.failed == 1  # the zero budget fits no priced backend
    a, b = fair.jct_by_tenant["A"], fair.jct_by_tenant["B"]
    assert max(b) < sorted(a)[len(a) // 5]  # B done before A's fastest fifth is
    fifo = run("A").result.jct_by_tenant["A"]
    assert sorted(fifo)[-5] > max(b)  # one tenant: the late five wait behind the flood


def test_admission_reserves_the_cheapest_price_of_subtasks_still_to_come() -> None:
    # Equal speed, the pricier one first in fleet order: with no price weight, a greedy
    # placement takes it for the first sub-task and leaves the second too little.
    specs = [qpu("pricey", per_second_usd=0.06, queue_s_per_pending_job=0.0),
             qpu("cheap", per_second_usd=0.04, queue_s_per_pending_job=0.0)]
    w = CostWeights(time=1.0, error=0.0, cost=0.0)

    def place(reserve: bool) -> list[str]:
        sched = make(specs)
        cheap = sched.cheapest(subtask("x"))[1]
        subs = [budgeted(f"t/c{i}/s0", 2.1 * cheap, weights=w) for i in range(2)]
        if reserve:
            sched.check_budget(subs)
        return [sched.submit(s, 0.0)[0].backend for s in subs]

    with pytest.raises(BudgetError):
        place(reserve=False)
    assert place(reserve=True) == ["cheap", "cheap"]


def test_a_late_tenant_is_scored_by_its_fair_share_wait_not_the_whole_flood() -> None:
    specs = [sim("fast", overhead_s=1.0), sim("slow", overhead_s=30.0)]
    sched = make(specs)
    for i in range(40):
        sched.submit(replace(subtask(f"a{i}/c0/s0", task_id=f"a{i}"), tenant="A"), 0.0)
    a_late = sched.submit(replace(subtask("a99/c0/s0", task_id="a99"), tenant="A"), 0.0)[0]
    (b,) = sched.submit(replace(subtask("b0/c0/s0", task_id="b0"), tenant="B"), 0.0)
    fast_a = next(x for x in a_late.scores if x.backend == "fast")
    fast_b = next(x for x in b.scores if x.backend == "fast")
    # A's next one waits behind A's whole backlog; B's would be released next on "fast".
    assert fast_a.wait_s > 10 * fast_b.wait_s
    assert b.backend == "fast"
