"""Solution quality (approximation ratio) and problem features for solver selection.

Approximation ratio, per kind, always in ``[0, 1]`` and 1 at the optimum:

- **maxcut** (maximise): ``cut / max_cut``, the classical ratio (Goemans &
  Williamson 1995, J. ACM 42(6), and QAOA's ``r``, Farhi et al. 2014,
  arXiv:1411.4028). ``max_cut >= 0`` always (the empty cut is 0); when it is 0 the
  ratio is 1 if ``cut`` reaches it (within tolerance), else 0.
- **qubo** (minimise, any sign): the *differential* ratio
  ``(reference - f) / (reference - f*)`` of Demange & Paschos (1996, Theor.
  Comput. Sci. 158, 117-141), which is invariant to shifting and positive scaling
  of the objective, so it stays meaningful when ``f* <= 0``. Demange & Paschos take
  the worst value as ``reference``, which costs another exhaustive search; by default
  we take the all-zero assignment's value ``f(0) = offset`` instead (the trivial
  solution every solver can return), so a solution no better than all-zeros scores
  0. With that default, the QUBO of a MaxCut
  (:func:`~qstream.core.problems.conversions.qubo_from_maxcut`: ``f = -cut``,
  ``f(0) = 0``) gets exactly the MaxCut ratio. Pass ``reference=worst`` for the
  original definition. When ``reference - f* <= tolerance`` (all-zeros is
  optimal) the ratio is 1 if ``f`` reaches ``f*``, else 0.
- **ground_state** (minimise): ``1 - |E - E0| / max(|E0|, TINY)`` (issue 10's
  ``accuracy_target`` measure), clipped to ``[0, 1]``.

Examples
--------
>>> from qstream.core.problems.model import GroundState, MaxCut, Qubo
>>> approximation_ratio(MaxCut(3, ((0, 1, 1.0), (1, 2, 1.0))), 1.0, 2.0)
0.5
>>> q = Qubo(2, ((0, -1.0), (1, -1.0)), ((0, 1, 3.0),), offset=5.0)   # f* = 4, f(0) = 5
>>> approximation_ratio(q, 4.0, 4.0), approximation_ratio(q, 4.5, 4.0), approximation_ratio(q, 8.0, 4.0)
(1.0, 0.5, 0.0)
>>> approximation_ratio(GroundState(1, (("Z", 1.0),)), -0.9, -1.0)
0.9
>>> problem_features(MaxCut(3, ((0, 1, 1.0), (1, 2, 1.0))))["terms"]
2
"""

from __future__ import annotations

import math
from typing import Any

from qstream.core.problems.exact import pauli_masks
from qstream.core.problems.model import GroundState, MaxCut, Problem, Qubo

TINY = 1e-12
"""Floor of ``|E0|`` in the ground-state ratio, so ``E0 = 0`` does not divide by zero."""
RELATIVE_TOLERANCE = 1e-9
"""Values within ``1e-9 * max(1, |optimum|)`` of the optimum count as reaching it."""

__all__ = ["RELATIVE_TOLERANCE", "TINY", "approximation_ratio", "problem_features"]


def _clip(r: float) -> float:
    return min(1.0, max(0.0, r))


def _ratio(gain: float, span: float, tolerance: float) -> float:
    """``gain / span`` clipped, with ``span <= tolerance`` meaning 'optimum is the baseline'."""
    if span <= tolerance:
        return 1.0 if gain >= span - tolerance else 0.0
    return _clip(gain / span)


def approximation_ratio(problem: Problem, objective: float, optimum: float, *,
                        reference: float | None = None) -> float:
    """How close ``objective`` is to ``optimum``, in ``[0, 1]`` (1 = optimal).

    Parameters
    ----------
    problem:
        Decides the definition (module docstring).
    objective:
        The solution's value: cut weight (maxcut), QUBO value (qubo) or energy
        ``<H>`` (ground_state).
    optimum:
        The exact optimum of the same quantity (e.g. from
        :func:`~qstream.core.problems.exact.exact_optimum`).
    reference:
        QUBO only: the baseline value that scores 0; default ``problem.value`` of the
        all-zero assignment (``problem.offset``).

    Raises
    ------
    ValueError
        If ``objective``, ``optimum`` or ``reference`` is not finite.
    """
    for name, v in (("objective", objective), ("optimum", optimum), ("reference", reference)):
        if v is not None and not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
    tolerance = RELATIVE_TOLERANCE * max(1.0, abs(optimum))
    if isinstance(problem, MaxCut):
        return _ratio(objective, optimum, tolerance)
    if isinstance(problem, Qubo):
        base = problem.offset if reference is None else reference
        return _ratio(base - objective, base - optimum, tolerance)
    return _clip(1.0 - abs(objective - optimum) / max(abs(optimum), TINY))


def problem_features(problem: Problem) -> dict[str, Any]:
    """Features of a problem for the solver-selection models (same keys for every kind).

    Returns
    -------
    dict
        ``kind`` (str); ``size`` (nodes, variables or qubits); ``density`` (the
        model's ``density``: edges or quadratic terms over ``N (N - 1) / 2``, or mean
        Pauli weight over ``N``); ``terms`` (edges; linear + quadratic terms; Pauli
        terms); ``max_order`` (most variables one term couples: 2 for MaxCut, 2 or 1
        for a QUBO, the largest Pauli weight for a Hamiltonian); ``x_masks`` (distinct
        X/Y patterns of the cost Hamiltonian, which set the sparse Hamiltonian's
        ``nnz = x_masks * 2^size``; 1 for MaxCut and QUBO, whose Ising form is
        diagonal); ``abs_weight`` (sum of absolute coefficients, the objective's scale).
    """
    if isinstance(problem, MaxCut):
        terms, order, masks = len(problem.edges), 2, 1
        weight = sum(abs(w) for _, _, w in problem.edges)
    elif isinstance(problem, Qubo):
        terms = len(problem.linear) + len(problem.quadratic)
        order = 2 if problem.quadratic else (1 if problem.linear else 0)
        masks = 1
        weight = (sum(abs(c) for _, c in problem.linear)
                  + sum(abs(c) for _, _, c in problem.quadratic))
    else:
        assert isinstance(problem, GroundState)
        terms = len(problem.pauli_terms)
        order = max(sum(c != "I" for c in p) for p, _ in problem.pauli_terms) if terms else 0
        masks = len({pauli_masks(p)[0] for p, _ in problem.pauli_terms}) or 1
        weight = sum(abs(c) for _, c in problem.pauli_terms)
    return {"kind": problem.kind, "size": problem.size, "density": problem.density,
            "terms": terms, "max_order": order, "x_masks": masks, "abs_weight": weight}
