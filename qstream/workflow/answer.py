"""The answer of a problem task: the ``solution`` object and its ``qstream.result.v1``.

The approximation ratio (:func:`~qstream.core.problems.approximation_ratio`) is given
where the optimum is known: the answer of the ``exact`` solver, or an exact optimum
computed here for problems up to :data:`RATIO_MAX_VARS` variables or
:data:`RATIO_MAX_QUBITS` qubits (brute force / sparse eigensolver, well under a
second on this machine class; the workflow agent runs it off the event loop); beyond
that ``optimum`` and ``approximation_ratio`` are null rather than guessed.

Examples
--------
>>> from qstream.core.problems import MaxCut
>>> ring = MaxCut(4, ((0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (0, 3, 1.0)))
>>> optimum_of(ring)
4.0
>>> sol = solution(ring, algorithm="qaoa", backends=["sim"], bitstring="0101", objective=4.0,
...                iterations=3, history=[2.0, 3.0, 3.5], selection={"chosen": "qaoa@sim"})
>>> sol["approximation_ratio"], sol["optimum"]
(1.0, 4.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qstream.core.problems import GroundState, Problem, approximation_ratio, exact_optimum

RATIO_MAX_VARS = 22
"""Largest MaxCut/QUBO whose optimum is computed for the ratio (2^22 states: 0.05 s for a
3-regular MaxCut on this 2-core machine, measured 2026-12-01)."""

RATIO_MAX_QUBITS = 14
"""Largest ground-state problem whose exact energy is computed for the ratio (sparse
``eigsh``: 0.13 s for a 14-qubit transverse-field Ising chain here, measured 2026-12-01)."""


def optimum_of(problem: Problem) -> float | None:
    """The exact optimum when it is cheap to know (module docstring), else None."""
    limit = RATIO_MAX_QUBITS if isinstance(problem, GroundState) else RATIO_MAX_VARS
    if problem.size > limit:
        return None
    return float(exact_optimum(problem).value)


def solution(problem: Problem, *, algorithm: str, backends: Sequence[str],
             objective: float, iterations: int, history: Sequence[float],
             selection: dict[str, Any], bitstring: str | None = None,
             parameters: Sequence[float] | None = None, std_error: float | None = None,
             optimum: float | None = None, moves: Sequence[dict[str, Any]] = (),
             method: str | None = None, known_optimum: bool = False) -> dict[str, Any]:
    """The ``solution`` object (schema ``qstream.result.v1#/$defs/solution``).

    Parameters
    ----------
    optimum:
        The optimum if the caller knows it; else computed by :func:`optimum_of`.
    known_optimum:
        True when ``objective`` *is* the optimum (the exact solver).
    """
    if known_optimum:
        optimum = objective
    elif optimum is None:
        optimum = optimum_of(problem)
    ratio = None if optimum is None else approximation_ratio(problem, objective, optimum)
    return {
        "kind": problem.kind, "algorithm": algorithm, "backends": list(backends),
        "bitstring": bitstring,
        "parameters": None if parameters is None else [float(v) for v in parameters],
        "objective": float(objective), "std_error": std_error,
        "optimum": optimum, "approximation_ratio": ratio,
        "iterations": int(iterations), "history": [float(v) for v in history],
        "selection": selection, "moves": list(moves), "method": method,
    }


def problem_result(task_id: str, *, metrics: dict[str, Any], now_s: float,
                   solution: dict[str, Any] | None = None,
                   error: str | None = None) -> dict[str, Any]:
    """The ``qstream.result.v1`` of a problem task: completed with ``solution``, or failed
    with ``error`` (exactly one of the two); no circuit results either way.

    ``metrics`` holds ``queue_s``, ``run_s``, ``cost_usd``, ``jct_s``, ``backends`` (summed
    over the task's steps); ``est_fidelity`` is null (a solve has no single circuit).
    """
    if (solution is None) == (error is None):
        raise ValueError("give exactly one of solution and error")
    out: dict[str, Any] = {
        "schema": "qstream.result.v1", "task_id": task_id,
        "status": "completed" if solution is not None else "failed",
        "results": [], "error": error, "metrics": {**metrics, "est_fidelity": None},
        "completed_at": now_s}
    if solution is not None:
        out["solution"] = solution
    return out
