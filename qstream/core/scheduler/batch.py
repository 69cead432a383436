"""Batch assignment at release: the hook a batch policy (``anneal``) plugs into.

Greedy release (:meth:`Ledger.release`) gives each free credit of a backend to the
head of that backend's own queue. A batch policy instead sees, at once, the
first ``max_items`` eligible pending sub-tasks in release order and every free
credit of the fleet, and assigns them jointly:

1. :func:`build_problem` poses the choice as a :class:`BatchProblem`: per
   sub-task, an *immediate* option for every operational backend with a free
   credit that can run it (cost: the weighted cost with no local wait) and a
   *wait* option on its current backend (cost: the weighted cost with its
   current local wait); per backend, its free credits;
2. the policy solves it and returns a :class:`BatchPlan`;
3. :func:`apply_plan` moves each sub-task assigned an immediate option to that
   backend (if it is elsewhere) and releases it there, after re-checking that it
   is still pending and the credit still free (the plan may have been computed in
   an executor while the state moved on). Credits the plan leaves free go to the
   ordinary release that follows.

The costs are the scheduler's own (:class:`~qstream.core.scheduler.scoring.Scorer`),
so the batch policy and the greedy scheduler optimise the same objective.
Sub-tasks of a task over its budget, with unfinished dependencies, or of a
tenant at its concurrency limit are not offered (as in greedy release).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qstream.core.scheduler import placing
from qstream.core.scheduler.budget import FIT_EPS_USD, Budgets
from qstream.core.scheduler.fairness import FairShare
from qstream.core.scheduler.fleet import Fleet
from qstream.core.scheduler.ledger import Ledger
from qstream.core.scheduler.scoring import Scorer
from qstream.core.subtask import SubTask

DEFAULT_MAX_ITEMS = 48
"""Pending sub-tasks offered to one batch (the first in release order)."""


@dataclass(frozen=True, slots=True)
class BatchOption:
    """One way to place a batch item: ``immediate`` on a free credit, or wait where it is."""

    backend: str
    cost: float
    immediate: bool


@dataclass(frozen=True, slots=True)
class BatchItem:
    """A pending sub-task offered to the batch, with its options (the wait option last)."""

    subtask_id: str
    backend: str
    options: tuple[BatchOption, ...]


@dataclass(frozen=True, slots=True)
class BatchProblem:
    """The assignment problem of one release.

    Attributes
    ----------
    items:
        In release order; each has at least one immediate option.
    free:
        Backend -> its free credits (operational backends with at least one).
    at_s:
        Scheduler time (s).
    eligible:
        Eligible pending sub-tasks before the ``max_items`` cap.
    """

    items: tuple[BatchItem, ...]
    free: Mapping[str, int]
    at_s: float
    eligible: int


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """A policy's answer: sub-task id -> backend to release it on now.

    Attributes
    ----------
    assignment:
        Sub-tasks to release now, and where; the others stay pending.
    method:
        How it was solved (``anneal``, ``exact-trivial``, ``greedy``).
    reason:
        Why it fell back to greedy (size cap, no solver), else None.
    solve_ms:
        Wall ms of building and solving (``time.perf_counter``).
    objective, greedy_objective:
        Summed option cost of this plan and of the greedy plan on the same problem.
    """

    assignment: Mapping[str, str]
    method: str
    reason: str | None
    solve_ms: float
    objective: float
    greedy_objective: float


def build_problem(ledger: Ledger, scorer: Scorer, fleet: Fleet, fair: FairShare,
                  budgets: Budgets, now_s: float,
                  max_items: int = DEFAULT_MAX_ITEMS) -> BatchProblem | None:
    """The batch of this release, or None when there is nothing to choose."""
    free = {b: spec.capacity - len(ledger.inflight[b]) for b, spec in fleet.specs.items()
            if fleet.operational[b] and spec.capacity - len(ledger.inflight[b]) > 0}
    if not free:
        return None
    # Released now, a sub-task still waits behind the predicted remaining time of what is
    # in flight there (HEFT's processor available time), per credit.
    load = {b: scorer.inflight_load_s(b, now_s) / fleet.specs[b].capacity for b in free}
    inflight_of: dict[str, int] = {}
    for q in ledger.inflight.values():
        for e in q.values():
            inflight_of[e.subtask.tenant] = inflight_of.get(e.subtask.tenant, 0) + 1
    offered: dict[str, int] = {}
    entries = []
    for q in ledger.pending.values():
        for e in q.values():
            s = e.subtask
            if budgets.is_stopped(s.task_id) or not all(d in ledger.completed
                                                        for d in s.depends_on):
                continue
            entries.append(e)
    entries.sort(key=lambda e: e.key)
    items: list[BatchItem] = []
    for e in entries:
        if len(items) >= max_items:
            break
        s = e.subtask
        lim = fair.limit(s.tenant)
        if lim is not None and inflight_of.get(s.tenant, 0) + offered.get(s.tenant, 0) >= lim:
            continue
        up, _, _ = fleet.candidates(s)
        left = placing.remaining_usd(ledger, budgets, s)
        opts = [BatchOption(b, scorer.score(s, b, load[b]).total, True) for b in up if b in free
                and (left is None or b == e.backend
                     or scorer.price_usd(b, s) <= left + FIT_EPS_USD)]
        if not opts:
            continue
        wait = scorer.wait_s(e.backend, e.key, now_s, s.tenant)
        opts.append(BatchOption(e.backend, scorer.score(s, e.backend, wait).total, False))
        items.append(BatchItem(s.subtask_id, e.backend, tuple(opts)))
        offered[s.tenant] = offered.get(s.tenant, 0) + 1
    if not items:
        return None
    return BatchProblem(tuple(items), free, now_s, len(entries))


def apply_plan(ledger: Ledger, scorer: Scorer, fleet: Fleet, fair: FairShare,
               plan: BatchPlan, now_s: float) -> list[tuple[SubTask, str]]:
    """Move and release what ``plan`` assigns, re-checking each; returns what was released."""
    out = []
    for sid, b in plan.assignment.items():
        e = ledger.entries.get(sid)
        if (e is None or e.released_at_s is not None or sid not in ledger.pending[e.backend]
                or b not in fleet.specs or not fleet.operational[b]
                or fleet.specs[b].capacity - len(ledger.inflight[b]) <= 0
                or fleet.specs[b].can_run(e.subtask.features, e.subtask.shots) is not None):
            continue
        s = e.subtask
        if e.backend != b:
            ledger.move_pending(e, b, scorer.info())
            ledger.set_dur(e, scorer.dur_s(b, s))
            e.price_usd = scorer.price_usd(b, s)
        ledger.release_entry(e, now_s)
        fair.charge(s.tenant)
        out.append((e, b))
    out.sort(key=lambda eb: eb[0].key)
    return [(e.subtask, b) for e, b in out]
