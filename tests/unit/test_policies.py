"""Placement policies and hedging in the scheduler (pure core)."""

from __future__ import annotations

import pytest

from qstream.core.backend_spec import BackendSpec, CalibrationSummary
from qstream.core.estimators import CalibrationEstimator
from qstream.core.features import CircuitFeatures
from qstream.core.policies import POLICY_NAMES, make_policy
from qstream.core.predictor import Predictor
from qstream.core.scheduler import Scheduler, SchedulerConfig
from qstream.core.subtask import SubTask
from qstream.errors import ConfigError

F = CircuitFeatures(5, 6, 4, 5, 5, 5)
GOOD = CalibrationSummary(2e-4, 5e-3, 1e-2, 2e-4, 1.5e-4, 4e-7)
BAD = CalibrationSummary(8e-4, 2e-2, 5e-2, 1e-4, 0.8e-4, 4e-7)


def fleet() -> list[BackendSpec]:
    return [
        BackendSpec("a", "qpu", 7, 10**5, capacity=1, calibration=BAD, job_overhead_s=3.0,
                    rep_delay_s=2.5e-4, queue_s_per_pending_job=10.0),
        BackendSpec("b", "qpu", 7, 10**5, capacity=1, calibration=GOOD, job_overhead_s=3.0,
                    rep_delay_s=2.5e-4, queue_s_per_pending_job=10.0),
        BackendSpec("c", "qpu", 7, 10**5, capacity=1, calibration=BAD, job_overhead_s=3.0,
                    rep_delay_s=2.5e-4, queue_s_per_pending_job=10.0),
    ]


def sub(i: int, shots: int = 1000) -> SubTask:
    return SubTask(f"t{i}/c0/s0", f"t{i}", 0, "ghz", "", shots, F)


def sched(name: str, **cfg: float) -> Scheduler:
    specs = fleet()
    return Scheduler(specs, CalibrationEstimator(), SchedulerConfig(**cfg), make_policy(name, seed=3))


def test_every_name_builds_and_unknown_names_are_rejected() -> None:
    assert [make_policy(n).name for n in POLICY_NAMES] == list(POLICY_NAMES)
    with pytest.raises(ConfigError, match="unknown policy 'fifo'"):
        make_policy("fifo")


def test_round_robin_cycles_over_the_fleet() -> None:
    s = sched("round-robin")
    assert [s.submit(sub(i), 0.0)[0].backend for i in range(6)] == ["a", "b", "c"] * 2


def test_round_robin_keeps_rotation_when_a_backend_is_not_allowed() -> None:
    s = sched("round-robin")
    got = [s.submit(sub(0), 0.0)[0].backend]
    only_ac = SubTask("x/c0/s0", "x", 0, "ghz", "", 1000, F, allowed_backends=("a", "c"))
    got.append(s.submit(only_ac, 0.0)[0].backend)
    got.append(s.submit(sub(2), 0.0)[0].backend)
    assert got == ["a", "c", "a"]


def test_random_is_reproducible_by_seed_and_uses_every_backend() -> None:
    first, second = sched("random"), sched("random")
    picks = [first.submit(sub(i), 0.0)[0].backend for i in range(30)]
    again = [second.submit(sub(i), 0.0)[0].backend for i in range(30)]
    assert picks == again
    assert set(picks) == {"a", "b", "c"}


def test_shortest_queue_counts_external_and_own_pending() -> None:
    s = sched("shortest-queue")
    s.set_pending_jobs("a", 5)
    s.set_pending_jobs("b", 1)
    s.set_pending_jobs("c", 3)
    got = [s.submit(sub(i), 0.0)[0].backend for i in range(4)]
    # b: 1 -> 2 -> 3 (ties with c go to the lower fleet rank), then c (3) vs b (4).
    assert got == ["b", "b", "b", "c"]


def test_best_fidelity_ignores_waiting() -> None:
    s = sched("best-fidelity")
    s.set_pending_jobs("b", 500)
    assert {s.submit(sub(i), 0.0)[0].backend for i in range(5)} == {"b"}


def test_cost_policy_avoids_the_long_queue_that_best_fidelity_takes() -> None:
    s = sched("predictive")
    s.set_pending_jobs("b", 500)
    assert s.submit(sub(0), 0.0)[0].backend != "b"


def test_static_policies_never_reallocate_or_hedge() -> None:
    for name in ("round-robin", "random", "shortest-queue", "best-fidelity", "qonductor",
                 "predictive"):
        s = sched(name, hedge_min_s=0.0)
        for i in range(4):
            s.submit(sub(i), 0.0)
        s.release(0.0)
        s.set_pending_jobs("a", 1000)
        assert s.reallocate(10.0) == []
        assert s.hedge(10_000.0) == []


def test_baselines_do_not_split_shots_but_predictive_may() -> None:
    big = sub(0, shots=40_000)
    same = [BackendSpec(n, "qpu", 7, 10**5, calibration=GOOD, job_overhead_s=3.0,
                        rep_delay_s=2.5e-4) for n in "xyz"]
    for name, parts in (("round-robin", 1), ("best-fidelity", 1), ("predictive", 3)):
        s = Scheduler(same, CalibrationEstimator(), SchedulerConfig(), make_policy(name))
        assert len(s.submit(big, 0.0)) == parts, name


def hedged_scheduler() -> tuple[Scheduler, str]:
    specs = fleet()
    s = Scheduler(specs, Predictor(specs), SchedulerConfig(hedge_factor=2.0, hedge_min_s=10.0),
                  make_policy("predictive-realloc"))
    d = s.submit(sub(0), 0.0)[0]
    assert s.release(0.0) == [(d.subtask, d.backend)]
    return s, d.backend


def test_a_straggler_is_hedged_on_an_idle_backend_once() -> None:
    s, home = hedged_scheduler()
    assert s.hedge(5.0) == []                      # not late yet
    hedges = s.hedge(100.0)                        # predicted ~4 s, in flight 100 s
    assert len(hedges) == 1
    h = hedges[0]
    assert h.from_backend == home and h.to_backend != home
    assert "t0/c0/s0" in s.in_flight()[h.to_backend]
    assert s.hedge(200.0) == []                    # one hedge per sub-task
    # The hedge wins: the original is the copy to cancel, and all credits come back.
    assert s.complete("t0/c0/s0", 150.0, backend=h.to_backend) == [home]
    assert all(v == [] for v in s.in_flight().values())
    assert s.is_completed("t0/c0/s0")


def test_a_failed_original_leaves_the_hedge_running() -> None:
    s, home = hedged_scheduler()
    h = s.hedge(100.0)[0]
    assert s.fail_copy("t0/c0/s0", home, 120.0) is True
    assert s.in_flight()[home] == []
    assert s.complete("t0/c0/s0", 130.0, backend=h.to_backend) == []


def test_fail_copy_without_hedge_asks_for_requeue() -> None:
    s, home = hedged_scheduler()
    assert s.fail_copy("t0/c0/s0", home, 1.0) is False
    d = s.requeue("t0/c0/s0", 1.0, exclude=(home,))
    assert d.backend != home
