"""MaxCut approximations: one-exchange local search (networkx) and Goemans–Williamson (cvxpy).

:class:`LocalSearch` runs ``networkx.algorithms.approximation.maxcut.one_exchange``
(greedy: swap the single node that most increases the cut until none does) from a
seeded random cut, then restarts it from the best cut with ``kick`` random nodes
flipped, keeping a restart's cut when it is at least as good: iterated local search
(Lourenço, Martin & Stützle, "Iterated Local Search", Handbook of Metaheuristics, 2003).
Plain random restarts stall at about 0.93 of the best cut on 150-node 3-regular graphs
(193 vs 207 here, 4 restarts); kicks of ``n / 12`` nodes reach 205 after 40 restarts.

:class:`GoemansWilliamson` solves the MaxCut SDP relaxation (Goemans & Williamson,
"Improved approximation algorithms for maximum cut and satisfiability problems using
semidefinite programming", JACM 42(6), 1995):

    maximise ¼ Σ_ij w_ij (1 − X_ij) = ¼ tr(L X)   s.t.  X ⪰ 0, X_ii = 1,

with ``L`` the weighted graph Laplacian, in cvxpy with SCS at ``eps = 1e-3`` (rounding
needs only a near-optimal ``X``; the bound moved by < 0.1% against ``eps = 1e-4``,
which took 55.6 s instead of 1.5 s at n = 150). It factors ``X = V Vᵀ`` and rounds by
random hyperplanes, ``x_i = [v_i · r ≥ 0]`` with ``r ~ N(0, I)``, keeping the best of
``rounds``; for non-negative weights the expected cut is ≥ 0.878 of the optimum. The
SDP value is an upper bound on the maximum cut (``details["sdp_bound"]``, up to the
solver tolerance).

Measured here (2-core VM shared with other jobs, 3-regular graphs): the SCS SDP alone
took n = 50 -> 0.09 s, 100 -> 0.37 s, 150 -> 1.49 s, 200 -> 1.88 s, and a whole
:meth:`GoemansWilliamson.solve` (cvxpy build, SDP, 100 roundings) 0.23 / 0.39 / 1.63 /
1.72 s (``scripts/calibrate_solvers.py``); Clarabel (interior point) took 1.1 / 22.6 /
342 s for n = 50 / 100 / 150. :data:`GW_MAX_NODES` is therefore 200.

Examples
--------
>>> from qstream.core.problems import MaxCut
>>> square = MaxCut(4, ((0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (0, 3, 1.0)))
>>> LocalSearch(restarts=3).solve(square, seed=1).objective
4.0
>>> gw = GoemansWilliamson(rounds=10).solve(square, seed=1)
>>> gw.objective, round(gw.details["sdp_bound"], 2)
(4.0, 4.0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cvxpy as cp
import networkx as nx
import numpy as np
from networkx.algorithms.approximation.maxcut import one_exchange

from qstream.core.problems import MaxCut, Problem, bits_to_string
from qstream.core.problems import solver_costs as priors
from qstream.core.problems.solver_costs import (
    GW_MAX_NODES,
    GW_ROUNDS,
    LS_KICK_FRACTION,
    LS_RESTARTS,
    kick_nodes,
)
from qstream.errors import BackendError
from qstream.solvers.base import SolveOutcome, check_kind, check_seed, iteration_cap, running_best


def to_graph(problem: MaxCut) -> nx.Graph:
    """networkx graph of nodes ``0..n-1`` with each edge's ``weight``."""
    graph = nx.Graph()
    graph.add_nodes_from(range(problem.num_nodes))
    graph.add_weighted_edges_from(problem.edges)
    return graph


def _bits(cut: set[int], n: int) -> list[int]:
    return [1 if i in cut else 0 for i in range(n)]


@dataclass(frozen=True)
class LocalSearch:
    """One-exchange local search with kicked restarts, for ``maxcut``.

    Parameters
    ----------
    restarts:
        ``one_exchange`` runs (the first from a random cut, the rest kicked from the
        best so far); ``max_iterations`` caps it. ``history`` is the best cut after each.
    kick_fraction:
        Share of nodes flipped before each restart (at least one node).
    """

    restarts: int = LS_RESTARTS
    kick_fraction: float = LS_KICK_FRACTION
    name: str = "local_search"
    kinds: tuple[str, ...] = ("maxcut",)
    max_size: int | None = None

    def kick(self, num_nodes: int) -> int:
        """Nodes flipped before a restart: ``max(1, round(kick_fraction * n))``."""
        return kick_nodes(num_nodes, self.kick_fraction)

    def solve(self, problem: Problem, *, seed: int,
              max_iterations: int | None = None) -> SolveOutcome:
        """Best cut over the restarts.

        Raises
        ------
        qstream.errors.CapacityError
            For a problem that is not ``maxcut``.
        ValueError
            For a negative seed.
        """
        start = time.perf_counter()
        check_kind(self, problem)
        check_seed(seed)
        assert isinstance(problem, MaxCut)
        n, graph = problem.num_nodes, to_graph(problem)
        rng = np.random.default_rng(seed)
        runs = iteration_cap(self.restarts, max_iterations)
        kick = min(self.kick(n), n)
        best_cut: set[int] = {i for i in range(n) if rng.random() < 0.5}
        best = -np.inf
        history = []
        for k in range(runs):
            initial = best_cut ^ set(rng.choice(n, size=kick, replace=False).tolist()) if k else best_cut
            _, (cut, _) = one_exchange(graph, initial_cut=initial, seed=int(rng.integers(2 ** 31)),
                                       weight="weight")
            value = problem.cut_value(_bits(cut, n))
            if value >= best:
                best, best_cut = value, set(cut)
            history.append(best)
        bits = _bits(best_cut, n)
        return SolveOutcome(
            bitstring=bits_to_string(bits), objective=float(problem.cut_value(bits)),
            iterations=runs, history=running_best(np.array(history), maximise=True),
            run_s=time.perf_counter() - start, solver=self.name,
            details={"restarts": runs, "kick": kick})

    def estimate(self, problem: Problem) -> tuple[float, int]:
        """Prior ``(run_s, memory_bytes)``: see :func:`qstream.core.problems.solver_costs.local_search`."""
        check_kind(self, problem)
        assert isinstance(problem, MaxCut)
        return priors.local_search(problem.num_nodes, len(problem.edges),
                                   restarts=self.restarts, kick=self.kick(problem.num_nodes))


def laplacian(problem: MaxCut) -> np.ndarray:
    """Weighted graph Laplacian ``L = D - W``, shape ``(n, n)``, so ``cut(x) = ¼ sᵀ L s``
    for spins ``s = 2x - 1``.

    >>> laplacian(MaxCut(2, ((0, 1, 2.0),))).tolist()
    [[2.0, -2.0], [-2.0, 2.0]]
    """
    n = problem.num_nodes
    lap = np.zeros((n, n))
    for u, v, w in problem.edges:
        lap[u, v] -= w
        lap[v, u] -= w
        lap[u, u] += w
        lap[v, v] += w
    return lap


@dataclass(frozen=True)
class GoemansWilliamson:
    """Goemans–Williamson SDP relaxation and random-hyperplane rounding, for ``maxcut``.

    Parameters
    ----------
    rounds:
        Random hyperplanes tried; ``max_iterations`` caps it. ``history`` is the best
        cut after each.
    sdp_solver:
        cvxpy solver name (``"SCS"``; ``"CLARABEL"`` is exact but 15-200x slower here).
    eps:
        SCS's ``eps_abs`` and ``eps_rel`` (ignored by other solvers).
    max_size:
        Largest node count accepted (:data:`GW_MAX_NODES`).
    """

    rounds: int = GW_ROUNDS
    sdp_solver: str = "SCS"
    eps: float = 1e-3
    name: str = "goemans_williamson"
    kinds: tuple[str, ...] = ("maxcut",)
    max_size: int | None = GW_MAX_NODES

    def relax(self, problem: MaxCut) -> tuple[np.ndarray, float, dict[str, object]]:
        """Solve the SDP; return ``V`` (shape ``(n, n)``, rows ``v_i`` with
        ``V Vᵀ ≈ X``), the SDP value and the solver's facts.

        Raises
        ------
        qstream.errors.BackendError
            If the SDP solver does not reach an (inaccurate) optimum.
        """
        n = problem.num_nodes
        x = cp.Variable((n, n), PSD=True)
        sdp = cp.Problem(cp.Maximize(cp.sum(cp.multiply(laplacian(problem), x)) / 4),
                         [cp.diag(x) == 1])
        options = {"eps_abs": self.eps, "eps_rel": self.eps} if self.sdp_solver == "SCS" else {}
        started = time.perf_counter()
        sdp.solve(solver=self.sdp_solver, **options)
        if sdp.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or x.value is None:
            raise BackendError(f"Goemans-Williamson SDP ({self.sdp_solver}) ended {sdp.status!r} "
                               f"on {n} nodes; retry with sdp_solver='CLARABEL' or use local_search")
        values, vectors = np.linalg.eigh((x.value + x.value.T) / 2)
        factor = vectors * np.sqrt(np.clip(values, 0.0, None))
        facts: dict[str, object] = {"sdp_status": str(sdp.status), "sdp_solver": self.sdp_solver,
                 "sdp_iterations": sdp.solver_stats.num_iters,
                 "sdp_s": time.perf_counter() - started}
        return factor, float(sdp.value), facts

    def solve(self, problem: Problem, *, seed: int,
              max_iterations: int | None = None) -> SolveOutcome:
        """Best hyperplane rounding of the SDP solution.

        Raises
        ------
        qstream.errors.CapacityError
            For a problem that is not ``maxcut`` or has more than ``max_size`` nodes.
        qstream.errors.BackendError
            If the SDP solver fails (see :meth:`relax`).
        ValueError
            For a negative seed.
        """
        start = time.perf_counter()
        check_kind(self, problem)
        check_seed(seed)
        assert isinstance(problem, MaxCut)
        factor, bound, facts = self.relax(problem)
        rounds = iteration_cap(self.rounds, max_iterations)
        normals = np.random.default_rng(seed).standard_normal((problem.num_nodes, rounds))
        sides = (factor @ normals >= 0).astype(np.int8)  # (n, rounds)
        u, v, w = (np.array(c) for c in zip(*problem.edges, strict=True))
        cuts = (w[:, None] * (sides[u.astype(int)] != sides[v.astype(int)])).sum(axis=0)
        best = int(np.argmax(cuts))
        bits = sides[:, best].tolist()
        return SolveOutcome(
            bitstring=bits_to_string(bits), objective=float(problem.cut_value(bits)),
            iterations=rounds, history=running_best(cuts, maximise=True),
            run_s=time.perf_counter() - start, solver=self.name,
            details={"sdp_bound": bound, "rounds": rounds, **facts})

    def estimate(self, problem: Problem) -> tuple[float, int]:
        """Prior ``(run_s, memory_bytes)``: :func:`qstream.core.problems.solver_costs.goemans_williamson`.

        Raises
        ------
        qstream.errors.CapacityError
            Like :meth:`solve`, so a selection step never plans an impossible run.
        """
        check_kind(self, problem)
        return priors.goemans_williamson(problem.size, rounds=self.rounds)
