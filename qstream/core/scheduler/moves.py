"""Moving work after placement: reallocating pending sub-tasks, hedging stragglers.

Both are functions over the :class:`~qstream.core.scheduler.ledger.Ledger` (what
is held where) and the :class:`~qstream.core.scheduler.scoring.Scorer` (what it
would cost elsewhere), and do nothing under a policy that does not reallocate
or hedge.
"""

from __future__ import annotations

from dataclasses import replace

from qstream.core.scheduler import budget
from qstream.core.scheduler.budget import FIT_EPS_USD, Budgets
from qstream.core.scheduler.ledger import Entry, Ledger
from qstream.core.scheduler.scoring import Scorer
from qstream.core.scheduler.sweep import sweep
from qstream.core.scheduler.types import BackendScore, Hedge, Reallocation
from qstream.core.subtask import SubTask


def _budgeted(ledger: Ledger, budgets: Budgets, s: SubTask,
              scorer: Scorer, *, own: bool) -> tuple[SubTask, float | None]:
    """``s`` with its cost weights tightened to its task's remaining budget, and that budget.

    ``own`` counts ``s``'s own held price as spent (a hedge copy comes on top of
    it); otherwise it is left out (a move replaces it).
    """
    if s.budget_usd is None:
        return s, None
    held = ledger.held_usd(s.task_id, exclude=None if own else s.subtask_id)
    left = budgets.remaining_usd(s, held)
    assert left is not None
    return replace(s, weights=budget.tightened_weights(s.weights, left,
                                                        scorer.config.scales)), left


def reallocate(ledger: Ledger, scorer: Scorer, now_s: float,
               budgets: Budgets | None = None) -> list[Reallocation]:
    """Re-score every pending sub-task and move those cheaper elsewhere by the margin.

    One sweep over the pending sub-tasks in release order (priority, deadline,
    FIFO). Each sees, on every backend, the in-flight load plus the sub-tasks
    ahead of it as already (re)placed in this sweep: exactly the wait it would
    have there. It moves when the cheapest operational candidate costs less than
    ``(1 - realloc_margin)`` times its current cost (and by at least
    ``realloc_min_gain``), or when its backend is down or can no longer run it.
    O(pending x backends) predictions, most of them cache hits.

    Cost: one prediction per pending sub-task (its own backend), plus one per other
    backend that could make it move. A backend whose time term alone,
    ``w_time * wait_s / time_ref_s``, already fails the margin or the minimum
    gain is skipped unpredicted: its full cost is at least that term (queue wait,
    run time, error and price are never negative, as every estimator predicts),
    so it could neither be the move's target nor change which backend is, and
    the sweep's moves are exactly those of scoring every backend.

    No ping-pong: a sweep right after a sweep moves nothing (every sub-task
    already sits at its argmin given what is ahead of it), and a sub-task never
    moves back to the backend it last left until the predictor or the fleet state
    (pending jobs, operational, specs) changed. In-flight sub-tasks are never
    touched.

    A sub-task of a task with a budget moves only where its predicted price
    fits the remaining budget (its own current price not counted), and is
    scored with the cost weight tightened to it (:mod:`qstream.core.scheduler.budget`).

    Returns
    -------
    list of Reallocation
        In sweep order; empty when nothing moved.
    """
    ledger.tick(now_s)
    budgets = budgets if budgets is not None else Budgets()
    if not scorer.policy.reallocates:
        return []
    fleet, cfg = scorer.fleet, scorer.config
    info = scorer.info()
    ahead = {b: scorer.inflight_load_s(b, now_s) for b in fleet.specs}
    cap = {b: spec.capacity for b, spec in fleet.specs.items()}
    rank = fleet.rank
    time_ref, price_ref = cfg.scales.time_ref_s, cfg.scales.price_ref_usd
    keep, min_gain = 1.0 - cfg.realloc_margin, cfg.realloc_min_gain
    moves: list[Reallocation] = []

    def one(e: Entry) -> None:
        s, left = _budgeted(ledger, budgets, e.subtask, scorer, own=False)
        cur = e.backend
        up, _, _ = fleet.candidates(s)
        cur_score = scorer.score(s, cur, ahead[cur] / cap[cur])
        cur_ok = cur in up
        cur_total = cur_score.total
        bar = keep * cur_total
        w = s.weights
        barred = e.moved_from[0] if e.moved_from is not None and e.moved_from[1] == info else None
        # The cheapest by (cost, fleet order), as Scorer.order; the cost inlined from
        # cost.cost_terms, same operations in the same order, so the same doubles.
        best_key = (cur_total, rank[cur]) if cur_ok else None
        best_b: str | None = None
        for b in up:
            if b in (cur, barred):
                continue
            wait = ahead[b] / cap[b]
            if cur_ok:
                # Its time term alone bounds its cost from below; if even that bound
                # cannot make the move, the backend cannot (see the docstring).
                low = w.time * max(wait, 0.0) / time_ref
                if not (low < bar and cur_total - low >= min_gain):
                    continue
            p = scorer.predict(b, s.features, s.shots)
            if left is not None and p.price_usd > left + FIT_EPS_USD:
                continue
            total = (w.time * max(wait + p.queue_s + p.run_s, 0.0) / time_ref
                     + w.error * min(max(p.error, 0.0), 1.0)
                     + w.cost * max(p.price_usd, 0.0) / price_ref)
            if best_key is None or (total, rank[b]) < best_key:
                best_key, best_b = (total, rank[b]), b
        best: BackendScore | None = (
            scorer.score(s, best_b, ahead[best_b] / cap[best_b]) if best_b is not None
            else cur_score if cur_ok else None)
        if best is not None and best.backend != cur and (
            not cur_ok
            or (best.total < (1.0 - cfg.realloc_margin) * cur_score.total
                and cur_score.total - best.total >= cfg.realloc_min_gain)
        ):
            if not fleet.operational[cur]:
                reason = f"{cur} is not operational"
            elif not cur_ok:
                reason = f"{cur} can no longer run it"
            else:
                reason = (
                    f"cheaper on {best.backend}: cost {cur_score.total:.4g} -> "
                    f"{best.total:.4g}, predicted time {cur_score.time_s:.4g} s -> "
                    f"{best.time_s:.4g} s, error {cur_score.prediction.error:.3g} -> "
                    f"{best.prediction.error:.3g}, price {cur_score.prediction.price_usd:.4g}"
                    f" -> {best.prediction.price_usd:.4g} USD"
                )
            ledger.move_pending(e, best.backend, info)
            moves.append(
                Reallocation(s.subtask_id, s.task_id, cur, best.backend, cur_score.total,
                             best.total, reason, now_s)
            )
            chosen = best
        else:
            chosen = cur_score
        ledger.set_dur(e, chosen.prediction.queue_s + chosen.prediction.run_s)
        e.price_usd = chosen.prediction.price_usd
        ahead[e.backend] += e.dur_s

    sweep(ledger.pending_in_order(), ledger, scorer, ahead, info, one)
    return moves


def hedge(ledger: Ledger, scorer: Scorer, now_s: float,
          budgets: Budgets | None = None) -> list[Hedge]:
    """Start backup copies of stragglers on idle backends (policies that hedge only).

    A straggler is an in-flight sub-task, not yet hedged, that has been in flight
    for more than ``hedge_factor`` times its predicted ``queue_s + run_s`` and at
    least ``hedge_min_s``. It gets one copy on the cheapest other operational
    backend that can run it, has a free credit and no pending work of its own (a
    hedge only uses idle capacity, never a credit a queued sub-task is waiting
    for), if that backend's predicted completion time is at most the straggler's
    expected remaining time, taken as the larger of its original prediction and
    the time it has already been in flight: a heavy-tailed wait that has lasted
    ``t`` is expected to last about ``t`` more (for a Pareto tail of shape 2,
    exactly ``t``; Harchol-Balter and Downey, "Exploiting process lifetime
    distributions for dynamic load balancing", ACM TOCS 15(3), 1997). The copy
    is a speculative backup task (Dean and Ghemawat, "MapReduce: simplified data
    processing on large clusters", OSDI 2004).

    A copy counts against its task's budget: it is started only where its
    predicted price fits what remains with the original still held; a
    straggler of a task over its budget gets none.

    Returns
    -------
    list of Hedge
        Copies to start now; each is in flight on its ``to_backend``.
    """
    ledger.tick(now_s)
    budgets = budgets if budgets is not None else Budgets()
    if not scorer.policy.hedges:
        return []
    fleet, cfg = scorer.fleet, scorer.config
    free = {
        b: spec.capacity - len(ledger.inflight[b])
        for b, spec in fleet.specs.items()
        if fleet.operational[b] and not ledger.pending[b]
    }
    if not any(v > 0 for v in free.values()):
        return []
    out: list[Hedge] = []
    stragglers = sorted(
        (e for q in ledger.inflight.values() for e in q.values()
         if not e.copies and e.released_at_s is not None
         and now_s - e.released_at_s > max(cfg.hedge_factor * e.dur_s, cfg.hedge_min_s)),
        key=lambda e: e.key,
    )
    seen: set[str] = set()
    for e in stragglers:
        s = e.subtask
        if s.subtask_id in seen:
            continue
        seen.add(s.subtask_id)
        if budgets.is_stopped(s.task_id):
            continue
        s, left = _budgeted(ledger, budgets, s, scorer, own=True)
        up, _, _ = fleet.candidates(s, exclude=(e.backend,))
        options = [
            score for b in up if free.get(b, 0) > 0
            if (score := scorer.score(
                s, b, scorer.inflight_load_s(b, now_s) / fleet.specs[b].capacity))
            and (left is None or score.prediction.price_usd <= left + FIT_EPS_USD)
        ]
        if not options:
            continue
        best = min(options, key=scorer.order)
        waited = now_s - (e.released_at_s or now_s)
        if best.time_s > max(e.dur_s, waited):
            continue
        free[best.backend] -= 1
        ledger.add_copy(e, best.backend, now_s, best.prediction.price_usd)
        # Its cost where it is: as if it needed its whole predicted time again.
        old = scorer.score(s, e.backend, e.dur_s)
        out.append(Hedge(
            e.subtask, e.backend, best.backend, old.total, best.total,
            f"straggler: in flight {waited:.4g} s on {e.backend}, predicted {e.dur_s:.4g} s; "
            f"{best.backend} predicts {best.time_s:.4g} s", now_s,
        ))
    return out
