"""Each policy by name, with the estimator it scores with in the simulator.

=====================  ==============================================================
policy                 estimator
=====================  ==============================================================
``round-robin``,       :class:`~qstream.core.estimators.CalibrationEstimator` (the
``random``,            choice ignores it; it only feeds the scheduler's backlog
``shortest-queue``,    accounting and decision records)
``best-fidelity``      calibration ESP of the published calibration of the day
``qonductor``          ``CalibrationEstimator`` with an offline run-time regressor
                       (scikit-learn ``HistGradientBoostingRegressor``, as
                       Qonductor's estimator) trained before the run on a history of
                       executions drawn from the same world
``predictive``,        qstream's online :class:`~qstream.core.predictor.Predictor`,
``predictive-realloc`` cold at the start of the run, learning from every execution
``ahmo``, ``anneal``   (``anneal`` gets dwave-samplers' annealer attached,
                       :func:`qstream.solvers.assignment.annealer`)
``oracle``             :class:`~qstream.core.estimators.OracleEstimator` on the
                       world's true expected queue wait, run time and error
=====================  ==============================================================

The baselines get the status every policy gets in the live pipeline (pending
jobs, operational flags, daily calibrations); they never learn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qstream.core.backend_spec import BackendSpec
from qstream.core.estimators import CalibrationEstimator, Estimator, OracleEstimator
from qstream.core.features import CircuitFeatures, model_features
from qstream.core.policies import PREDICTOR_POLICIES, PlacementPolicy, make_policy
from qstream.core.predictor import Predictor
from qstream.sim.world import World

HISTORY_JOBS = 2000
"""Executions in Qonductor's offline training history (drawn from the simulated world)."""


@dataclass(slots=True)
class Built:
    """A policy ready for a run: the decision rule, its estimator, and a truth-change hook."""

    policy: PlacementPolicy
    estimator: Estimator
    on_truth_change: Callable[[], None] | None = None


def _row(spec_index: int, features: CircuitFeatures, shots: int) -> list[float]:
    x = model_features(features, shots)
    return [float(spec_index), *x.values()]


class OfflineRunTimeModel:
    """Qonductor-style offline run-time regressor: gradient-boosted trees on log features.

    Fitted once on ``(backend, features, shots) -> run_s`` rows, in log1p space,
    with the backend as a categorical feature; it never updates afterwards.
    Predictions are memoised (the scheduler asks for the same shapes often).
    """

    def __init__(self, specs: Sequence[BackendSpec], seed: int = 0) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        self._index = {s.name: i for i, s in enumerate(specs)}
        self._model = HistGradientBoostingRegressor(
            categorical_features=[0], random_state=seed, max_iter=200)
        self._memo: dict[tuple[str, CircuitFeatures, int], float] = {}

    def fit(self, rows: Sequence[tuple[str, CircuitFeatures, int, float]]) -> OfflineRunTimeModel:
        x = np.array([_row(self._index[b], f, shots) for b, f, shots, _ in rows])
        y = np.log1p(np.array([r for *_, r in rows]))
        self._model.fit(x, y)
        return self

    def prefill(self, shapes: Sequence[tuple[CircuitFeatures, int]]) -> OfflineRunTimeModel:
        """Predict every (backend, shape) in one batch (one sklearn call instead of thousands)."""
        keys = [(name, f, shots) for name in self._index for f, shots in set(shapes)
                if (name, f, shots) not in self._memo]
        if keys:
            x = np.array([_row(self._index[b], f, shots) for b, f, shots in keys])
            for key, z in zip(keys, self._model.predict(x), strict=True):
                self._memo[key] = max(math.expm1(float(z)), 0.0)
        return self

    def __call__(self, spec: BackendSpec, features: CircuitFeatures, shots: int) -> float:
        key = (spec.name, features, shots)
        hit = self._memo.get(key)
        if hit is None:
            z = float(self._model.predict(np.array([_row(self._index[spec.name], features, shots)]))[0])
            hit = self._memo[key] = max(math.expm1(z), 0.0)
        return hit


def qonductor_history(specs: Sequence[BackendSpec], world: World,
                      circuits: Sequence[CircuitFeatures], shots: Sequence[int], *,
                      n: int = HISTORY_JOBS, seed: int = 0
                      ) -> list[tuple[str, CircuitFeatures, int, float]]:
    """``n`` past executions (backend, features, shots, observed run_s) drawn from ``world``.

    Backends are drawn uniformly among those that can run the circuit; times
    uniformly over the first 10 simulated days, so drift is in the history.
    """
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x9C0])
    rows: list[tuple[str, CircuitFeatures, int, float]] = []
    while len(rows) < n:
        f = circuits[int(rng.integers(len(circuits)))]
        ok = [s for s in specs if s.can_run(f) is None]
        if not ok:
            continue
        spec = ok[int(rng.integers(len(ok)))]
        sh = int(shots[int(rng.integers(len(shots)))])
        t = float(rng.uniform(0.0, 10 * 86_400.0))
        run_s = world.sample_run_s(spec.name, f, sh, t, key=f"history/{len(rows)}")
        rows.append((spec.name, f, sh, run_s))
    return rows


def build(name: str, specs: Sequence[BackendSpec], world: World, clock: Callable[[], float], *,
          seed: int = 0, history: Sequence[tuple[str, CircuitFeatures, int, float]] = (),
          shapes: Sequence[tuple[CircuitFeatures, int]] = ()) -> Built:
    """The policy ``name`` with its estimator (see the module table).

    Parameters
    ----------
    clock:
        Current simulation time (the oracle's truth depends on it).
    history:
        Qonductor's training rows (:func:`qonductor_history`); required for ``qonductor``.
    shapes:
        ``(features, shots)`` the workload will ask about, predicted in one batch
        up front by Qonductor's regressor (others are predicted on demand).

    Raises
    ------
    qstream.errors.ConfigError
        On an unknown policy name, or ``qonductor`` without a history.
    """
    from qstream.errors import ConfigError

    policy = make_policy(name, seed=seed)
    if name == "anneal":
        from qstream.solvers.assignment import annealer

        policy.solver = annealer()  # type: ignore[attr-defined]
    if name in PREDICTOR_POLICIES:
        return Built(policy, Predictor(specs))
    if name == "oracle":
        oracle = OracleEstimator(lambda spec, f, shots, pj: world.truth(spec, f, shots, pj, clock()))
        return Built(policy, oracle, oracle.invalidate)
    if name == "qonductor":
        if not history:
            raise ConfigError("the qonductor policy needs a run-time history to train on")
        model = OfflineRunTimeModel(specs, seed).fit(history).prefill(shapes)
        return Built(policy, CalibrationEstimator(model))
    return Built(policy, CalibrationEstimator())
