"""The circuit breaker's state machine: open on failures, cool down, probe, close."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qstream.core.circuit_breaker import CircuitBreaker
from qstream.errors import ConfigError


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    b = CircuitBreaker(failures=3, window=100, cooldown_s=10.0)
    for t in range(2):
        assert b.record(False, float(t)) == "closed"
    assert b.record(True, 2.0) == "closed"
    assert [b.record(False, 3.0 + t) for t in range(3)] == ["closed", "closed", "open"]
    assert b.reason == "3 consecutive failures"
    assert not b.allows_work(5.0)


def test_a_failure_rate_over_the_window_opens_it() -> None:
    b = CircuitBreaker(failures=100, window=10, failure_rate=0.5, cooldown_s=1.0)
    states = [b.record(i % 2 == 0, float(i)) for i in range(10)]  # ok, fail, ok, fail...
    assert states[:-1] == ["closed"] * 9 and states[-1] == "open"
    assert b.reason == "5 of the last 10 executions failed"


def test_cooldown_then_one_probe_then_close_or_reopen() -> None:
    b = CircuitBreaker(failures=1, cooldown_s=10.0)
    b.record(False, 0.0)
    assert b.state(9.9) == "open" and not b.try_probe(9.9)
    assert b.state(10.0) == "half_open" and b.allows_work(10.0)
    assert b.try_probe(10.0)
    assert not b.try_probe(10.1) and not b.allows_work(10.1)  # one probe only
    assert b.record(False, 11.0) == "open" and b.reason == "probe failed"
    assert b.state(30.9) == "open"  # a new, backed-off cooldown (2 x 10 s) from the failed probe
    assert b.try_probe(31.0)
    assert b.record(True, 31.5) == "closed" and b.allows_work(31.5)


@pytest.mark.parametrize("kwargs", [{"failures": 0}, {"window": 0}, {"failure_rate": 0.0},
                                    {"failure_rate": 1.1}, {"cooldown_s": -1.0},
                                    {"backoff": 0.5}, {"cooldown_s": 10.0, "max_cooldown_s": 5.0}])
def test_bad_parameters_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


outcomes = st.lists(st.tuples(st.booleans(), st.floats(0.0, 5.0)), max_size=60)


@given(outcomes, st.integers(1, 6), st.integers(1, 12))
def test_never_opens_without_failures(history: list[tuple[bool, float]], failures: int,
                                      window: int) -> None:
    b = CircuitBreaker(failures=failures, window=window, cooldown_s=1.0)
    now = 0.0
    for _, dt in history:
        now += dt
        assert b.record(True, now) == "closed"
        assert b.allows_work(now)


@given(outcomes, st.integers(1, 6), st.integers(1, 12), st.floats(0.0, 30.0))
def test_a_successful_probe_always_closes_it(history: list[tuple[bool, float]], failures: int,
                                             window: int, cooldown_s: float) -> None:
    b = CircuitBreaker(failures=failures, window=window, cooldown_s=cooldown_s)
    now = 0.0
    for ok, dt in history:
        now += dt
        b.record(ok, now)
    for _ in range(failures):  # make sure it is open, whatever came before
        b.record(False, now)
    assert b.state(now) in ("open", "half_open")
    now += b.cooldown_now_s  # the cooldown, backed off by the failed probes before
    assert b.state(now) == "half_open"
    assert b.try_probe(now)
    assert b.record(True, now) == "closed"
    assert b.allows_work(now)


def test_every_state_change_is_counted() -> None:
    b = CircuitBreaker(failures=1, cooldown_s=1.0)
    b.record(False, 0.0)  # open
    b.record(False, 2.0)  # half-open (lazily), then open again: the probe failed
    assert b.changes == 3 and b.state(2.5) == "open"


def test_outcomes_of_earlier_work_do_not_close_an_open_breaker() -> None:
    b = CircuitBreaker(failures=1, cooldown_s=10.0)
    b.trip(0.0, "anomaly: run_s z=9.0")
    for t in range(1, 10):  # jobs released before the trip keep finishing
        assert b.record(True, float(t)) == "open"
        assert not b.allows_work(float(t))
    assert b.record(False, 9.5) == "open" and b.reason == "anomaly: run_s z=9.0"
    assert b.state(10.0) == "half_open"


def test_failed_probes_back_off_up_to_the_cap_and_a_close_resets_it() -> None:
    b = CircuitBreaker(failures=1, cooldown_s=1.0, backoff=2.0, max_cooldown_s=5.0)
    b.record(False, 0.0)
    now, cooldowns = 0.0, []
    for _ in range(5):
        cooldowns.append(b.cooldown_now_s)
        now += b.cooldown_now_s
        assert b.state(now - 1e-9) == "open" and b.try_probe(now)
        assert b.record(False, now) == "open"
    assert cooldowns == [1.0, 2.0, 4.0, 5.0, 5.0]
    now += b.cooldown_now_s
    assert b.try_probe(now) and b.record(True, now) == "closed"
    assert b.cooldown_now_s == 1.0
    b.record(False, now)
    assert b.state(now + 1.0) == "half_open"


def test_a_flagged_backend_stays_half_open_one_probe_at_a_time() -> None:
    b = CircuitBreaker(cooldown_s=5.0)
    b.trip(0.0, "anomaly: failure z=6.0")
    assert b.state(5.0) == "half_open"
    for i in range(4):
        assert b.try_probe(5.0 + i) and not b.allows_work(5.0 + i)  # one probe out
        assert b.record(True, 5.5 + i, flagged=True) == "half_open"
        assert b.allows_work(5.5 + i)  # the next probe may go
    assert "still flags" in b.reason
    assert b.try_probe(10.0) and b.record(True, 10.5, flagged=False) == "closed"


def test_an_anomaly_again_while_half_open_reopens_with_backoff() -> None:
    b = CircuitBreaker(cooldown_s=5.0)
    b.trip(0.0, "anomaly: run_s z=6.0")
    assert b.state(5.0) == "half_open"
    b.trip(5.0, "anomaly: run_s z=7.0")
    assert b.state(14.9) == "open" and b.state(15.0) == "half_open"
    b.trip(15.0, "anomaly: run_s z=7.0")
    assert b.cooldown_now_s == 20.0
    before = b.changes
    b.trip(16.0, "again")  # already open: nothing changes
    assert b.changes == before and b.reason == "anomaly: run_s z=7.0"


@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.floats(0.0, 5.0)), max_size=80),
       st.floats(0.0, 10.0))
def test_never_closes_while_flagged(steps: list[tuple[bool, bool, float]],
                                    cooldown_s: float) -> None:
    b = CircuitBreaker(failures=1, cooldown_s=cooldown_s)
    b.trip(0.0, "anomaly")
    now = 0.0
    for ok, probe, dt in steps:
        now += dt
        if probe:
            b.try_probe(now)
        assert b.record(ok, now, flagged=True) != "closed"
        assert b.cooldown_s <= b.cooldown_now_s <= b.max_cooldown_s
