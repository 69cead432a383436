"""QAOA and hardware-efficient VQE ansätze, initial points, bound OpenQASM 2 circuits.

Pauli labels and bitstrings follow qiskit's convention (rightmost character =
qubit 0), as :mod:`qstream.core.problems` does. Parameter vectors follow
``circuit.parameters`` order (qiskit sorts parameters by name: for QAOA that is
``β[0..p-1]`` then ``γ[0..p-1]``).

Examples
--------
>>> qc = qaoa_circuit([("ZZI", 0.5), ("IZZ", 0.5)], reps=2)
>>> qc.num_qubits, parameter_count(qc)
(3, 4)
>>> qaoa_initial_point(2)
[-0.5625, -0.1875, 0.1875, 0.5625]
>>> text = bound_qasm(qc, qaoa_initial_point(2), measure="ZZZ")
>>> text.startswith("OPENQASM 2.0;"), text.count("measure")
(True, 3)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import qiskit.qasm2
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import ClassicalRegister
from qiskit.circuit.library import efficient_su2, qaoa_ansatz
from qiskit.quantum_info import SparsePauliOp

__all__ = ["QASM_BASIS_GATES", "bound_qasm", "parameter_count", "qaoa_circuit", "qaoa_initial_point",
           "vqe_circuit", "vqe_initial_point"]

QASM_BASIS_GATES = ("cx", "rz", "rx", "ry", "h", "s", "sdg", "x", "sx")
"""Gates of the exported circuits (all in qelib1.inc, so any OpenQASM 2 reader takes them)."""


def _cost_operator(terms: Sequence[tuple[str, float]]) -> SparsePauliOp:
    if not terms:
        raise ValueError("the cost Hamiltonian needs at least one Pauli term")
    for label, _ in terms:
        if set(label) - {"I", "Z"}:
            raise ValueError(f"QAOA needs a diagonal cost Hamiltonian (I/Z labels), got {label!r}")
    return SparsePauliOp.from_list([(label, float(c)) for label, c in terms])


def qaoa_circuit(terms: Sequence[tuple[str, float]], reps: int) -> QuantumCircuit:
    """The QAOA ansatz of Farhi, Goldstone and Gutmann (arXiv:1411.4028) for ``H_C``.

    ``|ψ(β, γ)⟩ = Π_{l=1..p} e^{-i β_l H_M} e^{-i γ_l H_C} H^{⊗N}|0⟩`` with the mixer
    ``H_M = Σ_j X_j``, built by :func:`qiskit.circuit.library.qaoa_ansatz`.

    Parameters
    ----------
    terms:
        ``H_C`` as ``(label, coefficient)`` pairs with ``I``/``Z`` labels of length
        ``N`` (e.g. MaxCut's ``-cut = Σ_(u,v) w/2 Z_u Z_v - Σ w/2``).
    reps:
        ``p``, the number of layers (``2 p`` parameters: ``β`` then ``γ``).

    Raises
    ------
    ValueError
        No terms, a non-diagonal label, or ``reps < 1``.
    """
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    return qaoa_ansatz(_cost_operator(terms), reps=reps)


def vqe_circuit(num_qubits: int, reps: int = 2, *, entanglement: str = "linear") -> QuantumCircuit:
    """Hardware-efficient ansatz (Kandala et al., Nature 549, 242, 2017): qiskit's
    :func:`~qiskit.circuit.library.efficient_su2` (RY and RZ layers with CX entanglers).

    Parameters
    ----------
    num_qubits:
        ``N``.
    reps:
        Entangling layers; the circuit has ``2 N (reps + 1)`` parameters.
    entanglement:
        ``"linear"`` (default), ``"full"``, ``"circular"``, ... as qiskit takes it.
    """
    if num_qubits < 1 or reps < 0:
        raise ValueError(f"need num_qubits >= 1 and reps >= 0, got {num_qubits}, {reps}")
    return efficient_su2(num_qubits, reps=reps, entanglement=entanglement)


def parameter_count(circuit: QuantumCircuit) -> int:
    """Number of free parameters of ``circuit`` (the length of its parameter vector)."""
    return int(circuit.num_parameters)


def qaoa_initial_point(reps: int, *, delta_t: float = 0.75, seed: int | None = None,
                       jitter: float = 0.0) -> list[float]:
    """A linear-ramp (annealing-like) start for QAOA, ``[β_0..β_{p-1}, γ_0..γ_{p-1}]``.

    ``γ_l = s_l Δt`` and ``β_l = −(1 − s_l) Δt`` with ``s_l = (l + 1/2) / p``: a
    Trotterised linear anneal from the mixer's ground state to ``H_C``'s (which is
    minimised), the "TQA" initialisation of Sack and Serbyn, Quantum 5, 491 (2021),
    which also motivates ``Δt ≈ 0.75`` (near their optimum for 3-regular MaxCut); Zhou
    et al., PRX 10, 021067 (2020) report the same shape of optimal parameters. The
    minus sign on ``β``: qiskit's mixer layer is ``e^{−iβ Σ_j X_j}`` and its start
    ``|+…+⟩`` is the ground state of ``−Σ_j X_j``, so the anneal runs at ``β < 0``
    (with ``β > 0`` the ramp heads for ``H_C``'s *highest* states). With ``seed`` set,
    ``jitter`` adds seeded uniform noise in ``[-jitter, jitter]`` (radians) to every
    angle.
    """
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    s = (np.arange(reps) + 0.5) / reps
    point = np.concatenate([-(1.0 - s) * delta_t, s * delta_t])
    if seed is not None and jitter:
        point = point + np.random.default_rng(seed).uniform(-jitter, jitter, size=point.size)
    return [float(v) for v in point]


def vqe_initial_point(circuit: QuantumCircuit, *, seed: int, scale: float = np.pi) -> list[float]:
    """Seeded uniform angles in ``[-scale, scale]`` (radians), one per parameter.

    The default ``scale = π`` spans each rotation's period, as qiskit's ``VQE``
    defaults to a uniform random point within the ansatz's bounds; a small
    ``scale`` starts near the ansatz's ``|0…0⟩`` state.
    """
    rng = np.random.default_rng(seed)
    return [float(v) for v in rng.uniform(-scale, scale, size=parameter_count(circuit))]


def bound_qasm(circuit: QuantumCircuit, params: Sequence[float], *, measure: str | None) -> str:
    """OpenQASM 2 text of ``circuit`` with ``params`` bound, rotated to and measured in a basis.

    Parameters
    ----------
    circuit:
        A parametrised circuit without measurements (``N`` qubits).
    params:
        One value per parameter, in ``circuit.parameters`` order.
    measure:
        ``None`` for no measurement, else ``N`` characters from ``IXYZ``
        (:func:`qstream.core.observables.measurement_basis`, rightmost = qubit 0):
        ``X`` adds ``h``, ``Y`` adds ``sdg; h`` (rotating the eigenbasis onto Z),
        ``Z`` and ``I`` add nothing, and then qubit ``j`` is measured into clbit
        ``j`` of a register ``c`` (so counts follow the labels' convention).

    Returns
    -------
    str
        An OpenQASM 2.0 program over :data:`QASM_BASIS_GATES`, which
        :func:`qstream.circuits.analyze_qasm` parses as an ordinary sub-task.

    Raises
    ------
    ValueError
        The wrong number of parameters, or a ``measure`` of the wrong length or
        alphabet.
    """
    if len(params) != circuit.num_parameters:
        raise ValueError(f"circuit has {circuit.num_parameters} parameters, got {len(params)}")
    n = circuit.num_qubits
    bound = circuit.assign_parameters([float(v) for v in params])
    if measure is not None:
        if len(measure) != n or set(measure) - set("IXYZ"):
            raise ValueError(f"measure must be {n} characters of IXYZ, got {measure!r}")
        bound = bound.copy()
        for qubit, letter in enumerate(reversed(measure)):
            if letter == "Y":
                bound.sdg(qubit)
            if letter in "XY":
                bound.h(qubit)
    flat = transpile(bound, basis_gates=list(QASM_BASIS_GATES), optimization_level=0)
    out = QuantumCircuit(*flat.qregs, name=circuit.name)
    out.compose(flat, inplace=True)
    if measure is not None:
        creg = ClassicalRegister(n, "c")
        out.add_register(creg)
        out.measure(range(n), range(n))
    return qiskit.qasm2.dumps(out)
