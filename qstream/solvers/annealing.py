"""Simulated annealing with dwave-samplers on a dimod binary quadratic model.

A :class:`~qstream.core.problems.Qubo` maps onto a ``BINARY``
``dimod.BinaryQuadraticModel`` term for term (offset included). A
:class:`~qstream.core.problems.MaxCut` becomes the QUBO of ``-cut``: an edge ``(u, v, w)``
is cut when ``x_u + x_v - 2 x_u x_v = 1``, so it contributes ``-w`` to the linear terms
of ``u`` and ``v`` and ``+2w`` to their interaction (Lucas, "Ising formulations of many
NP problems", Front. Phys. 2:5, 2014, section 2.2). Minimising that energy maximises
the cut.

``SimulatedAnnealingSampler.sample`` runs ``num_reads`` independent anneals of
``num_sweeps`` Metropolis sweeps each over a geometric beta schedule whose range is
derived from the model's biases (dwave-samplers 1.8 docs, "SimulatedAnnealingSampler";
its own defaults are one read and 1000 sweeps when no initial states are given).
We keep its 1000 sweeps and take 32 reads by default: on a 150-node 3-regular MaxCut
1 read found a cut of 203 and 32 reads 207 (the best any of our solvers found) in
0.09 s here, so more reads buy quality cheaply. The best read is returned.

Examples
--------
>>> from qstream.core.problems import MaxCut
>>> square = MaxCut(4, ((0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (0, 3, 1.0)))
>>> out = SimulatedAnnealing(num_reads=4, num_sweeps=100).solve(square, seed=7)
>>> out.objective, out.bitstring in ("0101", "1010"), out.iterations, len(out.history)
(4.0, True, 4, 4)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dimod
import numpy as np
from dwave.samplers import SimulatedAnnealingSampler

from qstream.core.problems import MaxCut, Problem, Qubo, bits_to_string
from qstream.core.problems import solver_costs as priors
from qstream.core.problems.solver_costs import DEFAULT_NUM_READS, DEFAULT_NUM_SWEEPS
from qstream.solvers.base import SolveOutcome, check_kind, check_seed, iteration_cap, running_best


def to_bqm(problem: MaxCut | Qubo) -> dimod.BinaryQuadraticModel:
    """The ``BINARY`` model whose energy is the QUBO value, or ``-cut`` for MaxCut.

    Variables are labelled ``0..size-1``, all present even without terms.

    Examples
    --------
    >>> from qstream.core.problems import MaxCut, Qubo
    >>> bqm = to_bqm(MaxCut(2, ((0, 1, 3.0),)))
    >>> float(bqm.energy({0: 1, 1: 0})), float(bqm.energy({0: 1, 1: 1}))
    (-3.0, 0.0)
    >>> float(to_bqm(Qubo(3, ((0, -1.0),), ((0, 2, 2.0),), 0.5)).energy({0: 1, 1: 0, 2: 1}))
    1.5
    """
    bqm = dimod.BinaryQuadraticModel(dimod.BINARY)
    bqm.add_variables_from((i, 0.0) for i in range(problem.size))
    if isinstance(problem, Qubo):
        bqm.add_linear_from(problem.linear)
        bqm.add_quadratic_from((i, j, c) for i, j, c in problem.quadratic)
        bqm.offset = problem.offset
    else:
        for u, v, w in problem.edges:
            bqm.add_linear(u, -w)
            bqm.add_linear(v, -w)
            bqm.add_quadratic(u, v, 2.0 * w)
    return bqm


def sampler_seed(seed: int) -> int:
    """Map any non-negative ``seed`` into dwave's accepted ``0 <= seed < 2**31``
    (through ``numpy.random.SeedSequence``, so nearby seeds give unrelated streams)."""
    check_seed(seed)
    return int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint32)[0] >> 1)


@dataclass(frozen=True)
class SimulatedAnnealing:
    """Simulated annealing (dwave-samplers) for ``maxcut`` and ``qubo``.

    Parameters
    ----------
    num_reads:
        Independent anneals; ``max_iterations`` caps it. Each is one iteration and
        ``history`` is the best objective after each read (in read order).
    num_sweeps:
        Metropolis sweeps per read (dwave's default 1000).
    """

    num_reads: int = DEFAULT_NUM_READS
    num_sweeps: int = DEFAULT_NUM_SWEEPS
    name: str = "simulated_annealing"
    kinds: tuple[str, ...] = ("maxcut", "qubo")
    max_size: int | None = None

    def solve(self, problem: Problem, *, seed: int,
              max_iterations: int | None = None) -> SolveOutcome:
        """Anneal ``problem`` and return its best read.

        Raises
        ------
        qstream.errors.CapacityError
            For a ``ground_state`` problem.
        ValueError
            For a negative seed.
        """
        start = time.perf_counter()
        check_kind(self, problem)
        assert isinstance(problem, MaxCut | Qubo)
        reads = iteration_cap(self.num_reads, max_iterations)
        sampleset = SimulatedAnnealingSampler().sample(
            to_bqm(problem), num_reads=reads, num_sweeps=self.num_sweeps, seed=sampler_seed(seed))
        order = list(sampleset.variables)
        columns = [order.index(i) for i in range(problem.size)]
        samples = np.asarray(sampleset.record.sample)[:, columns].astype(np.int8)
        if isinstance(problem, MaxCut):
            values = np.array([problem.cut_value(row) for row in samples.tolist()])
            best = int(np.argmax(values))
        else:
            values = np.array([problem.value(row) for row in samples.tolist()])
            best = int(np.argmin(values))
        return SolveOutcome(
            bitstring=bits_to_string(samples[best].tolist()), objective=float(values[best]),
            iterations=reads, history=running_best(values, maximise=isinstance(problem, MaxCut)),
            run_s=time.perf_counter() - start, solver=self.name,
            details={"num_reads": reads, "num_sweeps": self.num_sweeps,
                     "beta_range": [float(b) for b in sampleset.info.get("beta_range", ())],
                     "energy": float(sampleset.record.energy[best])})

    def estimate(self, problem: Problem) -> tuple[float, int]:
        """Prior ``(run_s, memory_bytes)``: see :func:`qstream.core.problems.solver_costs.annealing`."""
        check_kind(self, problem)
        return priors.annealing(problem.size, _interactions(problem),
                                num_reads=self.num_reads, num_sweeps=self.num_sweeps)


def _interactions(problem: Problem) -> int:
    return len(problem.edges) if isinstance(problem, MaxCut) else len(
        problem.quadratic) if isinstance(problem, Qubo) else 0
