"""qstream.core.observables: qubit-wise commuting groups and the counts estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp

from qstream.core.observables import (
    combine,
    expectation_from_counts,
    group_qubit_wise_commuting,
    measurement_basis,
    qubit_wise_commute,
)


def _random_labels(rng: np.random.Generator, num_qubits: int, num_terms: int) -> list[str]:
    return ["".join(rng.choice(list("IXYZ"), size=num_qubits)) for _ in range(num_terms)]


@pytest.mark.parametrize("seed", range(40))
def test_groups_partition_into_qwc_sets_no_more_than_qiskit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    num_qubits, num_terms = int(rng.integers(2, 7)), int(rng.integers(1, 40))
    labels = _random_labels(rng, num_qubits, num_terms)
    groups = group_qubit_wise_commuting(labels)
    assert sorted(i for g in groups for i in g) == list(range(num_terms))
    for group in groups:
        for a in group:
            for b in group:
                assert qubit_wise_commute(labels[a], labels[b]), (labels[a], labels[b])
        basis = measurement_basis([labels[i] for i in group])
        for i in group:  # every term is diagonal in its group's basis
            assert all(p in ("I", q) for p, q in zip(labels[i], basis, strict=True))
    op = SparsePauliOp.from_list([(p, 1.0) for p in labels])
    assert len(groups) <= len(op.group_commuting(qubit_wise=True))


def test_qwc_is_not_full_commutation() -> None:
    # XX and YY commute but not qubit-wise: they need two bases.
    assert group_qubit_wise_commuting(["XX", "YY"]) == [[0], [1]]
    assert group_qubit_wise_commuting(["XI", "IY", "XY", "II"]) == [[0, 1, 2, 3]]


def test_bad_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        group_qubit_wise_commuting(["XX", "X"])
    with pytest.raises(ValueError, match="IXYZ"):
        group_qubit_wise_commuting(["XA"])
    with pytest.raises(ValueError, match="at least one"):
        measurement_basis([])


def _samples(terms: list[tuple[str, float]], counts: dict[str, int]) -> np.ndarray:
    """Per-shot estimator values written out shot by shot (independent of the module)."""
    out = []
    for key, n in counts.items():
        value = 0.0
        for label, c in terms:
            parity = sum(int(key[pos]) for pos, p in enumerate(label) if p != "I") % 2
            value += c * (-1) ** parity
        out += [value] * n
    return np.array(out)


@pytest.mark.parametrize("seed", range(10))
def test_estimator_is_the_mean_and_standard_error_of_per_shot_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    basis = "".join(rng.choice(list("XYZ"), size=4))
    terms = []
    for _ in range(5):  # terms supported on random subsets of the basis
        label = "".join(b if rng.random() < 0.6 else "I" for b in basis)
        terms.append((label, float(rng.normal())))
    keys = [format(int(k), "04b") for k in rng.choice(16, size=6, replace=False)]
    counts = {k: int(rng.integers(1, 200)) for k in keys}
    value, std_error, shots = expectation_from_counts(terms, basis, counts)
    samples = _samples(terms, counts)
    assert shots == samples.size
    assert value == pytest.approx(samples.mean(), abs=1e-12)
    assert std_error == pytest.approx(samples.std(ddof=1) / math.sqrt(samples.size), abs=1e-12)


def test_within_group_covariance_is_exact() -> None:
    # ZI and IZ perfectly correlated (00 or 11): <ZI + IZ> is 0 with spread 2 per shot; adding
    # the two terms' errors in quadrature would understate it by sqrt(2).
    counts = {"00": 500, "11": 500}
    value, std_error, _ = expectation_from_counts([("ZI", 1.0), ("IZ", 1.0)], "ZZ", counts)
    single = expectation_from_counts([("ZI", 1.0)], "ZZ", counts)[1]
    assert value == 0.0
    assert std_error == pytest.approx(2 * single)
    # ZZ is exactly +1 on every shot: no spread at all.
    assert expectation_from_counts([("ZZ", 3.0)], "ZZ", counts) == (3.0, 0.0, 1000)


def test_bit_order_is_qiskit_s_rightmost_qubit_zero() -> None:
    # "01": qubit 0 reads 1, qubit 1 reads 0.
    assert expectation_from_counts([("IZ", 1.0)], "ZZ", {"01": 10})[0] == -1.0
    assert expectation_from_counts([("ZI", 1.0)], "ZZ", {"01": 10})[0] == 1.0
    # spaces between registers are ignored; extra high bits too
    assert expectation_from_counts([("IZ", 1.0)], "ZZ", {"1 01": 4})[0] == -1.0


def test_estimator_errors() -> None:
    with pytest.raises(ValueError, match="not measured by basis"):
        expectation_from_counts([("XZ", 1.0)], "ZZ", {"00": 1})
    with pytest.raises(ValueError, match="at least one shot"):
        expectation_from_counts([("ZZ", 1.0)], "ZZ", {})
    with pytest.raises(ValueError, match="bitstring"):
        expectation_from_counts([("ZZ", 1.0)], "ZZ", {"0": 3})
    assert math.isinf(expectation_from_counts([("ZZ", 1.0)], "ZZ", {"00": 1})[1])


def test_combine_adds_values_and_errors_in_quadrature() -> None:
    assert combine([]) == (0.0, 0.0)
    value, err = combine([(1.0, 3.0, 10), (-2.0, 4.0, 10), (0.5, 0.0)])
    assert value == -0.5 and err == pytest.approx(5.0)


def test_observables_and_optimizers_stay_pure() -> None:
    from helpers.purity import loaded_after_import

    forbidden = ["qiskit", "qiskit_aer", "faust", "aiokafka", "kafka", "braket", "dimod", "cvxpy"]
    assert loaded_after_import(["observables", "optimizers"], forbidden) == ""
