"""Calibration drift: the series, live emulated devices replaying it, the drift= fault,
the pipeline adopting published snapshots, and the simulator's unannounced steps."""

from __future__ import annotations

import math

import pytest
from helpers import harness, run
from qstream.agents import execute, learn

from qstream.backends.clock import EmulatedClock
from qstream.backends.faults import FaultyBackend, parse_faults
from qstream.backends.ibm_emulated import EmulatedIBMDevice, device_spec
from qstream.core.calibration_drift import DAY_S, DriftSeries, DriftStep, apply_steps
from qstream.core.features import CircuitFeatures
from qstream.errors import ConfigError
from qstream.sim.world import Fault, World
from qstream.stream import topics as T

GHZ = CircuitFeatures(5, 6, 4, 5, 5, 5)


def _device(name: str = "ibm_lagos_emu", **kw) -> tuple[EmulatedIBMDevice, EmulatedClock]:
    clock = EmulatedClock(time_scale=1.0, origin_s=0.0)
    return EmulatedIBMDevice(name, clock=clock, drift=True, day_s=100.0, **kw), clock


def _at(clock: EmulatedClock, emulated_s: float) -> None:
    """Put ``clock``'s emulated time at ``emulated_s`` (time_scale 1: move its origin)."""
    import time

    clock.origin_s = time.time() - emulated_s


def test_series_scales_a_device_by_perths_day_over_median_ratios() -> None:
    s = DriftSeries.load()
    base = device_spec("ibm_lagos_emu").calibration
    worst = max(range(len(s)), key=lambda k: s.ratios(k)["two_qubit_error"])
    cal = s.scaled(base, worst)
    assert cal.two_qubit_error > base.two_qubit_error
    assert math.isclose(cal.two_qubit_error / base.two_qubit_error,
                        s.ratios(worst)["two_qubit_error"], rel_tol=1e-9)
    assert cal.two_qubit_gate_s == base.two_qubit_gate_s  # lengths do not drift
    assert s.scaled(base, 3, own=True).two_qubit_error == s.days[3].two_qubit_error


def test_drift_steps_multiply_errors_in_their_window_only() -> None:
    base = device_spec("ibm_perth_emu").calibration
    step = DriftStep(4.0, 10.0, 20.0)
    assert apply_steps(base, [step], 15.0).readout_error == pytest.approx(4 * base.readout_error)
    assert apply_steps(base, [step], 25.0) is base
    with pytest.raises(ConfigError):
        DriftStep(0.0)


def test_emulated_device_publishes_a_new_snapshot_each_day() -> None:
    dev, clock = _device()
    series = DriftSeries.load(day_s=100.0)
    seen = []
    for day in range(4):
        _at(clock, day * 100.0 + 30.0)
        seen.append(dev.spec.calibration)
        assert dev.calibration_age_s() == pytest.approx(30.0, abs=1.0)
    assert len({c.two_qubit_error for c in seen}) > 1  # the calibration moves
    assert seen[2].updated_at_s == pytest.approx(clock.origin_s + 200.0)
    base = device_spec("ibm_lagos_emu").calibration
    k = series.index(200.0, dev._day_offset)
    assert seen[2].two_qubit_error == pytest.approx(series.scaled(base, k).two_qubit_error)
    # ESP prior and the noise the simulation gets follow the snapshot
    assert dev.spec.prior_esp(GHZ) != device_spec("ibm_lagos_emu").prior_esp(GHZ) or \
        dev._noise_scale() is None
    assert dev._noise_scale() == series.scale_of(base, dev.spec.calibration)


def test_device_without_drift_keeps_its_fake_snapshot() -> None:
    dev = EmulatedIBMDevice("ibm_lagos_emu", clock=EmulatedClock(1000.0))
    assert dev.spec is device_spec("ibm_lagos_emu")
    assert dev.calibration_age_s() is None and dev._noise_scale() is None


def test_drift_fault_is_unannounced_but_changes_the_simulated_noise() -> None:
    profile = parse_faults("ibm_perth_emu:drift=3@50", ["ibm_perth_emu"])["ibm_perth_emu"]
    clock = EmulatedClock(time_scale=1.0, origin_s=0.0)
    inner = EmulatedIBMDevice("ibm_perth_emu", clock=clock)
    dev = FaultyBackend(inner, profile, clock)
    _at(clock, 10.0)
    assert inner._noise_scale() == (1.0, 1.0, 1.0, 1.0, 1.0)
    _at(clock, 60.0)
    assert dev.spec.calibration == device_spec("ibm_perth_emu").calibration  # not published
    assert inner._noise_scale()[:3] == (3.0, 3.0, 3.0)
    status = execute.status_event(dev)
    assert status["calibration"] == device_spec("ibm_perth_emu").calibration.to_dict()


def test_drift_fault_needs_a_calibrated_device() -> None:
    from qstream.backends.catalog import available_backends
    from qstream.backends.fleet import build_fleet

    assert "cpu_statevector" in available_backends()
    with pytest.raises(ConfigError, match="no calibration"):
        build_fleet(["cpu_statevector"], faults="cpu_statevector:drift=2")
    with pytest.raises(ConfigError, match="drift"):
        parse_faults("ibm_perth_emu:drift=-1", ["ibm_perth_emu"])


def test_noise_model_per_snapshot_lowers_the_transpiled_esp() -> None:
    from qstream.backends.aer_devices import device

    clean = device("FakePerth")
    worse = device("FakePerth", (2.0, 2.0, 2.0, 0.5, 0.5))
    assert device("FakePerth", (1.0,) * 5) is clean
    assert device("FakePerth", (2.0, 2.0, 2.0, 0.5, 0.5)) is worse  # cached per snapshot
    assert worse.readout[0][0] == pytest.approx(2 * clean.readout[0][0])
    e_clean = clean.target["cx"][(0, 1)].error
    assert worse.target["cx"][(0, 1)].error == pytest.approx(2 * e_clean)
    assert worse.noise_model is not clean.noise_model


def test_pipeline_adopts_a_published_calibration_and_predicts_with_it() -> None:
    h, _ = harness(with_executor=False, fleet=("ibm_perth_emu", "cpu_statevector"))
    spec = h.rt.spec_by_name["ibm_perth_emu"]
    worse = {**spec.calibration.to_dict(), "two_qubit_error": 0.2, "readout_error": 0.2}
    status = {"schema": "qstream.telemetry.v1", "event": "backend_status", "at": 1.0,
              "backend": "ibm_perth_emu", "pending_jobs": 0, "operational": True,
              "calibration": worse}
    before = h.rt.predictor.predict(spec, GHZ, 1000, 0).error
    run(h.deliver(h.produce(T.TELEMETRY, status)))
    new = h.rt.spec_by_name["ibm_perth_emu"]
    assert new.calibration.two_qubit_error == 0.2
    assert h.rt.predictor.predict(new, GHZ, 1000, 0).error > before + 0.2
    assert not learn.learn_calibration(h.rt, "ibm_perth_emu", worse)  # same again: no change


def test_world_drift_step_hurts_the_truth_not_the_published_spec() -> None:
    specs = [device_spec("ibm_perth_emu")]
    world = World(specs, seed=0, faults=[Fault("ibm_perth_emu", 100.0, 200.0, "drift", 3.0)])
    assert world.published_spec("ibm_perth_emu", 150.0) == world.published_spec(
        "ibm_perth_emu", 50.0)
    assert world.expected_error("ibm_perth_emu", GHZ, 150.0) > \
        world.expected_error("ibm_perth_emu", GHZ, 50.0) + 0.1
    assert world.calibration("ibm_perth_emu", DAY_S) != world.calibration("ibm_perth_emu", 0.0)


def test_simulate_drift_step_option_becomes_a_world_drift_fault() -> None:
    from qstream.cli.simulate import _fault
    from qstream.sim.experiment import Scenario

    spec = _fault("ibm_perth_emu:0.5:0.75:3", "drift")
    assert spec == ("drift", "ibm_perth_emu", 0.5, 0.75, 3.0)
    [fault] = Scenario(faults=(spec,)).faults_for(1000.0)
    assert (fault.kind, fault.start_s, fault.end_s, fault.factor) == ("drift", 500.0, 750.0, 3.0)


def test_a_worse_snapshot_really_simulates_worse() -> None:
    from qstream.backends.aer_runner import run_emulated
    from qstream.backends.payloads import EmulatedPayload

    qasm = ('OPENQASM 2.0; include "qelib1.inc"; qreg q[3]; creg c[3]; '
            'h q[0]; cx q[0],q[1]; cx q[1],q[2]; measure q -> c;')

    def once(scale):
        return run_emulated(EmulatedPayload(fake="FakePerth", qasm=qasm, shots=4000, seed=3,
                                            scale=scale, seed_transpiler=1234))

    clean, worse = once(None), once((5.0, 5.0, 5.0, 1.0, 1.0))
    assert worse.esp < clean.esp - 0.05
    ideal = lambda out: (out.counts.get("000", 0) + out.counts.get("111", 0)) / 4000  # noqa: E731
    assert ideal(worse) < ideal(clean) - 0.03
