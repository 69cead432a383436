"""Pick a configuration by the task's weighted cost of predicted time, error and price.

For every candidate, :func:`estimate` predicts queue wait, run time, accuracy and
price: the documented prior (:func:`~qstream.core.selection.priors.configuration_prior`)
corrected by the online :class:`~qstream.core.selection.model.SelectionModel` (run
time, accuracy) and the fleet :class:`~qstream.core.predictor.Predictor` (quantum
queue wait and price). :func:`select` scores each with
:func:`~qstream.core.cost.cost_terms` using ``time = queue + run`` and
``error = 1 - accuracy``, and picks the lowest total. With an ``accuracy_target``,
candidates predicted to meet it are preferred; when none does, the cheapest overall
is picked and the reason says so. Ties go to the earlier candidate (catalogue order).

Examples
--------
>>> from qstream.core.cost import CostWeights
>>> from qstream.core.problems import MaxCut
>>> from qstream.core.selection.candidates import Executor, enumerate_candidates
>>> ring = MaxCut(6, tuple((i, (i + 1) % 6, 1.0) if i < 5 else (0, 5, 1.0) for i in range(6)))
>>> found = enumerate_candidates(ring, [Executor("cpu", "classical")])
>>> s = select(ring, found, CostWeights(time=1.0, error=1.0, cost=1.0))
>>> s.chosen.configuration.key
'exact@cpu'
>>> sorted(s.to_dict())
['accuracy_target', 'candidates', 'chosen', 'met_target', 'now_s', 'reason', 'rejected', 'weights']
>>> select(ring, found, CostWeights(), accuracy_target=0.999).met_target
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qstream.core.cost import CostScales, CostTerms, CostWeights, cost_terms
from qstream.core.predictor import Predictor
from qstream.core.problems import Problem
from qstream.core.selection.candidates import Candidate, CandidateSet, Configuration, Rejection
from qstream.core.selection.model import SelectionModel
from qstream.core.selection.priors import (
    DEFAULT_SETTINGS,
    ConfigPrior,
    QuantumSettings,
    configuration_prior,
)
from qstream.errors import BudgetError, CapacityError

__all__ = ["Estimate", "Selection", "estimate", "no_candidate_error", "select"]

_SCALES = CostScales()


@dataclass(frozen=True, slots=True)
class Estimate:
    """One candidate's predictions and cost terms.

    Attributes
    ----------
    configuration:
        The candidate.
    queue_s, run_s, accuracy, price_usd:
        Predicted totals over the whole solve (seconds, ratio in [0, 1], USD).
    terms:
        Weighted cost terms (``time``, ``error``, ``cost``) and their ``total``.
    prior:
        The documented prior the prediction started from.
    meets_target:
        Whether ``accuracy >= accuracy_target`` (``None`` without a target).
    """

    configuration: Configuration
    queue_s: float
    run_s: float
    accuracy: float
    price_usd: float
    terms: CostTerms
    prior: ConfigPrior
    meets_target: bool | None = None

    @property
    def time_s(self) -> float:
        """Predicted completion time, ``queue_s + run_s``."""
        return self.queue_s + self.run_s

    def to_dict(self) -> dict[str, Any]:
        return {**self.configuration.to_dict(), "queue_s": self.queue_s, "run_s": self.run_s,
                "accuracy": self.accuracy, "price_usd": self.price_usd,
                "terms": {"time": self.terms.time, "error": self.terms.error,
                          "cost": self.terms.cost, "total": self.terms.total},
                "prior": self.prior.to_dict(), "meets_target": self.meets_target}


@dataclass(frozen=True, slots=True)
class Selection:
    """A decision: every candidate's estimate (lowest cost first), the chosen one, why.

    ``to_dict()`` is ready to publish as a telemetry event.
    """

    chosen: Estimate
    estimates: tuple[Estimate, ...]
    weights: CostWeights
    reason: str
    accuracy_target: float | None = None
    met_target: bool | None = None
    rejected: tuple[Rejection, ...] = field(default=())
    now_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen.configuration.key,
                "candidates": [e.to_dict() for e in self.estimates],
                "rejected": [r.to_dict() for r in self.rejected],
                "weights": self.weights.to_dict(), "accuracy_target": self.accuracy_target,
                "met_target": self.met_target, "reason": self.reason, "now_s": self.now_s}


def estimate(problem: Problem, candidate: Candidate, weights: CostWeights, *,
             model: SelectionModel | None = None, predictor: Predictor | None = None,
             pending_jobs: int = 0, accuracy_target: float | None = None,
             settings: QuantumSettings = DEFAULT_SETTINGS,
             scales: CostScales = _SCALES, extra_queue_s: float = 0.0) -> Estimate:
    """Predict one candidate and score it (module docstring).

    Parameters
    ----------
    model:
        Online run-time/accuracy models (``None``: the priors as they are).
    predictor:
        The fleet's predictor for quantum queue, run, error and price.
    pending_jobs:
        External jobs queued on the candidate's device.
    extra_queue_s:
        Wait before the solve can start on its executor, seconds, added to the prior's
        queue: the local backlog of a quantum backend, or a classical executor's
        predicted queue wait (its slots are busy).
    """
    prior = configuration_prior(problem, candidate, predictor=predictor, pending_jobs=pending_jobs,
                                settings=settings)
    run_s, accuracy = prior.run_s, prior.accuracy
    if model is not None:
        run_s, accuracy = model.predict(problem, candidate.configuration, prior)
    price = prior.price_usd
    if candidate.configuration.kind == "classical" and prior.run_s > 0:
        price *= run_s / prior.run_s   # CPU-second pricing follows the learned run time
    queue_s = prior.queue_s + max(float(extra_queue_s), 0.0)
    terms = cost_terms(queue_s + run_s, 1.0 - accuracy, price, weights, scales)
    meets = None if accuracy_target is None else accuracy >= accuracy_target
    return Estimate(candidate.configuration, queue_s, run_s, accuracy, price, terms, prior, meets)


def _why(best: Estimate, runner_up: Estimate | None, target: float | None, met: bool | None) -> str:
    t = best.terms
    text = (f"{best.configuration.key}: lowest weighted cost {t.total:.4g} (time {t.time:.3g}, "
            f"error {t.error:.3g}, price {t.cost:.3g}; predicted {best.time_s:.3g} s, accuracy "
            f"{best.accuracy:.3f}, USD {best.price_usd:.3g})")
    if runner_up is not None:
        text += f"; next {runner_up.configuration.key} at {runner_up.terms.total:.4g}"
    if target is not None:
        text += (f"; meets accuracy target {target}" if met else
                 f"; no candidate is predicted to meet accuracy target {target}, picked the cheapest")
    return text


def no_candidate_error(problem: Problem, rejected: Sequence[Rejection]) -> CapacityError:
    """The error for a problem no configuration can take, with every rejection's reason."""
    why = "; ".join(f"{r.configuration.key}: {r.reason}" for r in rejected) or "none given"
    return CapacityError(f"no configuration can solve this {problem.kind} of size "
                         f"{problem.size} ({why})")


def select(problem: Problem, candidates: CandidateSet | Sequence[Candidate], weights: CostWeights, *,
           accuracy_target: float | None = None, model: SelectionModel | None = None,
           predictor: Predictor | None = None, pending_jobs: Mapping[str, int] | None = None,
           now_s: float = 0.0, settings: QuantumSettings = DEFAULT_SETTINGS,
           scales: CostScales = _SCALES,
           extra_queue_s: Mapping[str, float] | None = None,
           budget_usd: float | None = None) -> Selection:
    """Choose the candidate with the lowest predicted weighted cost.

    Parameters
    ----------
    problem:
        The problem.
    candidates:
        From :func:`~qstream.core.selection.candidates.enumerate_candidates` (its
        rejections are carried into the decision) or a plain sequence.
    weights:
        The task's weights.
    accuracy_target:
        Approximation ratio in [0, 1] the task asks for; candidates predicted to meet
        it win over those that do not.
    model, predictor:
        Online models (see :func:`estimate`).
    pending_jobs:
        Backend name -> external pending jobs now (absent: 0).
    now_s:
        Decision time (scheduler clock), carried into :meth:`Selection.to_dict`.
    extra_queue_s:
        Executor name -> wait before a solve can start there (see :func:`estimate`).
    budget_usd:
        What the task may still spend (USD), or None: a candidate whose predicted
        total price (every job of its loop) exceeds it is never chosen.

    Raises
    ------
    qstream.errors.BudgetError
        If no candidate's predicted price fits ``budget_usd`` (the message names
        the cheapest and its price).
    qstream.errors.CapacityError
        If there is no candidate; the message lists the rejections.
    ValueError
        If ``accuracy_target`` is outside [0, 1].
    """
    if accuracy_target is not None and not 0.0 <= accuracy_target <= 1.0:
        raise ValueError(f"accuracy_target must be in [0, 1], got {accuracy_target}")
    rejected: tuple[Rejection, ...] = ()
    if isinstance(candidates, CandidateSet):
        rejected = candidates.rejected
        candidates = candidates.candidates
    if not candidates:
        raise no_candidate_error(problem, rejected)
    pending = pending_jobs or {}
    extra = extra_queue_s or {}
    estimates = [estimate(problem, c, weights, model=model, predictor=predictor,
                          pending_jobs=pending.get(c.configuration.backend, 0),
                          accuracy_target=accuracy_target, settings=settings, scales=scales,
                          extra_queue_s=extra.get(c.configuration.backend, 0.0))
                 for c in candidates]
    ranked = sorted(estimates, key=lambda e: e.terms.total)   # stable: ties keep order
    met = None
    pool = ranked
    if budget_usd is not None:
        pool = [e for e in ranked if e.price_usd <= budget_usd + 1e-12]
        if not pool:
            cheapest = min(ranked, key=lambda e: e.price_usd)
            c = cheapest.configuration
            raise BudgetError(
                f"no configuration fits the budget: the cheapest is {c.solver} on {c.backend} "
                f"at {cheapest.price_usd:.4g} USD predicted; {max(budget_usd, 0.0):.4g} USD "
                "remains", backend=c.backend, price_usd=cheapest.price_usd,
                remaining_usd=max(budget_usd, 0.0))
    if accuracy_target is not None:
        meeting = [e for e in pool if e.meets_target]
        met = bool(meeting)
        pool = meeting or pool
    best = pool[0]
    runner_up = next((e for e in pool[1:]), None)
    return Selection(best, tuple(ranked), weights, _why(best, runner_up, accuracy_target, met),
                     accuracy_target, met, rejected, now_s)
