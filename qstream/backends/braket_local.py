"""Amazon Braket's local state-vector simulator as a qstream backend.

:class:`BraketLocalBackend` runs circuits on ``braket.devices.LocalSimulator("braket_sv")``
(noiseless, offline) inside the process pool (:mod:`qstream.backends.braket_runner`).
The circuit is transpiled to gates Braket's OpenQASM 3 simulator supports
(:data:`qstream.backends.braket_runner.BRAKET_GATES`), written as a
``braket.ir.openqasm.Program`` in Braket's gate names, and Braket's per-shot
measurement rows are mapped back to qiskit clbit-order bitstrings by their
``measured_qubits`` labels (:func:`qstream.backends.braket_runner.braket_counts`).

Dynamic circuits (mid-circuit measurement, reset, classical control) are refused.

Swapping in the managed simulator
---------------------------------
``braket.aws.AwsDevice`` has the same ``run(task_specification, shots=...)``
interface as ``LocalSimulator``. To run on SV1 instead (AWS credentials and
``amazon-braket-sdk`` configured), replace the simulator in
``qstream.backends.braket_runner.braket_simulator``::

    from braket.aws import AwsDevice
    device = AwsDevice("arn:aws:braket:::device/quantum-simulator/amazon/sv1")
    task = device.run(Program(source=source), shots=shots,
                      s3_destination_folder=("amazon-braket-<bucket>", "qstream"))
    result = task.result()          # same GateModelQuantumTaskResult

``result.measurements`` and ``result.measured_qubits`` have the same meaning, so
the clbit mapping is unchanged. A remote task waits in AWS's queue: set
``queue_s`` from ``task.metadata()`` timestamps (``createdAt`` to ``startedAt``)
and do not hold a pool worker while waiting (poll with ``task.state()``).
qstream never calls AWS itself.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor

from qstream.backends.base import ExecutionRequest, ExecutionResult, check_request, request_seed
from qstream.backends.braket_runner import run_braket, warm_braket_simulator
from qstream.backends.clock import EmulatedClock
from qstream.backends.local import LocalBackend
from qstream.backends.payloads import RunPayload, WarmUp
from qstream.backends.pool import submit
from qstream.core.backend_spec import BackendSpec, Pricing
from qstream.core.sim_cost import SimSpec

__all__ = [
    "BRAKET_MAX_QUBITS",
    "BRAKET_NAME",
    "SV1_MINIMUM_BILLED_S",
    "SV1_PRICE_PER_MINUTE_USD",
    "BraketLocalBackend",
    "braket_spec",
]

BRAKET_NAME = "braket_local"
"""Fleet name of the Braket local simulator."""

SV1_PRICE_PER_MINUTE_USD = 0.075
"""Amazon Braket on-demand simulator SV1: USD 0.075 per minute of simulation time
(Amazon Braket pricing page, "Simulators", 2024)."""

SV1_MINIMUM_BILLED_S = 3.0
"""SV1 bills per millisecond with a 3-second minimum per task (Amazon Braket pricing page)."""

BRAKET_MAX_QUBITS = 20
"""Widest circuit accepted. ``LocalSimulator("braket_sv")`` allows 26 qubits, but its
numpy state vector takes minutes above ~20 qubits on 2 cores (measured: 0.83 s for
18 qubits and 1061 gates)."""

S_PER_AMP_GATE = 3e-9
"""Measured cost of ``braket_sv`` on this kind of machine: ~3e-9 s per amplitude per
gate at 18 qubits (benchmarks of the Braket runner, now ``qstream/backends/braket_runner.py``,
2 cores)."""

JOB_OVERHEAD_S = 0.1
"""Measured fixed cost per job (parse, transpile, program build, Braket interpreter)."""


def braket_spec() -> BackendSpec:
    """The :class:`BackendSpec` of :class:`BraketLocalBackend`.

    Priced at the SV1 rate because this backend stands in for SV1 (see the module
    docstring): a zero price would make the cost weight meaningless for it, and
    swapping in ``AwsDevice`` then changes the bill, not the model.
    """
    return BackendSpec(
        name=BRAKET_NAME,
        kind="simulator",
        num_qubits=BRAKET_MAX_QUBITS,
        max_shots=100_000,  # SV1's per-task shot limit (Amazon Braket developer guide)
        capacity=2,
        supports_dynamic=False,
        calibration=None,
        pricing=Pricing(per_second_usd=SV1_PRICE_PER_MINUTE_USD / 60.0),
        job_overhead_s=JOB_OVERHEAD_S,
        statevector_s_per_amp_gate=S_PER_AMP_GATE,
        simulation=SimSpec(("statevector",), noisy=False, s_per_amp_gate=S_PER_AMP_GATE),
        description="Amazon Braket LocalSimulator('braket_sv'), noiseless, priced as SV1",
    )


class BraketLocalBackend(LocalBackend):
    """Braket's local state-vector simulator, run in the process pool.

    ``queue_s`` is 0 (local: any wait is qstream's own), ``run_s`` is the measured
    wall time of the simulation work in the worker, taken 1:1 as emulated seconds
    (the local CPU runs at real speed whatever the clock's time scale), and the
    price is the SV1 rate on ``max(run_s, 3 s)``. ESP is 1.0, ``readout`` None.

    Parameters
    ----------
    clock:
        Emulated clock shared with the fleet (kept for uniformity; nothing sleeps).
    seed:
        Seeds the transpiler (Braket's sampler takes no seed).
    pool:
        Process pool; None uses :func:`qstream.backends.pool.default_pool`.
    """

    def __init__(self, *, clock: EmulatedClock | None = None, seed: int = 0,
                 pool: Executor | None = None) -> None:
        super().__init__(braket_spec(), clock=clock, seed=seed, pool=pool)

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Run one sub-task on ``braket_sv``.

        Raises
        ------
        BackendError
            On out-of-range shots, a dynamic or too-wide or invalid circuit, or a
            broken pool.
        """
        started = time.perf_counter()
        check_request(self._spec, request)
        payload = RunPayload(name=request.subtask_id, qasm=request.qasm, shots=request.shots,
                             seed=request_seed(request, self.seed), max_qubits=BRAKET_MAX_QUBITS)
        out = await submit(self._pool, run_braket, payload, self._spec.name)
        run_s = float(out.compute_s)
        billed_s = max(run_s, SV1_MINIMUM_BILLED_S)
        return ExecutionResult(
            backend=self._spec.name, counts=out.counts, shots=request.shots,
            queue_s=0.0, run_s=run_s,
            price_usd=self._spec.pricing.price_usd(request.shots, billed_s),
            esp=1.0, quality=out.quality, readout=None, pending_jobs=0,
            physical_qubits=None, wall_s=time.perf_counter() - started,
            sim_method="statevector",
        )

    def warm_ups(self) -> tuple[WarmUp, ...]:
        """Braket's ``LocalSimulator("braket_sv")`` (key ``"braket"``)."""
        return (WarmUp("braket", warm_braket_simulator),)

    def __repr__(self) -> str:
        return "BraketLocalBackend('braket_sv')"
