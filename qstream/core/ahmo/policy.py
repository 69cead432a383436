"""The ``ahmo`` placement policy: HyperScore placement with bandit-tuned fusion weights.

Per decision (:meth:`AhmoPolicy.choose`):

1. the bandit (:class:`~qstream.core.ahmo.bandit.DiscountedUCB`) picks a weight
   vector (an arm);
2. every candidate backend gets its components
   (:func:`~qstream.core.ahmo.components.components`) from the scheduler's scores
   (the online predictor's queue wait, run time, error and price, plus the local
   wait) and the backend's current spec;
3. the arm's weights, scaled by the sub-task's own cost weights (``time`` by
   ``weights.time``, ``price`` by ``weights.cost``, ``esp`` and ``mitigation`` by
   ``weights.error``), fuse them into ``V`` (:func:`~qstream.core.ahmo.hyperscore.fuse`);
4. the highest :func:`~qstream.core.ahmo.hyperscore.hyperscore` wins (ties: the
   cheaper, then fleet order).

When the sub-task's outcome arrives (:meth:`AhmoPolicy.observe`, from the
simulator's finish event or the live learn agent), the arm that placed it is
credited with :func:`~qstream.core.ahmo.bandit.reward`. Moves after placement
(reallocation of pending sub-tasks, hedging) are the shared cost-based ones, as
for ``predictive-realloc``, so a comparison of the two isolates the placement rule.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qstream.core.ahmo.bandit import DiscountedUCB, default_arms, reward
from qstream.core.ahmo.components import SandboxReport, components
from qstream.core.ahmo.hyperscore import fuse, hyperscore
from qstream.core.cost import CostScales, CostWeights, weighted_cost
from qstream.core.subtask import SubTask

if TYPE_CHECKING:
    from qstream.core.policies import FleetView
    from qstream.core.scheduler import BackendScore

MAX_OPEN = 100_000
"""Decisions awaiting an outcome that are remembered (oldest dropped first)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one placed sub-task realised.

    Attributes
    ----------
    time_s:
        Placement to completion (s) when the caller knows it, else queue wait + run time.
    error:
        Observed error, 1 - fidelity (or 1 - ESP when unmeasured), in [0, 1].
    price_usd:
        Price paid (USD).
    """

    time_s: float
    error: float
    price_usd: float


@dataclass(slots=True)
class _Open:
    arm: int
    best_cost: float
    weights: CostWeights


@dataclass(slots=True)
class AhmoPolicy:
    """Adaptive hyper-scoring with meta-optimisation (see the module docstring).

    Parameters
    ----------
    seed:
        Seeds the Dirichlet arms of :func:`~qstream.core.ahmo.bandit.default_arms`.
    discount:
        D-UCB discount per reward.
    scales:
        Cost scales of the reward's realised and predicted costs.

    Examples
    --------
    >>> from qstream.core.backend_spec import BackendSpec
    >>> from qstream.core.features import CircuitFeatures
    >>> from qstream.core.predictor import Predictor
    >>> from qstream.core.scheduler import Scheduler
    >>> fleet = [BackendSpec("slow", "simulator", 20, 10**6, job_overhead_s=30.0),
    ...          BackendSpec("fast", "simulator", 20, 10**6, job_overhead_s=3.0)]
    >>> p = AhmoPolicy()
    >>> sched = Scheduler(fleet, Predictor(fleet), policy=p)
    >>> s = SubTask("t/c0/s0", "t", 0, "ghz", "...", 1000, CircuitFeatures(5, 6, 4, 5, 5, 5))
    >>> [d.backend for d in sched.submit(s, now_s=0.0)]
    ['fast']
    >>> sorted(round(h, 1) for h in p.last_scores.values())
    [101.5, 111.1]
    >>> p.observe("t/c0/s0", Outcome(time_s=3.5, error=0.0, price_usd=0.0))
    True
    >>> p.stats()["rewards"]
    1
    """

    seed: int = 0
    discount: float = 0.995
    scales: CostScales = field(default_factory=CostScales)
    name: str = "ahmo"
    reallocates: bool = True
    hedges: bool = True
    splits: bool = False
    arms: tuple[dict[str, float], ...] = ()
    bandit: DiscountedUCB | None = None
    last_scores: dict[str, float] = field(default_factory=dict)
    _open: OrderedDict[str, _Open] = field(default_factory=OrderedDict)
    _sandbox: OrderedDict[str, SandboxReport] = field(default_factory=OrderedDict)
    _rewards: int = 0
    _pulls: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.arms:
            self.arms = default_arms(self.seed)
        if self.bandit is None:
            self.bandit = DiscountedUCB(len(self.arms), discount=self.discount)
        self._pulls = [0] * len(self.arms)

    def note_sandbox(self, subtask_id: str, report: SandboxReport) -> None:
        """Attach an edge's sandbox report to a sub-task (before it is submitted)."""
        self._sandbox[subtask_id] = report
        while len(self._sandbox) > MAX_OPEN:
            self._sandbox.popitem(last=False)

    def choose(self, subtask: SubTask, scores: Sequence[BackendScore], view: FleetView) -> str:
        assert self.bandit is not None
        arm = self.bandit.select()
        self._pulls[arm] += 1
        w = subtask.weights
        base = self.arms[arm]
        weights = {**base, "time": base.get("time", 0.0) * w.time,
                   "price": base.get("price", 0.0) * w.cost,
                   "esp": base.get("esp", 0.0) * w.error,
                   "mitigation": base.get("mitigation", 0.0) * w.error}
        best_time = min(s.time_s for s in scores)
        best_price = min(s.prediction.price_usd for s in scores)
        sandbox = self._sandbox.get(subtask.subtask_id)
        specs = view.specs
        ranked: list[tuple[float, float, int, str]] = []
        self.last_scores = {}
        for s in scores:
            comp = components(subtask.features, subtask.shots, specs.get(s.backend),
                              s.prediction, s.time_s, best_time, best_price, sandbox)
            h = hyperscore(fuse(comp, weights))
            self.last_scores[s.backend] = h
            ranked.append((-h, s.total, view.rank[s.backend], s.backend))
        chosen = min(ranked)[3]
        self._open[subtask.subtask_id] = _Open(arm, min(s.total for s in scores), w)
        self._open.move_to_end(subtask.subtask_id)
        while len(self._open) > MAX_OPEN:
            self._open.popitem(last=False)
        return chosen

    def observe(self, subtask_id: str, outcome: Outcome) -> bool:
        """Credit the arm that placed ``subtask_id``; False if that decision is unknown."""
        assert self.bandit is not None
        self._sandbox.pop(subtask_id, None)
        d = self._open.pop(subtask_id, None)
        if d is None:
            return False
        realised = weighted_cost(outcome.time_s, outcome.error, outcome.price_usd, d.weights,
                                 self.scales)
        self.bandit.update(d.arm, reward(d.best_cost, realised))
        self._rewards += 1
        return True

    def stats(self) -> dict[str, Any]:
        """Arms, their pulls and discounted mean rewards, and how many rewards arrived."""
        assert self.bandit is not None
        return {"arms": [dict(a) for a in self.arms], "pulls": list(self._pulls),
                "mean_reward": self.bandit.means(), "rewards": self._rewards}
