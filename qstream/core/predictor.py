"""Per-backend online predictors of queue wait, run time, error and price.

A :class:`Predictor` holds, for every backend, four
:class:`~qstream.core.online_model.PriorAnchoredRegressor` (one per target) and a
rolling window of absolute prediction residuals. It learns test-then-train
(prequential evaluation, Dawid, "Statistical theory: the prequential approach",
JRSS A 147, 1984): every observation is first predicted, the residual recorded,
and only then learned, so :meth:`Predictor.residuals` is an honest online MAE.

Priors (cold start), all from :class:`~qstream.core.backend_spec.BackendSpec`:

============  =====================================================  =======
target        prior                                                  link
============  =====================================================  =======
``queue_s``   ``pending_jobs * queue_s_per_pending_job`` (Qonductor)  log1p
``run_s``     :meth:`BackendSpec.prior_run_s`                         log1p
``error``     ``1 - BackendSpec.prior_esp``                           logit
``price_usd`` ``prior_price_usd(shots, run_s)``                       log1p
============  =====================================================  =======

Features: :func:`~qstream.core.features.model_features` (log1p of qubits, depth,
two-qubit gates, gates and shots), ``log1p(pending_jobs)`` for the queue wait,
and the prior itself in link space (``prior_z``).

The price prior uses the *observed* run time when learning and the *predicted*
run time when predicting, so the price model learns the pricing rule, not the
run-time model's misses twice.
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from collections.abc import Sequence
from typing import Any

from river import base

from qstream.core.backend_spec import BackendSpec
from qstream.core.features import CircuitFeatures, model_features
from qstream.core.observation import ExecutionObservation
from qstream.core.online_model import Link, PriorAnchoredRegressor
from qstream.core.prediction import Prediction
from qstream.errors import ConfigError, ValidationError

TARGETS: tuple[str, ...] = ("queue_s", "run_s", "error", "price_usd")
_KINDS: dict[str, Link] = {"queue_s": "log1p", "run_s": "log1p", "error": "logit",
                           "price_usd": "log1p"}
_SNAPSHOT_FORMAT = 1


class _RollingMAE:
    """Mean absolute value of the last ``window`` residuals (O(1) per update)."""

    __slots__ = ("_buf", "_sum")

    def __init__(self, window: int) -> None:
        self._buf: deque[float] = deque(maxlen=window)
        self._sum = 0.0

    def update(self, residual: float) -> None:
        a = abs(residual)
        if len(self._buf) == self._buf.maxlen:
            self._sum -= self._buf[0]
        self._buf.append(a)
        self._sum += a

    def get(self) -> float:
        # Re-summing would cost O(window); the running sum drifts by ~1e-16 per step,
        # far below any residual we report.
        return self._sum / len(self._buf) if self._buf else 0.0


class _BackendModels:
    """The four target models of one backend plus its residual windows."""

    __slots__ = ("mae", "models", "n", "spec", "version")

    def __init__(self, spec: BackendSpec, template: base.Regressor | None, warmup: int,
                 level_rate: float, window: int) -> None:
        self.spec = spec
        self.models = {
            t: PriorAnchoredRegressor(
                template.clone() if template is not None else None, kind=_KINDS[t],
                warmup=warmup, level_rate=level_rate,
            )
            for t in TARGETS
        }
        self.mae = {t: _RollingMAE(window) for t in TARGETS}
        self.n = 0
        # Bumped on every learn or spec change of this backend only, so a cache of
        # predictions for the other backends survives one backend's telemetry.
        self.version = 0


class Predictor:
    """Online predictors of queue wait, run time, error and price for a fleet.

    Parameters
    ----------
    specs:
        The fleet. Backends seen later through :meth:`predict` or
        :meth:`set_spec` get fresh models.
    warmup:
        Observations after which model and prior weigh equally (``k`` in
        ``alpha = n / (n + k)``).
    window:
        Residuals kept per backend and target for the rolling MAE.
    level_rate:
        EWMA rate of each target's fast level (see
        :class:`~qstream.core.online_model.PriorAnchoredRegressor`).
    model:
        River regressor template (without intercept), cloned for every backend
        and target; ``None`` uses :func:`~qstream.core.online_model.default_model`.

    Raises
    ------
    ConfigError
        On duplicate backend names, ``window < 1``, ``warmup < 0`` or
        ``level_rate`` outside [0, 1].

    Examples
    --------
    >>> from qstream.core.backend_spec import BackendSpec
    >>> from qstream.core.features import CircuitFeatures
    >>> from qstream.core.observation import ExecutionObservation
    >>> spec = BackendSpec("sim", "simulator", 20, 10**6, job_overhead_s=2.0)
    >>> p = Predictor([spec], warmup=2)
    >>> f = CircuitFeatures(5, 6, 4, 5, 5, 5)
    >>> round(p.predict(spec, f, shots=1000, pending_jobs=0).run_s, 4)
    2.0012
    >>> r = p.learn(ExecutionObservation("sim", f, 1000, 0, queue_s=0.0, run_s=5.0,
    ...                                  error=0.01, price_usd=0.0))
    >>> round(r["run_s"], 4)          # predicted - actual, before learning
    -2.9988
    >>> p.version(), p.n_learned
    (1, 1)
    >>> p.predict(spec, f, 1000, 0).run_s > 2.0012
    True
    """

    def __init__(
        self,
        specs: Sequence[BackendSpec],
        *,
        warmup: int = 8,
        window: int = 100,
        level_rate: float = 0.2,
        model: base.Regressor | None = None,
    ) -> None:
        if window < 1:
            raise ConfigError(f"window must be >= 1, got {window}")
        if warmup < 0:
            raise ConfigError(f"warmup must be >= 0, got {warmup}")
        if not 0.0 <= level_rate <= 1.0:
            raise ConfigError(f"level_rate must be in [0, 1], got {level_rate}")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate backend names in {names}")
        self.warmup = warmup
        self.window = window
        self.level_rate = level_rate
        self.model = model
        self._backends: dict[str, _BackendModels] = {}
        self._version = 0
        self._n_learned = 0
        for spec in specs:
            self._backends[spec.name] = self._fresh(spec)

    def _fresh(self, spec: BackendSpec) -> _BackendModels:
        return _BackendModels(spec, self.model, self.warmup, self.level_rate, self.window)

    def _entry(self, spec: BackendSpec) -> _BackendModels:
        entry = self._backends.get(spec.name)
        if entry is None:
            entry = self._backends[spec.name] = self._fresh(spec)
        return entry

    # -- fleet -------------------------------------------------------------------------

    def set_spec(self, spec: BackendSpec) -> None:
        """Replace a backend's spec (e.g. a new calibration); its models are kept.

        The models learn corrections relative to the prior, so a recalibrated
        prior moves predictions at once while the learned correction carries over.
        Bumps :meth:`version` when the spec differs.
        """
        entry = self._entry(spec)
        if entry.spec != spec:
            entry.spec = spec
            entry.version += 1
            self._version += 1

    def backends(self) -> list[str]:
        """Names of the backends with models, in insertion order."""
        return list(self._backends)

    # -- predict / learn -------------------------------------------------------------

    @staticmethod
    def _queue_x(x: dict[str, float], pending_jobs: int) -> dict[str, float]:
        xq = dict(x)
        xq["log_pending_jobs"] = math.log1p(max(pending_jobs, 0))
        return xq

    def predict(
        self, spec: BackendSpec, features: CircuitFeatures, shots: int, pending_jobs: int
    ) -> Prediction:
        """Predict queue wait, run time, error and price of a circuit on ``spec``.

        Parameters
        ----------
        spec:
            The backend; its models are created on first sight.
        features, shots:
            What would run.
        pending_jobs:
            External jobs currently queued on the device.

        Returns
        -------
        Prediction
            ``queue_s``, ``run_s`` and ``price_usd`` >= 0, ``error`` in [0, 1].
        """
        entry = self._entry(spec)
        m = entry.models
        x = model_features(features, shots)
        queue_s = m["queue_s"].predict_one(
            self._queue_x(x, pending_jobs), max(pending_jobs, 0) * spec.queue_s_per_pending_job
        )
        run_s = m["run_s"].predict_one(x, spec.prior_run_s(features, shots))
        error = m["error"].predict_one(x, 1.0 - spec.prior_esp(features))
        price_usd = m["price_usd"].predict_one(x, spec.prior_price_usd(shots, run_s))
        return Prediction(queue_s=queue_s, run_s=run_s, error=error, price_usd=price_usd)

    def learn(self, obs: ExecutionObservation) -> dict[str, float]:
        """Learn one observation, test-then-train.

        Returns
        -------
        dict
            ``{"queue_s", "run_s", "error", "price_usd"}``: predicted minus observed,
            the prediction made *before* learning this observation.

        Raises
        ------
        ConfigError
            If ``obs.backend`` has never been seen (no spec to compute its prior).
        ValidationError
            If a time or price is negative or not finite, or ``error`` is outside
            [0, 1]; nothing is learned.
        """
        entry = self._backends.get(obs.backend)
        if entry is None:
            raise ConfigError(
                f"telemetry for unknown backend {obs.backend!r}; known: {sorted(self._backends)}"
            )
        bad = [
            f"{name}={value!r}"
            for name, value in (("queue_s", obs.queue_s), ("run_s", obs.run_s),
                                ("price_usd", obs.price_usd), ("error", obs.error))
            if not (math.isfinite(value) and value >= 0.0) or (name == "error" and value > 1.0)
        ]
        if bad:
            raise ValidationError(
                f"telemetry from {obs.backend} not learned: {', '.join(bad)}", reason="telemetry"
            )
        spec = entry.spec
        pred = self.predict(spec, obs.features, obs.shots, obs.pending_jobs)
        residuals = {
            "queue_s": pred.queue_s - obs.queue_s,
            "run_s": pred.run_s - obs.run_s,
            "error": pred.error - obs.error,
            "price_usd": pred.price_usd - obs.price_usd,
        }
        for target, r in residuals.items():
            entry.mae[target].update(r)
        m = entry.models
        x = model_features(obs.features, obs.shots)
        m["queue_s"].learn_one(
            self._queue_x(x, obs.pending_jobs),
            max(obs.pending_jobs, 0) * spec.queue_s_per_pending_job,
            obs.queue_s,
        )
        m["run_s"].learn_one(x, spec.prior_run_s(obs.features, obs.shots), obs.run_s)
        m["error"].learn_one(x, 1.0 - spec.prior_esp(obs.features), obs.error)
        m["price_usd"].learn_one(x, spec.prior_price_usd(obs.shots, obs.run_s), obs.price_usd)
        entry.n += 1
        entry.version += 1
        self._n_learned += 1
        self._version += 1
        return residuals

    # -- introspection ---------------------------------------------------------------

    def residuals(self) -> dict[str, dict[str, float]]:
        """Rolling MAE per backend and target over the last ``window`` observations.

        Returns
        -------
        dict
            ``backend -> {"queue_s", "run_s", "error", "price_usd", "n"}``; MAE in
            target units (0.0 before any observation), ``n`` observations learned.
        """
        out: dict[str, dict[str, float]] = {}
        for name, entry in self._backends.items():
            row = {t: entry.mae[t].get() for t in TARGETS}
            row["n"] = float(entry.n)
            out[name] = row
        return out

    @property
    def n_learned(self) -> int:
        """Observations learned over the predictor's lifetime (survives snapshots)."""
        return self._n_learned

    def version(self) -> int:
        """A counter bumped by every :meth:`learn` and every spec change.

        Predictions for a fixed (spec, features, shots, pending_jobs) change only
        when it changes, so callers may cache on it.
        """
        return self._version

    def backend_version(self, backend: str) -> int:
        """Like :meth:`version`, but only for ``backend`` (0 for an unseen backend).

        Predictions for ``backend`` change only when this changes.
        """
        entry = self._backends.get(backend)
        return entry.version if entry is not None else 0

    # -- persistence -----------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Serialise the whole state (models, residual windows, counters) with pickle.

        Only restore snapshots you produced: unpickling runs code.
        """
        state: dict[str, Any] = {
            "format": _SNAPSHOT_FORMAT,
            "warmup": self.warmup,
            "window": self.window,
            "level_rate": self.level_rate,
            "model": self.model,
            "backends": self._backends,
            "version": self._version,
            "n_learned": self._n_learned,
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, data: bytes, specs: Sequence[BackendSpec]) -> Predictor:
        """Rebuild a predictor from :meth:`snapshot` for a possibly changed fleet.

        Backends in both keep their models (with the new spec); backends only in
        ``specs`` get fresh models; backends only in the snapshot are kept with
        their old spec, so late telemetry from a retired backend is still learned.

        Raises
        ------
        ConfigError
            If ``data`` is not a predictor snapshot.
        """
        try:
            state = pickle.loads(data)  # our own format; see the docstring
        except Exception as exc:  # pickle raises many unrelated types
            raise ConfigError(f"not a Predictor snapshot: {exc}") from exc
        if not isinstance(state, dict) or state.get("format") != _SNAPSHOT_FORMAT:
            raise ConfigError("not a Predictor snapshot (unknown format)")
        self = cls([], warmup=state["warmup"], window=state["window"],
                   level_rate=state["level_rate"], model=state["model"])
        self._backends = state["backends"]
        self._version = state["version"]
        self._n_learned = state["n_learned"]
        for spec in specs:
            self.set_spec(spec)
        return self
