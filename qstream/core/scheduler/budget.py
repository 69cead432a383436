"""Per-task budgets: what a task may still spend, and the price weight as it tightens.

A sub-task carries its task's ``budget_usd`` (None: no budget). The scheduler
never places a sub-task (on submission, split, requeue, reallocation or as a
hedge copy) where its predicted price exceeds its task's *remaining* budget::

    remaining_usd = budget_usd - spent_usd - held_usd - reserved_usd

``spent_usd`` is the actual spend learned from the task's executions
(:meth:`Budgets.record_spend`), ``held_usd`` the predicted price of the task's
other placed, unfinished sub-tasks (pending, in flight and every hedge copy:
``Entry.price_usd`` and ``Entry.copy_price_usd`` of the ledger), and
``reserved_usd`` the cheapest predicted price of each of its sub-tasks that was
admitted but not yet submitted (:meth:`Budgets.reserve`, at admission): placing
sub-tasks one at a time, greedily, must not spend what a later one needs for its
cheapest placement, so a task admitted because its cheapest placements fit can
always be placed (while the predictions hold).

**Cheaper as it tightens.** The cost term of :mod:`qstream.core.cost` is
``w_cost * price_usd / price_ref_usd``. For a sub-task with a budget the
reference price becomes ``min(price_ref_usd, remaining_usd)``, i.e. the cost
weight is scaled by ``max(1, price_ref_usd / remaining_usd)``
(:func:`tightened_weights`): a placement that would spend the whole remaining
budget costs as much as a certain failure (1.0 at unit weight), so as the
remaining budget shrinks, price outweighs time and error ever more and cheaper
placements win. This is a Lagrangian relaxation of the budget constraint
whose multiplier grows as the slack shrinks; budget-constrained list schedulers
do the same in spirit, e.g. HBCS (Arabnejad and Barbosa, "A budget constrained
scheduling algorithm for workflow applications", J. Grid Computing 12(4), 2014),
which weighs each task's cost against the budget still available. The hard
constraint is enforced separately (:func:`fit`), so the weighting only orders
the placements that fit. A weight ``w_cost = 0`` keeps the constraint but adds
no preference.

**Over budget.** When actual spend passes the budget (a price prediction was
low), :meth:`Budgets.record_spend` marks the task *stopped*: the ledger
releases none of its pending sub-tasks any more, and the caller fails the task.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace

from qstream.core.cost import CostScales, CostWeights, cost_terms
from qstream.core.scheduler.types import BackendScore
from qstream.core.subtask import SubTask
from qstream.errors import BudgetError

__all__ = ["BudgetError", "Budgets", "fit", "no_fit_error", "rescore", "tightened_weights"]

#: Largest factor the cost weight is scaled by (keeps weights finite when the
#: remaining budget reaches 0; only free placements fit then anyway).
MAX_TIGHTENING = 1e6

#: Slack (USD) under which a predicted price still fits, for float round-off
#: of sums of predictions.
FIT_EPS_USD = 1e-12


def tightened_weights(weights: CostWeights, remaining_usd: float,
                      scales: CostScales) -> CostWeights:
    """The cost weights of a sub-task whose task may still spend ``remaining_usd``.

    ``w_cost`` is scaled by ``max(1, price_ref_usd / remaining_usd)``, at most
    :data:`MAX_TIGHTENING`; time and error weights are unchanged.

    Examples
    --------
    >>> w = CostWeights()
    >>> tightened_weights(w, 10.0, CostScales()).cost   # plenty left: unchanged
    1.0
    >>> tightened_weights(w, 0.25, CostScales()).cost   # a quarter dollar left: 4x
    4.0
    >>> tightened_weights(w, 0.0, CostScales()).cost
    1000000.0
    """
    if remaining_usd >= scales.price_ref_usd:
        return weights
    factor = MAX_TIGHTENING if remaining_usd <= 0.0 else min(
        scales.price_ref_usd / remaining_usd, MAX_TIGHTENING)
    return replace(weights, cost=weights.cost * factor)


def rescore(score: BackendScore, weights: CostWeights, scales: CostScales) -> BackendScore:
    """``score`` with its cost terms recomputed under ``weights`` (same prediction, wait)."""
    p = score.prediction
    terms = cost_terms(score.time_s, p.error, p.price_usd, weights, scales)
    return replace(score, terms=terms)


def fit(s: SubTask, scores: Sequence[BackendScore], remaining_usd: float | None,
        scales: CostScales) -> list[BackendScore]:
    """The scores whose predicted price fits ``remaining_usd``, re-weighted (order kept).

    ``remaining_usd`` None (no budget) returns ``scores`` unchanged.

    Raises
    ------
    BudgetError
        If no score fits; the message names the cheapest option, its price and
        the remaining budget.

    Examples
    --------
    >>> from qstream.core.cost import CostTerms
    >>> from qstream.core.features import CircuitFeatures
    >>> from qstream.core.prediction import Prediction
    >>> s = SubTask("t/c0/s0", "t", 0, "bell", "...", 100, CircuitFeatures(2, 2, 1, 2, 2, 2),
    ...             budget_usd=0.5)
    >>> def sc(b, price):
    ...     return BackendScore(b, Prediction(0.0, 1.0, 0.0, price), 0.0, CostTerms(0, 0, price))
    >>> [x.backend for x in fit(s, [sc("qpu", 3.0), sc("sim", 0.01)], 0.5, CostScales())]
    ['sim']
    >>> fit(s, [sc("qpu", 3.0), sc("sv1", 0.9)], 0.5, CostScales())
    Traceback (most recent call last):
    ...
    qstream.errors.BudgetError: no placement of sub-task 't/c0/s0' fits its task's budget: \
the cheapest option is sv1 at 0.9 USD predicted; 0.5 USD of the budget 0.5 USD remains
    """
    if remaining_usd is None:
        return list(scores)
    fitting = [x for x in scores if x.prediction.price_usd <= remaining_usd + FIT_EPS_USD]
    if not fitting:
        raise no_fit_error(s, scores, remaining_usd)
    weights = tightened_weights(s.weights, remaining_usd, scales)
    return [rescore(x, weights, scales) for x in fitting] if weights is not s.weights else fitting


def no_fit_error(s: SubTask, scores: Iterable[BackendScore], remaining_usd: float) -> BudgetError:
    """The :class:`BudgetError` of ``s`` when none of ``scores`` fits ``remaining_usd``."""
    cheapest = min(scores, key=lambda x: x.prediction.price_usd, default=None)
    budget = f"{s.budget_usd:.4g} USD" if s.budget_usd is not None else "none"
    left = max(remaining_usd, 0.0)
    if cheapest is None:
        return BudgetError(f"no placement of sub-task {s.subtask_id!r} fits its task's budget "
                           f"({left:.4g} USD of {budget} remains)", remaining_usd=left)
    price = cheapest.prediction.price_usd
    return BudgetError(
        f"no placement of sub-task {s.subtask_id!r} fits its task's budget: the cheapest option "
        f"is {cheapest.backend} at {price:.4g} USD predicted; {left:.4g} USD of the budget "
        f"{budget} remains", backend=cheapest.backend, price_usd=price, remaining_usd=left)


class Budgets:
    """Budgets and actual spend of the tasks a scheduler holds.

    Attributes
    ----------
    budget_usd:
        Task id -> its budget (USD), registered from its sub-tasks.
    spent_usd:
        Task id -> actual spend so far (USD), every execution (hedge copies too).
    stopped:
        Tasks whose actual spend passed their budget: none of their pending
        sub-tasks is released any more.
    reserved_usd:
        Task id -> {sub-task id -> cheapest predicted price (USD)} of its admitted
        sub-tasks not yet submitted.

    Examples
    --------
    >>> b = Budgets()
    >>> b.register("t", 1.0)
    >>> b.record_spend("t", 0.6), b.record_spend("t", 0.6), b.is_stopped("t")
    (False, True, True)
    >>> round(b.spent("t"), 6)
    1.2
    """

    def __init__(self) -> None:
        self.budget_usd: dict[str, float] = {}
        self.spent_usd: dict[str, float] = {}
        self.stopped: set[str] = set()
        self.reserved_usd: dict[str, dict[str, float]] = {}

    def reserve(self, task_id: str, prices: dict[str, float]) -> None:
        """Hold ``prices`` (sub-task id -> cheapest predicted USD) for sub-tasks to come."""
        self.reserved_usd.setdefault(task_id, {}).update(prices)

    def unreserve(self, s: SubTask) -> None:
        """``s`` is being placed: its reservation gives way to its placement."""
        held = self.reserved_usd.get(s.task_id)
        if held is not None:
            held.pop(s.subtask_id, None)
            if not held:
                del self.reserved_usd[s.task_id]

    def reserved(self, task_id: str) -> float:
        """Predicted USD reserved for ``task_id``'s sub-tasks not yet submitted."""
        return sum(self.reserved_usd.get(task_id, {}).values())

    def register(self, task_id: str, budget_usd: float | None) -> None:
        """Note the budget of ``task_id`` (None: it has none; nothing is kept)."""
        if budget_usd is not None:
            self.budget_usd[task_id] = float(budget_usd)
            if self.spent_usd.get(task_id, 0.0) > budget_usd + FIT_EPS_USD:
                self.stopped.add(task_id)

    def spent(self, task_id: str) -> float:
        """Actual spend of ``task_id`` so far (USD; 0 if none recorded)."""
        return self.spent_usd.get(task_id, 0.0)

    def record_spend(self, task_id: str, usd: float) -> bool:
        """Add ``usd`` of actual spend; True if the task just went over its budget.

        Raises
        ------
        ValueError
            If ``usd`` is negative or not finite.
        """
        if not (usd >= 0.0 and math.isfinite(usd)):
            raise ValueError(f"spend must be finite and >= 0 USD, got {usd}")
        total = self.spent_usd[task_id] = self.spent_usd.get(task_id, 0.0) + usd
        budget = self.budget_usd.get(task_id)
        if budget is None or task_id in self.stopped or total <= budget + FIT_EPS_USD:
            return False
        self.stopped.add(task_id)
        return True

    def set_spent(self, task_id: str, usd: float) -> None:
        """Set the actual spend of ``task_id`` (restore after a takeover)."""
        self.spent_usd[task_id] = float(usd)
        budget = self.budget_usd.get(task_id)
        if budget is not None and usd > budget + FIT_EPS_USD:
            self.stopped.add(task_id)

    def is_stopped(self, task_id: str) -> bool:
        """Whether ``task_id``'s actual spend passed its budget."""
        return task_id in self.stopped

    def remaining_usd(self, s: SubTask, held_usd: float) -> float | None:
        """What ``s``'s task may still spend given ``held_usd`` held by its other sub-tasks.

        None when the task has no budget.
        """
        if s.budget_usd is None:
            return None
        reserved = self.reserved_usd.get(s.task_id, {})
        others = sum(v for sid, v in reserved.items() if sid != s.subtask_id)
        return s.budget_usd - self.spent(s.task_id) - held_usd - others

    def forget(self, task_id: str) -> None:
        """Drop everything about a finished task."""
        self.budget_usd.pop(task_id, None)
        self.spent_usd.pop(task_id, None)
        self.stopped.discard(task_id)
        self.reserved_usd.pop(task_id, None)
