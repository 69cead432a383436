"""Conversions, exact solvers, resource priors and quality measures of problems (issue 10).

Every identity is checked on all 2^n assignments; the Hamiltonian and its ground
energy are checked against qiskit's ``SparsePauliOp`` (tests may import qiskit, the
core may not).
"""

from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pytest
from helpers.purity import loaded_after_import
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit.quantum_info import SparsePauliOp

import qstream.core.problems.exact as exact
from qstream.core.problems import (
    EXACT_MAX_QUBITS,
    EXACT_MAX_VARS,
    GroundState,
    MaxCut,
    Qubo,
    approximation_ratio,
    exact_optimum,
    exact_resources,
    ground_energy,
    ground_state_from_problem,
    ising_from_qubo,
    problem_features,
    qubo_from_maxcut,
    solve_maxcut,
    solve_qubo,
    sparse_hamiltonian,
)
from qstream.errors import CapacityError

FAST = settings(max_examples=40, deadline=None)
COEF = st.floats(-5, 5, allow_nan=False).map(lambda c: round(c, 3))
INT_COEF = st.integers(-3, 3).map(float)


def assignments(n: int) -> list[tuple[int, ...]]:
    """All 2^n assignments, in integer order (bit i of k is x_i)."""
    return [tuple((k >> i) & 1 for i in range(n)) for k in range(1 << n)]


@st.composite
def maxcuts(draw: st.DrawFn, coef: st.SearchStrategy[float] = COEF, max_n: int = 8) -> MaxCut:
    n = draw(st.integers(2, max_n))
    pairs = [(u, v) for u in range(n) for v in range(u + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, unique=True))
    return MaxCut(n, tuple((u, v, draw(coef)) for u, v in chosen))


@st.composite
def qubos(draw: st.DrawFn, coef: st.SearchStrategy[float] = COEF, max_n: int = 8) -> Qubo:
    n = draw(st.integers(1, max_n))
    lin = draw(st.lists(st.integers(0, n - 1), unique=True))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    quad = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    return Qubo(n, tuple((i, draw(coef)) for i in sorted(lin)),
                tuple((i, j, draw(coef)) for i, j in sorted(quad)), draw(coef))


@st.composite
def hamiltonians(draw: st.DrawFn, max_n: int = 6, min_n: int = 1) -> GroundState:
    n = draw(st.integers(min_n, max_n))
    labels = st.text(alphabet="IXYZ", min_size=n, max_size=n)
    return GroundState(n, tuple(draw(st.lists(st.tuples(labels, COEF), min_size=1, max_size=8))))


def diagonal(terms: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    """qiskit's diagonal of ``sum c P`` (index k = basis state |k>, qubit 0 = bit 0)."""
    if not terms:
        return np.zeros(1 << n)
    return np.real(SparsePauliOp.from_list(list(terms)).to_matrix().diagonal())


def brute(values: list[float], tolerance: float = 1e-9) -> tuple[float, int]:
    """Minimum and the smallest index within ``tolerance`` of it."""
    best = min(values)
    return best, next(k for k, v in enumerate(values) if v <= best + tolerance)


# --- conversions -----------------------------------------------------------------------


@FAST
@given(maxcuts())
def test_qubo_from_maxcut_is_minus_the_cut_everywhere(cut: MaxCut) -> None:
    q = qubo_from_maxcut(cut)
    assert q.num_vars == cut.num_nodes
    for x in assignments(cut.num_nodes):
        assert q.value(x) == pytest.approx(-cut.cut_value(x), abs=1e-9)


@FAST
@given(qubos())
def test_ising_from_qubo_matches_every_basis_state(q: Qubo) -> None:
    terms, offset = ising_from_qubo(q)
    assert all(set(p) <= {"I", "Z"} and len(p) == q.num_vars and c != 0.0 for p, c in terms)
    diag = diagonal(terms, q.num_vars)
    for k, x in enumerate(assignments(q.num_vars)):
        assert diag[k] + offset == pytest.approx(q.value(x), abs=1e-9)


@FAST
@given(st.one_of(maxcuts(), qubos()))
def test_ground_state_from_problem_encodes_the_objective(problem: MaxCut | Qubo) -> None:
    h, offset = ground_state_from_problem(problem)
    assert h.num_qubits == problem.size
    assert all("Z" in p and set(p) <= {"I", "Z"} for p, _ in h.pauli_terms)  # identities in offset
    diag = diagonal(h.pauli_terms, h.num_qubits)
    for k, x in enumerate(assignments(problem.size)):
        want = -problem.cut_value(x) if isinstance(problem, MaxCut) else problem.value(x)
        assert diag[k] + offset == pytest.approx(want, abs=1e-9)


def test_ground_state_passes_through_and_maxcut_has_only_zz_terms() -> None:
    h = GroundState(2, (("XX", 1.0), ("II", 0.5)))
    assert ground_state_from_problem(h) == (h, 0.0)
    cost = ground_state_from_problem(MaxCut(3, ((0, 2, 2.0),)))
    assert cost.hamiltonian.pauli_terms == (("ZIZ", 1.0),) and cost.offset == -1.0


# --- brute force -------------------------------------------------------------------------


@FAST
@given(qubos(coef=INT_COEF))
def test_solve_qubo_matches_brute_force_with_smallest_index_ties(q: Qubo) -> None:
    best, k = brute([q.value(x) for x in assignments(q.num_vars)])
    result = solve_qubo(q)
    assert result.value == pytest.approx(best, abs=1e-12)
    assert result.bits == assignments(q.num_vars)[k]


@FAST
@given(maxcuts(coef=INT_COEF))
def test_solve_maxcut_matches_brute_force(cut: MaxCut) -> None:
    best, k = brute([-cut.cut_value(x) for x in assignments(cut.num_nodes)])
    result = solve_maxcut(cut)
    assert result.value == pytest.approx(-best, abs=1e-12)
    assert result.bits == assignments(cut.num_nodes)[k] and result.bits[-1] == 0


@pytest.mark.parametrize("chunk_bits", [1, 2, 3])
def test_chunked_enumeration_agrees(monkeypatch: pytest.MonkeyPatch, chunk_bits: int) -> None:
    rng = np.random.default_rng(chunk_bits)
    for n in range(1, 9):
        q = Qubo(n, tuple((i, float(rng.normal())) for i in range(n)),
                 tuple((i, j, float(rng.normal())) for i in range(n) for j in range(i + 1, n)), 0.5)
        whole = solve_qubo(q)
        monkeypatch.setattr(exact, "CHUNK_BITS", chunk_bits)
        assert solve_qubo(q) == whole
        monkeypatch.undo()
        assert whole.value == pytest.approx(min(q.value(x) for x in assignments(n)), abs=1e-12)


def test_brute_force_at_chunk_scale() -> None:
    # 22 variables = 4 chunks of 2^20; a planted optimum: x_i = 1 for even i is the
    # unique minimum of sum_i s_i x_i with s_i = -1 (even) / +1 (odd), plus a tiny coupling.
    n = 22
    q = Qubo(n, tuple((i, -1.0 if i % 2 == 0 else 1.0) for i in range(n)),
             ((0, n - 1, 0.25), (1, 2, -0.25)))
    result = solve_qubo(q)
    assert result.bits == tuple(1 - i % 2 for i in range(n)) and result.value == -11.0


def test_beyond_the_limits_raises_capacity_error() -> None:
    big = MaxCut(EXACT_MAX_VARS + 1, ((0, 1, 1.0),))
    with pytest.raises(CapacityError, match="EXACT_MAX_VARS"):
        solve_maxcut(big)
    with pytest.raises(CapacityError, match="EXACT_MAX_QUBITS"):
        ground_energy(GroundState(EXACT_MAX_QUBITS + 1, (("Z" * (EXACT_MAX_QUBITS + 1), 1.0),)))


# --- ground state --------------------------------------------------------------------------


@FAST
@given(hamiltonians())
def test_sparse_hamiltonian_equals_qiskit(h: GroundState) -> None:
    ref = SparsePauliOp.from_list(list(h.pauli_terms)).to_matrix()
    ours = sparse_hamiltonian(h)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.toarray(), ref, atol=1e-12)
    assert abs(ground_energy(h) - np.linalg.eigvalsh(ref)[0]) < 1e-9


@settings(max_examples=15, deadline=None)
@given(hamiltonians(max_n=8, min_n=6))
def test_sparse_eigensolver_path_equals_dense(h: GroundState) -> None:
    ref = float(np.linalg.eigvalsh(SparsePauliOp.from_list(list(h.pauli_terms)).to_matrix())[0])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(exact, "DENSE_MAX_QUBITS", 0)  # eigsh from 6 qubits (2^6 > 2 * ncv)
        assert abs(ground_energy(h) - ref) < 1e-9


@pytest.mark.parametrize("terms", [(("IIIIII", 2.0),), (("ZIIIIZ", 1.0), ("IIZIII", -0.5)),
                                   (("XIIIII", 1.0), ("XIIIII", -1.0))])
def test_sparse_path_on_degenerate_hamiltonians(monkeypatch: pytest.MonkeyPatch,
                                                terms: tuple[tuple[str, float], ...]) -> None:
    h = GroundState(6, terms)
    ref = float(np.linalg.eigvalsh(SparsePauliOp.from_list(list(terms)).to_matrix())[0])
    monkeypatch.setattr(exact, "DENSE_MAX_QUBITS", 0)
    assert abs(ground_energy(h) - ref) < 1e-9


def test_real_dtype_only_without_odd_y() -> None:
    assert sparse_hamiltonian(GroundState(2, (("YY", 1.0), ("XZ", 1.0)))).dtype == np.float64
    assert sparse_hamiltonian(GroundState(2, (("YZ", 1.0),))).dtype == np.complex128


def test_ising_ring_ground_energy_matches_free_fermions() -> None:
    # H = -sum Z_i Z_{i+1} - g sum X_i on an open chain: E0 = -sum_k eps_k with
    # eps_k the positive eigenvalues of the 2n x 2n BdG matrix (Pfeuty 1970,
    # Ann. Phys. 57, 79; Lieb, Schultz, Mattis 1961), here via its singular values.
    n, g = 12, 0.8
    terms = [("I" * (n - 2 - i) + "ZZ" + "I" * i, -1.0) for i in range(n - 1)]
    terms += [("I" * (n - 1 - i) + "X" + "I" * i, -g) for i in range(n)]
    a = np.diag([g] * n) + np.diag([-1.0] * (n - 1), 1)  # h_ij = g delta_ij - delta_{j,i+1}
    e0 = -float(np.linalg.svd(a, compute_uv=False).sum())
    assert abs(ground_energy(GroundState(n, tuple(terms))) - e0) < 1e-9


# --- resources -----------------------------------------------------------------------------


def test_resources_refuse_34_qubits_but_not_brute_force() -> None:
    n = 34
    ring = GroundState(n, tuple(("I" * (n - 1 - i) + "X" + "I" * i, 1.0) for i in range(n)))
    time_s, memory_bytes = exact_resources(ring)
    assert memory_bytes > 10 * 128 * 2**30 and time_s > 3600
    bf_time_s, bf_memory_bytes = exact_resources(MaxCut(n, ((0, 1, 1.0),)))
    assert bf_memory_bytes < 64 * 2**20 and 1 < bf_time_s < 3600  # chunked: memory bounded


def test_resources_grow_with_size_and_masks() -> None:
    def ring(n: int, x: bool) -> GroundState:
        p = "X" if x else "Z"
        return GroundState(n, tuple(("I" * (n - 1 - i) + p + "I" * i, 1.0) for i in range(n)))
    sizes = [exact_resources(ring(n, True)) for n in (8, 12, 16, 20)]
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(sizes))
    assert exact_resources(ring(16, True))[1] > exact_resources(ring(16, False))[1]


def test_resources_memory_bounds_a_measured_solve() -> None:
    n = 14
    ring = GroundState(n, tuple([("I" * (n - 1 - i) + "X" + "I" * i, 0.7) for i in range(n)]
                                + [("I" * (n - 2 - i) + "ZZ" + "I" * i, 1.0) for i in range(n - 1)]))
    tracemalloc.start()
    ground_energy(ring)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    predicted = exact_resources(ring)[1]
    assert peak <= predicted <= 4 * peak


def test_core_modules_import_no_sdk() -> None:
    mods = ["problems.conversions", "problems.exact", "problems.quality"]
    forbidden = ["qiskit", "qiskit_aer", "braket", "faust", "aiokafka", "dimod", "dwave", "cvxpy"]
    assert loaded_after_import(mods, forbidden) == ""


# --- quality -------------------------------------------------------------------------------


@FAST
@given(maxcuts(), st.data())
def test_qubo_ratio_of_a_maxcut_equals_the_cut_ratio(cut: MaxCut, data: st.DataObject) -> None:
    x = data.draw(st.sampled_from(assignments(cut.num_nodes)))
    best = solve_maxcut(cut).value
    q = qubo_from_maxcut(cut)
    r = approximation_ratio(cut, cut.cut_value(x), best)
    assert 0.0 <= r <= 1.0
    assert approximation_ratio(q, q.value(x), -best) == pytest.approx(r, abs=1e-9)
    assert approximation_ratio(cut, best, best) == 1.0


@FAST
@given(qubos(), st.data(), st.floats(-10, 10), st.floats(0.1, 10))
def test_qubo_ratio_is_shift_and_scale_free(q: Qubo, data: st.DataObject, shift: float,
                                            scale: float) -> None:
    x = data.draw(st.sampled_from(assignments(q.num_vars)))
    best = solve_qubo(q).value
    r = approximation_ratio(q, q.value(x), best)
    assert 0.0 <= r <= 1.0 and approximation_ratio(q, best, best) == 1.0
    moved = Qubo(q.num_vars, tuple((i, scale * c) for i, c in q.linear),
                 tuple((i, j, scale * c) for i, j, c in q.quadratic), scale * q.offset + shift)
    span = q.offset - best
    if span > 1e-6:  # away from the degenerate 'all-zeros is optimal' case
        assert approximation_ratio(moved, scale * q.value(x) + shift,
                                   scale * best + shift) == pytest.approx(r, abs=1e-6)
        assert r == pytest.approx((q.offset - q.value(x)) / span, abs=1e-9) or r == 0.0


def test_ratio_edge_cases() -> None:
    q = Qubo(2, ((0, 1.0), (1, 1.0)), ())  # all-zeros optimal: f* = f(0) = 0
    assert approximation_ratio(q, 0.0, 0.0) == 1.0 and approximation_ratio(q, 1.0, 0.0) == 0.0
    assert approximation_ratio(q, 1.0, 0.0, reference=2.0) == 0.5  # Demange-Paschos, worst = 2
    cut = MaxCut(2, ((0, 1, -1.0),))  # max cut 0
    assert approximation_ratio(cut, 0.0, 0.0) == 1.0 and approximation_ratio(cut, -1.0, 0.0) == 0.0
    h = GroundState(1, (("Z", 1.0),))
    assert approximation_ratio(h, -1.0, -1.0) == 1.0
    assert approximation_ratio(h, -0.5, -1.0) == 0.5 and approximation_ratio(h, 3.0, -1.0) == 0.0
    assert approximation_ratio(h, 0.0, 0.0) == 1.0 and approximation_ratio(h, 1e-3, 0.0) == 0.0
    with pytest.raises(ValueError, match="finite"):
        approximation_ratio(h, math.nan, -1.0)


def test_exact_optimum_dispatches() -> None:
    cut = MaxCut(4, ((0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (0, 3, 1.0)))
    best = exact_optimum(cut)
    assert best.value == 4.0 and best.bitstring == "0101"
    h, offset = ground_state_from_problem(cut)
    assert exact_optimum(h).value + offset == pytest.approx(-4.0, abs=1e-9)
    assert exact_optimum(h).bits is None and exact_optimum(h).bitstring is None


def test_problem_features() -> None:
    keys = {"kind", "size", "density", "terms", "max_order", "x_masks", "abs_weight"}
    cut = problem_features(MaxCut(3, ((0, 1, -2.0), (1, 2, 1.0))))
    assert set(cut) == keys
    assert (cut["kind"], cut["size"], cut["terms"], cut["max_order"], cut["abs_weight"]) == (
        "maxcut", 3, 2, 2, 3.0)
    q = problem_features(Qubo(3, ((0, 1.0),), ()))
    assert (q["terms"], q["max_order"], q["x_masks"], q["density"]) == (1, 1, 1, 0.0)
    h = problem_features(GroundState(3, (("XXI", 1.0), ("ZZZ", 0.5), ("IYX", -1.0))))
    assert (h["terms"], h["max_order"], h["x_masks"]) == (3, 3, 3)
    assert h["density"] == pytest.approx(7 / 9)
