"""Conversions between the problem kinds: MaxCut -> QUBO -> Ising cost Hamiltonian.

A QAOA minimises ``<H>`` of a diagonal (Pauli-Z) cost Hamiltonian; these functions
give that ``H`` for a :class:`~qstream.core.problems.model.MaxCut` or a
:class:`~qstream.core.problems.model.Qubo`, with the constant (identity) part
carried separately as an ``offset``.

Conventions
-----------
- Binary variable ``x_i`` is qubit ``i``; ``x_i = (1 - Z_i) / 2``, so the basis
  state ``|x>`` with ``x_i = 1`` has ``Z_i = -1`` (Lucas 2014, "Ising formulations
  of many NP problems", Front. Phys. 2:5, section 2.1).
- Pauli labels follow qiskit's ``SparsePauliOp.from_list``: the rightmost
  character acts on qubit 0, so ``Z`` on qubit ``i`` of ``n`` sits at character
  ``n - 1 - i``.
- The offset is returned **separately** (never as an ``"II..I"`` term), so for every
  basis state ``<x|H|x> + offset`` equals the objective that ``H`` encodes.

Examples
--------
>>> from qstream.core.problems.model import MaxCut, Qubo
>>> cut = MaxCut(3, ((0, 1, 1.0), (1, 2, 2.0)))
>>> q = qubo_from_maxcut(cut)
>>> q.linear, q.quadratic, q.value((0, 1, 0)), cut.cut_value((0, 1, 0))
(((0, -1.0), (1, -3.0), (2, -2.0)), ((0, 1, 2.0), (1, 2, 4.0)), -3.0, 3.0)
>>> ising_from_qubo(Qubo(2, ((0, -1.0),), ((0, 1, 2.0),), 0.5))
((('ZI', -0.5), ('ZZ', 0.5)), 0.5)
>>> h, offset = ground_state_from_problem(cut)
>>> h.pauli_terms, offset
((('IZZ', 0.5), ('ZZI', 1.0)), -1.5)
"""

from __future__ import annotations

from typing import NamedTuple

from qstream.core.problems.model import GroundState, MaxCut, Problem, Qubo


class CostHamiltonian(NamedTuple):
    """A cost Hamiltonian and the constant it leaves out.

    For every computational basis state ``|x>``:
    ``<x|hamiltonian|x> + offset`` = the problem's objective at ``x`` (the QUBO
    value, or minus the cut value for MaxCut). Unpacks as ``(hamiltonian, offset)``.
    """

    hamiltonian: GroundState
    offset: float


def _z_label(n: int, *qubits: int) -> str:
    chars = ["I"] * n
    for q in qubits:
        chars[n - 1 - q] = "Z"
    return "".join(chars)


def qubo_from_maxcut(problem: MaxCut) -> Qubo:
    """The QUBO whose minimum is the maximum cut: ``value(x) = -cut_value(x)`` for all ``x``.

    An edge ``(u, v, w)`` is cut iff ``x_u + x_v - 2 x_u x_v = 1``, so
    ``-cut(x) = sum_(u,v,w) (-w x_u - w x_v + 2 w x_u x_v)`` (Lucas 2014, section 2.2).

    Returns
    -------
    Qubo
        ``num_vars = num_nodes``; ``linear`` sorted by variable, ``quadratic`` in edge
        order (``u < v``, as :class:`MaxCut` normalises them); ``offset = 0``.
    """
    linear: dict[int, float] = {}
    for u, v, w in problem.edges:
        linear[u] = linear.get(u, 0.0) - w
        linear[v] = linear.get(v, 0.0) - w
    return Qubo(problem.num_nodes, tuple(sorted(linear.items())),
                tuple((u, v, 2.0 * w) for u, v, w in problem.edges), 0.0)


def ising_from_qubo(problem: Qubo) -> tuple[tuple[tuple[str, float], ...], float]:
    """Pauli-Z terms and offset with ``<x|H|x> + offset = problem.value(x)`` for all ``x``.

    Substituting ``x_i = (1 - Z_i) / 2`` (Lucas 2014, eq. 8):
    ``c_i x_i = c_i/2 - (c_i/2) Z_i`` and
    ``c_ij x_i x_j = (c_ij/4) (1 - Z_i - Z_j + Z_i Z_j)``.

    Returns
    -------
    terms : tuple of (label, coefficient)
        The ``Z_i`` terms (ascending ``i``), then one ``Z_i Z_j`` term per quadratic
        entry in ``problem.quadratic`` order; terms whose coefficient is exactly 0.0
        (contributions that cancel) are left out, so ``terms`` may be empty. Labels
        have ``num_vars`` characters, qubit 0 rightmost.
    offset : float
        ``problem.offset + sum_i c_i/2 + sum_ij c_ij/4``.
    """
    n = problem.num_vars
    z: dict[int, float] = {}
    offset = problem.offset
    for i, c in problem.linear:
        z[i] = z.get(i, 0.0) - c / 2.0
        offset += c / 2.0
    for i, j, c in problem.quadratic:
        z[i] = z.get(i, 0.0) - c / 4.0
        z[j] = z.get(j, 0.0) - c / 4.0
        offset += c / 4.0
    terms = [(_z_label(n, i), c) for i, c in sorted(z.items())]
    terms += [(_z_label(n, i, j), c / 4.0) for i, j, c in problem.quadratic]
    return tuple((label, c) for label, c in terms if c != 0.0), offset


def ground_state_from_problem(problem: Problem) -> CostHamiltonian:
    """The cost Hamiltonian a QAOA (or VQE) minimises for ``problem``, offset apart.

    - MaxCut: ``H = sum_(u,v,w) (w/2) Z_u Z_v`` and ``offset = -sum w / 2``, so
      ``<x|H|x> + offset = -cut(x)`` (Farhi, Goldstone, Gutmann 2014,
      arXiv:1411.4028, eq. 12, with the sign flipped to a minimisation). Built
      directly, not via :func:`qubo_from_maxcut`, so that the ``Z_i`` terms (which
      cancel exactly in theory) do not appear as rounding noise.
    - QUBO: :func:`ising_from_qubo`.
    - GroundState: returned unchanged with ``offset = 0.0`` (its identity terms, if
      any, stay in ``H``).

    Returns
    -------
    CostHamiltonian
        ``(hamiltonian, offset)``; the ground energy of ``hamiltonian`` plus
        ``offset`` is the problem's optimum (minus the max cut for MaxCut).
    """
    if isinstance(problem, GroundState):
        return CostHamiltonian(problem, 0.0)
    if isinstance(problem, MaxCut):
        n = problem.num_nodes
        terms = tuple((_z_label(n, u, v), w / 2.0) for u, v, w in problem.edges)
        return CostHamiltonian(GroundState(n, terms), -sum(w for _, _, w in problem.edges) / 2.0)
    terms_q, offset = ising_from_qubo(problem)
    return CostHamiltonian(GroundState(problem.num_vars, terms_q), offset)
