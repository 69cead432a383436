"""Injected backend faults: the spec grammar, profile validation, reproducible draws."""

from __future__ import annotations

import asyncio
import time

import pytest

from qstream.backends.base import Backend, ExecutionRequest, ExecutionResult
from qstream.backends.classical import classical_spec
from qstream.backends.clock import EmulatedClock
from qstream.backends.faults import FaultProfile, FaultyBackend, parse_faults
from qstream.core.backend_spec import BackendSpec
from qstream.errors import BackendError, BackendUnavailable, ConfigError, TransientBackendError


class CountingBackend:
    """A tiny in-memory backend: all shots on '0', run_s 1.0, counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def spec(self) -> BackendSpec:
        return classical_spec()

    def pending_jobs(self) -> int:
        return 0

    def operational(self) -> bool:
        return True

    def stoppable(self) -> bool:
        return True

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        self.calls += 1
        return ExecutionResult(self.spec.name, {"0": request.shots}, request.shots, 0.0, 1.0,
                               0.0, 1.0, None, None, 0, None, 0.0)


def _request(i: int, attempt: int = 0) -> ExecutionRequest:
    return ExecutionRequest(f"t{i}/c0/s0", f"t{i}", attempt, "", 10)


async def _outcomes(backend: FaultyBackend, n: int) -> list[str]:
    out = []
    for i in range(n):
        try:
            await backend.execute(_request(i))
        except TransientBackendError as exc:
            out.append("timeout" if "timeout" in str(exc) else "fail")
        except BackendUnavailable:
            out.append("outage")
        else:
            out.append("ok")
    return out


def test_a_full_spec_parses() -> None:
    faults = parse_faults(" cpu_statevector : fail=0.3, timeout=0.1, timeout_s=30 ;"
                          "braket_local:outage=0-120,outage=500-inf;"
                          "ibm_hanoi_emu:slow=2.5@60-600;")
    assert faults["cpu_statevector"] == FaultProfile(failure_rate=0.3, timeout_rate=0.1,
                                                     timeout_s=30.0)
    assert faults["braket_local"].outages == ((0.0, 120.0), (500.0, float("inf")))
    assert faults["braket_local"].in_outage(100.0) and not faults["braket_local"].in_outage(200.0)
    hanoi = faults["ibm_hanoi_emu"]
    assert hanoi.slowdown_at(100.0) == 2.5 and hanoi.slowdown_at(10.0) == 1.0
    assert parse_faults("") == {} and parse_faults("  ;  ") == {}


@pytest.mark.parametrize(("spec", "match"), [
    ("ibm_nowhere:fail=0.1", "unknown backend 'ibm_nowhere'"),
    ("cpu_statevector", "must look like BACKEND:fault=value"),
    ("cpu_statevector:", "must look like BACKEND:fault=value"),
    ("cpu_statevector:fail", "must look like key=value"),
    ("cpu_statevector:fail=lots", "fail='lots' is not a number"),
    ("cpu_statevector:fail=1.5", "failure_rate must be in \\[0, 1\\], got 1.5"),
    ("cpu_statevector:timeout=-0.1", "timeout_rate must be in \\[0, 1\\]"),
    ("cpu_statevector:timeout_s=0", "timeout_s must be finite and > 0"),
    ("cpu_statevector:outage=120", "must look like START-END"),
    ("cpu_statevector:outage=120-60", "must have 0 <= start < end"),
    ("cpu_statevector:slow=0.5", "slowdown must be finite and >= 1"),
    ("cpu_statevector:explode=1", "unknown fault 'explode'"),
    ("cpu_statevector:fail=0.1;cpu_statevector:timeout=0.1", "twice"),
])
def test_bad_specs_are_rejected_clearly(spec: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_faults(spec)


def test_the_errors_are_backend_errors() -> None:
    assert issubclass(TransientBackendError, BackendError)
    assert issubclass(BackendUnavailable, BackendError)
    assert not issubclass(BackendUnavailable, TransientBackendError)


def test_faulty_backend_keeps_the_protocol() -> None:
    backend = FaultyBackend(CountingBackend(), FaultProfile(), EmulatedClock(1.0))
    assert isinstance(backend, Backend)
    assert backend.spec.name == "cpu_statevector" and backend.operational()


def test_draws_are_reproducible_and_rates_roughly_right() -> None:
    profile = FaultProfile(failure_rate=0.3, timeout_rate=0.2, timeout_s=1.0)
    clock = EmulatedClock(1e6)  # a timeout of 1 emulated s sleeps 1 us

    def run(seed: int) -> list[str]:
        return asyncio.run(_outcomes(FaultyBackend(CountingBackend(), profile, clock, seed), 2000))

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    n = len(first)
    assert abs(first.count("fail") / n - 0.3) < 0.04
    # A timeout is drawn only when no failure was: 0.7 x 0.2.
    assert abs(first.count("timeout") / n - 0.14) < 0.03


def test_a_retry_of_the_same_attempt_draws_anew() -> None:
    backend = FaultyBackend(CountingBackend(), FaultProfile(failure_rate=0.5), EmulatedClock(1.0))
    draws = [backend.draw(_request(1)) for _ in range(5)]
    assert len(set(draws)) == 5
    again = FaultyBackend(CountingBackend(), FaultProfile(failure_rate=0.5), EmulatedClock(1.0))
    assert [again.draw(_request(1)) for _ in range(5)] == draws


def test_an_outage_fails_without_running_and_ends_on_time() -> None:
    inner = CountingBackend()
    clock = EmulatedClock(1.0, origin_s=time.time() - 50.0)  # 50 emulated s since start
    down = FaultyBackend(inner, FaultProfile(outages=((0.0, 100.0),)), clock)
    assert asyncio.run(_outcomes(down, 3)) == ["outage"] * 3
    assert inner.calls == 0
    assert down.operational()  # unannounced: the device still says it is up
    over = FaultyBackend(inner, FaultProfile(outages=((0.0, 10.0),)), clock)
    assert asyncio.run(_outcomes(over, 3)) == ["ok"] * 3


def test_a_slowdown_stretches_the_run_time() -> None:
    slow = FaultyBackend(CountingBackend(), FaultProfile(slowdown=3.0), EmulatedClock(1e6))
    result = asyncio.run(slow.execute(_request(0)))
    assert result.run_s == pytest.approx(3.0)
    assert result.counts == {"0": 10}


def test_the_worker_config_reads_faults_and_retries_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from qstream.config import WorkerConfig

    monkeypatch.setenv("QSTREAM_FAULTS", "braket_local:outage=0-120")
    monkeypatch.setenv("QSTREAM_RETRY_ATTEMPTS", "5")
    cfg = WorkerConfig.from_env()
    assert cfg.faults == "braket_local:outage=0-120" and cfg.retry_attempts == 5
    with pytest.raises(ConfigError, match="retry_attempts must be >= 1"):
        WorkerConfig(retry_attempts=0)
