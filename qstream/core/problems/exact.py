"""Exact optima: brute force for MaxCut/QUBO, exact diagonalisation for ground states.

Brute force
-----------
All ``2^n`` assignments, enumerated as integers ``k`` whose bit ``i`` is ``x_i``
(so ``k`` is the qiskit basis-state index and ``bits_to_string(x)`` is ``k`` in
binary). The QUBO value of every ``k`` is built by *doubling*: for the low
``b = min(n, CHUNK_BITS)`` variables, ``f(k + 2^m) = f(k) + c_m + sum_(j<m) c_jm x_j(k)``
for ``k < 2^m``, and the sum over earlier bits is itself a doubled table. A chunk
is one setting of the high ``n - b`` variables, which adds a constant and a linear
form in the low bits. Cost: about ``4 * 2^n`` float additions in all, memory a few
``2^b`` arrays (``CHUNK_BITS = 20``: 8 MiB each), independent of ``n``.

Ties go to the smallest ``k``: values within ``1e-9 * max(1, sum of |coefficients|)``
of the minimum count as tied (the doubling sums round differently from
:meth:`Qubo.value`, so exact float equality would break ties by rounding noise).

Ground state
------------
A Pauli string is ``P = i^(n_Y) X^x Z^z`` with bit masks ``x`` (X or Y on a qubit)
and ``z`` (Z or Y), since ``Y = i X Z`` (Aaronson & Gottesman 2004, "Improved
simulation of stabilizer circuits", Phys. Rev. A 70, 052328; the same ``(x, z)``
form as qiskit's ``SparsePauliOp``/``PauliList``). So
``P|k> = i^(n_Y) (-1)^popcount(k & z) |k ^ x>``: terms sharing an ``x`` mask add up
to one vector ``d_x``, and ``H`` has at most one entry per (row, x mask): row ``r``
holds column ``r ^ x`` with value ``d_x[r ^ x]``, built straight into CSR.
The lowest eigenvalue comes from dense ``numpy.linalg.eigvalsh`` up to
``DENSE_MAX_QUBITS`` and from ARPACK's implicitly restarted Lanczos
``scipy.sparse.linalg.eigsh(k=1, which="SA")`` above (Lehoucq, Sorensen & Yang 1998,
*ARPACK Users' Guide*, SIAM). ``H`` is real (float64) when every term has an even number
of ``Y``, else complex128.

Measured on this machine (2 CPU cores shared with other jobs, numpy 2.4, scipy 1.17,
2026-12-01), which calibrates :func:`exact_resources`:

- brute force, dense random QUBO (all ``n (n - 1) / 2`` pairs; up to n = 24 also a
  30%-density MaxCut), several runs each: n = 20: 0.01-0.08 s, 22: 0.02-0.03 s, 24: 0.03-0.08 s,
  26: 0.15 s, 28: 0.5 s, 30: 1.6 s (1.5-3 ns per state once ``n > CHUNK_BITS``);
  peak traced memory 20 MiB from n = 24 on.
- ground state, transverse-field Ising ring (``2n`` terms, ``n + 1`` X masks, real):
  n = 16: 2-3 s, 18: 5-7 s, 20: 15-23 s; ARPACK used 100-120 matvecs (n = 16, 18). Random
  40-term Hamiltonians (``IXZ`` labels) took 1,000 (n = 14) to 7,000 (n = 16) matvecs,
  about 4-12 ns per ``(nnz + ncv * 2^n)`` per matvec. Peak traced memory (n = 16, 18):
  about ``2 * nnz * (itemsize + 4) + (ncv + 5) * 2^n * itemsize`` (scipy copies the
  CSR once inside ``eigsh``).

Examples
--------
>>> from qstream.core.problems.model import GroundState, MaxCut, Qubo
>>> solve_maxcut(MaxCut(3, ((0, 1, 1.0), (1, 2, 2.0), (0, 2, 1.0))))
ExactOptimum(value=3.0, bits=(0, 1, 0))
>>> solve_qubo(Qubo(2, ((0, -1.0), (1, -1.0)), ((0, 1, 3.0),)))
ExactOptimum(value=-1.0, bits=(1, 0))
>>> round(ground_energy(GroundState(2, (("ZZ", 1.0), ("XI", 1.0), ("IX", 1.0)))), 6)
-2.236068
>>> exact_optimum(MaxCut(2, ((0, 1, 2.0),))).bitstring
'01'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from qstream.core.problems.conversions import qubo_from_maxcut
from qstream.core.problems.model import GroundState, MaxCut, Problem, Qubo, bits_to_string
from qstream.errors import CapacityError

CHUNK_BITS = 20
"""Low variables enumerated per chunk: ``2^20`` states, 8 MiB per float64 array."""
EXACT_MAX_VARS = 32
"""Largest MaxCut/QUBO solved by brute force: ``2^32`` states, predicted 7-13 s here
(extrapolating the 1.5-3 ns per state measured at n = 24-30, module docstring)."""
DENSE_MAX_QUBITS = 10
"""Up to this many qubits the ground energy comes from a dense ``eigvalsh``
(``2^10 x 2^10`` complex: 16 MiB, about 0.3 s)."""
EXACT_MAX_QUBITS = 22
"""Largest ground-state problem diagonalised. A 22-qubit Ising ring (23 X masks): the
prior says 2.9 GiB and 18 min (pessimistic: 20 qubits measured 15-23 s against a prior
of 258 s); :func:`exact_resources` gives the memory an executor must have."""
ARPACK_NCV = 20
"""Lanczos vectors ARPACK keeps for ``k=1`` (``eigsh``'s default ``max(2k+1, 20)``).
Measured: 40 or 64 cut the matvecs of a hard random 16-qubit case 2.7-3.5x but not
consistently the time, at 2-3x the vector memory."""

BRUTE_NS_PER_STATE = 3.0
"""Brute-force time per assignment, ns (upper end of the 1.5-3 ns measured, n = 24-30)."""
BRUTE_OVERHEAD_S = 0.01
"""Fixed brute-force cost (tables, Python loop), s (n = 16 took 8-12 ms)."""
SECONDS_PER_TERM = 3e-7
"""Python cost of reading one term (coefficient table or Pauli masks), s."""
LANCZOS_MATVECS = 1000
"""Prior number of ARPACK matvecs: measured 100-120 (Ising rings) to 1,000-7,000
(random 40-term Hamiltonians); about their geometric mean."""
LANCZOS_NS_PER_ENTRY = 6.0
"""ARPACK time per matvec per ``(nnz + ncv * 2^n)``, ns (measured 4-12 ns)."""
DENSE_NS_PER_CUBE = 0.3
"""Dense ``eigvalsh`` time per ``dim^3``, ns (``dim = 1024`` took about 0.3-0.4 s)."""


@dataclass(frozen=True, slots=True)
class ExactOptimum:
    """An exact optimum.

    Attributes
    ----------
    value:
        Max cut (MaxCut), minimum QUBO value (Qubo) or ground energy (GroundState),
        recomputed from the problem's own objective at ``bits`` when there are bits.
    bits:
        An optimal assignment ``x`` (``x[i]`` = variable ``i``), the smallest integer
        ``sum x_i 2^i`` among ties; ``None`` for a ground state.
    """

    value: float
    bits: tuple[int, ...] | None = None

    @property
    def bitstring(self) -> str | None:
        """``bits`` in qiskit's convention (variable 0 rightmost), or ``None``."""
        return None if self.bits is None else bits_to_string(self.bits)


def _linear_table(coeffs: np.ndarray) -> np.ndarray:
    """``t[k] = sum_i coeffs[i] * bit_i(k)`` for ``k < 2^len(coeffs)``, by doubling."""
    t = np.empty(1 << len(coeffs))
    t[0] = 0.0
    for i, c in enumerate(coeffs):
        t[1 << i: 2 << i] = t[: 1 << i] + c
    return t


def _quadratic_table(lin: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """QUBO value without offset for all ``2^b`` settings; ``quad`` upper triangular."""
    b = len(lin)
    t = np.empty(1 << b)
    t[0] = 0.0
    for m in range(b):
        t[1 << m: 2 << m] = t[: 1 << m] + lin[m] + _linear_table(quad[:m, m])
    return t


def _check_size(n: int, kind: str) -> None:
    if n > EXACT_MAX_VARS:
        raise CapacityError(
            f"exact {kind} of {n} variables exceeds EXACT_MAX_VARS = {EXACT_MAX_VARS} "
            f"(2^{n} assignments); use a heuristic solver (annealing, local search)")


def _argmin_qubo(problem: Qubo) -> tuple[int, ...]:
    """Smallest ``k`` whose value is within tolerance of the minimum, as bits."""
    n = problem.num_vars
    b = min(n, CHUNK_BITS)
    lin = np.zeros(n)
    quad = np.zeros((n, n))
    for i, c in problem.linear:
        lin[i] += c
    for i, j, c in problem.quadratic:
        quad[min(i, j), max(i, j)] += c
    low = _quadratic_table(lin[:b], quad[:b, :b])
    high_lin, high_quad, cross = lin[b:], quad[b:, b:], quad[:b, b:]
    tolerance = 1e-9 * max(1.0, float(np.abs(lin).sum() + np.abs(quad).sum()))

    def chunk(h: int) -> np.ndarray:
        hb = np.array([(h >> j) & 1 for j in range(n - b)], dtype=float)
        const = float(high_lin @ hb + hb @ high_quad @ hb)
        return low + (const + _linear_table(cross @ hb))

    mins = np.array([chunk(h).min() for h in range(1 << (n - b))])
    best = float(mins.min())
    h = int(np.flatnonzero(mins <= best + tolerance)[0])
    low_k = int(np.flatnonzero(chunk(h) <= best + tolerance)[0])
    k = (h << b) | low_k
    return tuple((k >> i) & 1 for i in range(n))


def solve_qubo(problem: Qubo) -> ExactOptimum:
    """Minimum of a QUBO by brute force over all ``2^num_vars`` assignments.

    Raises
    ------
    qstream.errors.CapacityError
        If ``num_vars > EXACT_MAX_VARS``.
    """
    _check_size(problem.num_vars, "QUBO")
    bits = _argmin_qubo(problem)
    return ExactOptimum(problem.value(bits), bits)


def solve_maxcut(problem: MaxCut) -> ExactOptimum:
    """Maximum cut by brute force: the minimum of :func:`qubo_from_maxcut` (``-cut``).

    Raises
    ------
    qstream.errors.CapacityError
        If ``num_nodes > EXACT_MAX_VARS``.
    """
    _check_size(problem.num_nodes, "MaxCut")
    bits = _argmin_qubo(qubo_from_maxcut(problem))
    return ExactOptimum(problem.cut_value(bits), bits)


def pauli_masks(label: str) -> tuple[int, int, int]:
    """``(x_mask, z_mask, n_y)`` of a Pauli label (rightmost character = qubit 0).

    >>> pauli_masks("XYZI")  # qubit 1 Z, qubit 2 Y, qubit 3 X
    (12, 6, 1)
    """
    x = z = n_y = 0
    for q, c in enumerate(reversed(label)):
        if c in "XY":
            x |= 1 << q
        if c in "ZY":
            z |= 1 << q
        n_y += c == "Y"
    return x, z, n_y


def _x_groups(problem: GroundState) -> dict[int, list[tuple[int, int, float]]]:
    groups: dict[int, list[tuple[int, int, float]]] = {}
    for label, c in problem.pauli_terms:
        x, z, n_y = pauli_masks(label)
        groups.setdefault(x, []).append((z, n_y, c))
    return groups


def sparse_hamiltonian(problem: GroundState) -> scipy.sparse.csr_matrix:
    """``H = sum_k c_k P_k`` as a ``(2^n, 2^n)`` CSR matrix (basis index = qiskit's).

    Row ``r`` holds one entry per distinct X mask ``x`` (column ``r ^ x``), so
    ``nnz = 2^n * len(x masks)``; entries that cancel to 0 are stored as zeros.
    Indices are int32 while ``nnz < 2^31``, else int64.
    Float64 when every term has an even number of ``Y`` (``H`` real), else complex128.

    >>> sparse_hamiltonian(GroundState(1, (("X", 1.0), ("Z", 0.5)))).toarray()
    array([[ 0.5,  1. ],
           [ 1. , -0.5]])
    """
    n = problem.num_qubits
    groups = _x_groups(problem)
    real = all(n_y % 2 == 0 for terms in groups.values() for _, n_y, _ in terms)
    dtype = np.float64 if real else np.complex128
    dim = 1 << n
    ncols = max(len(groups), 1)
    index_dtype = np.int32 if dim * ncols < 2**31 else np.int64  # indptr must hold nnz
    rows: np.ndarray[tuple[int], np.dtype[np.signedinteger]] = np.arange(dim, dtype=index_dtype)
    indices = np.empty((dim, ncols), dtype=rows.dtype)
    data = np.zeros((dim, ncols), dtype=dtype)
    indices[:, 0] = rows
    for g, (x, terms) in enumerate(sorted(groups.items())):
        d = np.zeros(dim, dtype=dtype)
        for z, n_y, c in terms:
            sign = 1.0 - 2.0 * (np.bitwise_count(rows & z) & 1)  # (-1)^popcount(k & z)
            d += (c * (1j ** n_y) if not real else c * (-1.0) ** (n_y // 2)) * sign
        cols = rows ^ x
        indices[:, g] = cols
        data[:, g] = d[cols]  # H[r, r ^ x] = d_x[r ^ x]
    indptr = np.arange(0, dim * ncols + 1, ncols, dtype=rows.dtype)
    return scipy.sparse.csr_matrix((data.ravel(), indices.ravel(), indptr), shape=(dim, dim))


def ground_energy(problem: GroundState) -> float:
    """Lowest eigenvalue of ``H = sum_k c_k P_k`` (exact diagonalisation).

    Dense ``numpy.linalg.eigvalsh`` up to ``DENSE_MAX_QUBITS`` (or while ``2^n <=
    2 * ARPACK_NCV``, too small for ARPACK), else ``scipy.sparse.linalg.eigsh(k=1,
    which="SA")`` from a fixed start vector (deterministic). An empty term list, or
    terms that cancel to ``H = 0``, gives 0.0.

    Raises
    ------
    qstream.errors.CapacityError
        If ``num_qubits > EXACT_MAX_QUBITS``.
    """
    n = problem.num_qubits
    if n > EXACT_MAX_QUBITS:
        raise CapacityError(
            f"exact ground state of {n} qubits exceeds EXACT_MAX_QUBITS = {EXACT_MAX_QUBITS} "
            f"(a 2^{n}-dimensional Hamiltonian); use VQE or a smaller active space")
    if not problem.pauli_terms:
        return 0.0
    h = sparse_hamiltonian(problem)
    if not h.count_nonzero():
        return 0.0
    if n <= DENSE_MAX_QUBITS or h.shape[0] <= 2 * ARPACK_NCV:
        return float(np.linalg.eigvalsh(h.toarray())[0])
    v0 = np.random.default_rng(0).standard_normal(h.shape[0]).astype(h.dtype)
    values = scipy.sparse.linalg.eigsh(h, k=1, which="SA", v0=v0, ncv=ARPACK_NCV,
                                       return_eigenvectors=False)
    return float(np.real(values[0]))


def exact_resources(problem: Problem) -> tuple[float, int]:
    """Prior ``(time_s, memory_bytes)`` of :func:`exact_optimum` on this kind of machine.

    Valid for any size (no limit is checked), so a scheduler can refuse an exact
    solve whose memory exceeds an executor's before trying it. Constants are the
    measurements in the module docstring; the time is a prior for an online model
    to correct, good to a factor of a few (Lanczos iteration counts vary 10x).

    - MaxCut/QUBO, ``n`` variables, ``T`` terms, ``b = min(n, CHUNK_BITS)``:
      ``time_s = BRUTE_OVERHEAD_S + T * SECONDS_PER_TERM + 2^n * BRUTE_NS_PER_STATE``;
      ``memory_bytes = 3 * 2^b * 8 + n^2 * 8 + 2^(n - b) * 8`` (three chunk arrays, the
      coefficient matrix, the per-chunk minima).
    - GroundState, ``n`` qubits, ``G`` distinct X masks, itemsize ``s`` (8 real,
      16 complex), ``nnz = G * 2^n``:
      dense (``n <= DENSE_MAX_QUBITS``): ``time_s = DENSE_NS_PER_CUBE * 8^n``,
      ``memory_bytes = 3 * 4^n * s + nnz * (s + 4)``;
      sparse: ``time_s = LANCZOS_MATVECS * LANCZOS_NS_PER_ENTRY * (nnz + ARPACK_NCV * 2^n)``,
      ``memory_bytes = 2 * nnz * (s + i) + (ARPACK_NCV + 5) * 2^n * s`` (CSR values and
      indices of ``i`` = 4 bytes, 8 from ``nnz = 2^31``, copied once; the Lanczos basis
      and ARPACK's work vectors).

    Returns
    -------
    time_s : float
        Predicted wall time, seconds, one core.
    memory_bytes : int
        Predicted peak memory, bytes.

    Examples
    --------
    >>> from qstream.core.problems.model import GroundState
    >>> h = GroundState(34, (("Z" * 34, 1.0), ("X" * 34, 0.5)))
    >>> exact_resources(h)[1] / 2**30 > 128 * 10
    True

    Sizes far beyond any machine give an infinite time, not an overflow:

    >>> from qstream.core.problems.model import Qubo
    >>> t, m = exact_resources(Qubo(2429, ((0, 1.0),), ()))
    >>> t, m > 2**2000
    (inf, True)
    """
    terms_s = len(_terms(problem)) * SECONDS_PER_TERM
    if not isinstance(problem, GroundState):
        n = problem.size
        b = min(n, CHUNK_BITS)
        time_s = BRUTE_OVERHEAD_S + terms_s + _as_float(2**n) * BRUTE_NS_PER_STATE * 1e-9
        return time_s, 3 * 8 * 2**b + 8 * n * n + 8 * 2 ** (n - b)
    n = problem.num_qubits
    groups = _x_groups(problem)
    s = 8 if all(n_y % 2 == 0 for ts in groups.values() for _, n_y, _ in ts) else 16
    dim = 2**n
    nnz = max(len(groups), 1) * dim
    if n <= DENSE_MAX_QUBITS:
        return (terms_s + DENSE_NS_PER_CUBE * 1e-9 * float(dim) ** 3,
                3 * dim * dim * s + nnz * (s + 4))
    time_s = terms_s + LANCZOS_MATVECS * LANCZOS_NS_PER_ENTRY * 1e-9 * _as_float(
        nnz + ARPACK_NCV * dim)
    index_bytes = 4 if nnz < 2**31 else 8
    return time_s, 2 * nnz * (s + index_bytes) + (ARPACK_NCV + 5) * dim * s


def _as_float(count: int) -> float:
    """``float(count)``, or ``inf`` for an integer beyond the float range (2**1024)."""
    return float(count) if count.bit_length() <= 1023 else math.inf


def _terms(problem: Problem) -> tuple[object, ...]:
    if isinstance(problem, MaxCut):
        return problem.edges
    if isinstance(problem, Qubo):
        return problem.linear + problem.quadratic
    return problem.pauli_terms


def exact_optimum(problem: Problem) -> ExactOptimum:
    """Dispatch on the kind: :func:`solve_maxcut`, :func:`solve_qubo` or
    :func:`ground_energy` (as ``ExactOptimum(value, None)``).

    Raises
    ------
    qstream.errors.CapacityError
        If the problem is beyond ``EXACT_MAX_VARS`` / ``EXACT_MAX_QUBITS``.
    """
    if isinstance(problem, MaxCut):
        return solve_maxcut(problem)
    if isinstance(problem, Qubo):
        return solve_qubo(problem)
    return ExactOptimum(ground_energy(problem))
