"""IBM Quantum through ``qiskit-ibm-runtime``: a real device behind the ``Backend`` protocol.

Fleet name ``ibm:<backend>``, e.g. ``ibm:ibm_brisbane``. :class:`IBMRuntimeBackend`:

- opens a ``QiskitRuntimeService`` with the token from the secrets file or environment
  (:class:`qstream.secrets.Credentials`; without one, qiskit's saved account), and gets
  the device with ``service.backend(name)``;
- transpiles each circuit against the device's real ``Target``
  (``generate_preset_pass_manager``, optimization level 3, fixed seed) and runs it
  with ``SamplerV2``: counts sum to ``shots``;
- runs in **job mode** (``SamplerV2(mode=backend)``, one job per sub-task) or **batch
  mode** (one ``Batch`` per adapter, every sub-task a job inside it;
  :attr:`IBMRuntimeBackend.mode`);
- cancels the job (``job.cancel()``) when ``execute`` is cancelled (stop protocol);
- reads the live queue (``backend.status().pending_jobs``, ``operational``) and the
  live calibration (``backend.target`` and ``properties()``, refreshed every
  :data:`REFRESH_S`): the spec's :class:`~qstream.core.backend_spec.CalibrationSummary`
  (the predictors' and the cost function's priors), ``pending_jobs`` on the status
  telemetry and each result's ESP and readout (transpiled circuit, current target).
- :meth:`IBMRuntimeBackend.estimate` runs ``EstimatorV2`` for observables. The
  pipeline's observable path does not use it: it measures each Pauli basis with counts
  (:mod:`qstream.quantum.estimate`), so its sub-tasks stay ``qasm + shots`` requests
  and go through ``SamplerV2`` like every other.

Every SDK call that may block (service, status, properties, transpile, submit,
status polls, result, cancel) runs in a worker thread, never in the event loop; the
circuit is parsed in the process pool (:func:`parse_circuit`). Transpilation stays
in a thread: it needs the device's target, which lives in this process (an
``IBMBackend`` is bound to its service). The work itself runs at IBM.

Local testing mode (CI): the one production line
-------------------------------------------------
A name starting with ``fake_`` (``ibm:fake_sherbrooke``) is one of
``qiskit_ibm_runtime.fake_provider``'s snapshots of a real device. For those,
:func:`open_service` builds ``QiskitRuntimeService(channel="local")`` (qiskit-ibm-runtime's
local testing mode: ``service.backend(name)`` returns the ``FakeBackendV2``, and
``SamplerV2`` / ``EstimatorV2`` / ``Batch`` run on it with Aer, locally). Every other
name gets ``QiskitRuntimeService(channel=..., token=...)``. That service construction
is the **one line that differs**; everything after it (``service.backend``, transpile,
submit, poll, metrics, result, cancel, status, properties) is the same code. The
production ``IBMBackend`` is covered by ``tests/unit/test_ibm_runtime.py`` with a
recorded configuration and properties (the ``ibm_brisbane`` JSON files qiskit-ibm-runtime
ships) replayed through a stub of only its API client.

Times: ``queue_s`` and ``run_s`` are real seconds from the job's metrics
(``created`` -> ``running`` -> ``finished``; ``run_s`` is the charged QPU time
``usage.quantum_seconds`` when IBM reports one). Price: pay-as-you-go
:data:`~qstream.backends.ibm_emulated.PRICE_PER_QPU_SECOND_USD` per QPU second.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from qstream.backends.base import ExecutionRequest, ExecutionResult, check_request, request_seed
from qstream.backends.ibm_emulated import (
    JOB_OVERHEAD_S,
    OPTIMIZATION_LEVEL,
    PRICE_PER_QPU_SECOND_USD,
    SEED_TRANSPILER,
    calibration_summary,
)
from qstream.backends.live_status import LiveStatus, redacted
from qstream.backends.noise import readout_table, transpiled_esp
from qstream.backends.payloads import RunFailure, WarmUp
from qstream.backends.pool import submit
from qstream.core.backend_spec import BackendSpec, Pricing
from qstream.core.queue_model import QueueModel
from qstream.errors import BackendError, ConfigError
from qstream.secrets import Credentials

__all__ = [
    "DEFAULT_CHANNEL",
    "IBM_PREFIX",
    "LOCAL_PREFIX",
    "REFRESH_S",
    "IBMRuntimeBackend",
    "is_ibm_name",
    "open_service",
]

log = logging.getLogger(__name__)

IBM_PREFIX = "ibm:"
"""Fleet names ``ibm:<backend>`` are IBM Quantum devices."""
LOCAL_PREFIX = "fake_"
"""Backend names of qiskit-ibm-runtime's fake backends: run in local testing mode."""
DEFAULT_CHANNEL = "ibm_quantum_platform"
"""``QiskitRuntimeService`` channel of IBM Quantum Platform (qiskit-ibm-runtime 0.40+)."""
REFRESH_S = 60.0
"""Seconds between refreshes of the live status and calibration (IBM recalibrates
daily; the queue changes in minutes)."""
DEFAULT_CAPACITY = 2
"""Sub-tasks released to one IBM device at once: one running, one queued at IBM."""
TERMINAL = ("DONE", "ERROR", "CANCELLED")
"""Job states after which nothing more happens (``RuntimeJobV2.status()``, and the
names of qiskit's ``JobStatus`` for local jobs)."""

Mode = Literal["job", "batch"]


def is_ibm_name(name: str) -> bool:
    """Whether ``name`` is an IBM Quantum fleet name.

    >>> is_ibm_name("ibm:ibm_brisbane"), is_ibm_name("ibm_perth_emu")
    (True, False)
    """
    return name.startswith(IBM_PREFIX) and len(name) > len(IBM_PREFIX)


def open_service(device: str, credentials: Credentials | None = None, *,
                 channel: str = DEFAULT_CHANNEL, instance: str | None = None) -> Any:
    """The ``QiskitRuntimeService`` that serves ``device``.

    ``fake_*`` devices get local testing mode; any other the IBM service with the
    token of ``credentials`` (None or no token: qiskit's saved default account).

    Raises
    ------
    BackendError
        If the service cannot be opened (no account, bad token, no network). The
        message names the device and the error type, never the token.
    """
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        if device.startswith(LOCAL_PREFIX):
            return QiskitRuntimeService(channel="local")  # local testing mode (CI)
        token = credentials.ibm_token.reveal() if credentials and credentials.ibm_token else None
        return QiskitRuntimeService(channel=channel, token=token, instance=instance)  # production
    except Exception as exc:
        raise BackendError(redacted(f"ibm:{device}: cannot open the IBM Quantum service "
                                    f"({type(exc).__name__}: {exc})", credentials)) from None


def _state(status: Any) -> str:
    """``"QUEUED"``, ``"RUNNING"``, ``"DONE"``... from a ``RuntimeJobV2`` status string
    or a qiskit ``JobStatus``."""
    return str(getattr(status, "name", status)).upper()


def _seconds(metrics: dict[str, Any], start: str, end: str) -> float | None:
    stamps = metrics.get("timestamps") or {}
    a, b = stamps.get(start), stamps.get(end)
    if not a or not b:
        return None
    parse = datetime.fromisoformat
    return max((parse(b.replace("Z", "+00:00")) - parse(a.replace("Z", "+00:00"))
                ).total_seconds(), 0.0)


class IBMRuntimeBackend(LiveStatus):
    """One IBM Quantum device (or a fake one, locally) behind the ``Backend`` protocol.

    Parameters
    ----------
    name:
        Fleet name ``ibm:<backend>``.
    credentials:
        Token source (:class:`~qstream.secrets.Credentials`); None: qiskit's saved account.
    mode:
        ``"job"`` (one job per sub-task) or ``"batch"`` (one ``Batch``, closed by
        :meth:`close`).
    service:
        An open service; None calls :func:`open_service`. Anything with
        ``backend(name)``.
    seed:
        Base seed of the transpiler's and the local simulator's seeds.
    poll_s:
        Seconds between job status polls.
    refresh_s:
        Seconds between live status and calibration refreshes.
    pool:
        Process pool that parses circuits (:func:`parse_circuit`); None:
        :func:`qstream.backends.pool.default_pool`.

    Raises
    ------
    ConfigError
        On a name without ``ibm:`` or an unknown mode.
    BackendError
        If the service or the device cannot be reached.
    """

    def __init__(self, name: str, credentials: Credentials | None = None, *,
                 mode: Mode = "job", service: Any = None, seed: int = 0,
                 poll_s: float = 1.0, refresh_s: float = REFRESH_S,
                 pool: Executor | None = None) -> None:
        if not is_ibm_name(name):
            raise ConfigError(f"{name!r} is not an IBM name (ibm:<backend>)")
        if mode not in ("job", "batch"):
            raise ConfigError(f"{name}: mode must be 'job' or 'batch', not {mode!r}")
        self.name, self.device = name, name[len(IBM_PREFIX):]
        self.mode: Mode = mode
        self.seed, self.poll_s, self.refresh_s = int(seed), float(poll_s), float(refresh_s)
        self._credentials = credentials
        self._pool = pool
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"ibm-{self.device}")
        self._lock = threading.Lock()
        self._batch: Any = None
        self._pm: Any = None
        self.submitted: list[str] = []
        """Job ids this adapter submitted, oldest first."""
        self.cancelled: list[str] = []
        """Job ids this adapter asked IBM to cancel (stop protocol), oldest first."""
        self._service = service if service is not None else open_service(self.device, credentials)
        try:
            self._backend = self._service.backend(self.device)  # same line in CI and production
        except Exception as exc:
            raise BackendError(redacted(f"{name}: cannot get the device ({type(exc).__name__}: "
                                        f"{exc})", credentials)) from None
        self._init_live_status()
        self._spec = self._read_spec()
        self.refresh()

    # -- live status and calibration --------------------------------------------------

    def _read_spec(self) -> BackendSpec:
        b = self._backend
        config = b.configuration() if hasattr(b, "configuration") else None
        return BackendSpec(
            name=self.name, kind="qpu", num_qubits=int(b.num_qubits),
            max_shots=int(getattr(config, "max_shots", None) or 100_000),
            capacity=DEFAULT_CAPACITY,
            supports_dynamic="if_else" in b.target.operation_names,
            calibration=calibration_summary(b),
            pricing=Pricing(per_second_usd=PRICE_PER_QPU_SECOND_USD),
            job_overhead_s=JOB_OVERHEAD_S,
            rep_delay_s=float(getattr(config, "default_rep_delay", None) or 250e-6),
            queue_s_per_pending_job=QueueModel().mean_service_s,
            description=f"IBM Quantum {self.device} via qiskit-ibm-runtime"
                        + (" (local testing mode)" if self.device.startswith(LOCAL_PREFIX)
                           else ""),
        )

    def refresh(self) -> None:
        """Re-read the live status and calibration now (blocking: call it off the loop).

        Raises
        ------
        BackendError
            If the device cannot be asked (the message carries no credential).
        """
        try:
            status = self._backend.status()
            if hasattr(self._backend, "refresh") and not self.device.startswith(LOCAL_PREFIX):
                self._backend.refresh()  # IBMBackend: new target from the latest properties
            spec = self._read_spec()
        except Exception as exc:
            raise BackendError(redacted(f"{self.name}: status/calibration failed "
                                        f"({type(exc).__name__}: {exc})",
                                        self._credentials)) from None
        with self._lock:
            self._spec = spec
            self._refreshed(status.pending_jobs, status.operational)

    @property
    def spec(self) -> BackendSpec:
        """The spec with the latest calibration medians (refreshed every ``refresh_s``)."""
        self._maybe_refresh()
        return self._spec

    def stoppable(self) -> bool:
        """True: cancelling ``execute`` cancels the job at IBM (``job.cancel()``)."""
        return True

    def warm_ups(self) -> tuple[WarmUp, ...]:
        """None: nothing runs in the process pool."""
        return ()

    # -- execution -------------------------------------------------------------------

    def _mode(self) -> Any:
        if self.mode == "job":
            return self._backend
        with self._lock:
            if self._batch is None:
                from qiskit_ibm_runtime import Batch

                self._batch = Batch(backend=self._backend)
            return self._batch

    def _transpile(self, qc: Any) -> Any:
        from qiskit.transpiler import generate_preset_pass_manager

        with self._lock:
            if self._pm is None:
                self._pm = generate_preset_pass_manager(
                    optimization_level=OPTIMIZATION_LEVEL, backend=self._backend,
                    seed_transpiler=SEED_TRANSPILER + self.seed)
            pm = self._pm
        return pm.run(qc)

    def _submit(self, isa: Any, shots: int, seed: int) -> Any:
        from qiskit_ibm_runtime import SamplerV2

        sampler = SamplerV2(mode=self._mode())
        if self.device.startswith(LOCAL_PREFIX):
            sampler.options.simulator.seed_simulator = seed  # local mode only; IBM ignores it
        job = sampler.run([isa], shots=shots)
        self.submitted.append(str(job.job_id()))
        log.info("%s: submitted job %s (%d shots)", self.name, job.job_id(), shots)
        return job

    def _cancel(self, job: Any) -> None:
        job_id = str(job.job_id())
        try:
            job.cancel()
        except Exception as exc:  # already finished, or the service refused
            log.info("%s: cancel of job %s: %s", self.name, job_id, type(exc).__name__)
        self.cancelled.append(job_id)
        log.info("%s: cancelled job %s", self.name, job_id)

    async def _wait(self, job: Any) -> str:
        loop = asyncio.get_running_loop()
        while True:
            state = _state(await loop.run_in_executor(self._threads, job.status))
            if state in TERMINAL:
                return state
            await asyncio.sleep(self.poll_s)

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Transpile, submit with ``SamplerV2``, wait for the job, return its counts.

        Cancelling this coroutine cancels the job at IBM before it re-raises.

        Raises
        ------
        BackendError
            On out-of-range shots, an invalid circuit, a failed or cancelled job, or
            a service error (messages carry no credential).
        """
        started = time.perf_counter()
        check_request(self._spec, request)
        loop = asyncio.get_running_loop()
        qc = await submit(self._pool, parse_circuit, ParsePayload(request.subtask_id, request.qasm,
                                                                  True), self.name)
        try:
            isa = await loop.run_in_executor(self._threads, self._transpile, qc)
        except Exception as exc:
            raise BackendError(f"{self.name}: {exc}") from None
        if isa.num_qubits > self._spec.num_qubits:
            raise BackendError(f"{self.name}: circuit needs {isa.num_qubits} qubits")
        pending = self.pending_jobs()
        try:
            job = await loop.run_in_executor(self._threads, self._submit, isa, request.shots,
                                             request_seed(request, self.seed))
        except Exception as exc:
            raise BackendError(redacted(f"{self.name}: submit failed ({type(exc).__name__}: "
                                        f"{exc})", self._credentials)) from None
        try:
            state = await self._wait(job)
        except asyncio.CancelledError:
            await asyncio.shield(loop.run_in_executor(self._threads, self._cancel, job))
            raise
        if state != "DONE":
            raise BackendError(f"{self.name}: job {job.job_id()} ended {state}")
        try:
            result = await loop.run_in_executor(self._threads, job.result)
            metrics = await loop.run_in_executor(self._threads, job.metrics)
        except Exception as exc:
            raise BackendError(redacted(f"{self.name}: result of job {job.job_id()} failed "
                                        f"({type(exc).__name__}: {exc})",
                                        self._credentials)) from None
        counts = result[0].join_data().get_counts()
        queue_s = _seconds(metrics, "created", "running") or 0.0
        usage = (metrics.get("usage") or {}).get("quantum_seconds")
        run_s = float(usage) if usage else (_seconds(metrics, "running", "finished") or 0.0)
        target = self._backend.target
        return ExecutionResult(
            backend=self.name, counts=dict(counts), shots=request.shots,
            queue_s=queue_s, run_s=run_s,
            price_usd=self._spec.pricing.price_usd(request.shots, run_s),
            esp=transpiled_esp(isa, target), quality=None,
            readout=_readout(isa, readout_table(self._backend)),
            pending_jobs=pending, physical_qubits=_layout(isa, qc.num_qubits),
            wall_s=time.perf_counter() - started, sim_method=None,
        )

    async def estimate(self, qasm: str, observables: list[Any], *,
                       precision: float | None = None) -> list[float]:
        """Expectation values of ``observables`` (``SparsePauliOp`` on the logical qubits)
        with ``EstimatorV2``, in the adapter's mode; cancelling cancels the job.

        Raises
        ------
        BackendError
            On a failed job or a service error.
        """
        from qiskit_ibm_runtime import EstimatorV2

        loop = asyncio.get_running_loop()

        qc = await submit(self._pool, parse_circuit, ParsePayload("estimate", qasm, False),
                          self.name)
        qc.remove_final_measurements()

        def run() -> Any:
            isa = self._transpile(qc)
            ops = [o.apply_layout(isa.layout) for o in observables]
            job = EstimatorV2(mode=self._mode()).run([(isa, ops)], precision=precision)
            self.submitted.append(str(job.job_id()))
            return job

        job = await loop.run_in_executor(self._threads, run)
        try:
            state = await self._wait(job)
        except asyncio.CancelledError:
            await asyncio.shield(loop.run_in_executor(self._threads, self._cancel, job))
            raise
        if state != "DONE":
            raise BackendError(f"{self.name}: estimator job {job.job_id()} ended {state}")
        result = await loop.run_in_executor(self._threads, job.result)
        return [float(v) for v in result[0].data.evs]

    def close(self) -> None:
        """Close the batch (batch mode) and the adapter's threads."""
        with self._lock:
            batch, self._batch = self._batch, None
        if batch is not None:
            try:
                batch.close()
            except Exception as exc:
                log.info("%s: closing the batch: %s", self.name, type(exc).__name__)
        self._threads.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return f"IBMRuntimeBackend({self.name!r}, mode={self.mode!r})"


@dataclass(frozen=True, slots=True)
class ParsePayload:
    """What :func:`parse_circuit` needs (pickles to a pool worker)."""

    name: str
    qasm: str
    require_measurements: bool


def parse_circuit(payload: ParsePayload) -> Any:
    """Pool worker: the parsed ``QuantumCircuit``, or a ``"circuit"`` failure.

    Parsing runs in the pool (a worker's main thread), not in the adapter's threads: an
    OpenQASM 3 parse in a thread crashed the process after another SDK had run in
    another thread (:mod:`qstream.backends.braket_remote`)."""
    from qstream.circuits import parse_qasm

    try:
        return parse_qasm(payload.qasm, payload.name,
                          require_measurements=payload.require_measurements)
    except Exception as exc:
        return RunFailure.of("circuit", exc)


def _layout(isa: Any, num_logical: int) -> list[int] | None:
    layout = getattr(isa, "layout", None)
    if layout is None:
        return None
    return [int(q) for q in layout.initial_index_layout(filter_ancillas=True)[:num_logical]]


def _readout(isa: Any, table: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [(0.0, 0.0)] * isa.num_clbits
    for inst in isa.data:
        if inst.operation.name == "measure":
            q = isa.find_bit(inst.qubits[0]).index
            out[isa.find_bit(inst.clbits[0]).index] = table[q] if q < len(table) else (0.0, 0.0)
    return out
