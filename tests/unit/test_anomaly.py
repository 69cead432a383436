"""Online anomaly detectors: robust scores, sustained anomalies, actions, events, SLIs."""

from __future__ import annotations

import random

import pytest
from helpers import harness, run
from qstream.agents import learn

from qstream.core.anomaly import BackendMonitor, FleetMonitor, RobustScore
from qstream.core.sli import SLIAggregator
from qstream.errors import ConfigError
from qstream.stream import topics as T


def _feed(m: BackendMonitor, n: int, *, run_s=1.0, err=0.05, seed=0, start=0, ok=True):
    rng = random.Random(seed)
    found = []
    for i in range(n):
        r = run_s * (1.0 + rng.gauss(0, 0.03))
        e = min(max(err + rng.gauss(0, 0.01), 0.0), 1.0)
        found += m.observe(run_s=(r, 1.0), queue_s=(10.0 * (1 + rng.gauss(0, 0.05)), 10.0),
                           error=(e, 0.05), success=ok, at_s=start + i)
    return found


def test_stationary_noise_raises_no_anomaly() -> None:
    m = BackendMonitor("b")
    assert _feed(m, 2000, seed=1) == []


def test_a_slowdown_is_found_once_and_opens_the_breaker() -> None:
    m = BackendMonitor("b")
    _feed(m, 100)
    found = _feed(m, 50, run_s=3.0, start=100)
    assert [a.signal for a in found] == ["run_s"]
    [a] = found
    assert a.action == "open_breaker" and a.score > 3.5 and a.at_s < 100 + m.sustain_of
    assert a.evidence()["window"] == 64 and a.value > a.median


def test_a_single_outlier_is_not_sustained() -> None:
    m = BackendMonitor("b")
    _feed(m, 100)
    assert m.observe(run_s=(5.0, 1.0), at_s=100) == []
    assert _feed(m, 20, start=101) == []


def test_an_error_step_is_suspected_drift() -> None:
    m = BackendMonitor("b")
    _feed(m, 100)
    found = _feed(m, 30, err=0.25, start=100)
    assert [(a.signal, a.action) for a in found] == [("error", "lower_placement")]
    assert found[0].value == pytest.approx(0.2, abs=0.05)


def test_an_anomaly_rearms_after_calm_and_fires_again() -> None:
    m = BackendMonitor("b")
    _feed(m, 100)
    assert len(_feed(m, 10, run_s=3.0, start=100)) == 1
    assert _feed(m, 20, start=110) == [] and m.active() == []
    assert len(_feed(m, 10, run_s=3.0, start=130)) == 1


def test_a_lasting_change_becomes_the_new_normal() -> None:
    m = BackendMonitor("b", adapt_after=10)
    _feed(m, 100)
    found = _feed(m, 400, run_s=2.0, start=100)
    assert len(found) == 1  # found once, then absorbed into the baseline
    assert m.active() == []


def test_a_failure_burst_is_found_and_rare_failures_are_not() -> None:
    m = BackendMonitor("b")
    rng = random.Random(3)
    quiet = [a for i in range(1000) for a in m.observe(success=rng.random() > 0.02, at_s=i)]
    assert quiet == []
    burst = [a for i in range(30) for a in m.observe(success=rng.random() > 0.6, at_s=1000 + i)]
    assert [a.signal for a in burst] == ["failure"] and burst[0].action == "open_breaker"


def test_parameters_are_checked() -> None:
    with pytest.raises(ConfigError):
        BackendMonitor("b", sustain=6, sustain_of=5)
    with pytest.raises(ConfigError):
        RobustScore(window=2)


def test_fleet_monitor_counts_per_backend_and_signal() -> None:
    fm = FleetMonitor()
    for i in range(60):
        fm.observe("a", run_s=(1.0 + 0.01 * (i % 3), 1.0), at_s=i)
    for i in range(5):
        fm.observe("a", run_s=(4.0, 1.0), at_s=60 + i)
    assert fm.counts == {("a", "run_s"): 1} and fm.recent[-1].backend == "a"


def _execution(backend: str, i: int, *, success: bool = True, quality: float = 0.95) -> dict:
    return {
        "schema": "qstream.telemetry.v1", "event": "execution", "at": 1.0,
        "backend": backend, "subtask_id": f"s{i}", "task_id": f"t{i}", "attempt": 0,
        "shots": 1000, "success": success, "queue_s": 0.0, "run_s": 5.0, "price_usd": 0.01,
        "esp": 0.9, "quality": quality, "pending_jobs": 0,
        "features": {"num_qubits": 3, "depth": 4, "two_qubit_gates": 2, "gates": 6,
                     "measured_qubits": 3, "num_clbits": 3},
        "error": None if success else f"{backend}: boom", "predicted": None, "wall_s": 0.1}


def test_learn_agent_publishes_an_anomaly_and_lowers_a_drifting_backend() -> None:
    h, _ = harness(with_executor=False, fleet=("ibm_perth_emu", "cpu_statevector"))
    before = h.rt.spec_by_name["ibm_perth_emu"].calibration
    for i in range(40):
        run(learn.on_execution(h.rt, _execution("ibm_perth_emu", i, quality=0.95)))
    assert [e for e in h.sent(T.TELEMETRY) if e["event"] == "anomaly"] == []
    for i in range(40, 46):
        run(learn.on_execution(h.rt, _execution("ibm_perth_emu", i, quality=0.6)))
    [event] = [e for e in h.sent(T.TELEMETRY) if e["event"] == "anomaly"]
    assert event["signal"] == "error" and event["action"] == "lower_placement"
    assert event["factor"] > 1.0 and event["evidence"]["value"] > 0.2
    after = h.rt.spec_by_name["ibm_perth_emu"].calibration
    assert after.two_qubit_error == pytest.approx(before.two_qubit_error * event["factor"])
    # the same published calibration again does not undo the suspicion; a new one does
    assert not learn.learn_calibration(h.rt, "ibm_perth_emu", before.to_dict())
    fresh = {**before.to_dict(), "readout_error": before.readout_error * 1.01}
    assert learn.learn_calibration(h.rt, "ibm_perth_emu", fresh)
    assert h.rt.spec_by_name["ibm_perth_emu"].calibration.two_qubit_error == \
        before.two_qubit_error


def test_learn_agent_opens_the_breaker_on_a_failure_burst() -> None:
    h, _ = harness(with_executor=False, fleet=("ibm_perth_emu", "cpu_statevector"),
                   breaker_failures=1000, breaker_window=1000)
    for i in range(60):
        run(learn.on_execution(h.rt, _execution("ibm_perth_emu", i)))
    for i in range(60, 90):
        run(learn.on_execution(h.rt, _execution("ibm_perth_emu", i, success=i % 3 != 0)))
        if any(e["event"] == "anomaly" for e in h.sent(T.TELEMETRY)):
            break
    events = h.sent(T.TELEMETRY)
    [anomaly] = [e for e in events if e["event"] == "anomaly"]
    assert anomaly["signal"] == "failure" and anomaly["action"] == "open_breaker"
    assert any(e["event"] == "breaker" and e["state"] == "open" and "anomaly" in e["reason"]
               for e in events)
    assert not h.rt.scheduler.is_operational("ibm_perth_emu")


def test_sli_counts_anomalies_for_status_and_the_metric() -> None:
    agg = SLIAggregator()
    samples = agg.observe({"schema": "qstream.telemetry.v1", "event": "anomaly", "at": 5.0,
                           "backend": "b", "signal": "run_s", "score": 7.0,
                           "action": "open_breaker", "evidence": {}})
    assert [(s.name, s.attributes) for s in samples] == [
        ("qstream.anomalies", {"backend": "b", "signal": "run_s"})]
    b = agg.snapshot(10.0)["backends"]["b"]
    assert b["anomalies"] == 1 and b["last_anomaly"]["signal"] == "run_s"


def test_status_table_shows_a_backends_anomalies() -> None:
    from rich.console import Console

    from qstream.cli.status import render

    agg = SLIAggregator()
    agg.observe({"schema": "qstream.telemetry.v1", "event": "anomaly", "at": 5.0,
                 "backend": "ibm_perth_emu", "signal": "error", "score": 6.2,
                 "action": "lower_placement", "evidence": {}})
    console = Console(width=250, record=True)
    console.print(render(agg.snapshot(10.0)))
    text = console.export_text()
    assert "anomalies" in text and "1 (last error z=6.2, lower_placement)" in text


def test_an_anomaly_tripped_breaker_cools_down_probes_and_closes_only_when_clear(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from qstream.stream import fleet_health

    clock = [1000.0]
    monkeypatch.setattr(fleet_health, "time", types.SimpleNamespace(
        monotonic=lambda: clock[0], time=lambda: clock[0]))
    h, _ = harness(with_executor=False, fleet=("ibm_perth_emu", "cpu_statevector"),
                   breaker_failures=1000, breaker_window=1000, breaker_cooldown_s=30.0)
    b = "ibm_perth_emu"
    breaker = h.rt.health.breakers[b]
    for i in range(60):
        run(learn.on_execution(h.rt, _execution(b, i)))
    i = 60
    while breaker.state(clock[0]) == "closed":
        assert i < 100, "no failure anomaly"
        run(learn.on_execution(h.rt, _execution(b, i, success=i % 3 != 0)))
        i += 1
    assert "anomaly: failure" in breaker.reason
    # work released before the trip keeps finishing: it must not close the breaker
    for _ in range(3):
        run(learn.on_execution(h.rt, _execution(b, i)))
        i += 1
    assert breaker.state(clock[0]) == "open" and not h.rt.scheduler.is_operational(b)
    clock[0] += 30.0
    run(h.rt.health.sync_all(h.rt.scheduler))
    assert breaker.state(clock[0]) == "half_open" and h.rt.scheduler.is_operational(b)
    # a failed probe re-opens it with a doubled cooldown
    run(learn.on_execution(h.rt, _execution(b, i, success=False)))
    i += 1
    assert breaker.state(clock[0]) == "open" and breaker.cooldown_now_s == 60.0
    clock[0] += 59.0
    assert breaker.state(clock[0]) == "open"
    clock[0] += 1.0
    run(h.rt.health.sync_all(h.rt.scheduler))
    # successful probes while the detector still flags the backend: half-open, one at a time
    held = 0
    while h.rt.anomalies.holds_breaker(b):
        assert i < 200, "the failure anomaly never cleared"
        run(h.rt.health.probes_released([b], h.rt.scheduler))  # one probe released ...
        assert not h.rt.scheduler.is_operational(b)  # ... and no more until it reports
        run(learn.on_execution(h.rt, _execution(b, i)))
        i += 1
        if h.rt.anomalies.holds_breaker(b):
            held += 1
            assert breaker.state(clock[0]) == "half_open" and h.rt.scheduler.is_operational(b)
    assert held >= 3
    assert breaker.state(clock[0]) == "closed" and breaker.reason == "probe succeeded"
    assert h.rt.scheduler.is_operational(b) and breaker.cooldown_now_s == 30.0
    states = [e["state"] for e in h.sent(T.TELEMETRY) if e["event"] == "breaker"]
    assert states == ["open", "half_open", "open", "half_open", "closed"]
