"""From (ansatz, parameters, Pauli terms) to measurement circuits, and counts back to ``⟨H⟩``.

One circuit per qubit-wise commuting group of terms
(:func:`qstream.core.observables.group_qubit_wise_commuting`), each an ordinary
qstream sub-task (OpenQASM 2 text); their counts give the group estimates
(:func:`~qstream.core.observables.expectation_from_counts`), summed with errors in
quadrature (:func:`~qstream.core.observables.combine`).

Examples
--------
>>> from qstream.quantum.ansatz import vqe_circuit
>>> terms = [("ZZ", 1.0), ("XX", 0.5), ("IZ", -0.25)]
>>> circuits = measurement_circuits(vqe_circuit(2, reps=1), [0.0] * 8, terms)
>>> [(c.name, c.basis, c.terms) for c in circuits]
[('group0_ZZ', 'ZZ', (('ZZ', 1.0), ('IZ', -0.25))), ('group1_XX', 'XX', (('XX', 0.5),))]
>>> value, std_error = estimate_from_counts(circuits, [{"00": 100}, {"00": 50, "01": 50}])
>>> value, round(std_error, 6)
(0.75, 0.050252)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qiskit import QuantumCircuit

from qstream.core.observables import (
    combine,
    expectation_from_counts,
    group_qubit_wise_commuting,
    measurement_basis,
)
from qstream.quantum.ansatz import bound_qasm

__all__ = ["MeasurementCircuit", "estimate_from_counts", "measurement_circuits", "measurement_groups",
           "observable_circuits"]


@dataclass(frozen=True, slots=True)
class MeasurementCircuit:
    """One measured group: its sub-task name, basis, terms and OpenQASM 2 text.

    Attributes
    ----------
    name:
        ``group<i>_<basis>``, unique within one estimate.
    basis:
        ``N`` characters of ``IXYZ`` (rightmost = qubit 0).
    terms:
        The group's ``(label, coefficient)`` pairs.
    qasm:
        The bound circuit, rotated to ``basis``, measuring qubit ``j`` into clbit ``j``.
    """

    name: str
    basis: str
    terms: tuple[tuple[str, float], ...]
    qasm: str


def measurement_groups(terms: Sequence[tuple[str, float]]) -> list[tuple[str, tuple[tuple[str, float], ...]]]:
    """``(basis, group terms)`` per qubit-wise commuting group of ``terms``.

    Raises
    ------
    ValueError
        No terms, or labels of different lengths or outside ``IXYZ``.
    """
    if not terms:
        raise ValueError("need at least one Pauli term")
    groups = group_qubit_wise_commuting([label for label, _ in terms])
    out = []
    for group in groups:
        members = tuple((terms[i][0], float(terms[i][1])) for i in group)
        out.append((measurement_basis([label for label, _ in members]), members))
    return out


def measurement_circuits(circuit: QuantumCircuit, params: Sequence[float],
                         terms: Sequence[tuple[str, float]]) -> list[MeasurementCircuit]:
    """The circuits that estimate ``⟨ψ(params)| Σ_k c_k P_k |ψ(params)⟩``, one per group.

    Parameters
    ----------
    circuit:
        Parametrised ansatz without measurements, ``N`` qubits.
    params:
        Its parameter values (``circuit.parameters`` order).
    terms:
        ``(label, coefficient)``, labels of length ``N``.

    Raises
    ------
    ValueError
        As :func:`measurement_groups` and :func:`qstream.quantum.ansatz.bound_qasm`,
        or labels not of the circuit's width.
    """
    width = circuit.num_qubits
    if any(len(label) != width for label, _ in terms):
        raise ValueError(f"Pauli labels must have the circuit's {width} qubits")
    return [MeasurementCircuit(f"group{i}_{basis}", basis, members,
                               bound_qasm(circuit, params, measure=basis))
            for i, (basis, members) in enumerate(measurement_groups(terms))]


def observable_circuits(circuit: QuantumCircuit,
                        observables: Sequence[Sequence[tuple[str, float]]]) -> list[MeasurementCircuit]:
    """One measured circuit per qubit-wise commuting group of the terms of all ``observables``.

    For a user circuit with ``observables`` (:class:`qstream.core.task.CircuitRequest`):
    the distinct labels of every observable are grouped together, so a label shared
    by two observables is measured once. Each group's circuit is ``circuit`` rotated
    to the group's basis and measuring qubit ``j`` into clbit ``j``
    (:func:`qstream.quantum.ansatz.bound_qasm`).

    Parameters
    ----------
    circuit:
        A parsed circuit without measurements or unbound parameters, ``N`` qubits
        (qubit ``j`` is ``circuit.qubits[j]``, registers in declaration order). Its
        classical registers, unused without measurements, are dropped.
    observables:
        Observables as ``(label, coefficient)`` terms, labels of length ``N``.

    Returns
    -------
    list of MeasurementCircuit
        Each with its basis and its distinct labels (coefficient 1.0: the
        observables' coefficients are applied when the counts come back).

    Raises
    ------
    ValueError
        As :func:`measurement_circuits`, or an instruction that uses classical bits
        (classical control).

    Examples
    --------
    >>> qc = QuantumCircuit(2); _ = qc.h(0); _ = qc.cx(0, 1)
    >>> [(c.basis, c.terms) for c in observable_circuits(qc, [[("ZZ", 1.0), ("XX", 2.0)],
    ...                                                          [("ZZ", -1.0), ("IZ", 1.0)]])]
    [('ZZ', (('ZZ', 1.0), ('IZ', 1.0))), ('XX', (('XX', 1.0),))]
    """
    quantum = QuantumCircuit(circuit.num_qubits, name=circuit.name)
    for inst in circuit.data:
        if inst.clbits:
            raise ValueError(f"instruction {inst.operation.name!r} uses classical bits; a circuit "
                             "with observables must be purely quantum")
        quantum.append(inst.operation, [circuit.find_bit(q).index for q in inst.qubits])
    labels = list(dict.fromkeys(label for terms in observables for label, _ in terms))
    return measurement_circuits(quantum, [], [(label, 1.0) for label in labels])


def estimate_from_counts(circuits: Sequence[MeasurementCircuit],
                         counts: Sequence[Mapping[str, int]]) -> tuple[float, float]:
    """``(value, std_error)`` of ``⟨H⟩`` from each circuit's counts (same order).

    Groups are independent runs, so their standard errors add in quadrature.

    Raises
    ------
    ValueError
        A different number of counts than circuits, or as
        :func:`qstream.core.observables.expectation_from_counts`.
    """
    if len(counts) != len(circuits):
        raise ValueError(f"{len(circuits)} measurement circuits but {len(counts)} counts")
    return combine(expectation_from_counts(c.terms, c.basis, k) for c, k in zip(circuits, counts,
                                                                                 strict=True))
