"""Placement policies: which backend a sub-task goes to, by name.

The same objects drive the live pipeline (:mod:`qstream.stream.runtime`) and the
discrete-event simulator (:mod:`qstream.sim`). The :class:`~qstream.core.scheduler.Scheduler`
scores every capable backend with its estimator, then asks the policy to
choose; everything else (credits, release order, dependencies, requeue on
failure) is shared, so policies differ only where they are meant to.

=====================  =====================================================  ========  ======  ======
name                   chooses                                                moves     hedges  splits
                                                                              pending   strag.  shots
=====================  =====================================================  ========  ======  ======
``round-robin``        the next capable backend in fleet order                no        no      no
``random``             a capable backend uniformly at random (seeded)         no        no      no
``shortest-queue``     least pending: external pending jobs + ours queued     no        no      no
                       or in flight (FCFS to the shortest queue)
``best-fidelity``      lowest estimated error (calibration ESP)               no        no      no
``qonductor``          lowest weighted cost, Qonductor's estimator            no        no      no
``predictive``         lowest weighted cost, qstream's online predictor       no        no      yes
``predictive-realloc`` as ``predictive``, plus reallocation of pending         yes       yes     yes
                       sub-tasks and hedging of stragglers
``oracle``             lowest weighted cost on the true expected times        yes       no      yes
``ahmo``               highest HyperScore of fused verification, noise,       yes       yes     no
                       time and price components, fusion weights tuned
                       online by a bandit (:mod:`qstream.core.ahmo`)
``anneal``             as ``predictive-realloc``, plus a QUBO assignment      yes       yes     yes
                       of pending sub-tasks to free credits at each release,
                       by simulated annealing (:mod:`qstream.core.anneal`)
=====================  =====================================================  ========  ======  ======

Which estimator each policy scores with is the caller's choice (see
:func:`qstream.sim.policies.build` for the simulator); the table above is the
decision rule only.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from qstream.core.backend_spec import BackendSpec
from qstream.core.subtask import SubTask
from qstream.errors import ConfigError

if TYPE_CHECKING:
    from qstream.core.scheduler import BackendScore

POLICY_NAMES: tuple[str, ...] = (
    "round-robin", "random", "shortest-queue", "best-fidelity", "qonductor",
    "predictive", "predictive-realloc", "oracle", "ahmo", "anneal",
)
"""Every policy, baselines first."""

PREDICTOR_POLICIES: tuple[str, ...] = ("predictive", "predictive-realloc", "ahmo", "anneal")
"""Policies that score with qstream's online predictor (the others with priors or the truth)."""


@dataclass(frozen=True, slots=True)
class FleetView:
    """What a policy may look at besides the scores.

    Attributes
    ----------
    rank:
        Fleet order of each backend (ties go to the lower rank).
    outstanding:
        qstream's sub-tasks pending or in flight per backend.
    pending_jobs:
        External pending jobs last reported per backend.
    specs:
        Each backend's current spec (calibration, limits); ``ahmo`` reads it.
    """

    rank: Mapping[str, int]
    outstanding: Mapping[str, int]
    pending_jobs: Mapping[str, int]
    specs: Mapping[str, BackendSpec] = field(default_factory=dict)


class PlacementPolicy(Protocol):
    """Chooses a backend among scored candidates.

    Attributes
    ----------
    name:
        One of :data:`POLICY_NAMES`.
    reallocates:
        Whether :meth:`Scheduler.reallocate` may move this policy's pending sub-tasks.
    hedges:
        Whether :meth:`Scheduler.hedge` may start backup copies of stragglers.
    splits:
        Whether the scheduler may split a sub-task's shots across backends.
    """

    name: str
    reallocates: bool
    hedges: bool
    splits: bool

    def choose(self, subtask: SubTask, scores: Sequence[BackendScore], view: FleetView) -> str:
        """Return the chosen backend's name; ``scores`` are cheapest first, never empty."""
        ...


@dataclass(slots=True)
class CostPolicy:
    """The cheapest backend by weighted cost (qstream's rule, with any estimator).

    >>> CostPolicy("predictive").reallocates
    False
    """

    name: str
    reallocates: bool = False
    hedges: bool = False
    splits: bool = True

    def choose(self, subtask: SubTask, scores: Sequence[BackendScore], view: FleetView) -> str:
        return scores[0].backend


@dataclass(slots=True)
class RoundRobinPolicy:
    """The next capable backend after the last one used, in fleet order."""

    name: str = "round-robin"
    reallocates: bool = False
    hedges: bool = False
    splits: bool = False
    _next: int = 0

    def choose(self, subtask: SubTask, scores: Sequence[BackendScore], view: FleetView) -> str:
        ordered = sorted((s.backend for s in scores), key=view.rank.__getitem__)
        # Cycle over the whole fleet, so a sub-task that only fits some backends
        # does not reset the rotation of the others.
        n = len(view.rank)
        for step in range(n):
            pos = (self._next + step) % n
            for b in ordered:
                if view.rank[b] == pos:
                    self._next = pos + 1
                    return b
        return ordered[0]


@dataclass(slots=True)
class RandomPolicy:
    """A capable backend uniformly at random, from a seeded generator."""

    seed: int = 0
    name: str = "random"
    reallocates: bool = False
    hedges: bool = False
    splits: bool = False
    _rng: random.Random | None = None

    def choose(self, subtask: SubTask, scores: Sequence[BackendScore], view: FleetView) -> str:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        ordered = sorted((s.backend for s in scores), key=view.rank.__getitem__)
        return self._rng.choice(ordered)


@dataclass(slots=True)
class ShortestQueuePolicy:
    """Least pending: the device's external pending jobs plus qstream's own outstanding."""

    name: str = "shortest-queue"
    reallocates: bool = False
    hedges: bool = False
    splits: bool = False

    def choose(self, subtask: SubTask, scores: Sequence[BackendScore], view: FleetView) -> str:
        return min(
            (s.backend for s in scores),
            key=lambda b: (view.pending_jobs.get(b, 0) + view.outstanding.get(b, 0), view.rank[b]),
        )


@dataclass(slots=True)
class BestFidelityPolicy:
    """Lowest estimated error, whatever the wait or price."""

    name: str = "best-fidelity"
    reallocates: bool = False
    hedges: bool = False
    splits: bool = False

    def choose(self, subtask: SubTask, scores: Sequence[BackendScore], view: FleetView) -> str:
        return min(scores, key=lambda s: (s.prediction.error, view.rank[s.backend])).backend


def make_policy(name: str, *, seed: int = 0) -> PlacementPolicy:
    """Build the decision rule of policy ``name``.

    ``anneal`` comes without an annealer (the core imports no sampler): attach one
    with ``policy.solver = qstream.solvers.assignment.annealer()``.

    Raises
    ------
    ConfigError
        On an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> p = make_policy("predictive-realloc")
    >>> (p.name, p.reallocates, p.hedges, p.splits)
    ('predictive-realloc', True, True, True)
    >>> make_policy("fastest")
    Traceback (most recent call last):
    ...
    qstream.errors.ConfigError: unknown policy 'fastest'; choose one of round-robin, random, \
shortest-queue, best-fidelity, qonductor, predictive, predictive-realloc, oracle, ahmo, anneal
    """
    if name == "round-robin":
        return RoundRobinPolicy()
    if name == "random":
        return RandomPolicy(seed=seed)
    if name == "shortest-queue":
        return ShortestQueuePolicy()
    if name == "best-fidelity":
        return BestFidelityPolicy()
    if name in ("qonductor", "predictive"):
        return CostPolicy(name, splits=name == "predictive")
    if name == "predictive-realloc":
        return CostPolicy(name, reallocates=True, hedges=True)
    if name == "oracle":
        return CostPolicy(name, reallocates=True)
    if name == "ahmo":
        from qstream.core.ahmo import AhmoPolicy

        return AhmoPolicy(seed=seed)
    if name == "anneal":
        # The annealer is attached by the edge that runs it (simulator, worker):
        # see qstream.solvers.assignment.annealer. Without one it plans greedily.
        from qstream.core.anneal import AnnealPolicy

        return AnnealPolicy(seed=seed)
    raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
