"""The classical-solver protocol and the value a solve returns.

A solver is a small frozen value (its settings) with a :meth:`Solver.solve` method that
takes a frozen problem from :mod:`qstream.core.problems` and returns a frozen
:class:`SolveOutcome`. Inputs, solvers and outcomes are all picklable, so a later
workflow step can ship ``(solver, problem, seed)`` to a process pool as a classical
sub-task and get the outcome back.

Conventions
-----------
- ``bitstring`` uses qiskit's counts convention (:func:`~qstream.core.problems.bits_to_string`:
  the rightmost character is variable/node 0).
- ``objective`` is the problem's own objective at that bitstring: the cut weight for
  ``maxcut`` (higher is better), the QUBO value for ``qubo`` (lower is better).
- ``iterations`` counts the solver's outer steps (annealing reads, local-search
  restarts, hyperplane roundings); ``max_iterations`` caps them.

Examples
--------
>>> import pickle
>>> out = SolveOutcome(bitstring="01", objective=1.0, iterations=1, history=(1.0,),
...                    run_s=0.001, solver="example", details={"note": "hand-made"})
>>> pickle.loads(pickle.dumps(out)) == out
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from qstream.core.problems import Problem
from qstream.errors import CapacityError


@dataclass(frozen=True)
class SolveOutcome:
    """What one classical solve returns (frozen, picklable).

    Attributes
    ----------
    bitstring:
        Best assignment found, qiskit convention (rightmost character = variable 0),
        length ``problem.size``.
    objective:
        The problem's objective at ``bitstring``: cut weight (``maxcut``, maximised) or
        QUBO value including its offset (``qubo``, minimised). Recomputed from the
        problem, not taken from a library's internal energy.
    iterations:
        Outer steps run (reads, restarts or roundings; see each solver).
    history:
        Best objective so far after each iteration, length ``iterations`` (empty where
        the solver has no meaningful per-step value).
    run_s:
        Wall-clock seconds of :meth:`Solver.solve`, measured with ``time.perf_counter``
        (model building included).
    solver:
        The solver's ``name``.
    details:
        Solver-specific facts (parameters used, bounds, library status), JSON-friendly
        values only.
    """

    bitstring: str
    objective: float
    iterations: int
    history: tuple[float, ...]
    run_s: float
    solver: str
    details: dict[str, Any] = field(default_factory=dict, hash=False)


@runtime_checkable
class Solver(Protocol):
    """A classical solver of one or more problem kinds.

    Attributes
    ----------
    name:
        Registry key, e.g. ``"simulated_annealing"``.
    kinds:
        Problem kinds (``Problem.kind``) it accepts.
    max_size:
        Largest ``problem.size`` it takes (``None``: no limit of its own).
    """

    @property
    def name(self) -> str: ...

    @property
    def kinds(self) -> tuple[str, ...]: ...

    @property
    def max_size(self) -> int | None: ...

    def solve(self, problem: Problem, *, seed: int,
              max_iterations: int | None = None) -> SolveOutcome:
        """Best assignment found for ``problem``; same ``seed`` gives the same outcome.

        Raises
        ------
        qstream.errors.CapacityError
            The problem's kind is not in :attr:`kinds`, or its size is over
            :attr:`max_size`.
        """
        ...

    def estimate(self, problem: Problem) -> tuple[float, int]:
        """Prior ``(run_s, memory_bytes)`` of :meth:`solve` on this machine class,
        before any online learning (see :mod:`qstream.core.problems.solver_costs`)."""
        ...


def check_kind(solver: Solver, problem: Problem) -> None:
    """Reject a problem a solver cannot take.

    Raises
    ------
    qstream.errors.CapacityError
        If ``problem.kind`` is not in ``solver.kinds`` or ``problem.size`` exceeds
        ``solver.max_size``; the message names the limit and what to do instead.
    """
    if problem.kind not in solver.kinds:
        raise CapacityError(
            f"solver {solver.name!r} solves {', '.join(solver.kinds)} problems, not "
            f"{problem.kind}; pick a solver from qstream.solvers.solvers_for(problem)")
    limit = solver.max_size
    if limit is not None and problem.size > limit:
        raise CapacityError(
            f"solver {solver.name!r} takes at most {limit} nodes/variables, got "
            f"{problem.size}; use a solver without that limit (simulated_annealing, "
            "local_search) or split the problem")


def check_seed(seed: int) -> None:
    """Seeds are non-negative integers (``numpy.random.SeedSequence`` entropy).

    Raises
    ------
    ValueError
        If ``seed`` is negative or not an ``int``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def iteration_cap(default: int, max_iterations: int | None) -> int:
    """``default`` outer steps, capped by ``max_iterations`` (at least 1).

    >>> iteration_cap(32, None), iteration_cap(32, 4), iteration_cap(32, 0)
    (32, 4, 1)
    """
    return default if max_iterations is None else max(1, min(default, max_iterations))


def running_best(values: np.ndarray, *, maximise: bool) -> tuple[float, ...]:
    """Best value so far after each step, shape ``(len(values),)`` as a tuple.

    >>> running_best(np.array([3.0, 1.0, 2.0, 0.5]), maximise=False)
    (3.0, 1.0, 1.0, 0.5)
    """
    acc = np.maximum.accumulate if maximise else np.minimum.accumulate
    return tuple(float(v) for v in acc(np.asarray(values, dtype=float)))
