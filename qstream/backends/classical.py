"""A classical backend: exact CPU state-vector simulation, billed by CPU time.

:class:`ClassicalStatevectorBackend` simulates a circuit with qiskit-aer's
noiseless Aer in the process pool
(:func:`qstream.backends.statevector_runner.run_statevector`), with the method
:func:`qstream.core.sim_cost.choose_method` picks under :data:`SIMULATION`'s memory
and time limits: a dense statevector (a static circuit is simulated once and its shots
are sampled from the exact output distribution; a dynamic circuit runs one trajectory
per shot), the stabilizer method for Clifford circuits, or a matrix product state.
At most :data:`MAX_QUBITS` qubits; circuits whose simulation fits no method are
refused by :meth:`BackendSpec.can_run <qstream.core.backend_spec.BackendSpec.can_run>`.
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
from qstream.core.sim_cost import NOISELESS_METHODS, SV_S_PER_AMP_GATE, SimSpec

__all__ = [
    "CLASSICAL_NAME",
    "MAX_QUBITS",
    "SIMULATION",
    "USD_PER_CPU_SECOND",
    "ClassicalStatevectorBackend",
    "classical_spec",
]

CLASSICAL_NAME = "cpu_statevector"
"""Fleet name of the classical state-vector backend."""

MAX_QUBITS = 64
"""Widest circuit accepted. Width is not what limits a simulation: memory and time are
(:data:`SIMULATION`). A dense statevector fits up to 28 qubits in 4 GiB; wider Clifford
or weakly entangling circuits run with the stabilizer or matrix-product-state method."""

USD_PER_CPU_SECOND = 0.08925 / 2 / 3600
"""USD 1.24e-5 per CPU second: AWS EC2 ``c7i.large`` on-demand, Linux, us-east-1,
USD 0.08925 per hour for 2 vCPUs (AWS EC2 on-demand pricing page, 2024; check the
page for the current figure)."""

S_PER_AMP_GATE = SV_S_PER_AMP_GATE
"""Cost of Aer's statevector in a pool worker (one Aer thread): 2.0e-9 s per amplitude per
gate at 18-24 qubits (:data:`qstream.core.sim_cost.SV_S_PER_AMP_GATE`, measured
2026-12-01, 2 cores)."""

SIMULATION = SimSpec(NOISELESS_METHODS, noisy=False, s_per_amp_gate=S_PER_AMP_GATE)
"""Methods (statevector, stabilizer, matrix product state) and the default limits of one
simulation (:data:`~qstream.core.sim_cost.DEFAULT_MEMORY_BYTES`,
:data:`~qstream.core.sim_cost.DEFAULT_TIME_LIMIT_S`)."""

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
        simulation=SIMULATION,
        description="exact CPU simulation (qiskit-aer statevector, stabilizer or MPS), "
                    "billed per CPU second",
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
                             seed=request_seed(request, self.seed), max_qubits=MAX_QUBITS,
                             simulation=SIMULATION)
        out = await submit(self._pool, run_statevector, payload, self._spec.name)
        return ExecutionResult(
            backend=self._spec.name, counts=out.counts, shots=request.shots,
            queue_s=0.0, run_s=float(out.compute_s),
            price_usd=self._spec.pricing.price_usd(request.shots, float(out.cpu_s)),
            esp=1.0, quality=out.quality, readout=None, pending_jobs=0,
            physical_qubits=None, wall_s=time.perf_counter() - started, sim_method=out.method,
        )

    def warm_ups(self) -> tuple[WarmUp, ...]:
        """The noiseless Aer statevector simulator (key ``"statevector"``)."""
        return (WarmUp("statevector", warm_ideal_simulator),)

    def __repr__(self) -> str:
        return "ClassicalStatevectorBackend()"
