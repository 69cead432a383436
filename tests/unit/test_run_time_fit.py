"""RunTimeFit: recovers IBM's QPU-time coefficients, stays non-negative, finite and bounded."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls

from qstream.core.run_time_fit import RunTimeFit, nnls3, qpu_time_terms
from qstream.core.trace import TraceJob
from qstream.core.trace_model import OnlineTraceModel
from qstream.errors import ConfigError

#: 3 s overhead, 250 µs per shot, 1.2 µs per shot and layer: a heavy-hex device.
TRUE = (3.0, 2.5e-4, 1.2e-6)


def _configs(n: int, seed: int) -> list[tuple[int, int, int]]:
    rng = random.Random(seed)
    return [(rng.choice([1, 2, 5]), rng.choice([100, 1000, 4000, 20000]), rng.randint(0, 300))
            for _ in range(n)]


def _run_s(coef: tuple[float, float, float], nc: int, shots: int, depth: int) -> float:
    a, b, c = coef
    return a + b * nc * shots + c * nc * shots * depth


@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("forgetting", [1.0, 0.99])
def test_recovers_known_coefficients_on_noiseless_data(relative: bool, forgetting: float) -> None:
    fit = RunTimeFit(forgetting, relative=relative)
    for nc, shots, depth in _configs(300, seed=1):
        fit.learn_one(nc, shots, depth, _run_s(TRUE, nc, shots, depth))
    for got, want in zip(fit.coef, TRUE, strict=True):
        assert got == pytest.approx(want, rel=1e-5)
    assert fit.predict_one(3, 7000, 42) == pytest.approx(_run_s(TRUE, 3, 7000, 42), rel=1e-6)


def test_recovers_coefficients_under_multiplicative_noise() -> None:
    rng = random.Random(2)
    fit = RunTimeFit(1.0)
    for nc, shots, depth in _configs(2000, seed=3):
        fit.learn_one(nc, shots, depth, _run_s(TRUE, nc, shots, depth) * rng.lognormvariate(0.0, 0.05))
    for got, want in zip(fit.coef, TRUE, strict=True):
        assert got == pytest.approx(want, rel=0.05)


def test_no_prediction_before_min_labels() -> None:
    fit = RunTimeFit(min_labels=5)
    for i, (nc, shots, depth) in enumerate(_configs(5, seed=4)):
        assert fit.predict_one(1, 1000, 10) is None, i
        fit.learn_one(nc, shots, depth, _run_s(TRUE, nc, shots, depth))
    assert fit.predict_one(1, 1000, 10) == pytest.approx(_run_s(TRUE, 1, 1000, 10), rel=1e-4)


def test_coefficients_that_the_data_push_negative_are_zero_and_optimal() -> None:
    # Non-physical data: the run time falls with the shots. The fit must not return a
    # negative per-shot time, and what it returns must be the non-negative optimum.
    configs = _configs(200, seed=5)
    y = [20.0 - 1e-4 * nc * shots + 1e-6 * nc * shots * depth for nc, shots, depth in configs]
    fit = RunTimeFit(1.0, relative=False)
    for (nc, shots, depth), v in zip(configs, y, strict=True):
        fit.learn_one(nc, shots, depth, v)
    assert min(fit.coef) >= 0.0 and fit.coef[1] == 0.0
    x = np.array([qpu_time_terms(*c) for c in configs])
    ref, _ = nnls(x, np.array(y))
    obj = float(np.sum((x @ np.array(fit.coef) - y) ** 2))
    assert obj <= float(np.sum((x @ ref - y) ** 2)) * (1.0 + 1e-6)


def test_forgetting_follows_a_calibration_change() -> None:
    # The gate time doubles (a new calibration) after 300 jobs: with forgetting 0.99 the
    # fit has followed 600 jobs later (0.99**600 = 0.2% weight left on the old regime);
    # without forgetting it averages the two regimes.
    after = (TRUE[0], TRUE[1], 2 * TRUE[2])
    fits = {lam: RunTimeFit(lam) for lam in (0.99, 1.0)}
    for k, (nc, shots, depth) in enumerate(_configs(900, seed=6)):
        y = _run_s(TRUE if k < 300 else after, nc, shots, depth)
        for fit in fits.values():
            fit.learn_one(nc, shots, depth, y)
    assert fits[0.99].coef[2] == pytest.approx(after[2], rel=0.01)
    assert abs(fits[1.0].coef[2] / after[2] - 1.0) > 0.1


def test_a_zero_second_label_weighs_like_any_other() -> None:
    # Relative weights use max(label, fit): a 0 s row (a bad record) gets the weight of
    # a normal row, not 1 / floor_s**2, which would drag the overhead to 0.
    fit = RunTimeFit(1.0)
    for nc, shots, depth in _configs(200, seed=7):
        fit.learn_one(nc, shots, depth, _run_s(TRUE, nc, shots, depth))
    fit.learn_one(1, 1000, 10, 0.0)
    assert fit.coef[0] == pytest.approx(TRUE[0], rel=0.02)


def test_divergence_guard_bounds_extrapolation() -> None:
    fit = RunTimeFit(max_ratio=10.0)
    for nc, shots, depth in _configs(50, seed=8):
        fit.learn_one(nc, shots, depth, _run_s(TRUE, nc, shots, depth))
    hi = max(_run_s(TRUE, *c) for c in _configs(50, seed=8))
    assert fit.predict_one(1000, 10**6, 10**4) == pytest.approx(10.0 * hi)


def test_bad_settings_raise() -> None:
    for kwargs in ({"forgetting": 0.0}, {"forgetting": 1.5}, {"min_labels": 0}, {"floor_s": 0.0},
                   {"max_ratio": 0.5}):
        with pytest.raises(ConfigError):
            RunTimeFit(**kwargs)  # type: ignore[arg-type]


labels = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0),
                   st.floats(min_value=0.0, max_value=1e6))
rows = st.tuples(st.integers(1, 10**6), st.integers(1, 10**180), st.integers(0, 10**9), labels)


@settings(max_examples=200, deadline=None)
@given(st.lists(rows, max_size=40), st.tuples(st.integers(1, 10**6), st.integers(1, 10**180),
                                             st.integers(0, 10**9)))
def test_never_negative_or_nan_on_adversarial_input(data: list[tuple[int, int, int, float]],
                                                   query: tuple[int, int, int]) -> None:
    fit = RunTimeFit(min_labels=1)
    for nc, shots, depth, y in data:
        fit.learn_one(nc, shots, depth, y)
        assert all(math.isfinite(c) and c >= 0.0 for c in fit.coef), fit.coef
        p = fit.predict_one(*query)
        assert p is None or (math.isfinite(p) and p >= 0.0), p


# Entries 0 or of magnitude 1e-6 .. 1e3: squares of subnormal floats underflow to 0.
entry = st.floats(-1e3, 1e3).map(lambda v: 0.0 if abs(v) < 1e-6 else v)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(entry, entry, entry, entry), min_size=1, max_size=12))
def test_nnls3_matches_scipy_nnls(rows3: list[tuple[float, float, float, float]]) -> None:
    x = np.array([r[:3] for r in rows3])
    y = np.array([r[3] for r in rows3])
    g = x.T @ x
    h = x.T @ y
    beta = np.array(nnls3((g[0, 0], g[0, 1], g[0, 2], g[1, 1], g[1, 2], g[2, 2]), tuple(h)))
    assert np.all(beta >= 0.0) and np.all(np.isfinite(beta))
    ref, _ = nnls(x, y)
    ours, best = float(np.sum((x @ beta - y) ** 2)), float(np.sum((x @ ref - y) ** 2))
    # nnls3 solves the ridge problem (1e-9 on the unit-diagonal scaled equations), whose
    # optimum is at most 1e-9 |u*|**2 worse, u* = the optimum in scaled coordinates.
    u_ref = ref * np.sqrt(np.diag(g))
    assert ours <= best + 1e-9 * float(u_ref @ u_ref) + 1e-9 * (1.0 + float(y @ y))


def test_online_model_uses_the_median_until_the_fit_has_min_labels() -> None:
    # With warm-up and repeat weight so large that neither the regressor nor the repeat
    # memory move the prediction, it is the prior: the median, then the fit.
    model = OnlineTraceModel(warmup=10**9, repeat_weight=1e9, physics=RunTimeFit(min_labels=5),
                             select_rate=None)
    query = TraceJob(2, 0.0, "ibm_a", 1, 20000, 5, 200)
    seen = []
    for nc, shots, depth in [(1, 100, 5), (1, 1000, 50), (2, 4000, 10), (1, 2000, 100), (5, 100, 0)]:
        model.learn(TraceJob(3, 0.0, "ibm_a", nc, shots, 5, depth), _run_s(TRUE, nc, shots, depth))
        seen.append(_run_s(TRUE, nc, shots, depth))
        if len(seen) < 5:
            assert model.predict(query)[0] == pytest.approx(float(np.median(seen)), rel=1e-6)
    assert model.predict(query)[0] == pytest.approx(_run_s(TRUE, 1, 20000, 200), rel=1e-4)
