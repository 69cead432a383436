"""Optimisation problems a task may carry instead of circuits (issue 10).

:mod:`~qstream.core.problems.model` holds the three kinds (MaxCut, QUBO, ground
state) as frozen values parsed from a task's ``problem`` object.
"""

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

__all__ = ["PROBLEM_KINDS", "GroundState", "MaxCut", "Problem", "Qubo", "bits_from_string",
           "bits_to_string", "problem_from_dict"]
