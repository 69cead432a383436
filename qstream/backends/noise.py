"""Calibration maths of emulated devices: readout tables, ESP and scheduled durations.

Everything here reads a ``Fake*`` backend's calibration (its ``Target`` and
``properties()``); nothing simulates. The emulated runner
(:mod:`qstream.backends.aer_runner`) reports these figures with its counts, and
the emulated device turns the duration into IBM's QPU-time model.
"""

from __future__ import annotations

from typing import Any

__all__ = ["esp", "readout_table", "scheduled_duration_s", "transpiled_esp"]


def readout_table(backend: Any) -> list[tuple[float, float]]:
    """Per physical qubit ``(P(read 1 | prep 0), P(read 0 | prep 1))`` of a ``Fake*`` backend.

    From ``backend.properties()`` (``prob_meas1_prep0``, ``prob_meas0_prep1``, the
    values Aer's noise model uses) where present; else the target's symmetric
    ``measure`` error; else 0.
    """
    props = backend.properties() if hasattr(backend, "properties") else None
    target = backend.target
    table: list[tuple[float, float]] = []
    for q in range(int(backend.num_qubits)):
        p10 = p01 = None
        if props is not None:
            p10 = _qubit_prop(props, q, "prob_meas1_prep0")
            p01 = _qubit_prop(props, q, "prob_meas0_prep1")
        if p10 is None or p01 is None:
            inst = target["measure"].get((q,)) if "measure" in target else None
            err = float(inst.error) if inst is not None and inst.error is not None else 0.0
            p10 = err if p10 is None else p10
            p01 = err if p01 is None else p01
        table.append((float(p10), float(p01)))
    return table


def _qubit_prop(props: Any, qubit: int, name: str) -> float | None:
    try:
        value = props.qubit_property(qubit, name)
    except Exception:
        return None
    if isinstance(value, tuple):
        value = value[0]
    return None if value is None else float(value)


def transpiled_esp(tqc: Any, target: Any) -> float:
    """Estimated success probability of a transpiled circuit on its physical qubits.

    ESP = product of ``(1 - error)`` over every gate, measurement and reset, with
    the error the target reports for that instruction on those physical qubits
    (Nishio et al., "Extracting success from IBM's 20-qubit machines using
    error-aware compilation", ACM JETC 2020). Control flow contributes its worst
    block. Virtual ``rz`` gates have error 0; barriers and delays are skipped.
    """
    return esp(tqc, target, list(range(tqc.num_qubits)))[0]


def esp(qc: Any, target: Any, qmap: list[int]) -> tuple[float, float]:
    """``(ESP of everything, ESP of the gates alone: measurements excluded)``.

    As :func:`transpiled_esp`; ``qmap[i]`` is the physical qubit of ``qc``'s qubit
    ``i`` (the identity for a transpiled circuit; a block's qubits inside control flow).
    """
    from qiskit.circuit import ControlFlowOp

    esp_all = esp_gates = 1.0
    find_bit = qc.find_bit
    props_of = {name: target[name] for name in target.operation_names}
    for inst in qc.data:
        op = inst.operation
        name = op.name
        if name in ("barrier", "delay"):
            continue
        qargs = tuple(qmap[find_bit(q).index] for q in inst.qubits)
        if isinstance(op, ControlFlowOp):
            blocks = [esp(b, target, list(qargs)) for b in op.blocks
                      if b.num_qubits == len(qargs)]
            if blocks:
                esp_all *= min(b[0] for b in blocks)
                esp_gates *= min(b[1] for b in blocks)
            continue
        table = props_of.get(name)
        props = table.get(qargs) if table is not None else None
        error = getattr(props, "error", None)
        if error is not None:
            success = 1.0 - min(max(float(error), 0.0), 1.0)
            esp_all *= success
            if name != "measure":
                esp_gates *= success
    return esp_all, esp_gates


def scheduled_duration_s(tqc: Any, target: Any) -> float:
    """Duration of one shot in seconds: an as-soon-as-possible schedule of the
    transpiled circuit with the target's calibrated instruction lengths."""
    return _duration_s(tqc, target, list(range(tqc.num_qubits)))


_UNIT_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "ps": 1e-12}


def _duration_s(qc: Any, target: Any, qmap: list[int]) -> float:
    from qiskit.circuit import ControlFlowOp

    finish: dict[int, float] = {}
    for inst in qc.data:
        op = inst.operation
        qargs = [qmap[qc.find_bit(q).index] for q in inst.qubits]
        start = max((finish.get(q, 0.0) for q in qargs), default=0.0)
        if op.name == "barrier":
            length = 0.0
        elif isinstance(op, ControlFlowOp):
            length = max((_duration_s(b, target, qargs) for b in op.blocks
                          if b.num_qubits == len(qargs)), default=0.0)
        elif op.name == "delay":
            unit = getattr(op, "unit", "dt")
            value = float(op.params[0]) if op.params else 0.0
            length = value * (target.dt or 0.0) if unit == "dt" else value * _UNIT_S.get(unit, 0.0)
        else:
            props = target[op.name].get(tuple(qargs)) if op.name in target else None
            length = float(getattr(props, "duration", None) or 0.0)
        for q in qargs:
            finish[q] = start + length
    return max(finish.values(), default=0.0)
