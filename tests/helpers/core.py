"""Shared builders for the pure-core unit tests (a fleet, circuits, sub-tasks)."""

from __future__ import annotations

from qstream.core.backend_spec import BackendSpec, CalibrationSummary, Pricing
from qstream.core.cost import CostWeights
from qstream.core.features import CircuitFeatures
from qstream.core.observation import ExecutionObservation
from qstream.core.subtask import SubTask

# Medians of a Falcon r5.11 device (ibm_perth-like), used only as plausible numbers.
CAL = CalibrationSummary(
    one_qubit_error=3e-4, two_qubit_error=8e-3, readout_error=2e-2, t1_s=2e-4, t2_s=1.5e-4,
    two_qubit_gate_s=5e-7,
)
GHZ5 = CircuitFeatures(num_qubits=5, depth=6, two_qubit_gates=4, gates=5, measured_qubits=5,
                       num_clbits=5)


def qpu(name: str, *, qubits: int = 27, capacity: int = 1, max_shots: int = 100_000,
        queue_s_per_pending_job: float = 10.0, dynamic: bool = True,
        per_second_usd: float = 0.0) -> BackendSpec:
    return BackendSpec(
        name=name, kind="qpu", num_qubits=qubits, max_shots=max_shots, capacity=capacity,
        supports_dynamic=dynamic, calibration=CAL, pricing=Pricing(per_second_usd=per_second_usd),
        job_overhead_s=2.0, rep_delay_s=250e-6, queue_s_per_pending_job=queue_s_per_pending_job,
    )


def sim(name: str, *, qubits: int = 20, capacity: int = 1, max_shots: int = 1_000_000,
        overhead_s: float = 1.0, dynamic: bool = True) -> BackendSpec:
    return BackendSpec(
        name=name, kind="simulator", num_qubits=qubits, max_shots=max_shots, capacity=capacity,
        supports_dynamic=dynamic, job_overhead_s=overhead_s, statevector_s_per_amp_gate=1e-8,
    )


def subtask(sid: str, *, task_id: str = "t", shots: int = 1000,
            features: CircuitFeatures = GHZ5, priority: int = 5,
            weights: CostWeights | None = None, depends_on: tuple[str, ...] = (),
            allowed: tuple[str, ...] | None = None, deadline_s: float | None = None,
            submitted_at_s: float = 0.0) -> SubTask:
    return SubTask(
        subtask_id=sid, task_id=task_id, circuit_index=0, circuit_name="c", qasm="",
        shots=shots, features=features, weights=weights or CostWeights(), priority=priority,
        deadline_s=deadline_s, allowed_backends=allowed, depends_on=depends_on,
        submitted_at_s=submitted_at_s,
    )


def observation(backend: str, *, shots: int = 1000, features: CircuitFeatures = GHZ5,
                pending_jobs: int = 0, queue_s: float = 0.0, run_s: float = 1.0,
                error: float = 0.05, price_usd: float = 0.0, at_s: float = 0.0
                ) -> ExecutionObservation:
    return ExecutionObservation(
        backend=backend, features=features, shots=shots, pending_jobs=pending_jobs,
        queue_s=queue_s, run_s=run_s, error=error, price_usd=price_usd, at_s=at_s,
    )
