"""A classical backend: exact CPU state-vector simulation, billed by CPU time.

:class:`ClassicalStatevectorBackend` simulates a circuit with qiskit-aer's
noiseless ``AerSimulator(method="statevector")`` in the process pool
(:func:`qstream.backends.statevector_runner.run_statevector`). A static
circuit is simulated once and its shots are sampled from the exact output
distribution; a dynamic circuit (mid-circuit measurement, reset, classical control)
runs one trajectory per shot. At most :data:`MAX_QUBITS` qubits.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor

from qstream.backends.base import ExecutionRequest, ExecutionResult, check_request, request_seed
from qstream.backends.clock import EmulatedClock
from qstream.backends.local import LocalBackend
from qstream.backends.payloads import RunPayload, WarmUp
from qstream.backends.pool import submit
from qstream.backends.sampling import warm_ideal_simulator
from qstream.backends.statevector_runner import run_statevector
from qstream.core.backend_spec import BackendSpec, Pricing

__all__ = [
    "CLASSICAL_NAME",
    "MAX_QUBITS",
    "USD_PER_CPU_SECOND",
    "ClassicalStatevectorBackend",
    "classical_spec",
]

CLASSICAL_NAME = "cpu_statevector"
"""Fleet name of the classical state-vector backend."""

MAX_QUBITS = 20
"""Widest circuit: a 2**20 complex128 state vector is 16 MiB and takes ~1.5 s for
~1300 gates on 2 cores (measured)."""

USD_PER_CPU_SECOND = 0.08925 / 2 / 3600
"""USD 1.24e-5 per CPU second: AWS EC2 ``c7i.large`` on-demand, Linux, us-east-1,
USD 0.08925 per hour for 2 vCPUs (AWS EC2 on-demand pricing page, 2024; check the
page for the current figure)."""

S_PER_AMP_GATE = 1.2e-9
"""Measured cost of Aer's statevector on this kind of machine: ~1.1-1.2e-9 s per
amplitude per gate at 18-20 qubits (2 cores)."""

JOB_OVERHEAD_S = 0.05
"""Measured fixed cost per job (parse, transpile, sampling) for small circuits."""


def classical_spec() -> BackendSpec:
    """The :class:`BackendSpec` of :class:`ClassicalStatevectorBackend`."""
    return BackendSpec(
        name=CLASSICAL_NAME,
        kind="classical",
        num_qubits=MAX_QUBITS,
        max_shots=1_000_000,
        capacity=2,
        supports_dynamic=True,
        calibration=None,
        pricing=Pricing(per_second_usd=USD_PER_CPU_SECOND),
        job_overhead_s=JOB_OVERHEAD_S,
        statevector_s_per_amp_gate=S_PER_AMP_GATE,
        description="exact CPU state vector (qiskit-aer), billed per CPU second",
    )


class ClassicalStatevectorBackend(LocalBackend):
    """Exact state-vector simulation on the local CPU, in the process pool.

    Reported times, consistent with the fleet's :class:`EmulatedClock`:
    ``queue_s`` is 0 (local; any wait is qstream's own), ``run_s`` is the measured
    wall time of the simulation work in the worker, taken 1:1 as emulated seconds
    (a CPU runs at real speed whatever the time scale, so it is not stretched).
    ``price_usd`` is the worker's CPU seconds (all Aer threads) times
    :data:`USD_PER_CPU_SECOND`. ESP is 1.0, ``readout`` None.

    Parameters
    ----------
    clock:
        Emulated clock shared with the fleet (kept for uniformity; nothing sleeps).
    seed:
        Base seed; each request's seed derives from it and the request id.
    pool:
        Process pool; None uses :func:`qstream.backends.pool.default_pool`.
    """

    def __init__(self, *, clock: EmulatedClock | None = None, seed: int = 0,
                 pool: Executor | None = None) -> None:
        super().__init__(classical_spec(), clock=clock, seed=seed, pool=pool)

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Simulate one sub-task exactly.

        Raises
        ------
        BackendError
            On out-of-range shots, a too-wide or invalid circuit, or a broken pool.
        """
        started = time.perf_counter()
        check_request(self._spec, request)
        payload = RunPayload(name=request.subtask_id, qasm=request.qasm, shots=request.shots,
                             seed=request_seed(request, self.seed), max_qubits=MAX_QUBITS)
        out = await submit(self._pool, run_statevector, payload, self._spec.name)
        return ExecutionResult(
            backend=self._spec.name, counts=out.counts, shots=request.shots,
            queue_s=0.0, run_s=float(out.compute_s),
            price_usd=self._spec.pricing.price_usd(request.shots, float(out.cpu_s)),
            esp=1.0, quality=out.quality, readout=None, pending_jobs=0,
            physical_qubits=None, wall_s=time.perf_counter() - started,
        )

    def warm_ups(self) -> tuple[WarmUp, ...]:
        """The noiseless Aer statevector simulator (key ``"statevector"``)."""
        return (WarmUp("statevector", warm_ideal_simulator),)

    def __repr__(self) -> str:
        return "ClassicalStatevectorBackend()"
