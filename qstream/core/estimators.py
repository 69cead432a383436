"""What a scheduler asks for a prediction: the :class:`Estimator` protocol and non-learning estimators.

The scheduler scores every candidate backend with an estimator. qstream's own
is the online :class:`~qstream.core.predictor.Predictor`; the baselines of the
simulator use the estimators here, which never learn:

- :class:`CalibrationEstimator`: the physics priors of a
  :class:`~qstream.core.backend_spec.BackendSpec` (queue wait = pending jobs x a
  constant, run time from IBM's QPU-time model, error = 1 - calibration ESP).
  With an offline run-time model plugged in it is Qonductor's estimator
  (Giortamis et al., "Qonductor: A Cloud Orchestrator for Quantum Computing",
  SC'25: offline regressor for run time, ``pending_jobs * 10 s`` for queue wait,
  calibration ESP for fidelity).
- :class:`OracleEstimator`: clairvoyant, it answers with whatever ground truth
  the caller hands it (the discrete-event simulator's true models); the limit
  every policy is measured against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from qstream.core.backend_spec import BackendSpec
from qstream.core.features import CircuitFeatures
from qstream.core.prediction import Prediction

RunTimeModel = Callable[[BackendSpec, CircuitFeatures, int], float]
"""``(spec, features, shots) -> run_s``: an offline run-time model (seconds)."""

TruthModel = Callable[[BackendSpec, CircuitFeatures, int, int], Prediction]
"""``(spec, features, shots, pending_jobs) -> Prediction``: ground truth (expected values)."""


@runtime_checkable
class Estimator(Protocol):
    """Predicts queue wait, run time, error and price of a circuit on a backend.

    ``version()`` / ``backend_version(name)`` must change whenever a prediction
    for fixed arguments could change, so the scheduler may cache on them.
    """

    def predict(
        self, spec: BackendSpec, features: CircuitFeatures, shots: int, pending_jobs: int
    ) -> Prediction: ...

    def version(self) -> int: ...

    def backend_version(self, backend: str) -> int: ...

    def set_spec(self, spec: BackendSpec) -> None: ...


class _Versioned:
    """Version counters, bumped on spec changes and by :meth:`invalidate`."""

    def __init__(self) -> None:
        self._version = 0
        self._epoch = 0  # bumped for all backends at once
        self._backend_version: dict[str, int] = {}
        self._specs: dict[str, BackendSpec] = {}

    def version(self) -> int:
        return self._version

    def backend_version(self, backend: str) -> int:
        return self._backend_version.get(backend, 0) + self._epoch

    def set_spec(self, spec: BackendSpec) -> None:
        if self._specs.get(spec.name) != spec:
            self._specs[spec.name] = spec
            self.invalidate(spec.name)

    def invalidate(self, backend: str | None = None) -> None:
        """Mark predictions stale, for one backend or (``None``) for all."""
        self._version += 1
        if backend is None:
            self._epoch += 1
        else:
            self._backend_version[backend] = self._backend_version.get(backend, 0) + 1


class CalibrationEstimator(_Versioned):
    """Static estimates from the backend spec: no learning, no telemetry.

    Parameters
    ----------
    run_time_model:
        Offline run-time model ``(spec, features, shots) -> run_s``; ``None`` uses
        :meth:`BackendSpec.prior_run_s`.

    Examples
    --------
    >>> from qstream.core.backend_spec import BackendSpec, CalibrationSummary, Pricing
    >>> cal = CalibrationSummary(3e-4, 8e-3, 2e-2, 2e-4, 1.5e-4, 5e-7)
    >>> spec = BackendSpec("q", "qpu", 7, 10**5, calibration=cal, job_overhead_s=3.0,
    ...                    rep_delay_s=2.5e-4, queue_s_per_pending_job=10.0,
    ...                    pricing=Pricing(per_second_usd=1.6))
    >>> p = CalibrationEstimator().predict(spec, CircuitFeatures(5, 6, 4, 5, 5, 5), 1000, 12)
    >>> p.queue_s, round(p.run_s, 3), round(p.error, 3), round(p.price_usd, 3)
    (120.0, 3.253, 0.169, 5.205)
    >>> CalibrationEstimator(lambda spec, f, shots: 1.0).predict(
    ...     spec, CircuitFeatures(5, 6, 4, 5, 5, 5), 1000, 0).run_s
    1.0
    """

    def __init__(self, run_time_model: RunTimeModel | None = None) -> None:
        super().__init__()
        self.run_time_model = run_time_model

    def predict(
        self, spec: BackendSpec, features: CircuitFeatures, shots: int, pending_jobs: int
    ) -> Prediction:
        if self.run_time_model is None:
            run_s = spec.prior_run_s(features, shots)
        else:
            run_s = max(float(self.run_time_model(spec, features, shots)), 0.0)
        return Prediction(
            queue_s=max(pending_jobs, 0) * spec.queue_s_per_pending_job,
            run_s=run_s,
            error=1.0 - spec.prior_esp(features),
            price_usd=spec.prior_price_usd(shots, run_s),
        )


class OracleEstimator(_Versioned):
    """Clairvoyant estimates: the ground truth the caller supplies.

    ``truth`` reads the simulator's true (expected) queue wait, run time, error
    and price; call :meth:`invalidate` whenever that truth changes (a slowdown,
    a new calibration day), so caches keyed on :meth:`version` are dropped.

    Examples
    --------
    >>> from qstream.core.backend_spec import BackendSpec
    >>> spec = BackendSpec("s", "simulator", 20, 10**6)
    >>> o = OracleEstimator(lambda spec, f, shots, pj: Prediction(1.0, 2.0, 0.0, 0.0))
    >>> o.predict(spec, CircuitFeatures(5, 6, 4, 5, 5, 5), 100, 0).run_s
    2.0
    >>> o.invalidate(); o.version()
    1
    """

    def __init__(self, truth: TruthModel) -> None:
        super().__init__()
        self.truth = truth

    def predict(
        self, spec: BackendSpec, features: CircuitFeatures, shots: int, pending_jobs: int
    ) -> Prediction:
        return self.truth(spec, features, shots, pending_jobs)
