"""Resource priors of the classical solvers: predicted ``(run_s, memory_bytes)``, and their defaults.

Pure maths, so the pure core (:mod:`qstream.core.selection`) and the solver edge
(:mod:`qstream.solvers`) share one copy.

A selection step needs a classical solver's run time before it has learned anything
online (the River models then take over from telemetry). Each prior is the solver's
work count times a per-unit cost measured here, plus a fixed overhead:

- simulated annealing: ``reads * sweeps * (variables + interactions)`` spin-update
  units (every sweep visits each variable and its interactions once; dwave-samplers
  ``SimulatedAnnealingSampler`` docs);
- one-exchange local search: ``passes * n * (n + m)`` where a pass of
  ``networkx.algorithms.approximation.maxcut.one_exchange`` evaluates the cut after
  swapping each of the ``n`` nodes (each evaluation walks the edges, ``m``, and copies
  the node set, ``n``; see its source); a run from a random cut makes about ``n / 4``
  improving passes and a kicked restart about ``kick + 1``;
- Goemans–Williamson: ``n ** 3`` per SCS iteration (an eigendecomposition of the
  ``n x n`` iterate for the PSD-cone projection; O'Donoghue et al., "Conic optimization
  via operator splitting and homogeneous self-dual embedding", JOTA 169, 2016), with
  a few hundred iterations at ``eps = 1e-3`` folded into the constant.

Constants come from ``scripts/calibrate_solvers.py`` on this project's 2-core
development VM (x86-64, shared with other jobs, so they are upper-ish estimates); the
measured points are in each constant's docstring. Memory is the bytes of the largest
arrays the solver holds, not the interpreter.

Examples
--------
>>> [round(x, 3) for x in annealing(150, 225, num_reads=32, num_sweeps=1000)]
[0.13, 22800]
>>> round(local_search(150, 225, restarts=40, kick=12)[0], 1)
13.8
>>> round(goemans_williamson(150)[0], 2), goemans_williamson(150)[1]
(1.67, 1440000)
"""

from __future__ import annotations

SA_S_PER_UNIT = 1.0e-8
"""Seconds per annealing spin-update unit (read x sweep x (variable + interaction)).
Measured on 3-regular MaxCut with 32 reads x 1000 sweeps (``scripts/calibrate_solvers.py``):
n = 50 -> 0.037 s, 100 -> 0.161 s, 150 -> 0.132 s, 200 -> 0.242 s, i.e. 4.6 to 12.9 ns
per unit under a shared load (7.8 ns on a quiet run at n = 150)."""
SA_OVERHEAD_S = 0.01
"""Fixed seconds per annealing solve (model building, sample set); one read of 1000
sweeps on 150 nodes took 0.005 s."""

LS_S_PER_UNIT = 4.5e-7
"""Seconds per local-search unit (pass x node x (nodes + edges)). Measured on 3-regular
MaxCut with the default 40 restarts: n = 50 -> 0.68 s, 100 -> 2.85 s, 150 -> 12.96 s,
200 -> 39.1 s (3.0 to 5.2 times a first guess of 1e-7; 4.5e-7 fits within 1.5x)."""

GW_S_PER_N3 = 4.5e-7
"""Seconds per ``n ** 3`` for the GW SDP (SCS, ``eps = 1e-3``) plus 100 roundings.
Measured on 3-regular graphs: n = 50 -> 0.23 s, 100 -> 0.39 s, 150 -> 1.63 s, 200 ->
1.72 s (SDP alone, another run: 0.09, 0.37, 1.49, 1.88 s). SCS's iteration count
varies (75 to 275), so the prior is conservative above 150 nodes."""
GW_OVERHEAD_S = 0.15
"""Fixed seconds per GW solve (cvxpy canonicalisation; most of the 0.23 s at n = 50)."""

DEFAULT_NUM_READS = 32
"""Independent anneals per solve (our default; dwave's own is 1, see
:mod:`qstream.solvers.annealing`)."""
DEFAULT_NUM_SWEEPS = 1000
"""Sweeps per anneal: dwave-samplers' documented default for ``num_sweeps``."""
GW_MAX_NODES = 200
"""Largest MaxCut :class:`~qstream.solvers.maxcut.GoemansWilliamson` takes (1.9 s measured
at 200 nodes; the SDP grows as ``n ** 3`` per SCS iteration)."""
GW_ROUNDS = 100
"""Random hyperplanes a Goemans–Williamson solve tries by default."""
LS_RESTARTS = 40
"""One-exchange runs of a local-search solve by default (first from a random cut)."""
LS_KICK_FRACTION = 1 / 12
"""Share of nodes flipped before a local-search restart (12 of 150 reached 207 within
60 restarts here; 3 and 5 stalled at 198 and 196)."""

_FLOAT_BYTES = 8


def kick_nodes(num_nodes: int, fraction: float = LS_KICK_FRACTION) -> int:
    """Nodes a local-search restart flips: ``max(1, round(fraction * n))``.

    >>> kick_nodes(150), kick_nodes(3)
    (12, 1)
    """
    return max(1, round(fraction * num_nodes))


def annealing(num_vars: int, num_interactions: int, *, num_reads: int,
              num_sweeps: int) -> tuple[float, int]:
    """Simulated annealing prior.

    Parameters
    ----------
    num_vars, num_interactions:
        Model size ``n`` and number of quadratic terms ``m``.
    num_reads, num_sweeps:
        Anneals and sweeps per anneal.

    Returns
    -------
    tuple[float, int]
        ``(run_s, memory_bytes)``: ``SA_OVERHEAD_S + SA_S_PER_UNIT * reads * sweeps *
        (n + m)``; memory holds the model (about 3 floats per variable and per
        interaction, twice over for dimod's and the sampler's copies) and the
        ``reads x n`` int8 samples.
    """
    units = num_reads * num_sweeps * (num_vars + num_interactions)
    memory = 2 * 3 * _FLOAT_BYTES * (num_vars + num_interactions) + num_reads * num_vars
    return SA_OVERHEAD_S + SA_S_PER_UNIT * units, memory


def local_search(num_nodes: int, num_edges: int, *, restarts: int, kick: int) -> tuple[float, int]:
    """One-exchange local search prior (first run from a random cut, then kicked restarts).

    Returns
    -------
    tuple[float, int]
        ``(run_s, memory_bytes)``: ``LS_S_PER_UNIT * passes * n * (n + m)`` with
        ``passes = n / 4 + (restarts - 1) * (kick + 1)``; memory is the networkx graph
        (about 500 bytes per node and per edge of Python dicts) and two node sets.
    """
    passes = num_nodes / 4 + max(restarts - 1, 0) * (kick + 1)
    run_s = LS_S_PER_UNIT * passes * num_nodes * (num_nodes + num_edges)
    return run_s, 500 * (num_nodes + num_edges) + 2 * 100 * num_nodes


def goemans_williamson(num_nodes: int, *, rounds: int = 0) -> tuple[float, int]:
    """Goemans–Williamson prior (SDP with SCS, then ``rounds`` hyperplane roundings).

    Returns
    -------
    tuple[float, int]
        ``(run_s, memory_bytes)``: ``GW_OVERHEAD_S + GW_S_PER_N3 * n ** 3`` (the
        rounding, ``n * n * rounds`` flops, is negligible beside it); memory is a few
        dense ``n x n`` float64 matrices (the SDP iterate, its eigenvectors, cvxpy's
        canonical copy; 8 taken) and the ``n x rounds`` projections.
    """
    run_s = GW_OVERHEAD_S + GW_S_PER_N3 * num_nodes ** 3
    return run_s, 8 * _FLOAT_BYTES * num_nodes ** 2 + _FLOAT_BYTES * num_nodes * rounds
