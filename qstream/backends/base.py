"""The one ``Backend`` protocol every execution target implements, and its request/result.

A backend takes an :class:`ExecutionRequest` (one sub-task: an OpenQASM program and
a shot count) and returns an :class:`ExecutionResult` (counts plus the telemetry the
predictors learn from). ``execute`` is a coroutine that never blocks the event
loop: simulation and transpilation run in a process pool
(:mod:`qstream.backends.pool`). ``warm_ups`` declares the per-process caches the
backend needs in that pool's workers, so the pool can build them ahead of traffic.

Every time a backend reports (``queue_s``, ``run_s``) is in emulated seconds on
its :class:`~qstream.backends.clock.EmulatedClock`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from qstream.backends.payloads import WarmUp
from qstream.core.backend_spec import BackendSpec
from qstream.errors import BackendError

__all__ = ["Backend", "ExecutionRequest", "ExecutionResult", "check_request", "request_seed"]


@dataclass(frozen=True, slots=True)
class ExecutionRequest:
    """One sub-task to execute.

    Attributes
    ----------
    subtask_id, task_id:
        Identifiers from ``qstream.subtask.v1``.
    attempt:
        0 for the first try, +1 per retry or reallocation.
    qasm:
        OpenQASM 2 or 3 source of the circuit.
    shots:
        Shots to run (1 .. ``spec.max_shots``).
    seed:
        Seed for the simulator and the emulated queue; None derives one from
        ``subtask_id`` and ``attempt`` (see :func:`request_seed`).
    """

    subtask_id: str
    task_id: str
    attempt: int
    qasm: str
    shots: int
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """Outcome of one execution.

    Attributes
    ----------
    backend:
        Backend name.
    counts:
        Bitstring -> count. Keys are classical-bit bitstrings of width
        ``num_clbits`` with clbit 0 rightmost (qiskit order) and no spaces, even
        with several classical registers (the registers are joined, first
        register rightmost). Values sum to ``shots``.
    shots:
        Shots run.
    queue_s, run_s:
        Device queue wait and execution time, emulated seconds.
    price_usd:
        Price charged for the execution, USD.
    esp:
        Estimated success probability of the *transpiled* circuit from calibration,
        the product of ``(1 - error)`` over its gates and measurements (1.0 on
        noiseless backends).
    quality:
        Hellinger fidelity (:func:`qiskit.quantum_info.hellinger_fidelity`) of
        ``counts`` to the ideal noiseless distribution over the clbits, when it is
        computable (at most 20 qubits and a static circuit); else None.
    readout:
        Per clbit (index 0 = clbit 0): ``(P(read 1 | prep 0), P(read 0 | prep 1))``
        of the physical qubit it measures, ``(0.0, 0.0)`` for a clbit that is never
        measured; None for noiseless backends.
    pending_jobs:
        External jobs pending on the device at submission.
    physical_qubits:
        Initial layout: ``physical_qubits[v]`` is the physical qubit that logical
        qubit ``v`` was placed on; None for backends without a layout.
    wall_s:
        Wall-clock seconds ``execute`` took (real seconds, not emulated).
    sim_method:
        The classical simulation method that produced ``counts`` on this machine
        (e.g. ``"statevector_sampled"``, ``"stabilizer"``, ``"density_matrix"``,
        ``"depolarizing_esp+matrix_product_state"``); None for a real device.
    """

    backend: str
    counts: dict[str, int]
    shots: int
    queue_s: float
    run_s: float
    price_usd: float
    esp: float
    quality: float | None
    readout: list[tuple[float, float]] | None
    pending_jobs: int
    physical_qubits: list[int] | None
    wall_s: float
    sim_method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``readout`` pairs become 2-item lists).

        >>> r = ExecutionResult("b", {"01": 3}, 3, 0.0, 1.5, 0.0, 1.0, None,
        ...                     [(0.01, 0.02), (0.0, 0.0)], 0, [4, 5], 0.2)
        >>> r.to_dict()["readout"]
        [[0.01, 0.02], [0.0, 0.0]]
        """
        return {
            "backend": self.backend,
            "counts": dict(self.counts),
            "shots": self.shots,
            "queue_s": self.queue_s,
            "run_s": self.run_s,
            "price_usd": self.price_usd,
            "esp": self.esp,
            "quality": self.quality,
            "readout": [list(p) for p in self.readout] if self.readout is not None else None,
            "pending_jobs": self.pending_jobs,
            "physical_qubits": list(self.physical_qubits)
            if self.physical_qubits is not None else None,
            "wall_s": self.wall_s,
            "sim_method": self.sim_method,
        }


@runtime_checkable
class Backend(Protocol):
    """An execution target: an emulated QPU, a quantum simulator or a classical solver."""

    @property
    def spec(self) -> BackendSpec:
        """Static description: capabilities, calibration summary, time and price model."""
        ...

    def pending_jobs(self) -> int:
        """External jobs pending on the device now (emulated clock); 0 for local backends."""
        ...

    def operational(self) -> bool:
        """Whether the device accepts jobs now."""
        ...

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Run one sub-task; raises :class:`~qstream.errors.BackendError`; never blocks the loop."""
        ...

    def warm_ups(self) -> tuple[WarmUp, ...]:
        """The per-process caches to build in every pool worker before serving traffic
        (see :func:`qstream.backends.pool.warm`); ``()`` for none."""
        ...

    def stoppable(self) -> bool:
        """Whether cancelling a running :meth:`execute` stops its work (stop protocol).

        A running execution is stopped by cancelling the coroutine ``execute(request)``
        (asyncio cancellation; see :mod:`qstream.stream.stops`). True: that frees what
        the run uses. A simulation in the process pool has its worker process
        terminated and replaced (:class:`qstream.backends.pool.StoppablePool`); an
        emulated queue wait ends. False: the work goes on where it was sent (e.g. a
        job already queued on a provider without a cancel call), and its result is
        discarded instead.
        """
        ...


def check_request(spec: BackendSpec, request: ExecutionRequest) -> None:
    """Raise :class:`BackendError` if ``request`` is outside ``spec``'s limits.

    >>> spec = BackendSpec("b", "qpu", 7, 1000)
    >>> check_request(spec, ExecutionRequest("s", "t", 0, "", 5000))
    Traceback (most recent call last):
    ...
    qstream.errors.BackendError: b: shots=5000 is outside 1..1000
    """
    if not 1 <= request.shots <= spec.max_shots:
        raise BackendError(f"{spec.name}: shots={request.shots} is outside 1..{spec.max_shots}")


def request_seed(request: ExecutionRequest, base_seed: int = 0) -> int:
    """The request's seed, or a stable one derived from ``(base_seed, subtask_id, attempt)``.

    CRC-32 is stable across processes and runs (unlike :func:`hash`).

    >>> r = ExecutionRequest("t/c0/s0", "t", 1, "", 10)
    >>> request_seed(r) == request_seed(r)
    True
    >>> request_seed(ExecutionRequest("t/c0/s0", "t", 1, "", 10, seed=42))
    42
    """
    if request.seed is not None:
        return int(request.seed) & 0x7FFFFFFF
    return zlib.crc32(f"{base_seed}/{request.subtask_id}/{request.attempt}".encode()) & 0x7FFFFFFF
