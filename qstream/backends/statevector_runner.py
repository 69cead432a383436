"""Runner of the classical backend: noiseless CPU statevector simulation (qiskit-aer),
in a pool worker.

A static circuit is simulated once and its shots are sampled from the exact
output distribution (cached by circuit text, :mod:`qstream.backends.sampling`); a
dynamic one runs one trajectory per shot.
"""

from __future__ import annotations

import time

from qstream.backends.circuit_maps import parse
from qstream.backends.payloads import RunFailure, RunPayload, StatevectorOutcome
from qstream.backends.sampling import (
    hellinger,
    hex_counts,
    ideal_cached,
    ideal_simulator,
    sample_counts,
)

__all__ = ["run_statevector"]


def run_statevector(payload: RunPayload) -> StatevectorOutcome | RunFailure:
    """Worker function: noiseless CPU statevector simulation (qiskit-aer).

    Parameters
    ----------
    payload:
        The circuit, shots, seed (of the sampler and the transpiler) and qubit limit.

    Returns
    -------
    StatevectorOutcome | RunFailure
        ``counts``, ``quality`` (None for dynamic circuits), ``method``,
        ``compute_s`` (wall seconds of the work) and ``cpu_s`` (CPU seconds of this
        process, Aer threads included); or a failure of kind ``"circuit"``
        (invalid, wider than ``max_qubits``) or ``"backend"``.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        qc, features = parse(payload.qasm, payload.name)
    except Exception as exc:
        return RunFailure.of("circuit", exc)
    try:
        max_qubits = payload.max_qubits
        if qc.num_qubits > max_qubits:
            return RunFailure.of("circuit", f"circuit needs {qc.num_qubits} qubits; "
                                            f"the statevector limit is {max_qubits}")
        shots, seed = payload.shots, payload.seed
        quality: float | None
        if features.dynamic:
            from qiskit import transpile

            sim = ideal_simulator()
            tqc = transpile(qc, sim, optimization_level=1, seed_transpiler=seed)
            data = sim.run(tqc, shots=shots, seed_simulator=seed).result().data(0)
            counts = hex_counts(data["counts"], qc.num_clbits)
            method, quality = "statevector_shots", None
        else:
            ideal = ideal_cached(qc, payload.qasm)
            counts = sample_counts(ideal, shots, seed)
            method = "statevector_sampled"
            quality = hellinger(counts, ideal)
        return StatevectorOutcome(counts=counts, quality=quality, method=method,
                                  compute_s=time.perf_counter() - t0,
                                  cpu_s=time.process_time() - c0)
    except Exception as exc:
        return RunFailure.of("backend", exc)
