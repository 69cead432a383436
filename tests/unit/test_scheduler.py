"""Scheduler: placement, credits, dependencies, splits, reallocation, exactly-once."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from helpers.core import GHZ5, observation, qpu, sim, subtask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qstream.core.cost import CostWeights
from qstream.core.features import CircuitFeatures
from qstream.core.predictor import Predictor
from qstream.core.scheduler import Scheduler, SchedulerConfig
from qstream.errors import CapacityError, SchedulerLookupError

NO_SPLIT = SchedulerConfig(max_splits=1)


def make(fleet, config: SchedulerConfig = NO_SPLIT) -> Scheduler:
    return Scheduler(fleet, Predictor(fleet), config)


def drain(sched: Scheduler, now_s: float = 0.0) -> list[tuple[str, str]]:
    """Release and complete until nothing is left; return (id, backend) in release order."""
    out = []
    for step in range(10_000):
        released = sched.release(now_s + step)
        if not released:
            break
        for s, b in released:
            out.append((s.subtask_id, b))
            sched.complete(s.subtask_id, now_s + step + 0.5)
    return out


# -- placement ---------------------------------------------------------------------------


def test_prefers_the_lower_cost_backend() -> None:
    fleet = [qpu("noisy_fast", queue_s_per_pending_job=0.0), sim("exact_slow", overhead_s=300.0)]
    sched = make(fleet)
    time_only = subtask("t/a", weights=CostWeights(time=1.0, error=0.0, cost=0.0))
    error_only = subtask("t/b", weights=CostWeights(time=0.0, error=1.0, cost=0.0))
    (d1,) = sched.submit(time_only, 0.0)
    (d2,) = sched.submit(error_only, 0.0)
    assert d1.backend == "noisy_fast"
    assert d2.backend == "exact_slow"
    assert [s.total for s in d1.scores] == sorted(s.total for s in d1.scores)
    assert d1.scores[0].backend == d1.backend


def test_backlog_spreads_equal_work_over_identical_backends() -> None:
    fleet = [sim("a"), sim("b"), sim("c")]
    sched = make(fleet)
    placed = Counter(sched.submit(subtask(f"t/{i}"), 0.0)[0].backend for i in range(20))
    assert set(placed) == {"a", "b", "c"}
    assert max(placed.values()) - min(placed.values()) <= 1, placed
    assert sched.backlog_s("a") > 0


def test_backlog_accounts_for_capacity_and_in_flight_progress() -> None:
    fleet = [sim("a", capacity=2, overhead_s=10.0)]
    sched = make(fleet)
    for i in range(4):
        sched.submit(subtask(f"t/{i}"), 0.0)
    per = sched.backlog_s("a") / 2  # four sub-tasks, two credits: 2 x duration / 2
    sched.release(0.0)
    sched.release(4.0)              # moves the clock on: the two in flight are 4 s along
    assert sched.backlog_s("a") == pytest.approx(per * 2 - 4.0)


def test_no_capable_backend_is_a_capacity_error_with_reasons() -> None:
    sched = make([sim("small", qubits=3), sim("other", qubits=30, max_shots=100)])
    with pytest.raises(CapacityError, match=r"small: circuit needs 5 qubits.*other: 1000 shots"):
        sched.submit(subtask("t/x", shots=1000), 0.0)
    with pytest.raises(CapacityError, match="not in allowed_backends"):
        sched.submit(subtask("t/y", shots=10, allowed=("small",)), 0.0)


def test_duplicate_submit_is_ignored() -> None:
    sched = make([sim("a")])
    assert len(sched.submit(subtask("t/x"), 0.0)) == 1
    assert sched.submit(subtask("t/x"), 1.0) == []
    assert sched.pending() == {"a": ["t/x"]}


def test_non_operational_backends_get_no_new_work_and_release_nothing() -> None:
    sched = make([sim("a", overhead_s=1.0), sim("b", overhead_s=50.0)])
    sched.set_operational("a", False)
    (d,) = sched.submit(subtask("t/1"), 0.0)
    assert d.backend == "b"
    # All capable backends down: parked on the cheapest, not failed, not released.
    sched.set_operational("b", False)
    (d,) = sched.submit(subtask("t/2"), 0.0)
    assert d.backend == "a"
    assert sched.release(0.0) == []
    sched.set_operational("a", True)
    assert [s.subtask_id for s, _ in sched.release(1.0)] == ["t/2"]


def test_release_order_priority_then_deadline_then_fifo() -> None:
    sched = make([sim("a")])
    sched.submit(subtask("t/low", priority=1), 0.0)
    sched.submit(subtask("t/fifo1"), 0.0)
    sched.submit(subtask("t/fifo2"), 0.0)
    sched.submit(subtask("t/deadline", deadline_s=10.0), 0.0)
    sched.submit(subtask("t/high", priority=9), 0.0)
    assert [i for i, _ in drain(sched)] == ["t/high", "t/deadline", "t/fifo1", "t/fifo2", "t/low"]


def test_capacity_credits() -> None:
    sched = make([sim("a", capacity=2)])
    for i in range(5):
        sched.submit(subtask(f"t/{i}"), 0.0)
    assert len(sched.release(0.0)) == 2
    assert sched.release(0.0) == []
    sched.complete("t/0", 1.0)
    sched.complete("t/0", 1.0)           # idempotent
    sched.complete("nope", 1.0)          # unknown: ignored
    assert [s.subtask_id for s, _ in sched.release(1.0)] == ["t/2"]


# -- dependencies ------------------------------------------------------------------------


def test_dependent_is_not_released_before_its_dependency_completes() -> None:
    sched = make([sim("a", capacity=4), sim("b", capacity=4)])
    sched.submit(subtask("t/c0/s0"), 0.0)
    sched.submit(subtask("t/c0/s1"), 0.0)
    sched.submit(subtask("t/c1/s0", depends_on=("t/c0/s0", "t/c0/s1"), priority=9), 0.0)
    first = {s.subtask_id for s, _ in sched.release(0.0)}
    assert first == {"t/c0/s0", "t/c0/s1"}
    sched.complete("t/c0/s0", 1.0)
    assert sched.release(1.0) == []
    sched.complete("t/c0/s1", 2.0)
    assert [s.subtask_id for s, _ in sched.release(2.0)] == ["t/c1/s0"]


# -- splits ------------------------------------------------------------------------------


def test_large_shot_count_is_split_across_idle_backends() -> None:
    fleet = [qpu(f"q{i}", queue_s_per_pending_job=0.0) for i in range(4)]
    sched = Scheduler(fleet, Predictor(fleet))
    big = subtask("t/c0/s0", shots=100_000)
    dep = subtask("t/c1/s0", depends_on=("t/c0/s0",))
    decisions = sched.submit(big, 0.0)
    assert len(decisions) == 4
    assert {d.split_of for d in decisions} == {"t/c0/s0"}
    assert sum(d.subtask.shots for d in decisions) == 100_000
    assert len({d.backend for d in decisions}) == 4
    assert [d.subtask.subtask_id for d in decisions] == [f"t/c0/s0.{j}" for j in range(4)]
    sched.submit(dep, 0.0)
    released = drain(sched)
    # The dependent of the split sub-task runs only after all four parts.
    assert released[-1][0] == "t/c1/s0"
    assert sched.is_completed("t/c0/s0")


def test_no_split_when_it_does_not_pay() -> None:
    # One backend: splitting only queues the parts behind each other.
    sched = Scheduler([qpu("q", queue_s_per_pending_job=0.0)], Predictor([qpu("q")]))
    assert len(sched.submit(subtask("t/x", shots=100_000), 0.0)) == 1
    # Below split_min_shots nothing is considered.
    fleet = [qpu(f"q{i}", queue_s_per_pending_job=0.0) for i in range(4)]
    sched = Scheduler(fleet, Predictor(fleet))
    assert len(sched.submit(subtask("t/y", shots=7999), 0.0)) == 1


# -- reallocation ------------------------------------------------------------------------


def _loaded_pair():
    fleet = [qpu("a", queue_s_per_pending_job=10.0), qpu("b", queue_s_per_pending_job=10.0)]
    sched = make(fleet)
    sched.set_pending_jobs("a", 100)         # ~1000 s device queue on each
    sched.set_pending_jobs("b", 100)
    for i in range(8):
        sched.submit(subtask(f"t/{i}"), 0.0)
    sched.release(0.0)
    return sched


def test_reallocation_moves_pending_work_off_a_backend_whose_queue_jumped() -> None:
    sched = _loaded_pair()
    in_flight = sched.in_flight()
    before = sched.pending()
    assert before["a"] and before["b"]
    sched.set_pending_jobs("a", 500)         # ~5000 s of device queue now predicted on a
    moves = sched.reallocate(1.0)
    assert moves
    assert {m.from_backend for m in moves} == {"a"}
    assert all(m.new_cost < 0.9 * m.old_cost for m in moves)
    assert sched.in_flight() == in_flight   # in-flight never touched
    assert sched.pending()["a"] == [] or len(sched.pending()["a"]) < len(before["a"])
    assert sched.reallocate(1.0) == []      # nothing new: no more moves
    assert sched.reallocate(2.0) == []


def test_reallocation_learns_from_observations() -> None:
    fleet = [sim("a", overhead_s=1.0), sim("b", overhead_s=2.0), sim("c", overhead_s=2.0)]
    predictor = Predictor(fleet, warmup=1)
    sched = Scheduler(fleet, predictor, NO_SPLIT)
    for i in range(9):
        sched.submit(subtask(f"t/{i}"), 0.0)
    sched.release(0.0)
    on_a = set(sched.pending()["a"])
    assert on_a
    for _ in range(30):                      # telemetry: a's device queue is now 1 h
        predictor.learn(observation("a", queue_s=3600.0, run_s=1.0, error=0.0))
    moves = sched.reallocate(10.0)
    assert {m.subtask_id for m in moves} == on_a
    assert sched.pending()["a"] == []
    assert sched.reallocate(10.0) == []


def test_reallocation_within_the_margin_publishes_nothing() -> None:
    sched = _loaded_pair()
    sched.set_pending_jobs("a", 101)         # +10 s on a ~1000 s queue
    assert sched.reallocate(1.0) == []


def test_reallocation_moves_work_off_a_down_backend() -> None:
    sched = _loaded_pair()
    sched.set_operational("a", False)
    moves = sched.reallocate(1.0)
    assert moves and all(m.reason == "a is not operational" for m in moves)
    assert sched.pending()["a"] == []


def test_no_ping_pong_over_time_without_new_information() -> None:
    fleet = [sim("a", capacity=1, overhead_s=30.0), sim("b", capacity=1, overhead_s=30.0),
             sim("c", capacity=2, overhead_s=45.0)]
    sched = make(fleet)
    for i in range(12):
        sched.submit(subtask(f"t/{i}"), 0.0)
    sched.release(0.0)
    history: dict[str, list[str]] = {}
    for now in range(0, 120, 3):
        for m in sched.reallocate(float(now)):
            history.setdefault(m.subtask_id, [m.from_backend]).append(m.to_backend)
    for path in history.values():
        assert all(path[i] != path[i + 2] for i in range(len(path) - 2)), path


def test_reallocation_is_deterministic() -> None:
    def run() -> list[tuple[str, str, str]]:
        sched = _loaded_pair()
        sched.set_pending_jobs("a", 300)
        return [(m.subtask_id, m.from_backend, m.to_backend) for m in sched.reallocate(1.0)]

    assert run() == run()


# -- requeue -----------------------------------------------------------------------------


def test_requeue_returns_the_credit_and_avoids_excluded_backends() -> None:
    sched = make([sim("a", overhead_s=1.0), sim("b", overhead_s=5.0)])
    sched.submit(subtask("t/x"), 0.0)
    [(_, b)] = sched.release(0.0)
    assert b == "a"
    d = sched.requeue("t/x", 1.0, exclude=["a"])
    assert d.backend == "b"
    assert sched.in_flight() == {"a": [], "b": []}
    assert sched.pending() == {"a": [], "b": ["t/x"]}
    with pytest.raises(CapacityError, match="no backend left"):
        sched.requeue("t/x", 2.0, exclude=["a", "b"])
    with pytest.raises(SchedulerLookupError):
        sched.requeue("t/x", 3.0)    # dropped after the CapacityError


def test_unknown_backend_is_a_lookup_error() -> None:
    sched = make([sim("a")])
    with pytest.raises(SchedulerLookupError, match="unknown backend"):
        sched.set_pending_jobs("zz", 3)
    with pytest.raises(SchedulerLookupError):
        sched.backlog_s("zz")


# -- exactly once ------------------------------------------------------------------------

op_st = st.one_of(
    st.tuples(st.just("submit"), st.integers(1, 3)),
    st.tuples(st.just("release")),
    st.tuples(st.just("complete"), st.integers(0, 5)),
    st.tuples(st.just("reallocate")),
    st.tuples(st.just("learn"), st.sampled_from(["a", "b", "c", "n"]), st.floats(0, 5000)),
    st.tuples(st.just("jobs"), st.sampled_from(["a", "b", "c", "n"]), st.integers(0, 2000)),
    st.tuples(st.just("down"), st.sampled_from(["a", "b", "c", "n"]), st.booleans()),
    st.tuples(st.just("fail"), st.integers(0, 5)),
)
job_st = st.tuples(st.integers(1, 40_000), st.integers(0, 9), st.integers(2, 12), st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=st.lists(job_st, min_size=1, max_size=30),
       ops=st.lists(op_st, min_size=10, max_size=80))
def test_every_subtask_runs_exactly_once(jobs, ops) -> None:
    # The simulator's 20 s overhead makes the QPUs the fastest for large shot counts,
    # so splits across them pay off.
    fleet = [qpu("a", capacity=2), qpu("b", capacity=1), sim("c", capacity=3, overhead_s=20.0),
             qpu("n", qubits=7, max_shots=20_000)]
    predictor = Predictor(fleet, warmup=1)
    sched = Scheduler(fleet, predictor, SchedulerConfig(split_min_shots=8000, max_splits=3))
    specs = {s.name: s for s in fleet}
    originals = []
    for i, (shots, prio, qubits, dep) in enumerate(jobs):
        f = CircuitFeatures(qubits, 10, 5, 20, qubits, qubits)
        depends = (originals[i - 1].subtask_id,) if dep and i else ()
        originals.append(subtask(f"t{i}/c0/s0", task_id=f"t{i}", shots=shots, priority=prio,
                                 features=f, depends_on=depends))
    submitted = 0
    leaves: dict[str, tuple[str, int]] = {}   # leaf id -> (original id, shots)
    released_now: set[str] = set()
    completed: list[str] = []
    operational = dict.fromkeys(specs, True)
    now = 0.0

    def submit(k: int) -> None:
        nonlocal submitted
        for s in originals[submitted:submitted + k]:
            decisions = sched.submit(s, now)
            if len(decisions) > 1:
                event("split")
            for d in decisions:
                assert d.subtask.shots <= specs[d.backend].max_shots
                assert d.backend in {b.name for b in fleet}
                leaves[d.subtask.subtask_id] = (s.subtask_id, d.subtask.shots)
        submitted = min(submitted + k, len(originals))

    def release() -> None:
        for s, b in sched.release(now):
            assert operational[b]
            assert s.subtask_id not in released_now, "released twice"
            assert all(sched.is_completed(d) for d in s.depends_on)
            released_now.add(s.subtask_id)
        for b, ids in sched.in_flight().items():
            assert len(ids) <= specs[b].capacity

    for op in ops:
        now += 1.0
        kind = op[0]
        if kind == "submit":
            submit(op[1])
        elif kind == "release":
            release()
        elif kind == "complete" and released_now:
            sid = sorted(released_now)[op[1] % len(released_now)]
            sched.complete(sid, now)
            sched.complete(sid, now)              # duplicate delivery
            released_now.discard(sid)
            completed.append(sid)
        elif kind == "reallocate":
            flying = sched.in_flight()
            if sched.reallocate(now):
                event("moved")
            assert sched.in_flight() == flying
        elif kind == "learn":
            predictor.learn(observation(op[1], queue_s=op[2], run_s=3.0))
        elif kind == "jobs":
            sched.set_pending_jobs(op[1], op[2])
        elif kind == "down":
            sched.set_operational(op[1], op[2])
            operational[op[1]] = op[2]
        elif kind == "fail" and released_now:
            sid = sorted(released_now)[op[1] % len(released_now)]
            backend = next(b for b, ids in sched.in_flight().items() if sid in ids)
            d = sched.requeue(sid, now, exclude=[backend])
            event("requeued")
            assert d.backend != backend
            released_now.discard(sid)
        pend = [i for ids in sched.pending().values() for i in ids]
        fly = [i for ids in sched.in_flight().items() for i in ids[1]]
        assert len(pend) + len(fly) == len(set(pend) | set(fly))
        assert set(fly) == released_now

    submit(len(originals))
    for b in specs:
        sched.set_operational(b, True)
    for sid in sorted(released_now):
        sched.complete(sid, now)
        completed.append(sid)
    completed += [i for i, _ in drain(sched, now + 1)]

    assert Counter(completed) == Counter(list(leaves))    # each leaf exactly once
    assert sched.pending() == {b: [] for b in specs}
    assert sched.in_flight() == {b: [] for b in specs}
    shots_done = Counter()
    for leaf in completed:
        orig, shots = leaves[leaf]
        shots_done[orig] += shots
    assert shots_done == {s.subtask_id: s.shots for s in originals}
    assert all(sched.is_completed(s.subtask_id) for s in originals)


# -- latency -----------------------------------------------------------------------------


def test_every_decision_reports_its_latency_with_hundreds_pending() -> None:
    """Latency itself is measured by scripts/bench_scheduler.py (a benchmark prints it; a
    timed test on a shared machine only flakes): here each decision carries its own."""
    fleet = [qpu(f"q{i}", capacity=2) for i in range(4)] + [sim("s0"), sim("s1")]
    predictor = Predictor(fleet)
    for i in range(200):        # trained models, not just priors
        predictor.learn(observation(fleet[i % 6].name, queue_s=60.0, run_s=5.0))
    sched = Scheduler(fleet, predictor)
    decisions = []
    for i in range(400):
        f = CircuitFeatures(2 + i % 10, 5 + i % 50, i % 20, 30 + i % 40, 5, 5)
        decisions += sched.submit(subtask(f"t{i}/c0/s0", features=f, shots=500 + 37 * i),
                                  float(i))
    assert len(decisions) >= 400
    assert all(math.isfinite(d.decision_latency_ms) and d.decision_latency_ms >= 0
               for d in decisions)
    assert all(d.to_dict()["decision_latency_ms"] == d.decision_latency_ms for d in decisions)
    sched.reallocate(500.0)
    assert sched.reallocate(500.0) == []  # a sweep right after a sweep moves nothing


def test_ghz_features_used_for_scoring() -> None:
    sched = make([sim("a")])
    (d,) = sched.submit(subtask("t/g", features=GHZ5, shots=10), 0.0)
    assert d.scores[0].prediction.run_s == sim("a").prior_run_s(GHZ5, 10)
    assert d.scores[0].time_s == pytest.approx(d.scores[0].prediction.run_s)
    assert d.to_dict()["backend"] == "a"
