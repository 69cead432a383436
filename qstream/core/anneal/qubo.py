"""The release-time assignment as a QUBO, its greedy solution, and decoding with repair.

Variables: ``x[i, j] = 1`` when batch item ``i`` takes its option ``j``
(:class:`~qstream.core.scheduler.batch.BatchItem`), plus binary slack bits per
contended backend. Minimise::

    sum_ij (c_ij - min_j c_ij) x_ij                          # the scheduler's costs
    + A * sum_i (sum_j x_ij - 1)^2                           # one option per item
    + A * sum_b (sum_{i,j: immediate on b} x_ij + sum_k a_k y_bk - F_b)^2   # credits

``F_b`` is backend ``b``'s free credits; its slack ``sum_k a_k y_bk`` takes every
integer in ``0..F_b`` with ``a = 1, 2, 4, ..., F_b - (2^(K-1) - 1)`` (the bounded
binary encoding of Lucas, "Ising formulations of many NP problems", Front. Phys.
2014, section 2.4), so the equality holds exactly when at most ``F_b`` items take
``b``. A backend whose immediate options number at most ``F_b`` needs no
constraint. The capacity penalty ``A = 2 * max_i (max_j c_ij - min_j c_ij) + 1``
exceeds any cost one violated constraint could save; item ``i``'s one-hot penalty
uses its own spread, ``A_i = 2 * (max_j c_ij - min_j c_ij) + 1`` (a global one makes
the landscape needlessly rugged for single-flip annealing: leaving a one-hot state
costs ``A`` however little the item's options differ). Shifting each item's costs by its minimum changes
the objective by a constant under one-hot, and keeps the biases small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qstream.core.problems import Qubo
from qstream.core.scheduler.batch import BatchProblem


@dataclass(frozen=True, slots=True)
class Encoded:
    """A :class:`BatchProblem` as a :class:`Qubo`, with the map back.

    ``var`` lists ``(item index, option index)`` for each assignment variable
    ``0..len(var)-1``; slack variables follow.
    """

    qubo: Qubo
    var: tuple[tuple[int, int], ...]
    penalty: float


def _slack_coefficients(bound: int) -> list[int]:
    """Coefficients whose 0/1 sums cover exactly ``0..bound``.

    >>> _slack_coefficients(1), _slack_coefficients(5), _slack_coefficients(7)
    ([1], [1, 2, 2], [1, 2, 4])
    """
    out: list[int] = []
    total = 0
    k = 1
    while total + k <= bound:
        out.append(k)
        total += k
        k *= 2
    if total < bound:
        out.append(bound - total)
    return out


def encode(problem: BatchProblem) -> Encoded:
    """The QUBO of the module docstring.

    Examples
    --------
    >>> from qstream.core.scheduler.batch import BatchItem, BatchOption, BatchProblem
    >>> items = tuple(BatchItem(f"s{i}", "a", (BatchOption("b", 1.0, True),
    ...                                       BatchOption("a", 3.0, False))) for i in range(2))
    >>> enc = encode(BatchProblem(items, {"b": 1}, 0.0, 2))
    >>> enc.qubo.num_vars, enc.var, enc.penalty      # 4 assignment bits + 1 slack bit
    (5, ((0, 0), (0, 1), (1, 0), (1, 1)), 5.0)
    >>> enc.qubo.value([1, 0, 0, 1, 0]), enc.qubo.value([1, 0, 1, 0, 0])  # 2nd overfills b
    (2.0, 5.0)
    >>> enc.qubo.value([0, 0, 0, 1, 1])   # item 0 takes nothing: its one-hot penalty A_0 = 5
    7.0
    """
    var: list[tuple[int, int]] = []
    shifted: list[list[float]] = []
    spread = 0.0
    for i, item in enumerate(problem.items):
        lo = min(o.cost for o in item.options)
        row = [o.cost - lo for o in item.options]
        spread = max(spread, max(row))
        shifted.append(row)
        var.extend((i, j) for j in range(len(item.options)))
    a = 2.0 * spread + 1.0
    index = {v: n for n, v in enumerate(var)}
    item_a = [2.0 * max(row) + 1.0 for row in shifted]
    linear: dict[int, float] = {}
    quad: dict[tuple[int, int], float] = {}
    offset = 0.0

    def add_square(terms: Sequence[tuple[int, float]], target: float,
                   a: float = a) -> None:
        # a * (sum_k c_k z_k - target)^2 over binary z.
        nonlocal offset
        for n, (u, cu) in enumerate(terms):
            linear[u] = linear.get(u, 0.0) + a * (cu * cu - 2.0 * target * cu)
            for v, cv in terms[n + 1:]:
                key = (u, v) if u < v else (v, u)
                quad[key] = quad.get(key, 0.0) + 2.0 * a * cu * cv
        offset += a * target * target

    for i, item in enumerate(problem.items):
        for j in range(len(item.options)):
            u = index[(i, j)]
            linear[u] = linear.get(u, 0.0) + shifted[i][j]
        add_square([(index[(i, j)], 1.0) for j in range(len(item.options))], 1.0, item_a[i])
    n_vars = len(var)
    for b, credits in problem.free.items():
        takers = [index[(i, j)] for i, item in enumerate(problem.items)
                  for j, o in enumerate(item.options) if o.immediate and o.backend == b]
        if len(takers) <= credits:
            continue
        slack = []
        for c in _slack_coefficients(credits):
            slack.append((n_vars, float(c)))
            n_vars += 1
        add_square([(u, 1.0) for u in takers] + slack, float(credits))
    qubo = Qubo(n_vars, tuple(sorted(linear.items())),
                tuple((u, v, c) for (u, v), c in sorted(quad.items())), offset)
    return Encoded(qubo, tuple(var), a)


def objective(problem: BatchProblem, choice: Sequence[int]) -> float:
    """Summed cost of the options chosen (``choice[i]``: option index of item ``i``)."""
    return sum(item.options[j].cost for item, j in zip(problem.items, choice, strict=True))


def feasible(problem: BatchProblem, choice: Sequence[int]) -> bool:
    """Whether ``choice`` respects every backend's free credits."""
    used: dict[str, int] = {}
    for item, j in zip(problem.items, choice, strict=True):
        o = item.options[j]
        if o.immediate:
            used[o.backend] = used.get(o.backend, 0) + 1
    return all(n <= problem.free.get(b, 0) for b, n in used.items())


def greedy(problem: BatchProblem) -> list[int]:
    """Each item in release order takes its cheapest option that still has a credit.

    The wait option (always last) has no credit limit, so this is always feasible.

    >>> from qstream.core.scheduler.batch import BatchItem, BatchOption, BatchProblem
    >>> items = tuple(BatchItem(f"s{i}", "a", (BatchOption("b", 1.0, True),
    ...                                       BatchOption("a", 3.0, False))) for i in range(2))
    >>> greedy(BatchProblem(items, {"b": 1}, 0.0, 2))
    [0, 1]
    """
    left = dict(problem.free)
    out = []
    for item in problem.items:
        order = sorted(range(len(item.options)), key=lambda j: item.options[j].cost)
        for j in order:
            o = item.options[j]
            if not o.immediate:
                out.append(j)
                break
            if left.get(o.backend, 0) > 0:
                left[o.backend] -= 1
                out.append(j)
                break
    return out


def decode(problem: BatchProblem, enc: Encoded, bits: Sequence[int]) -> tuple[list[int], int]:
    """The choice the bits encode, repaired into a feasible one; and how many items needed repair.

    Repair: an item with no option set (or several) takes the cheapest of those
    set (or of all); then, per backend over its credits, the items whose cheapest
    alternative costs least extra are moved off it (to a backend with a credit
    left or to their wait option).
    """
    chosen: list[list[int]] = [[] for _ in problem.items]
    for n, (i, j) in enumerate(enc.var):
        if bits[n]:
            chosen[i].append(j)
    repaired = 0
    choice: list[int] = []
    for item, got in zip(problem.items, chosen, strict=True):
        pool = got if got else range(len(item.options))
        if len(got) != 1:
            repaired += 1
        choice.append(min(pool, key=lambda j: item.options[j].cost))
    left = dict(problem.free)
    for item, j in zip(problem.items, choice, strict=True):
        o = item.options[j]
        if o.immediate:
            left[o.backend] = left.get(o.backend, 0) - 1
    for b in list(left):
        while left[b] < 0:
            best: tuple[float, int, int] | None = None
            for i, (item, j) in enumerate(zip(problem.items, choice, strict=True)):
                o = item.options[j]
                if not (o.immediate and o.backend == b):
                    continue
                for k, alt in enumerate(item.options):
                    if alt.immediate and (alt.backend == b or left.get(alt.backend, 0) <= 0):
                        continue
                    extra = alt.cost - o.cost
                    if best is None or extra < best[0]:
                        best = (extra, i, k)
            assert best is not None  # the wait option is always an alternative
            _, i, k = best
            alt = problem.items[i].options[k]
            if alt.immediate:
                left[alt.backend] -= 1
            choice[i] = k
            left[b] += 1
            repaired += 1
    return choice, repaired


def polish(problem: BatchProblem, choice: list[int]) -> int:
    """Improve a feasible ``choice`` in place by single-item moves; returns the moves made.

    Steepest descent: repeatedly apply the one change of one item's option
    (to a backend with a credit left, or to waiting) that lowers the summed cost
    most, until none does. A standard post-processing of annealer reads: single
    bit flips cannot move between one-hot states without crossing a penalty.
    """
    left = dict(problem.free)
    for item, j in zip(problem.items, choice, strict=True):
        o = item.options[j]
        if o.immediate:
            left[o.backend] -= 1
    moves = 0
    while True:
        best: tuple[float, int, int] | None = None
        for i, item in enumerate(problem.items):
            cur = item.options[choice[i]]
            for k, alt in enumerate(item.options):
                if k == choice[i] or (alt.immediate and alt.backend != cur.backend
                                      and left.get(alt.backend, 0) <= 0):
                    continue
                gain = cur.cost - alt.cost
                if gain > 1e-12 and (best is None or gain > best[0]):
                    best = (gain, i, k)
        if best is None:
            return moves
        _, i, k = best
        cur, alt = problem.items[i].options[choice[i]], problem.items[i].options[k]
        if cur.immediate:
            left[cur.backend] += 1
        if alt.immediate:
            left[alt.backend] -= 1
        choice[i] = k
        moves += 1
