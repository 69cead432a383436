"""``anneal``: release-time batch assignment posed as a QUBO (issue 13, section 5).

- :mod:`~qstream.core.anneal.qubo`: encoding, greedy solution, decoding with repair;
- :mod:`~qstream.core.anneal.policy`: the ``anneal`` policy (solver injected by the edges).
"""

from qstream.core.anneal.policy import AnnealPolicy, Solver
from qstream.core.anneal.qubo import encode, greedy

__all__ = ["AnnealPolicy", "Solver", "encode", "greedy"]
