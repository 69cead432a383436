"""The simulator runs the live anomaly detectors and breakers, with the live actions."""

from __future__ import annotations

import pytest

from qstream.backends.fleet import fleet_specs
from qstream.core.cost import CostWeights
from qstream.core.features import CircuitFeatures
from qstream.core.queue_model import PendingJobsSeries
from qstream.errors import ConfigError
from qstream.sim.engine import RunResult, Simulation
from qstream.sim.metrics import run_metrics
from qstream.sim.policies import build
from qstream.sim.workload import SimTask
from qstream.sim.world import Fault, World

FLEET = ("ibm_perth_emu", "ibm_lagos_emu", "ibm_nairobi_emu")
GHZ5 = CircuitFeatures(5, 6, 4, 5, 5, 5)
N, DT_S = 200, 60.0
SPAN_S = N * DT_S


def _run(policy: str, fault: Fault, *, detectors: bool, seed: int = 0) -> RunResult:
    """Error-sensitive GHZ-5 tasks, one a minute, on three 7-qubit devices with short,
    steady external queues (2 pending jobs), so calibration decides the placement."""
    specs = fleet_specs(list(FLEET))
    series = PendingJobsSeries([("2023-11-16T00:00:00Z", b.removesuffix("_emu"), "2", "1",
                                 "active") for b in FLEET])
    world = World(specs, seed=seed, drift=False, series=series, faults=[fault])
    tasks = [SimTask(f"t{i}", i * DT_S, (GHZ5,), 1000, CostWeights(1.0, 10.0, 1.0),
                     kinds=("qpu",)) for i in range(N)]
    holder: dict[str, Simulation] = {}
    built = build(policy, specs, world, lambda: holder["sim"].now_s, seed=seed)
    sim = holder["sim"] = Simulation(specs, world, tasks, built.policy, built.estimator,
                                     on_truth_change=built.on_truth_change, detectors=detectors)
    return sim.run()


def _share(r: RunResult, backend: str, start: float, end: float) -> float:
    starts = [b for t, b in r.starts if start * SPAN_S <= t < end * SPAN_S]
    assert starts, "nothing started in the window"
    return sum(b == backend for b in starts) / len(starts)


def test_an_unannounced_drift_step_is_detected_and_the_device_loses_its_share() -> None:
    # best-fidelity only reads the published calibration, which the step does not change:
    # only the detectors' lowered placement can move work away.
    step = Fault("ibm_nairobi_emu", 0.3 * SPAN_S, 2 * SPAN_S, "drift", 3.0)
    on = _run("best-fidelity", step, detectors=True)
    off = _run("best-fidelity", step, detectors=False)
    before_on, after_on = _share(on, step.backend, 0, 0.3), _share(on, step.backend, 0.5, 1)
    before_off, after_off = _share(off, step.backend, 0, 0.3), _share(off, step.backend, 0.5, 1)
    assert before_on == before_off > 0.8  # the best device, until the step
    assert after_on < 0.2 < 0.8 < after_off
    errors = [a for a in on.anomalies if a[2] == "error"]
    assert errors and errors[0][1] == step.backend and errors[0][3] == "lower_placement"
    assert errors[0][0] >= step.start_s
    assert off.anomalies == [] and run_metrics(on)["anomalies"] == len(on.anomalies)
    assert on.completed == off.completed == N


def test_a_failure_burst_opens_the_breaker_and_work_fails_over() -> None:
    burst = Fault("ibm_nairobi_emu", 0.3 * SPAN_S, 0.6 * SPAN_S, "fail", 0.5)
    r = _run("best-fidelity", burst, detectors=True)
    assert r.failed_executions > 0 and r.completed == N and r.failed == 0
    failures = [a for a in r.anomalies if a[2] == "failure"]
    assert failures and failures[0][1] == burst.backend and failures[0][3] == "open_breaker"
    assert r.breaker_opens >= 1 and run_metrics(r)["breaker_opens"] == r.breaker_opens
    assert _share(r, burst.backend, 0.35, 0.6) < _share(r, burst.backend, 0.0, 0.3)
    # after the burst, probes succeed, the detector clears and the breaker closes again
    assert _share(r, burst.backend, 0.8, 1.0) > 0.8


def test_a_fail_fault_needs_a_probability() -> None:
    with pytest.raises(ConfigError, match="fail probability"):
        Fault("b", 0.0, 1.0, "fail", 1.5)


@pytest.mark.parametrize("policy", ["best-fidelity", "predictive"])
def test_a_published_degradation_in_the_drift_replay_moves_work_away(policy: str) -> None:
    # Seed 48 of the world (found by scanning seeds 0..299 of the three-device fleet):
    # ibm_nairobi_emu is the best device on day 0 (GHZ-5 error 0.198) and publishes a
    # broken day-1 snapshot (1.0); perth stays at 0.24-0.26, lagos at 0.68.
    specs = fleet_specs(list(FLEET))
    series = PendingJobsSeries([("2023-11-16T00:00:00Z", b.removesuffix("_emu"), "2", "1",
                                 "active") for b in FLEET])
    world = World(specs, seed=48, drift=True, series=series)
    day_s = 86_400.0
    tasks = [SimTask(f"t{i}", i * 900.0, (GHZ5,), 1000, CostWeights(1.0, 10.0, 1.0),
                     kinds=("qpu",)) for i in range(int(2 * day_s / 900.0))]
    holder: dict[str, Simulation] = {}
    built = build(policy, specs, world, lambda: holder["sim"].now_s, seed=48)
    sim = holder["sim"] = Simulation(specs, world, tasks, built.policy, built.estimator,
                                     on_truth_change=built.on_truth_change)
    r = sim.run()

    def share(start_s: float, end_s: float) -> float:
        starts = [b for t, b in r.starts if start_s <= t < end_s]
        return sum(b == "ibm_nairobi_emu" for b in starts) / len(starts)

    assert share(0.2 * day_s, day_s) > 0.8
    assert share(day_s + 3600.0, 2 * day_s) < 0.1
