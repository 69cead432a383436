"""Optimisation problems a task may carry instead of circuits (issue 10).

:mod:`~qstream.core.problems.model` holds the three kinds (MaxCut, QUBO, ground
state) as frozen values parsed from a task's ``problem`` object;
:mod:`~qstream.core.problems.conversions` turns MaxCut into QUBO and both into an
Ising cost Hamiltonian; :mod:`~qstream.core.problems.exact` finds exact optima
(brute force, exact diagonalisation) and predicts their cost;
:mod:`~qstream.core.problems.quality` scores solutions and describes problems;
:mod:`~qstream.core.problems.solver_costs` holds the classical solvers' run-time and
memory priors.
"""

from qstream.core.problems.conversions import (
    CostHamiltonian,
    ground_state_from_problem,
    ising_from_qubo,
    qubo_from_maxcut,
)
from qstream.core.problems.exact import (
    EXACT_MAX_QUBITS,
    EXACT_MAX_VARS,
    ExactOptimum,
    exact_optimum,
    exact_resources,
    ground_energy,
    solve_maxcut,
    solve_qubo,
    sparse_hamiltonian,
)
from qstream.core.problems.model import (
    PROBLEM_KINDS,
    GroundState,
    MaxCut,
    Problem,
    Qubo,
    bits_from_string,
    bits_to_string,
    problem_from_dict,
)
from qstream.core.problems.quality import approximation_ratio, problem_features

__all__ = ["EXACT_MAX_QUBITS", "EXACT_MAX_VARS", "PROBLEM_KINDS", "CostHamiltonian",
           "ExactOptimum", "GroundState", "MaxCut", "Problem", "Qubo", "approximation_ratio",
           "bits_from_string", "bits_to_string", "exact_optimum", "exact_resources",
           "ground_energy", "ground_state_from_problem", "ising_from_qubo", "problem_features",
           "problem_from_dict", "qubo_from_maxcut", "solve_maxcut", "solve_qubo",
           "sparse_hamiltonian"]
