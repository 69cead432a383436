"""Classical solvers behind one protocol (issue 10): an edge around dwave-samplers,
networkx and cvxpy.

- :mod:`~qstream.solvers.base`: the :class:`Solver` protocol and :class:`SolveOutcome`.
- :mod:`~qstream.solvers.annealing`: simulated annealing (``maxcut``, ``qubo``).
- :mod:`~qstream.solvers.maxcut`: local search and Goemans–Williamson (``maxcut``).
- :mod:`~qstream.core.problems.solver_costs` (pure core): predicted ``(run_s, memory_bytes)`` per solver.
- :mod:`~qstream.solvers.registry`: :data:`CLASSICAL_SOLVERS` and :func:`solvers_for`.
"""

from qstream.solvers.base import SolveOutcome, Solver
from qstream.solvers.registry import CLASSICAL_SOLVERS, solvers_for

__all__ = ["CLASSICAL_SOLVERS", "SolveOutcome", "Solver", "solvers_for"]
