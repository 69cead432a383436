"""Online predictors: learning beats the prior, guards hold, snapshots round-trip."""

from __future__ import annotations

import math
import random
import time

import pytest
from helpers.core import GHZ5, observation, qpu, sim
from hypothesis import given, settings
from hypothesis import strategies as st

from qstream.core.features import CircuitFeatures
from qstream.core.online_model import PriorAnchoredRegressor, link, unlink
from qstream.core.predictor import Predictor
from qstream.errors import ConfigError, ValidationError

features_st = st.builds(
    lambda q, d, g2, g1, dyn: CircuitFeatures(q, d, g2, g2 + g1, q, q, dyn),
    st.integers(1, 127), st.integers(1, 5000), st.integers(0, 5000), st.integers(0, 5000),
    st.booleans(),
)


# -- online_model ----------------------------------------------------------------------


@given(st.floats(0.0, 1e7))
def test_log1p_link_round_trips(y: float) -> None:
    assert unlink(link(y, "log1p"), "log1p") == pytest.approx(y, rel=1e-9, abs=1e-9)


@given(st.floats(1e-4, 1 - 1e-4))
def test_logit_link_round_trips(p: float) -> None:
    assert unlink(link(p, "logit"), "logit") == pytest.approx(p, rel=1e-9)


@given(st.floats(-1e6, 1e6))
def test_unlink_never_overflows(z: float) -> None:
    assert 0.0 <= unlink(z, "logit") <= 1.0
    if z < 700:
        assert unlink(z, "log1p") >= 0.0


def test_cold_start_is_the_prior() -> None:
    reg = PriorAnchoredRegressor(kind="logit")
    assert reg.predict_one({"a": 1.0}, prior=0.123) == 0.123


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 1e12), min_size=1, max_size=60), st.floats(0.0, 1e4))
def test_predictions_stay_in_the_envelope_of_prior_and_data(ys: list[float],
                                                            prior: float) -> None:
    reg = PriorAnchoredRegressor(warmup=0)
    rng = random.Random(0)
    for y in ys:
        reg.learn_one({"x": rng.uniform(-5, 5)}, prior, y)
    lo = min(math.log1p(prior), *(math.log1p(y) for y in ys)) - reg.margin
    hi = max(math.log1p(prior), *(math.log1p(y) for y in ys)) + reg.margin
    for x in (-1e6, -3.0, 0.0, 3.0, 1e6):
        p = reg.predict_one({"x": x}, prior)
        assert math.isfinite(p)
        assert math.expm1(lo) * (1 - 1e-9) - 1e-9 <= p <= math.expm1(hi) * (1 + 1e-9)


def test_bad_regressor_arguments() -> None:
    with pytest.raises(ConfigError):
        PriorAnchoredRegressor(kind="sqrt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        PriorAnchoredRegressor(warmup=-1)


# -- predictor -------------------------------------------------------------------------


def _run_time_stream(n: int, seed: int, backends: list[str]):
    """run_s = 2 + 0.001 * shots (x lognormal 10% noise), per backend scaled."""
    rng = random.Random(seed)
    scale = {b: 1.0 + i for i, b in enumerate(backends)}
    for _ in range(n):
        b = rng.choice(backends)
        shots = int(10 ** rng.uniform(2, 5))
        q = rng.randint(2, 20)
        f = CircuitFeatures(q, rng.randint(2, 100), rng.randint(0, 50), rng.randint(50, 200), q, q)
        run_s = scale[b] * (2.0 + 0.001 * shots) * math.exp(rng.gauss(0.0, 0.1))
        yield observation(b, shots=shots, features=f, run_s=run_s, error=0.05)


def test_learning_a_synthetic_run_time_beats_the_prior() -> None:
    fleet = [qpu("a"), qpu("b"), sim("c")]
    p = Predictor(fleet)
    specs = {s.name: s for s in fleet}
    for obs in _run_time_stream(1500, seed=1, backends=["a", "b", "c"]):
        p.learn(obs)
    model_err, prior_err = [], []
    for obs in _run_time_stream(300, seed=2, backends=["a", "b", "c"]):
        spec = specs[obs.backend]
        model_err.append(abs(p.predict(spec, obs.features, obs.shots, 0).run_s - obs.run_s))
        prior_err.append(abs(spec.prior_run_s(obs.features, obs.shots) - obs.run_s))
    model_mae = sum(model_err) / len(model_err)
    prior_mae = sum(prior_err) / len(prior_err)
    assert model_mae < 0.5 * prior_mae, (model_mae, prior_mae)
    # The rolling residuals see the same improvement.
    for b in ("a", "b", "c"):
        assert p.residuals()[b]["n"] > 300


def test_queue_wait_learns_seconds_per_pending_job() -> None:
    spec = qpu("q", queue_s_per_pending_job=10.0)
    p = Predictor([spec])
    rng = random.Random(3)
    for _ in range(800):
        pending = rng.randint(1, 1000)
        p.learn(observation("q", pending_jobs=pending, queue_s=40.0 * pending))
    for pending in (20, 200, 900):
        got = p.predict(spec, GHZ5, 1000, pending).queue_s
        assert got == pytest.approx(40.0 * pending, rel=0.25)


def test_learn_returns_residuals_before_learning_and_tracks_rolling_mae() -> None:
    spec = sim("s", overhead_s=2.0)
    p = Predictor([spec], window=3)
    expected = []
    for i in range(6):
        before = p.predict(spec, GHZ5, 1000, 0)
        obs = observation("s", run_s=5.0 + i, error=0.2, price_usd=0.0)
        r = p.learn(obs)
        assert r["run_s"] == before.run_s - obs.run_s
        assert r["error"] == before.error - obs.error
        expected.append(abs(r["run_s"]))
    res = p.residuals()["s"]
    assert res["run_s"] == pytest.approx(sum(expected[-3:]) / 3)
    assert res["n"] == 6
    assert p.n_learned == 6
    assert p.version() == 6


def test_unknown_backend_telemetry_is_a_config_error() -> None:
    p = Predictor([sim("s")])
    with pytest.raises(ConfigError, match="unknown backend 'x'"):
        p.learn(observation("x"))


@pytest.mark.parametrize(
    "bad", [{"queue_s": float("nan")}, {"run_s": -1.0}, {"error": 1.5},
            {"price_usd": float("inf")}],
)
def test_malformed_telemetry_is_rejected_and_not_learned(bad: dict[str, float]) -> None:
    spec = sim("s")
    p = Predictor([spec])
    before = p.predict(spec, GHZ5, 100, 0)
    with pytest.raises(ValidationError, match="not learned"):
        p.learn(observation("s", **bad))
    assert p.n_learned == 0 and p.predict(spec, GHZ5, 100, 0) == before


def test_duplicate_backends_rejected() -> None:
    with pytest.raises(ConfigError):
        Predictor([sim("s"), sim("s")])


@settings(max_examples=40, deadline=None)
@given(
    obs=st.lists(
        st.tuples(st.sampled_from(["a", "b"]), features_st, st.integers(1, 10**6),
                  st.integers(0, 5000), st.floats(0, 1e6), st.floats(0, 1e5), st.floats(0, 1),
                  st.floats(0, 1e4)),
        max_size=25,
    ),
    f=features_st, shots=st.integers(1, 10**6), pending=st.integers(0, 10**4),
)
def test_predictions_are_sane_for_any_telemetry(obs, f, shots, pending) -> None:
    fleet = [qpu("a", per_second_usd=1.6), sim("b")]
    p = Predictor(fleet, warmup=0)
    for b, feats, n, pj, q, r, e, price in obs:
        p.learn(observation(b, features=feats, shots=n, pending_jobs=pj, queue_s=q, run_s=r,
                            error=e, price_usd=price))
    for spec in fleet:
        pred = p.predict(spec, f, shots, pending)
        for v in (pred.queue_s, pred.run_s, pred.price_usd):
            assert math.isfinite(v) and v >= 0.0
        assert 0.0 <= pred.error <= 1.0


@settings(max_examples=25, deadline=None)
@given(f=features_st, shots=st.integers(1, 10**6), pending=st.integers(0, 5000),
       seed=st.integers(0, 1000))
def test_snapshot_restore_round_trips_predictions_exactly(f, shots, pending, seed) -> None:
    fleet = [qpu("a"), sim("b")]
    p = Predictor(fleet)
    for obs in _run_time_stream(40, seed=seed, backends=["a", "b"]):
        p.learn(obs)
    q = Predictor.restore(p.snapshot(), fleet)
    for spec in fleet:
        assert q.predict(spec, f, shots, pending) == p.predict(spec, f, shots, pending)
    assert q.residuals() == p.residuals()
    assert (q.version(), q.n_learned) == (p.version(), p.n_learned)
    # Both keep learning identically.
    more = observation("a", run_s=3.0)
    assert q.learn(more) == p.learn(more)
    assert q.predict(fleet[0], f, shots, pending) == p.predict(fleet[0], f, shots, pending)


def test_restore_with_a_new_spec_adds_fresh_models_and_keeps_old_ones() -> None:
    fleet = [qpu("a"), sim("b")]
    p = Predictor(fleet)
    for obs in _run_time_stream(50, seed=5, backends=["a", "b"]):
        p.learn(obs)
    new = sim("c", overhead_s=4.0)
    q = Predictor.restore(p.snapshot(), [fleet[0], new])
    assert q.predict(fleet[0], GHZ5, 500, 3) == p.predict(fleet[0], GHZ5, 500, 3)
    fresh = q.predict(new, GHZ5, 500, 0)
    assert fresh.run_s == new.prior_run_s(GHZ5, 500)   # cold start: the prior
    assert q.residuals()["c"]["n"] == 0
    assert q.residuals()["a"]["n"] == p.residuals()["a"]["n"]
    q.learn(observation("c", run_s=9.0))      # the new backend learns
    q.learn(observation("b", run_s=9.0))      # the retired one still accepts late telemetry
    assert q.residuals()["c"]["n"] == 1


def test_restore_rejects_garbage() -> None:
    with pytest.raises(ConfigError):
        Predictor.restore(b"not a pickle", [sim("s")])


def test_set_spec_moves_the_prior_and_bumps_versions() -> None:
    spec = sim("s", overhead_s=1.0)
    p = Predictor([spec])
    v, bv = p.version(), p.backend_version("s")
    slower = sim("s", overhead_s=10.0)
    p.set_spec(slower)
    assert p.version() == v + 1 and p.backend_version("s") == bv + 1
    assert p.predict(slower, GHZ5, 10, 0).run_s == slower.prior_run_s(GHZ5, 10)
    p.set_spec(slower)                  # unchanged: no bump
    assert p.version() == v + 1


def test_learn_plus_predict_is_well_under_a_millisecond() -> None:
    fleet = [qpu(f"q{i}", per_second_usd=1.6) for i in range(6)]
    p = Predictor(fleet)
    obs = list(_run_time_stream(600, seed=7, backends=[s.name for s in fleet]))
    for o in obs[:100]:                 # warm caches and lazily built weights
        p.learn(o)
    t0 = time.perf_counter()
    for o in obs[100:]:
        p.learn(o)
        p.predict(fleet[0], o.features, o.shots, 10)
    per_event_us = (time.perf_counter() - t0) / 500 * 1e6
    assert per_event_us < 500, per_event_us
