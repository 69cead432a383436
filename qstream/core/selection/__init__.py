"""Algorithm selection (issue 10): candidate configurations, their priors, online models, choice.

- :mod:`~qstream.core.selection.candidates`: :class:`Configuration` (solver x backend),
  :class:`Executor`, :func:`enumerate_candidates` (allow-list, sizes, memory).
- the classical solvers' resource priors and defaults live in
  :mod:`qstream.core.problems.solver_costs` (shared with :mod:`qstream.solvers`, which
  then need not import River through this package).
- :mod:`~qstream.core.selection.priors`: documented queue/run/accuracy/price priors.
- :mod:`~qstream.core.selection.model`: River models of run time and accuracy.
- :mod:`~qstream.core.selection.select`: :func:`select` by weighted cost.
"""

from qstream.core.selection.candidates import (
    SOLVER_CATALOGUE,
    Candidate,
    CandidateSet,
    Configuration,
    Executor,
    Rejection,
    enumerate_candidates,
)
from qstream.core.selection.priors import ConfigPrior, QuantumSettings, configuration_prior

__all__ = ["SOLVER_CATALOGUE", "Candidate", "CandidateSet", "ConfigPrior", "Configuration",
           "Executor", "QuantumSettings", "Rejection", "configuration_prior", "enumerate_candidates"]
