"""The classical solvers by name, and which of them can take a given problem.

Examples
--------
>>> from qstream.core.problems import GroundState, MaxCut, Qubo
>>> sorted(CLASSICAL_SOLVERS)
['goemans_williamson', 'local_search', 'simulated_annealing']
>>> [s.name for s in solvers_for(MaxCut(2, ((0, 1, 1.0),)))]
['simulated_annealing', 'local_search', 'goemans_williamson']
>>> [s.name for s in solvers_for(Qubo(2, ((0, -1.0),), ()))]
['simulated_annealing']
>>> solvers_for(GroundState(1, (("Z", 1.0),)))
()
"""

from __future__ import annotations

from qstream.core.problems import Problem
from qstream.solvers.annealing import SimulatedAnnealing
from qstream.solvers.base import Solver
from qstream.solvers.maxcut import GoemansWilliamson, LocalSearch

CLASSICAL_SOLVERS: dict[str, Solver] = {
    s.name: s for s in (SimulatedAnnealing(), LocalSearch(), GoemansWilliamson())
}
"""Solver name -> solver with its default settings (frozen values, safe to share)."""


def solvers_for(problem: Problem) -> tuple[Solver, ...]:
    """The registered solvers that accept ``problem``'s kind and size, in registry order.

    An empty tuple means no classical solver here takes it (``ground_state`` problems,
    or a MaxCut too large for every size-limited solver, which cannot happen today since
    simulated annealing has no limit).
    """
    return tuple(s for s in CLASSICAL_SOLVERS.values()
                 if problem.kind in s.kinds and (s.max_size is None or problem.size <= s.max_size))
