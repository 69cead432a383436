"""qstream.core.optimizers: ask/tell SPSA and COBYLA, JSON state and exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import minimize

from qstream.core.optimizers import Cobyla, Spsa, from_state, make_optimizer

TARGET = np.array([1.0, -2.0, 0.5, 3.0])
WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0])


def quadratic(x: list[float]) -> float:
    """4-D ill-scaled quadratic, minimum 0 at TARGET."""
    return float(np.sum(WEIGHTS * (np.asarray(x) - TARGET) ** 2))


def _run(opt: Spsa | Cobyla, f) -> int:
    asks = 0
    while not opt.done:
        opt.tell([f(x) for x in opt.ask()])
        asks += 1
    return asks


def _round_trip(opt: Spsa | Cobyla) -> Spsa | Cobyla:
    return from_state(json.loads(json.dumps(opt.state(), allow_nan=False)))


def test_spsa_minimises_a_4d_quadratic() -> None:
    opt = make_optimizer("spsa", [0.0] * 4, max_iterations=300, seed=3, a=0.1)
    assert _run(opt, quadratic) == 300 and len(opt.history) == 300
    assert np.max(np.abs(np.array(opt.x) - TARGET)) < 0.06   # the iterate
    assert opt.best_value < 0.05                             # the best evaluated point
    assert quadratic(opt.best_x) == opt.best_value
    assert opt.history[-1] < opt.history[0] / 100


def test_cobyla_minimises_a_4d_quadratic() -> None:
    opt = make_optimizer("cobyla", [0.0] * 4, max_iterations=120, rhobeg=1.0, tol=1e-4)
    evaluations = _run(opt, quadratic)
    assert evaluations < 120                      # stopped on its trust radius, not the cap
    assert np.max(np.abs(np.array(opt.best_x) - TARGET)) < 1e-3
    assert opt.best_value < 1e-6
    assert opt.history == [quadratic(x) for x, _ in opt.evaluated]


def test_cobyla_asks_exactly_the_points_scipy_evaluates() -> None:
    seen: list[list[float]] = []

    def recording(x: np.ndarray) -> float:
        seen.append([float(v) for v in x])
        return quadratic(x)

    minimize(recording, np.zeros(4), method="COBYLA", tol=1e-4, options={"maxiter": 40, "rhobeg": 1.0})
    opt = make_optimizer("cobyla", [0.0] * 4, max_iterations=40, rhobeg=1.0, tol=1e-4)
    asked = []
    while not opt.done:
        (x,) = opt.ask()
        asked.append(x)
        opt.tell([quadratic(x)])
    assert asked == seen


@pytest.mark.parametrize(("name", "options", "stops"), [
    ("spsa", {"a": 0.1, "c": 0.2}, (0, 1, 7, 25, 39)),
    ("cobyla", {"rhobeg": 1.0}, (0, 1, 7, 25, 39)),
])
def test_resumed_optimiser_asks_exactly_the_same_points(name: str, options: dict, stops: tuple) -> None:
    original = make_optimizer(name, [0.3, -0.2, 0.1, 0.0], max_iterations=40, seed=11, **options)
    for k in range(40):
        if k in stops:
            resumed = _round_trip(original)
            assert resumed.state() == original.state()
            assert resumed.ask() == original.ask()
            # the resumed one continues on exactly the same path
            for _ in range(3):
                if original.done:
                    break
                points = original.ask()
                assert resumed.ask() == points
                values = [quadratic(x) for x in points]
                resumed.tell(values)
                original.tell(values)
            assert resumed.state() == original.state()
        if original.done:
            break
        original.tell([quadratic(x) for x in original.ask()])


def test_state_is_plain_json_and_round_trips() -> None:
    for name in ("spsa", "cobyla"):
        opt = make_optimizer(name, [0.5, 0.5], max_iterations=5, seed=1)
        fresh = _round_trip(opt)
        assert fresh.best_x is None and fresh.best_value == float("inf")
        _run(opt, quadratic_2d := lambda x: float((x[0] - 1) ** 2 + x[1] ** 2))
        state = opt.state()
        assert json.loads(json.dumps(state, allow_nan=False)) == state
        again = _round_trip(opt)
        assert again.done and again.ask() == []
        assert (again.best_x, again.best_value, again.history) == (opt.best_x, opt.best_value, opt.history)
        assert quadratic_2d(again.best_x) == again.best_value


def test_spsa_perturbations_come_from_seed_and_iteration() -> None:
    a = make_optimizer("spsa", [0.0] * 6, max_iterations=10, seed=1)
    b = make_optimizer("spsa", [0.0] * 6, max_iterations=10, seed=1)
    c = make_optimizer("spsa", [0.0] * 6, max_iterations=10, seed=2)
    assert a.ask() == b.ask() != c.ask()
    plus, minus = a.ask()
    assert np.allclose(np.abs(plus), 0.1) and np.allclose(np.array(plus), -np.array(minus))  # c_0 = c


def test_misuse_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adam", [0.0], max_iterations=3)
    with pytest.raises(ValueError, match="max_iterations"):
        make_optimizer("spsa", [0.0], max_iterations=0)
    with pytest.raises(ValueError, match="finite"):
        make_optimizer("cobyla", [float("nan")], max_iterations=3)
    with pytest.raises(TypeError):
        make_optimizer("cobyla", [0.0], max_iterations=3, a=0.1)
    opt = make_optimizer("spsa", [0.0], max_iterations=1)
    with pytest.raises(ValueError, match="asked 2 points"):
        opt.tell([1.0])
    with pytest.raises(ValueError, match="finite"):
        opt.tell([1.0, float("inf")])
    opt.tell([1.0, 2.0])
    with pytest.raises(ValueError, match="done"):
        opt.tell([1.0, 2.0])
    with pytest.raises(ValueError, match="unknown optimizer"):
        from_state({"name": "nope"})
