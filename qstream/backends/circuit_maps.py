"""The circuit facts every runner needs: the parsed circuit, which qubit each clbit
measures, which physical qubits a transpiled circuit touches.

Circuits are qiskit ``QuantumCircuit`` objects (typed ``Any``: qiskit ships no
type information); qubit and clbit indices are positions in ``qc.qubits`` and
``qc.clbits``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["active_qubits", "compact", "measurements", "parse"]


def parse(qasm: str, name: str) -> tuple[Any, Any]:
    """Parse a runner's OpenQASM 2/3 source: ``(circuit, CircuitFeatures)``.

    User gates that shadow a native gate's name are inlined
    (:func:`qstream.circuits.inline_shadowing_gates`); the features are those of
    the circuit as written.

    Raises
    ------
    CircuitError
        On invalid OpenQASM (from :func:`qstream.circuits.parse_qasm`).
    """
    from qstream.circuits import circuit_features, inline_shadowing_gates, parse_qasm

    qc = parse_qasm(qasm, name)
    return inline_shadowing_gates(qc), circuit_features(qc)


def measurements(qc: Any) -> dict[int, int]:
    """clbit index -> qubit index of every measurement, control-flow blocks included
    (the last write of a clbit wins)."""
    out: dict[int, int] = {}
    _collect_measurements(qc, list(range(qc.num_qubits)), list(range(qc.num_clbits)), out)
    return out


def _collect_measurements(qc: Any, qmap: list[int], cmap: list[int], out: dict[int, int]) -> None:
    from qiskit.circuit import ControlFlowOp

    for inst in qc.data:
        op = inst.operation
        if op.name == "measure":
            out[cmap[qc.find_bit(inst.clbits[0]).index]] = qmap[qc.find_bit(inst.qubits[0]).index]
        elif isinstance(op, ControlFlowOp):
            inner_q = [qmap[qc.find_bit(q).index] for q in inst.qubits]
            inner_c = [cmap[qc.find_bit(c).index] for c in inst.clbits]
            for block in op.blocks:
                if block.num_qubits == len(inner_q) and block.num_clbits == len(inner_c):
                    _collect_measurements(block, inner_q, inner_c, out)


def active_qubits(tqc: Any) -> tuple[int, ...]:
    """Physical qubits the transpiled circuit acts on (barriers ignored), sorted."""
    find_bit = tqc.find_bit
    return tuple(sorted({find_bit(q).index for inst in tqc.data
                         if inst.operation.name != "barrier" for q in inst.qubits}))


def compact(tqc: Any, active: tuple[int, ...] | None = None) -> tuple[Any, tuple[int, ...]]:
    """Remap a transpiled circuit onto the physical qubits it touches (keeping clbits).

    Returns
    -------
    (circuit, active)
        The circuit on ``len(active)`` qubits (qubit ``i`` is physical qubit
        ``active[i]``; barriers dropped), and ``active``.
    """
    from qiskit.circuit import QuantumCircuit, QuantumRegister

    active = active_qubits(tqc) if active is None else active
    reg = QuantumRegister(max(len(active), 1), "q")
    out = QuantumCircuit(reg, list(tqc.clbits))
    for creg in tqc.cregs:
        out.add_register(creg)
    index = {q: i for i, q in enumerate(active)}
    for inst in tqc.data:
        if inst.operation.name == "barrier":
            continue
        out.append(inst.operation, [reg[index[tqc.find_bit(q).index]] for q in inst.qubits],
                   inst.clbits)
    return out, active
