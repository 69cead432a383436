"""Online models of each configuration family's run time and accuracy.

One pair of :class:`~qstream.core.online_model.PriorAnchoredRegressor` per solver
(the *family*: ``exact``, ``simulated_annealing``, ``qaoa``, ...), anchored on the
documented priors of :mod:`qstream.core.selection.priors`, learning from every finished
solve (:meth:`SelectionModel.learn_one`), test-then-train as
:class:`~qstream.core.predictor.Predictor` does:

==============  ==============================================  =======
target          prior                                           link
==============  ==============================================  =======
``run_ms``      ``ConfigPrior.run_s`` in milliseconds            log1p
``error``       ``1 - ConfigPrior.accuracy``                     logit
==============  ==============================================  =======

Run time is learned in milliseconds so that ``log1p`` is a log for every solve that
matters (a 5 ms annealing run and a 5 min QAOA loop alike); for quantum
configurations it is the device run time summed over the jobs (queue wait is the
:class:`~qstream.core.predictor.Predictor`'s). Features: one-hot problem kind and
backend, ``log1p(size)``, density and ``log1p(iterations)``
plus the prior in link space.

Examples
--------
>>> from qstream.core.problems import MaxCut
>>> from qstream.core.selection.candidates import Configuration
>>> from qstream.core.selection.priors import ConfigPrior
>>> m = SelectionModel(warmup=1)
>>> p, cfg = MaxCut(4, ((0, 1, 1.0), (1, 2, 1.0))), Configuration("local_search", "cpu", "classical")
>>> prior = ConfigPrior(0.0, run_s=0.010, accuracy=0.97, price_usd=0.0, memory_bytes=0, iterations=40)
>>> m.predict(p, cfg, prior)
(0.01, 0.97)
>>> for _ in range(20):
...     _ = m.learn_one(SolveObservation.of(p, cfg, prior, run_s=0.040, accuracy=1.0))
>>> run_s, accuracy = m.predict(p, cfg, prior)
>>> run_s > 0.03, accuracy > 0.99, m.n_learned
(True, True, 20)
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from typing import Any

from river import base

from qstream.core.online_model import PriorAnchoredRegressor
from qstream.core.problems import Problem
from qstream.core.selection.candidates import Configuration
from qstream.core.selection.priors import ConfigPrior
from qstream.errors import ConfigError, ValidationError

__all__ = ["SelectionModel", "SolveObservation"]

_SNAPSHOT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class SolveObservation:
    """One finished solve, as telemetry reports it.

    Attributes
    ----------
    kind, size, density:
        The problem's kind, size and density.
    configuration:
        What ran.
    iterations:
        Outer steps it ran.
    run_s:
        Realised run time, seconds (quantum: device run time over all jobs).
    accuracy:
        Realised approximation ratio in [0, 1].
    prior_run_s, prior_accuracy:
        The configuration's documented prior for this problem (what the models correct).
    """

    kind: str
    size: int
    density: float
    configuration: Configuration
    iterations: int
    run_s: float
    accuracy: float
    prior_run_s: float
    prior_accuracy: float

    @classmethod
    def of(cls, problem: Problem, configuration: Configuration, prior: ConfigPrior, *,
           run_s: float, accuracy: float, iterations: int | None = None) -> SolveObservation:
        """Build from the problem, the prior used at selection and what was realised."""
        return cls(problem.kind, problem.size, float(problem.density), configuration,
                   prior.iterations if iterations is None else iterations, run_s, accuracy,
                   prior.run_s, prior.accuracy)


def _features(kind: str, size: int, density: float, iterations: int, backend: str) -> dict[str, float]:
    x = {"log_size": math.log1p(size), "density": density,
         "log_iterations": math.log1p(max(iterations, 0))}
    x[f"kind={kind}"] = 1.0
    x[f"backend={backend}"] = 1.0
    return x


class SelectionModel:
    """Per-family online models of run time and accuracy (module docstring).

    Parameters
    ----------
    warmup, level_rate:
        As :class:`~qstream.core.online_model.PriorAnchoredRegressor` (credibility
        ``n / (n + warmup)``; fast level rate).
    model:
        River regressor template (no intercept), cloned per family and target; ``None``
        uses :func:`~qstream.core.online_model.default_model`.

    Raises
    ------
    ConfigError
        On ``warmup < 0`` or ``level_rate`` outside [0, 1].
    """

    def __init__(self, *, warmup: int = 4, level_rate: float = 0.2,
                 model: base.Regressor | None = None) -> None:
        if warmup < 0 or not 0.0 <= level_rate <= 1.0:
            raise ConfigError(f"need warmup >= 0 and level_rate in [0, 1], got {warmup}, {level_rate}")
        self.warmup = warmup
        self.level_rate = level_rate
        self.model = model
        self._families: dict[str, dict[str, PriorAnchoredRegressor]] = {}
        self._n_learned = 0

    def _family(self, solver: str) -> dict[str, PriorAnchoredRegressor]:
        fam = self._families.get(solver)
        if fam is None:
            def make(kind: Any) -> PriorAnchoredRegressor:
                template = None if self.model is None else self.model.clone()
                return PriorAnchoredRegressor(template, kind=kind, warmup=self.warmup,
                                              level_rate=self.level_rate)
            fam = self._families[solver] = {"run_ms": make("log1p"), "error": make("logit")}
        return fam

    def families(self) -> list[str]:
        """Solver families with models, in the order first seen."""
        return list(self._families)

    @property
    def n_learned(self) -> int:
        """Solves learned over the model's lifetime (survives snapshots)."""
        return self._n_learned

    def _predict(self, solver: str, x: dict[str, float], prior_run_s: float,
                 prior_accuracy: float) -> tuple[float, float]:
        fam = self._family(solver)
        run_ms = fam["run_ms"].predict_one(x, 1000.0 * prior_run_s)
        error = fam["error"].predict_one(x, 1.0 - prior_accuracy)
        return run_ms / 1000.0, min(max(1.0 - error, 0.0), 1.0)

    def predict(self, problem: Problem, configuration: Configuration,
                prior: ConfigPrior) -> tuple[float, float]:
        """Predicted ``(run_s, accuracy)`` of ``configuration`` on ``problem``.

        Cold (no solve of that family learned) it returns the prior's values.
        """
        x = _features(problem.kind, problem.size, float(problem.density), prior.iterations,
                      configuration.backend)
        return self._predict(configuration.solver, x, prior.run_s, prior.accuracy)

    def learn_one(self, obs: SolveObservation) -> dict[str, float]:
        """Learn one finished solve, test-then-train.

        Returns
        -------
        dict
            ``{"run_s", "accuracy"}``: predicted minus realised, before learning.

        Raises
        ------
        ValidationError
            If ``run_s`` is negative or not finite, or ``accuracy`` is outside [0, 1];
            nothing is learned.
        """
        if not (math.isfinite(obs.run_s) and obs.run_s >= 0.0
                and math.isfinite(obs.accuracy) and 0.0 <= obs.accuracy <= 1.0):
            raise ValidationError(f"solve of {obs.configuration.key} not learned: run_s={obs.run_s!r}, "
                                  f"accuracy={obs.accuracy!r}", reason="telemetry")
        x = _features(obs.kind, obs.size, obs.density, obs.iterations, obs.configuration.backend)
        run_s, accuracy = self._predict(obs.configuration.solver, x, obs.prior_run_s, obs.prior_accuracy)
        fam = self._family(obs.configuration.solver)
        fam["run_ms"].learn_one(x, 1000.0 * obs.prior_run_s, 1000.0 * obs.run_s)
        fam["error"].learn_one(x, 1.0 - obs.prior_accuracy, 1.0 - obs.accuracy)
        self._n_learned += 1
        return {"run_s": run_s - obs.run_s, "accuracy": accuracy - obs.accuracy}

    def snapshot(self) -> bytes:
        """Serialise the whole state with pickle (only restore snapshots you produced)."""
        state = {"format": _SNAPSHOT_FORMAT, "warmup": self.warmup, "level_rate": self.level_rate,
                 "model": self.model, "families": self._families, "n_learned": self._n_learned}
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, data: bytes) -> SelectionModel:
        """Rebuild a model from :meth:`snapshot`.

        Raises
        ------
        ConfigError
            If ``data`` is not a selection-model snapshot.
        """
        try:
            state = pickle.loads(data)  # our own format; see snapshot()
        except Exception as exc:  # pickle raises many unrelated types
            raise ConfigError(f"not a SelectionModel snapshot: {exc}") from exc
        if not isinstance(state, dict) or state.get("format") != _SNAPSHOT_FORMAT:
            raise ConfigError("not a SelectionModel snapshot (unknown format)")
        self = cls(warmup=state["warmup"], level_rate=state["level_rate"], model=state["model"])
        self._families = state["families"]
        self._n_learned = state["n_learned"]
        return self
