"""Online meta-optimisation of AHMO's fusion weights: a discounted UCB bandit over weight vectors.

Each arm is one weight vector over the components of
:mod:`qstream.core.ahmo.components`. Each placement decision pulls the arm with
the highest upper confidence bound; when the sub-task's outcome arrives, that arm
is credited with the reward (see :func:`reward`).

Discounted UCB (D-UCB): Garivier and Moulines, "On upper-confidence bound policies
for switching bandit problems", ALT 2011. With discount ``g`` every statistic
decays by ``g`` per reward, so the bandit follows a fleet whose best weighting
changes (calibration drift, outages)::

    N_k <- g N_k + [k pulled];   S_k <- g S_k + r [k pulled]
    UCB_k = S_k / N_k + c * sqrt(xi * ln(sum_j N_j) / N_k)

``c = 1`` (rewards in [0, 1]) and ``xi = 0.5`` (the paper's
``B sqrt(xi log n_t / N_t)`` padding with ``B = 1``; it proves regret bounds
for ``xi > 1/2``, we use the boundary value for more exploitation); an arm
never credited is pulled first, in arm order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

Weights = Mapping[str, float]

_HAND: tuple[dict[str, float], ...] = (
    {"repro": 1.0, "esp": 1.0, "mitigation": 1.0, "time": 1.0, "price": 1.0},  # uniform
    {"repro": 0.5, "esp": 1.0, "mitigation": 0.5, "time": 3.0, "price": 0.5},  # time first
    {"repro": 1.0, "esp": 2.0, "mitigation": 2.0, "time": 1.0, "price": 0.5},  # fidelity first
    {"repro": 0.5, "esp": 1.0, "mitigation": 0.5, "time": 1.0, "price": 3.0},  # price first
    {"repro": 0.5, "esp": 1.0, "mitigation": 0.0, "time": 2.0, "price": 1.0},  # raw ESP + time
)


def default_arms(seed: int = 0, extra: int = 3) -> tuple[dict[str, float], ...]:
    """Five hand-set weight vectors plus ``extra`` drawn from a flat Dirichlet (seeded).

    >>> arms = default_arms(seed=1)
    >>> len(arms), sorted(arms[0])
    (8, ['esp', 'mitigation', 'price', 'repro', 'time'])
    >>> default_arms(seed=1) == arms
    True
    """
    rng = random.Random(seed)
    names = ("repro", "esp", "mitigation", "time", "price")
    out = list(_HAND)
    for _ in range(extra):
        draws = [rng.expovariate(1.0) for _ in names]  # Dirichlet(1) = normalised Exp(1)
        total = sum(draws)
        out.append({n: len(names) * d / total for n, d in zip(names, draws, strict=True)})
    return tuple(out)


@dataclass(slots=True)
class DiscountedUCB:
    """D-UCB over ``arms`` (see the module docstring).

    Examples
    --------
    >>> b = DiscountedUCB(n_arms=2, discount=1.0)
    >>> b.select(), b.select()      # unexplored arms first, in order (pulls are counted on reward)
    (0, 0)
    >>> b.update(0, 0.2); b.select()
    1
    >>> b.update(1, 0.9); b.update(1, 0.9); b.select()
    1
    >>> b.means()
    [0.2, 0.9]
    """

    n_arms: int
    discount: float = 0.995
    c: float = 1.0
    xi: float = 0.5
    counts: list[float] = field(default_factory=list)
    sums: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.n_arms < 1:
            raise ValueError(f"n_arms must be >= 1, got {self.n_arms}")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")
        if not self.counts:
            self.counts = [0.0] * self.n_arms
            self.sums = [0.0] * self.n_arms

    def select(self) -> int:
        """The arm to pull now."""
        for k, n in enumerate(self.counts):
            if n <= 1e-9:
                return k
        total = sum(self.counts)
        log_n = math.log(max(total, 1.0 + 1e-9))
        best, best_u = 0, -math.inf
        for k, (n, s) in enumerate(zip(self.counts, self.sums, strict=True)):
            u = s / n + self.c * math.sqrt(self.xi * log_n / n)
            if u > best_u:
                best, best_u = k, u
        return best

    def update(self, arm: int, reward: float) -> None:
        """Credit ``arm`` with ``reward`` (clipped into [0, 1]); every statistic decays first.

        Raises
        ------
        IndexError
            On an arm outside ``0..n_arms-1``.
        """
        if not 0 <= arm < self.n_arms:
            raise IndexError(f"arm {arm} outside 0..{self.n_arms - 1}")
        g = self.discount
        if g < 1.0:
            self.counts = [n * g for n in self.counts]
            self.sums = [s * g for s in self.sums]
        self.counts[arm] += 1.0
        self.sums[arm] += min(max(reward, 0.0), 1.0)

    def means(self) -> list[float]:
        """Discounted mean reward per arm (NaN for an arm never credited)."""
        return [s / n if n > 1e-9 else math.nan for n, s in zip(self.counts, self.sums,
                                                                  strict=True)]


def reward(best_predicted_cost: float, realised_cost: float) -> float:
    """Reward of one decision: ``best predicted cost / realised cost``, in [0, 1].

    Both are the scheduler's weighted cost (:func:`qstream.core.cost.weighted_cost`,
    the sub-task's weights) of ``(time_s, error, price_usd)``: the lowest predicted
    among the candidates at decision time, and the one realised by the backend
    chosen. 1 means the outcome was as good as the best the predictions promised;
    the ratio is scale-free, so large and small sub-tasks weigh alike.

    >>> reward(1.0, 2.0), reward(1.0, 0.5), reward(0.0, 0.0)
    (0.5, 1.0, 1.0)
    """
    if realised_cost <= 1e-12:
        return 1.0
    return min(max(best_predicted_cost, 0.0) / realised_cost, 1.0)
