"""Runner of Braket's local simulator: convert a circuit to a Braket OpenQASM 3 program
and run it on ``LocalSimulator("braket_sv")``, in a pool worker.

The circuit is transpiled to the gates of :data:`BRAKET_GATES`, written as an
OpenQASM 3 program in Braket's gate names (:func:`braket_program`) and run. Braket
returns one column per measured qubit (``measured_qubits``); the columns are
mapped back to the circuit's clbits, clbit 0 rightmost (:func:`braket_counts`).
The simulator is built once per worker process (:func:`braket_simulator`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from qstream.backends.circuit_maps import measurements, parse
from qstream.backends.payloads import BraketOutcome, RunFailure, RunPayload
from qstream.backends.sampling import bits_to_counts, quality

__all__ = ["BRAKET_GATES", "braket_counts", "braket_program", "braket_simulator", "run_braket",
           "warm_braket_simulator"]

BRAKET_GATES: dict[str, str] = {
    "x": "x", "y": "y", "z": "z", "h": "h", "s": "s", "sdg": "si", "t": "t", "tdg": "ti",
    "sx": "v", "sxdg": "vi", "id": "i", "rx": "rx", "ry": "ry", "rz": "rz", "p": "phaseshift",
    "cx": "cnot", "cy": "cy", "cz": "cz", "cp": "cphaseshift", "swap": "swap",
    "ccx": "ccnot", "cswap": "cswap",
}
"""qiskit gate name -> Braket OpenQASM 3 gate name (same matrices; Braket device
properties list them under ``supportedOperations``). Circuits are transpiled to
these qiskit gates before conversion."""

_SIMULATOR: list[Any] = []  # Braket's LocalSimulator, once built


def braket_simulator() -> Any:
    """This process's ``braket.devices.LocalSimulator("braket_sv")`` (built once)."""
    if not _SIMULATOR:
        from braket.devices import LocalSimulator

        _SIMULATOR.append(LocalSimulator("braket_sv"))
    return _SIMULATOR[0]


def warm_braket_simulator(key: str) -> float:
    """Warm-up builder (:class:`~qstream.backends.payloads.WarmUp`): build
    :func:`braket_simulator`; returns the seconds this call took (``key`` is unused)."""
    t0 = time.perf_counter()
    braket_simulator()
    return time.perf_counter() - t0


def run_braket(payload: RunPayload) -> BraketOutcome | RunFailure:
    """Worker function: run one circuit on Braket's ``LocalSimulator("braket_sv")``.

    Parameters
    ----------
    payload:
        The circuit, shots, seed and qubit limit. Braket's local simulator draws
        shots from fresh OS entropy; ``seed`` only seeds the transpiler.

    Returns
    -------
    BraketOutcome | RunFailure
        ``counts``, ``quality``, ``program`` (the OpenQASM 3 source sent),
        ``compute_s``, ``cpu_s``, ``simulate_s``; or a failure of kind
        ``"circuit"`` (invalid, dynamic, wider than ``max_qubits``) or ``"backend"``.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        qc, features = parse(payload.qasm, payload.name)
    except Exception as exc:
        return RunFailure.of("circuit", exc)
    try:
        if features.dynamic:
            return RunFailure.of("circuit", "braket_sv local simulation does not run "
                                            "mid-circuit measurement, reset or classical control")
        max_qubits = payload.max_qubits
        if qc.num_qubits > max_qubits:
            return RunFailure.of("circuit", f"circuit needs {qc.num_qubits} qubits; "
                                            f"the limit is {max_qubits}")
        from braket.ir.openqasm import Program

        source, clbit_qubit = braket_program(qc, seed_transpiler=payload.seed)
        shots = payload.shots
        t1 = time.perf_counter()
        result = braket_simulator().run(Program(source=source), shots=shots).result()
        simulate_s = time.perf_counter() - t1
        counts = braket_counts(result.measurements, list(result.measured_qubits),
                               clbit_qubit, qc.num_clbits)
        fidelity = quality(qc, False, counts, key=payload.qasm)
        return BraketOutcome(counts=counts, quality=fidelity, program=source,
                             simulate_s=simulate_s, compute_s=time.perf_counter() - t0,
                             cpu_s=time.process_time() - c0)
    except Exception as exc:
        return RunFailure.of("backend", exc)


def braket_program(qc: Any, seed_transpiler: int = 0,
                   gates: Sequence[str] | None = None) -> tuple[str, dict[int, int]]:
    """Convert a static circuit to a Braket OpenQASM 3 program.

    ``gates`` restricts the qiskit basis (keys of :data:`BRAKET_GATES`) to what a
    device supports; None is all of :data:`BRAKET_GATES`.

    Returns
    -------
    (source, clbit_qubit)
        The program, with every measured qubit measured once into ``b``; and the
        map clbit index -> qubit index of the circuit's (final) measurements.

    Raises
    ------
    ValueError
        If a gate has no Braket equivalent after transpilation.
    """
    from qiskit import transpile
    from qiskit.circuit import QuantumCircuit

    tqc: QuantumCircuit = transpile(qc, basis_gates=list(gates or BRAKET_GATES), optimization_level=1,
                                    seed_transpiler=seed_transpiler)
    clbit_qubit = {c: q for c, q in measurements(tqc).items()}
    lines = ["OPENQASM 3.0;", f"qubit[{tqc.num_qubits}] q;"]
    body: list[str] = []
    for inst in tqc.data:
        op = inst.operation
        if op.name in ("barrier", "measure", "delay"):
            continue
        if op.name not in BRAKET_GATES:
            raise ValueError(f"gate {op.name!r} has no Braket equivalent after transpilation")
        qubits = ", ".join(f"q[{tqc.find_bit(q).index}]" for q in inst.qubits)
        params = ""
        if op.params:
            params = "(" + ", ".join(repr(float(p)) for p in op.params) + ")"
        body.append(f"{BRAKET_GATES[op.name]}{params} {qubits};")
    measured = sorted(set(clbit_qubit.values()))
    lines.append(f"bit[{max(len(measured), 1)}] b;")
    lines.extend(body)
    lines.extend(f"b[{i}] = measure q[{q}];" for i, q in enumerate(measured))
    return "\n".join(lines) + "\n", clbit_qubit


def braket_counts(measurements: Any, measured_qubits: Sequence[int],
                  clbit_qubit: dict[int, int], num_clbits: int) -> dict[str, int]:
    """Map Braket's per-shot measurement rows to qiskit clbit-order counts.

    ``measurements[s][j]`` is the value of qubit ``measured_qubits[j]`` in shot ``s``;
    clbit ``c`` takes the value of qubit ``clbit_qubit[c]``; clbits that no
    measurement writes stay 0.

    >>> braket_counts([[1, 0], [1, 0]], [2, 0], {0: 0, 2: 2}, 3)
    {'100': 2}
    """
    import numpy as np

    rows = np.asarray(measurements, dtype=np.int64).reshape(len(measurements), -1)
    column = {int(q): j for j, q in enumerate(measured_qubits)}
    return bits_to_counts({c: rows[:, column[q]] for c, q in clbit_qubit.items()},
                          rows.shape[0], num_clbits)
