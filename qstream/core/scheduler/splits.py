"""Shot splits: run one sub-task's shots as parts on several backends at once.

A sub-task with ``shots >= split_min_shots`` may be split into ``k`` in
2..``max_splits`` near-equal parts (:func:`qstream.core.partition.split_shots`),
each placed greedily at its cheapest backend given the parts already placed. A
split is accepted when it shortens the predicted completion time (the slowest
part) by ``split_gain`` at no more than ``1 + split_gain`` times the cost (time of
the slowest part, shot-weighted error, summed price), and its summed predicted
price fits the task's remaining budget; of the accepted ``k``, the cheapest wins.
"""

from __future__ import annotations

import math
from dataclasses import replace

from qstream.core.cost import weighted_cost
from qstream.core.partition import split_shots
from qstream.core.scheduler.budget import FIT_EPS_USD
from qstream.core.scheduler.ledger import Key, Ledger
from qstream.core.scheduler.scoring import Scorer
from qstream.core.scheduler.types import BackendScore
from qstream.core.subtask import SubTask

Plan = list[tuple[int, tuple[BackendScore, ...]]]
"""A split: per part, its shots and its scores cheapest first (the first is its backend)."""


def plan_split(
    scorer: Scorer, s: SubTask, pool: list[str], waits: dict[str, float], best: BackendScore,
    remaining_usd: float | None = None,
) -> Plan | None:
    """Best accepted split of ``s`` over ``pool``, or None to place it whole.

    Parameters
    ----------
    scorer:
        Scores the parts.
    s:
        The sub-task.
    pool:
        Operational candidate backends.
    waits:
        Local wait (s) of ``s`` on each backend of ``pool``.
    best:
        The whole sub-task's chosen score, the bar a split must beat.
    remaining_usd:
        What the task may still spend (None: no budget); a split whose parts'
        summed predicted price exceeds it is not taken.
    """
    cfg = scorer.config
    capacity = {b: scorer.fleet.specs[b].capacity for b in pool}
    best_plan: Plan | None = None
    best_cost = math.inf
    for k in range(2, cfg.max_splits + 1):
        if s.shots < k:
            break
        extra_s = dict.fromkeys(pool, 0.0)  # load this split already put on each backend
        plan: Plan = []
        finish_s = 0.0
        error_shots = 0.0
        price_usd = 0.0
        # Parts differ by at most one shot; scoring all at the largest part's
        # count costs one prediction per backend and k, and errs on the slow side.
        rep = -(-s.shots // k)
        for shots in split_shots(s.shots, k):
            part = sorted(
                (scorer.score(s, b, waits[b] + extra_s[b] / capacity[b], rep) for b in pool),
                key=scorer.order,
            )
            chosen = part[0]
            extra_s[chosen.backend] += chosen.prediction.queue_s + chosen.prediction.run_s
            finish_s = max(finish_s, chosen.time_s)
            error_shots += chosen.prediction.error * shots
            price_usd += chosen.prediction.price_usd
            plan.append((shots, tuple(part)))
        cost = weighted_cost(finish_s, error_shots / s.shots, price_usd, s.weights, cfg.scales)
        if remaining_usd is not None and price_usd > remaining_usd + FIT_EPS_USD:
            continue
        if (
            finish_s <= (1.0 - cfg.split_gain) * best.time_s
            and cost <= (1.0 + cfg.split_gain) * best.total
            and cost < best_cost
        ):
            best_plan, best_cost = plan, cost
    return best_plan


def hold_parts(
    ledger: Ledger, s: SubTask, key: Key, plan: Plan
) -> list[tuple[SubTask, tuple[BackendScore, ...]]]:
    """Hold each part of ``plan`` pending on its backend, under ``s``'s release key.

    Parts get ids ``{subtask_id}.{j}``; ``s`` counts as completed when all have.

    Returns
    -------
    list of (SubTask, scores)
        Each part and its scores, the first being where it is pending.
    """
    placed: list[tuple[SubTask, tuple[BackendScore, ...]]] = []
    for j, (shots, part_scores) in enumerate(plan):
        child = replace(s, shots=shots, subtask_id=f"{s.subtask_id}.{j}")
        chosen = part_scores[0]
        ledger.add_pending(
            child, chosen.backend, key, chosen.prediction.queue_s + chosen.prediction.run_s,
            chosen.prediction.price_usd)
        placed.append((child, part_scores))
    ledger.add_split(s.subtask_id, [child.subtask_id for child, _ in placed])
    return placed
