"""The annealer the ``anneal`` policy solves its release-time QUBO with (dwave-samplers).

An edge: the core policy (:class:`qstream.core.anneal.AnnealPolicy`) takes any
``(qubo, seed) -> bits`` callable and imports no sampler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dwave.samplers import SimulatedAnnealingSampler

from qstream.core.problems import Qubo
from qstream.solvers.annealing import sampler_seed, to_bqm

NUM_READS = 16
NUM_SWEEPS = 300
"""Reads and sweeps per release: a release's QUBO has tens to hundreds of variables, and
decision time matters more here than in a solver task (dwave's default is 1000 sweeps)."""


def annealer(num_reads: int = NUM_READS,
             num_sweeps: int = NUM_SWEEPS) -> Callable[[Qubo, int], Sequence[int]]:
    """A ``(qubo, seed) -> bits`` simulated annealer (the lowest-energy read).

    >>> from qstream.core.problems import Qubo
    >>> solve = annealer(num_reads=4, num_sweeps=50)
    >>> sum(solve(Qubo(2, ((0, -1.0), (1, -1.0)), ((0, 1, 3.0),)), 7))   # x0 xor x1
    1
    """
    sampler = SimulatedAnnealingSampler()

    def solve(qubo: Qubo, seed: int) -> list[int]:
        sampleset = sampler.sample(to_bqm(qubo), num_reads=num_reads, num_sweeps=num_sweeps,
                                   seed=sampler_seed(seed))
        best = sampleset.first.sample
        return [int(best[i]) for i in range(qubo.num_vars)]

    return solve
