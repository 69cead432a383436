"""The ``anneal`` policy: cheapest placement, then a QUBO assignment of free credits at release.

At placement it is ``predictive-realloc`` (the cheapest backend by weighted cost,
the same reallocation, hedging and shot splits). At each release the scheduler
asks it for a :class:`~qstream.core.scheduler.batch.BatchPlan` over the first
pending sub-tasks and every free credit (:mod:`qstream.core.scheduler.batch`),
which it solves as a QUBO (:mod:`qstream.core.anneal.qubo`) by simulated
annealing; the best read is decoded, repaired into a feasible assignment, then
polished by single-item steepest descent (:func:`~qstream.core.anneal.qubo.polish`).
:meth:`AnnealPolicy.stats` counts how often the raw read was worse than greedy
and how often the polish changed it, so the annealer's own share is visible.
The annealer is injected (``solver``): the core imports no sampler; the edges attach
dwave-samplers' ``SimulatedAnnealingSampler``
(:func:`qstream.solvers.assignment.annealer`).

Fallbacks, each counted in :meth:`AnnealPolicy.stats` and logged with its reason:

- no backend is contended (every backend has at least as many free credits as
  items that could take one): each item's cheapest option is optimal and taken
  directly (``exact-trivial``, no anneal);
- more than ``max_vars`` QUBO variables, or no solver attached: the greedy
  solution of the same problem (:func:`~qstream.core.anneal.qubo.greedy`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qstream.core.anneal.qubo import decode, encode, greedy, objective, polish
from qstream.core.problems import Qubo
from qstream.core.scheduler.batch import BatchPlan, BatchProblem
from qstream.core.subtask import SubTask

if TYPE_CHECKING:
    from qstream.core.policies import FleetView
    from qstream.core.scheduler import BackendScore

log = logging.getLogger("qstream.core.anneal")

Solver = Callable[[Qubo, int], Sequence[int]]
"""``(qubo, seed) -> bits`` (one 0/1 per variable, lowest energy found)."""

MAX_VARS = 1500
"""Largest QUBO annealed; beyond it the greedy solution is used (reason logged)."""


@dataclass(slots=True)
class AnnealPolicy:
    """Quantum-inspired batch assignment (see the module docstring).

    Examples
    --------
    >>> from qstream.core.scheduler.batch import BatchItem, BatchOption, BatchProblem
    >>> items = (BatchItem("s0", "a", (BatchOption("b", 1.0, True), BatchOption("a", 3.0, False))),
    ...          BatchItem("s1", "a", (BatchOption("b", 1.0, True), BatchOption("a", 9.0, False))))
    >>> problem = BatchProblem(items, {"b": 1}, 0.0, 2)
    >>> plan = AnnealPolicy().plan_batch(problem)     # no solver attached: greedy
    >>> dict(plan.assignment), plan.method, plan.reason
    ({'s0': 'b'}, 'greedy', 'no annealer attached')
    >>> brute = lambda q, seed: min(([int(c) for c in f"{n:0{q.num_vars}b}"]
    ...                              for n in range(2 ** q.num_vars)), key=q.value)
    >>> plan = AnnealPolicy(solver=brute).plan_batch(problem)
    >>> dict(plan.assignment), plan.method, plan.objective, plan.greedy_objective
    ({'s1': 'b'}, 'anneal', 4.0, 10.0)
    """

    solver: Solver | None = None
    max_vars: int = MAX_VARS
    seed: int = 0
    name: str = "anneal"
    reallocates: bool = True
    hedges: bool = True
    splits: bool = True
    batch: bool = True
    _calls: int = 0
    _methods: Counter[str] = field(default_factory=Counter)
    _reasons: Counter[str] = field(default_factory=Counter)
    _better: int = 0
    _worse: int = 0
    _repaired: int = 0
    _raw_worse: int = 0
    _polished: int = 0
    _solve_ms: list[float] = field(default_factory=list)

    def choose(self, subtask: SubTask, scores: Sequence[BackendScore], view: FleetView) -> str:
        return scores[0].backend

    def plan_batch(self, problem: BatchProblem) -> BatchPlan:
        """Solve one release's assignment; pure (safe to run in an executor thread)."""
        t0 = time.perf_counter()
        self._calls += 1
        base = greedy(problem)
        base_obj = objective(problem, base)
        reason: str | None = None
        demand: Counter[str] = Counter(
            o.backend for item in problem.items for o in item.options if o.immediate)
        if all(n <= problem.free.get(b, 0) for b, n in demand.items()):
            choice = [min(range(len(it.options)), key=[o.cost for o in it.options].__getitem__)
                      for it in problem.items]
            method = "exact-trivial"
        else:
            enc = encode(problem)
            if self.solver is None:
                reason = "no annealer attached"
            elif enc.qubo.num_vars > self.max_vars:
                reason = (f"size cap: {enc.qubo.num_vars} QUBO variables > {self.max_vars} "
                          f"({len(problem.items)} sub-tasks, {len(problem.free)} free backends)")
            if reason is not None:
                log.info("anneal falls back to greedy: %s", reason)
                self._reasons[reason.split(":")[0]] += 1
                choice, method = base, "greedy"
            else:
                assert self.solver is not None
                bits = self.solver(enc.qubo, self.seed + self._calls)
                choice, repaired = decode(problem, enc, bits)
                self._repaired += repaired
                raw = objective(problem, choice)
                self._raw_worse += raw > base_obj + 1e-12
                self._polished += polish(problem, choice) > 0
                method = "anneal"
        obj = objective(problem, choice)
        if method == "anneal":
            self._better += obj < base_obj - 1e-12
            self._worse += obj > base_obj + 1e-12
        self._methods[method] += 1
        assignment = {it.subtask_id: it.options[j].backend
                      for it, j in zip(problem.items, choice, strict=True)
                      if it.options[j].immediate}
        ms = (time.perf_counter() - t0) * 1e3
        self._solve_ms.append(ms)
        return BatchPlan(assignment, method, reason, ms, obj, base_obj)

    def stats(self) -> dict[str, Any]:
        """Plans by method, fallback reasons, anneal vs greedy objective, solve times (ms)."""
        ms = sorted(self._solve_ms)
        return {"plans": self._calls, "methods": dict(self._methods),
                "fallbacks": dict(self._reasons), "anneal_better_than_greedy": self._better,
                "anneal_worse_than_greedy": self._worse, "repaired_items": self._repaired,
                "raw_anneal_worse_than_greedy": self._raw_worse,
                "anneals_improved_by_polish": self._polished,
                "solve_ms_median": ms[len(ms) // 2] if ms else float("nan"),
                "solve_ms_max": ms[-1] if ms else float("nan")}
