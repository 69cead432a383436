"""The discrete-event simulator: every policy completes every sub-task exactly once."""

from __future__ import annotations

import collections
import io
from functools import cache

import pytest

from qstream.backends.fleet import fleet_specs
from qstream.core.backend_spec import BackendSpec
from qstream.core.policies import POLICY_NAMES
from qstream.core.trace import read_trace, write_trace
from qstream.errors import ConfigError
from qstream.sim.experiment import RunSpec, Scenario, prepare, run_simulation, service_rate
from qstream.sim.metrics import mean_ci95, run_metrics
from qstream.sim.workload import arrival_times, mqt_mix, trace_tasks
from qstream.sim.world import Fault, World


@cache
def specs() -> tuple[BackendSpec, ...]:
    return tuple(fleet_specs())


@cache
def prepared(name: str, load: float, tasks: int, seed: int,
             faults: tuple[tuple[str, str, float, float, float], ...] = ()) -> RunSpec:
    return prepare(Scenario(name, load, tasks, drift=True, faults=faults), specs(), seed)


def assert_exactly_once(sim, run: RunSpec) -> None:
    done = collections.Counter(sid for sid, _, state in sim.executions() if state == "done")
    assert done, "nothing ran"
    assert max(done.values()) == 1, [s for s, n in done.items() if n > 1][:5]
    # Every sub-task (or every shot split of it) completed: the circuits of every task
    # are covered, and no execution is left queued or running.
    for task in run.tasks:
        for i in range(len(task.circuits)):
            base = f"{task.task_id}/c{i}/s0"
            assert base in done or any(s.startswith(base + ".") for s in done), base
    assert not [e for e in sim.executions() if e[2] in ("queued", "waiting", "running")]
    assert all(v == [] for v in sim.scheduler.pending().values())
    assert all(v == [] for v in sim.scheduler.in_flight().values())


@pytest.mark.parametrize("policy", POLICY_NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_policy_completes_every_subtask_exactly_once(policy: str, seed: int) -> None:
    run = prepared("small", 0.95, 60, seed)
    row, result, sim = run_simulation(run, policy)
    assert result.completed == len(run.tasks) and result.failed == 0
    assert row["policy"] == policy and row["load"] == 0.95
    assert_exactly_once(sim, run)
    m = row["metrics"]
    assert m["throughput_tasks_per_s"] > 0 and m["jct_mean_s"] > 0
    assert 0.0 <= m["error_rate_mean"] <= 1.0
    assert len(result.jct_s) == len(run.tasks)


OUTAGE = (("outage", "ibm_hanoi_emu", 0.1, 0.7, 1.0),
          ("slowdown", "ibm_sherbrooke_emu", 0.0, 0.8, 4.0))


@pytest.mark.parametrize("policy", ["round-robin", "shortest-queue", "predictive-realloc", "oracle"])
def test_outages_lose_nothing(policy: str) -> None:
    run = prepared("outage", 0.8, 80, 2, OUTAGE)
    _, result, sim = run_simulation(run, policy)
    assert result.completed == len(run.tasks)
    assert_exactly_once(sim, run)


def test_predictive_realloc_hedges_stragglers_and_moves_pending_work_in_an_outage() -> None:
    run = prepared("outage", 0.8, 80, 2, OUTAGE)
    _, result, sim = run_simulation(run, "predictive-realloc")
    assert result.hedges > 0
    assert result.reallocations > 0
    cancelled = [e for e in sim.executions() if e[2] == "cancelled"]
    assert len(cancelled) <= result.hedges  # each hedge has at most one losing copy


def test_runs_are_deterministic_per_seed() -> None:
    run = prepared("small", 0.95, 60, 0)
    a = run_simulation(run, "predictive-realloc")[0]["metrics"]
    b = run_simulation(run, "predictive-realloc")[0]["metrics"]
    keys = ("jct_mean_s", "makespan_s", "cost_usd", "error_rate_mean", "reallocations")
    assert [a[k] for k in keys] == [b[k] for k in keys]


def test_the_oracle_beats_round_robin_under_load() -> None:
    run = prepared("busy", 0.95, 150, 0)
    rr = run_simulation(run, "round-robin")[0]["metrics"]
    oracle = run_simulation(run, "oracle")[0]["metrics"]
    assert oracle["jct_mean_s"] < rr["jct_mean_s"]
    assert oracle["error_rate_mean"] < rr["error_rate_mean"]


def test_load_factor_scales_the_arrival_rate() -> None:
    low = prepared("small", 0.5, 60, 0).rate_tasks_per_s
    high = prepared("small", 0.95, 60, 0).rate_tasks_per_s
    assert low < high
    world = World(list(specs()), seed=0)
    mu = service_rate(list(specs()), world, mqt_mix(200, 1.0))
    assert mu["subtasks_per_s"] > 0 and 0 < mu["share_qpu_only"] < 1


def test_world_truth_follows_faults_and_drift() -> None:
    s = list(specs())
    w = World(s, seed=0, faults=[Fault("ibm_hanoi_emu", 100.0, 200.0, "outage"),
                                 Fault("ibm_perth_emu", 0.0, 50.0, "slowdown", 3.0)])
    assert w.operational("ibm_hanoi_emu", 99.0) and not w.operational("ibm_hanoi_emu", 150.0)
    assert w.outage_end_s("ibm_hanoi_emu", 150.0) == 200.0
    f = mqt_mix(1, 1.0)[0].circuits[0]
    assert w.expected_run_s("ibm_perth_emu", f, 1000, 10.0) == pytest.approx(
        3 * w.expected_run_s("ibm_perth_emu", f, 1000, 60.0))
    days = {round(w.expected_error("ibm_perth_emu", f, d * 86_400.0), 6) for d in range(5)}
    assert len(days) > 1  # calibration drift changes the truth day by day
    flat = World(s, seed=0, drift=False)
    assert len({round(flat.expected_error("ibm_perth_emu", f, d * 86_400.0), 6)
                for d in range(5)}) == 1
    with pytest.raises(ConfigError, match="unknown backend"):
        World(s, faults=[Fault("nope", 0.0, 1.0)])
    with pytest.raises(ConfigError, match="end after it starts"):
        Fault("ibm_hanoi_emu", 5.0, 5.0)


def test_trace_replay_and_trace_export_round_trip() -> None:
    run = prepared("small", 0.95, 60, 0)
    _, _, sim = run_simulation(run, "shortest-queue")
    jobs = sim.trace_jobs()
    assert len(jobs) == sum(len(t.circuits) for t in run.tasks)
    buf = io.StringIO(newline="")
    write_trace(jobs, buf)
    back = read_trace(io.StringIO(buf.getvalue(), newline=""))
    assert back.errors == [] and len(back.jobs) == len(jobs)
    tasks = trace_tasks(back.jobs)
    assert tasks[0].submit_s == 0.0 and all(t.kinds == ("qpu",) for t in tasks)
    replay = prepare(Scenario("trace", tasks=1, trace=tuple(back.jobs)), specs(), 0)
    _, result, sim2 = run_simulation(replay, "predictive")
    assert result.completed == len(back.jobs)
    assert_exactly_once(sim2, replay)


def test_metrics_and_confidence_intervals() -> None:
    run = prepared("small", 0.95, 60, 0)
    _, result, _ = run_simulation(run, "random")
    m = run_metrics(result)
    assert m["throughput_tasks_per_s"] == pytest.approx(result.completed / result.makespan_s)
    assert m["jct_p95_s"] >= m["jct_mean_s"] * 0.5
    ci = mean_ci95([10.0, 12.0, 11.0, 9.0, 13.0])
    assert ci["lo"] < 11.0 < ci["hi"] and ci["n"] == 5
    assert mean_ci95([])["n"] == 0


def test_bursty_arrivals_are_burstier_than_poisson() -> None:
    import numpy as np

    # At the simulator's rates (~0.01 tasks/s) 5000 arrivals span dozens of bursts.
    p = np.diff(arrival_times(5000, 0.01, seed=3))
    b = np.diff(arrival_times(5000, 0.01, process="bursty", seed=3))
    cv = lambda x: float(np.std(x) / np.mean(x))  # noqa: E731
    assert 0.9 < cv(p) < 1.1
    assert cv(b) > 1.3
    with pytest.raises(ConfigError):
        arrival_times(10, 1.0, process="weekly")  # type: ignore[arg-type]
