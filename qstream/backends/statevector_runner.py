"""Runner of the classical backend: noiseless CPU statevector simulation (qiskit-aer),
in a pool worker.

The method is the one :func:`qstream.core.sim_cost.choose_method` picks under the
payload's :class:`~qstream.core.sim_cost.SimSpec`. With a dense statevector, a static
circuit is simulated once and its shots are sampled from the exact output
distribution (cached by circuit text, :mod:`qstream.backends.sampling`) up to
``QUALITY_MAX_QUBITS`` qubits, and by Aer above; a dynamic one runs one trajectory per
shot. The stabilizer and matrix-product-state methods let Aer sample the shots.
"""

from __future__ import annotations

import time
from typing import Any

from qstream.backends.circuit_maps import parse
from qstream.backends.limits import QUALITY_MAX_QUBITS
from qstream.backends.payloads import RunFailure, RunPayload, StatevectorOutcome
from qstream.backends.sampling import (
    hellinger,
    hex_counts,
    ideal_cached,
    ideal_simulator,
    ideal_target,
    method_simulator,
    sample_counts,
)

__all__ = ["aer_counts", "run_statevector"]


def run_statevector(payload: RunPayload) -> StatevectorOutcome | RunFailure:
    """Worker function: noiseless CPU statevector simulation (qiskit-aer).

    Parameters
    ----------
    payload:
        The circuit, shots, seed (of the sampler and the transpiler) and qubit limit.

    Returns
    -------
    StatevectorOutcome | RunFailure
        ``counts``, ``quality`` (None for dynamic circuits and for those not
        simulated as an exact distribution), ``method``, ``compute_s`` (wall seconds
        of the work) and ``cpu_s`` (CPU seconds of this process, Aer threads
        included); or a failure of kind ``"circuit"`` (invalid, wider than
        ``max_qubits``, or no simulation method fits the limits) or ``"backend"``.
    """
    from qstream.core.sim_cost import SimSpec, choose_method
    from qstream.errors import SimulationCostError

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
        spec = payload.simulation or SimSpec(("statevector",))
        try:
            plan = choose_method(features, shots, noisy=False, spec=spec)
        except SimulationCostError as exc:
            return RunFailure.of("circuit", exc)
        quality: float | None
        if plan.method != "statevector":
            counts = aer_counts(qc, plan.method, shots, seed)
            method, quality = plan.method, None
        elif features.dynamic:
            from qiskit import transpile

            sim = ideal_simulator()
            tqc = transpile(qc, target=ideal_target(), optimization_level=1,
                            seed_transpiler=seed)
            data = sim.run(tqc, shots=shots, seed_simulator=seed).result().data(0)
            counts = hex_counts(data["counts"], qc.num_clbits)
            method, quality = "statevector_shots", None
        elif qc.num_qubits > QUALITY_MAX_QUBITS:  # no exact distribution of 2**n outcomes
            counts = aer_counts(qc, "statevector", shots, seed)
            method, quality = "statevector", None
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


def aer_counts(qc: Any, method: str, shots: int, seed: int) -> dict[str, int]:
    """Noiseless counts of ``qc`` from Aer's ``method`` (``"statevector"``,
    ``"stabilizer"``, ``"matrix_product_state"``), Aer sampling the shots; clbit-0-rightmost
    bitstrings, ``num_clbits`` wide."""
    from qiskit import transpile

    sim, target = method_simulator(method)
    tqc = transpile(qc, target=target, optimization_level=0, seed_transpiler=seed)
    data = sim.run(tqc, shots=shots, seed_simulator=seed).result().data(0)
    return hex_counts(data["counts"], qc.num_clbits)
