"""Placing a sub-task: on submission (maybe split) and again after a failure.

Both score every candidate backend (:class:`~qstream.core.scheduler.scoring.Scorer`),
keep those whose predicted price fits the task's remaining budget, re-weighted
as it tightens (:mod:`qstream.core.scheduler.budget`), and let the policy choose;
both time themselves from ``started_s`` (a
``time.perf_counter()`` reading taken when the public call began) to the
decision, which :attr:`Decision.decision_latency_ms` reports.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from qstream.core.scheduler import budget
from qstream.core.scheduler.budget import Budgets
from qstream.core.scheduler.ledger import Ledger
from qstream.core.scheduler.scoring import Scorer
from qstream.core.scheduler.splits import hold_parts, plan_split
from qstream.core.scheduler.types import Decision
from qstream.core.subtask import SubTask
from qstream.errors import CapacityError


def remaining_usd(ledger: Ledger, budgets: Budgets, s: SubTask) -> float | None:
    """What ``s``'s task may still spend besides its other held sub-tasks (None: no budget)."""
    if s.budget_usd is None:
        return None
    return budgets.remaining_usd(s, ledger.held_usd(s.task_id, exclude=s.subtask_id))


def submit(ledger: Ledger, scorer: Scorer, subtask: SubTask, now_s: float,
           started_s: float, budgets: Budgets | None = None) -> list[Decision]:
    """Queue ``subtask`` on its cheapest capable backend, maybe split (see ``Scheduler.submit``).

    Raises
    ------
    BudgetError
        No capable backend's predicted price fits the task's remaining budget
        (nothing is held).
    CapacityError
        No allowed backend can run it; the message lists each backend's reason.
    """
    budgets = budgets if budgets is not None else Budgets()
    ledger.tick(now_s)
    if ledger.known(subtask.subtask_id):
        return []
    up, down, why = scorer.fleet.candidates(subtask)
    pool = up or down
    if not pool:
        raise CapacityError(
            f"no backend can run sub-task {subtask.subtask_id!r}: {'; '.join(why)}"
        )
    budgets.register(subtask.task_id, subtask.budget_usd)
    budgets.unreserve(subtask)
    left = remaining_usd(ledger, budgets, subtask)
    key = ledger.next_key(subtask)
    waits = {b: scorer.wait_s(b, key, now_s, subtask.tenant) for b in pool}
    scores = sorted(budget.fit(subtask, [scorer.score(subtask, b, waits[b]) for b in pool],
                               left, scorer.config.scales), key=scorer.order)
    best = scorer.choose(subtask, scores)

    cfg = scorer.config
    plan = None
    fitting = {x.backend for x in scores}
    if (up and scorer.policy.splits and subtask.shots >= cfg.split_min_shots
            and cfg.max_splits >= 2):
        scored = subtask if left is None else replace(
            subtask, weights=budget.tightened_weights(subtask.weights, left, cfg.scales))
        plan = plan_split(scorer, scored, [b for b in up if b in fitting], waits, best,
                          remaining_usd=left)
    if plan is None:
        ledger.add_pending(
            subtask, best.backend, key, best.prediction.queue_s + best.prediction.run_s,
            best.prediction.price_usd)
        latency_ms = (time.perf_counter() - started_s) * 1e3
        return [Decision(subtask, best.backend, tuple(scores), latency_ms, now_s)]

    placed = hold_parts(ledger, subtask, key, plan)
    latency_ms = (time.perf_counter() - started_s) * 1e3
    return [
        Decision(child, part_scores[0].backend, part_scores, latency_ms, now_s,
                 split_of=subtask.subtask_id)
        for child, part_scores in placed
    ]


def requeue(ledger: Ledger, scorer: Scorer, subtask_id: str, now_s: float,
            exclude: Sequence[str], started_s: float,
            budgets: Budgets | None = None) -> Decision:
    """Place a held sub-task again, avoiding ``exclude``, keeping its release key.

    A retry counts against the budget like a first placement (the failed
    attempt's actual spend is already in the task's spend).

    Raises
    ------
    BudgetError
        If no other backend's predicted price fits the remaining budget; it is
        then no longer held.
    SchedulerLookupError
        If the id is not pending or in flight (unknown or completed).
    CapacityError
        If no other backend can run it; it is then no longer held.
    """
    ledger.tick(now_s)
    e = ledger.take(subtask_id)
    s = e.subtask
    up, down, why = scorer.fleet.candidates(s, exclude)
    pool = up or down
    if not pool:
        raise CapacityError(
            f"no backend left for sub-task {subtask_id!r}: {'; '.join(why)}"
        )
    left = remaining_usd(ledger, budgets if budgets is not None else Budgets(), s)
    scores = sorted(
        budget.fit(s, [scorer.score(s, b, scorer.wait_s(b, e.key, now_s, s.tenant))
                       for b in pool], left, scorer.config.scales), key=scorer.order
    )
    best = scorer.choose(s, scores)
    ledger.add_pending(s, best.backend, e.key, best.prediction.queue_s + best.prediction.run_s,
                       best.prediction.price_usd)
    latency_ms = (time.perf_counter() - started_s) * 1e3
    return Decision(s, best.backend, tuple(scores), latency_ms, now_s)
