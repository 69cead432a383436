"""Amazon Braket through ``AwsDevice``: QPUs and managed simulators behind the ``Backend`` protocol.

Fleet name ``braket:<device arn>``, e.g.
``braket:arn:aws:braket:::device/quantum-simulator/amazon/sv1`` or
``braket:arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1``. :class:`BraketRemoteBackend`:

- builds ``AwsDevice(arn, aws_session=...)``; the session uses the AWS keys of the
  secrets file (:class:`qstream.secrets.Credentials`) when set, else boto3's standard
  credential chain (environment, ``~/.aws``, instance role);
- converts each circuit to a Braket OpenQASM 3 program in the gates the device
  supports (:func:`qstream.backends.braket_runner.braket_program`) and runs it with
  ``device.run(program, shots=...)``; counts come from ``task.result()`` through
  :func:`~qstream.backends.braket_runner.braket_counts` and sum to ``shots``;
- cancels the task (``task.cancel()``) when ``execute`` is cancelled;
- reads the queue (``device.queue_depth()``, normal + priority quantum tasks) and the
  status (``ONLINE``) every :data:`REFRESH_S`, in a thread;
- prices a task from the device's ``service.deviceCost`` in its capabilities when the
  SDK reports one, else from :data:`PUBLISHED_PRICES`.

Every SDK call runs in a worker thread, never in the event loop; parsing the circuit
and writing the program run in the process pool (:func:`build_program`). (Parsing
OpenQASM 3 in a thread of the test process after ``LocalSimulator`` had run in another
crashed it with a segmentation fault inside qiskit, 3 runs in 5 on 2026-12-01; in the
pool's processes it runs on their main thread.)

Local mode (CI): the one production line
----------------------------------------
``braket:local`` (or ``braket:local:<simulator>``) runs on
``braket.devices.LocalSimulator("braket_sv")`` through the same code: program,
``device.run``, state polls, ``task.result()``, counts, cancel. :func:`open_device` is the
one line that differs (``LocalSimulator(...)`` versus ``AwsDevice(arn, ...)``). Differences
that follow from it: ``LocalSimulator.run`` blocks until the result (in the worker
thread), so a local task cannot be stopped once started (:meth:`stoppable` is False
there), and it has no queue (``queue_depth`` 0). ``AwsDevice`` is covered by
``tests/unit/test_braket_remote.py`` with a ``GetDevice`` response replayed through
botocore's ``Stubber`` on a real boto3 Braket client (no other part is stubbed).

Pricing source
--------------
:data:`PUBLISHED_PRICES` is the on-demand table of https://aws.amazon.com/braket/pricing/
as the author knew it in 2025 (per task USD 0.30 on every QPU; per shot IonQ Forte
0.08, IonQ Aria 0.03, IQM Garnet 0.00145, Rigetti Ankaa 0.0009, QuEra Aquila 0.01;
simulators SV1 and DM1 USD 0.075 per minute, TN1 USD 0.275 per minute, billed per ms
with a 3 s minimum). It was not re-read from this machine (no network) and must be
checked against the page before billing matters. The SDK's own price list
(``braket.tracking.pricing``, the AWS Price List bulk API) needs the network and is
not used.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from qstream.backends.base import ExecutionRequest, ExecutionResult, check_request, request_seed
from qstream.backends.braket_runner import BRAKET_GATES, braket_counts, braket_program
from qstream.backends.live_status import LiveStatus, redacted
from qstream.backends.payloads import RunFailure, WarmUp
from qstream.backends.pool import submit
from qstream.core.backend_spec import BackendSpec, Pricing
from qstream.errors import BackendError, ConfigError
from qstream.secrets import Credentials

__all__ = [
    "BRAKET_PREFIX",
    "PUBLISHED_PRICES",
    "REFRESH_S",
    "BraketRemoteBackend",
    "device_pricing",
    "is_braket_name",
    "open_device",
]

log = logging.getLogger(__name__)

BRAKET_PREFIX = "braket:"
"""Fleet names ``braket:<device arn>`` (or ``braket:local``) are Braket devices."""
LOCAL = "local"
REFRESH_S = 60.0
"""Seconds between refreshes of the queue depth and the status."""
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
"""Braket task states after which nothing more happens."""
MINIMUM_BILLED_S = 3.0
"""Managed simulators bill per ms with a 3 s minimum per task (pricing page)."""

PUBLISHED_PRICES: dict[str, Pricing] = {
    "ionq/forte": Pricing(per_task_usd=0.30, per_shot_usd=0.08),
    "ionq/aria": Pricing(per_task_usd=0.30, per_shot_usd=0.03),
    "iqm/garnet": Pricing(per_task_usd=0.30, per_shot_usd=0.00145),
    "rigetti/ankaa": Pricing(per_task_usd=0.30, per_shot_usd=0.0009),
    "quera/aquila": Pricing(per_task_usd=0.30, per_shot_usd=0.01),
    "amazon/sv1": Pricing(per_second_usd=0.075 / 60),
    "amazon/dm1": Pricing(per_second_usd=0.075 / 60),
    "amazon/tn1": Pricing(per_second_usd=0.275 / 60),
}
"""Device family (``provider/device`` in the ARN, lower case, version stripped) ->
on-demand price (source and date: module docstring)."""


def is_braket_name(name: str) -> bool:
    """Whether ``name`` is a Braket fleet name.

    >>> is_braket_name("braket:arn:aws:braket:::device/quantum-simulator/amazon/sv1")
    True
    >>> is_braket_name("braket_local")
    False
    """
    return name.startswith(BRAKET_PREFIX) and len(name) > len(BRAKET_PREFIX)


def _family(arn: str) -> str:
    """``"ionq/forte"`` from ``arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1``.

    >>> _family("arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1")
    'ionq/forte'
    >>> _family("arn:aws:braket:::device/quantum-simulator/amazon/sv1")
    'amazon/sv1'
    """
    parts = arn.lower().split("/")
    return f"{parts[-2]}/{parts[-1].split('-')[0]}" if len(parts) >= 2 else arn.lower()


def device_pricing(arn: str, capabilities: Any) -> tuple[Pricing, str]:
    """The price model of a device and where it came from (``"sdk"`` or ``"published"``).

    ``capabilities.service.deviceCost`` (price + unit ``"shot"`` / ``"minute"``) wins;
    a QPU priced per shot by the SDK also pays the published USD 0.30 per task.

    Raises
    ------
    ConfigError
        If neither source knows the device.
    """
    cost = getattr(getattr(capabilities, "service", None), "deviceCost", None)
    if cost is not None and cost.price is not None:
        unit = str(cost.unit).lower()
        if unit == "shot":
            return Pricing(per_task_usd=0.30, per_shot_usd=float(cost.price)), "sdk"
        if unit == "minute":
            return Pricing(per_second_usd=float(cost.price) / 60.0), "sdk"
    if arn == LOCAL or arn.startswith(LOCAL + ":"):
        return PUBLISHED_PRICES["amazon/sv1"], "published (local simulator priced as SV1)"
    family = _family(arn)
    if family in PUBLISHED_PRICES:
        return PUBLISHED_PRICES[family], "published"
    raise ConfigError(f"braket:{arn}: no price known (the device reports no deviceCost and "
                      f"{family!r} is not in the published table)")


def aws_session(credentials: Credentials | None, region: str | None = None) -> Any:
    """An ``AwsSession`` on the secrets file's AWS keys, or boto3's standard chain."""
    import boto3
    from braket.aws import AwsSession

    if credentials is not None and credentials.aws_access_key_id is not None \
            and credentials.aws_secret_access_key is not None:
        boto = boto3.Session(
            aws_access_key_id=credentials.aws_access_key_id.reveal(),
            aws_secret_access_key=credentials.aws_secret_access_key.reveal(),
            aws_session_token=(credentials.aws_session_token.reveal()
                               if credentials.aws_session_token else None),
            region_name=region)
    else:
        boto = boto3.Session(region_name=region)  # standard chain
    return AwsSession(boto_session=boto)


def open_device(arn: str, credentials: Credentials | None = None, *,
                session: Any = None) -> Any:
    """``LocalSimulator`` for ``local[:<simulator>]``, else ``AwsDevice(arn)``.

    Raises
    ------
    BackendError
        If the device cannot be reached (no credentials, no network, unknown ARN); the
        message carries no credential.
    """
    try:
        if arn == LOCAL or arn.startswith(LOCAL + ":"):
            from braket.devices import LocalSimulator

            return LocalSimulator(arn.partition(":")[2] or "braket_sv")  # local mode (CI)
        from braket.aws import AwsDevice

        return AwsDevice(arn, aws_session=session or aws_session(credentials, _region(arn)))  # production
    except Exception as exc:
        raise BackendError(redacted(f"braket:{arn}: cannot open the device "
                                    f"({type(exc).__name__}: {exc})", credentials)) from None


def _region(arn: str) -> str | None:
    """The ARN's region (QPUs); for the region-less simulator ARNs the configured one, or
    ``us-east-1`` (where SV1, DM1 and TN1 run) when none is configured.

    >>> _region("arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet")
    'eu-north-1'
    """
    parts = arn.split(":")
    if len(parts) > 3 and parts[3]:
        return parts[3]
    import boto3

    return None if boto3.Session().region_name else "us-east-1"


def _queue_size(value: Any) -> int:
    """``'>4000'`` -> 4000, ``'12'`` -> 12."""
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return int(digits) if digits else 0


class BraketRemoteBackend(LiveStatus):
    """One Amazon Braket device (or the local simulator) behind the ``Backend`` protocol.

    Parameters
    ----------
    name:
        Fleet name ``braket:<arn>`` or ``braket:local``.
    credentials:
        AWS keys; None or unset: boto3's standard chain.
    device:
        An open device; None calls :func:`open_device`.
    s3_folder:
        ``(bucket, prefix)`` for task results on AWS; None: the SDK's default bucket
        ``amazon-braket-<region>-<account>``.
    poll_s, refresh_s:
        Seconds between task state polls, and between queue/status refreshes.
    pool:
        Process pool that parses the circuit and builds the program
        (:func:`build_program`); None: :func:`qstream.backends.pool.default_pool`.

    Raises
    ------
    ConfigError
        On a name without ``braket:`` or a device without a known price.
    BackendError
        If the device cannot be reached.
    """

    def __init__(self, name: str, credentials: Credentials | None = None, *,
                 device: Any = None, s3_folder: tuple[str, str] | None = None,
                 seed: int = 0, poll_s: float = 1.0, refresh_s: float = REFRESH_S,
                 pool: Executor | None = None) -> None:
        if not is_braket_name(name):
            raise ConfigError(f"{name!r} is not a Braket name (braket:<device arn>)")
        self.name, self.arn = name, name[len(BRAKET_PREFIX):]
        self.local = self.arn == LOCAL or self.arn.startswith(LOCAL + ":")
        self.seed, self.poll_s, self.refresh_s = int(seed), float(poll_s), float(refresh_s)
        self.s3_folder = s3_folder
        self._credentials = credentials
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="braket")
        self._lock = threading.Lock()
        self.submitted: list[str] = []
        """Task ids (ARNs on AWS) this adapter created, oldest first."""
        self.cancelled: list[str] = []
        """Task ids this adapter asked Braket to cancel, oldest first."""
        self._pool = pool
        self.device = device if device is not None else open_device(self.arn, credentials)
        props = self.device.properties
        self.pricing, self.price_source = device_pricing(self.arn, props)
        supported = {op.lower() for op in _supported_operations(props)}
        self.gates = [q for q, b in BRAKET_GATES.items() if b in supported] or list(BRAKET_GATES)
        self.is_simulator = self.local or "quantum-simulator" in self.arn
        shots_range = getattr(props.service, "shotsRange", None) or (1, 100_000)
        self._spec = BackendSpec(
            name=name, kind="simulator" if self.is_simulator else "qpu",
            num_qubits=int(props.paradigm.qubitCount),
            max_shots=int(min(shots_range[1], 100_000)), capacity=2,
            supports_dynamic=False, calibration=None, pricing=self.pricing,
            job_overhead_s=MINIMUM_BILLED_S if self.is_simulator else 0.0,
            description=f"Amazon Braket {getattr(self.device, 'name', self.arn)}"
                        f" ({'LocalSimulator' if self.local else 'AwsDevice'}; "
                        f"price: {self.price_source})")
        self._init_live_status()
        self.refresh()

    def refresh(self) -> None:
        """Re-read queue depth and status now (blocking: call it off the loop).

        Raises
        ------
        BackendError
            If the device cannot be asked (the message carries no credential).
        """
        try:
            if self.local:
                pending, operational = 0, True
            else:
                depth = self.device.queue_depth()
                pending = sum(_queue_size(v) for v in (depth.quantum_tasks or {}).values())
                self.device.refresh_metadata()
                operational = str(self.device.status).upper() == "ONLINE"
        except Exception as exc:
            raise BackendError(redacted(f"{self.name}: queue/status failed "
                                        f"({type(exc).__name__}: {exc})",
                                        self._credentials)) from None
        with self._lock:
            self._refreshed(pending, operational)

    @property
    def spec(self) -> BackendSpec:
        return self._spec

    def stoppable(self) -> bool:
        """True on AWS (``task.cancel()``); False locally (``LocalSimulator.run`` blocks
        in a thread that cannot be stopped; its result is discarded)."""
        return not self.local

    def warm_ups(self) -> tuple[WarmUp, ...]:
        return ()

    def _submit(self, source: str, shots: int) -> Any:
        from braket.ir.openqasm import Program

        kwargs: dict[str, Any] = {"shots": shots}
        if not self.local and self.s3_folder is not None:
            kwargs["s3_destination_folder"] = self.s3_folder
        task = self.device.run(Program(source=source), **kwargs)
        self.submitted.append(str(getattr(task, "id", "?")))
        return task

    def _cancel(self, task: Any) -> None:
        task_id = str(getattr(task, "id", "?"))
        try:
            task.cancel()
        except Exception as exc:
            log.info("%s: cancel of task %s: %s", self.name, task_id, type(exc).__name__)
        self.cancelled.append(task_id)
        log.info("%s: cancelled task %s", self.name, task_id)

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Convert, ``device.run``, wait for the task, return its counts.

        Raises
        ------
        BackendError
            On out-of-range shots, an invalid or dynamic circuit, a failed or cancelled
            task, or an AWS error (messages carry no credential).
        """
        started = time.perf_counter()
        check_request(self._spec, request)
        loop = asyncio.get_running_loop()
        pending = self.pending_jobs()
        payload = ProgramPayload(request.subtask_id, request.qasm, request_seed(request, self.seed),
                                 self._spec.num_qubits, tuple(self.gates))
        source, clbit_qubit, num_clbits = await submit(self._pool, build_program, payload,
                                                       self.name)
        try:
            task = await loop.run_in_executor(self._threads, self._submit, source, request.shots)
        except Exception as exc:
            raise BackendError(redacted(f"{self.name}: submit failed ({type(exc).__name__}: "
                                        f"{exc})", self._credentials)) from None
        submitted = time.perf_counter()
        try:
            while True:
                state = str(await loop.run_in_executor(self._threads, task.state)).upper()
                if state in TERMINAL:
                    break
                await asyncio.sleep(self.poll_s)
        except asyncio.CancelledError:
            await asyncio.shield(loop.run_in_executor(self._threads, self._cancel, task))
            raise
        if state != "COMPLETED":
            raise BackendError(f"{self.name}: task {getattr(task, 'id', '?')} ended {state}")
        try:
            result = await loop.run_in_executor(self._threads, task.result)
        except Exception as exc:
            raise BackendError(redacted(f"{self.name}: result failed ({type(exc).__name__}: "
                                        f"{exc})", self._credentials)) from None
        counts = braket_counts(result.measurements, list(result.measured_qubits), clbit_qubit,
                               num_clbits)
        total_s = time.perf_counter() - (started if self.local else submitted)
        run_s = _execution_s(result) or total_s
        queue_s = max(total_s - run_s, 0.0)
        billed_s = max(run_s, MINIMUM_BILLED_S) if self.is_simulator else run_s
        return ExecutionResult(
            backend=self.name, counts=counts, shots=request.shots, queue_s=queue_s,
            run_s=run_s, price_usd=self.pricing.price_usd(request.shots, billed_s),
            esp=1.0, quality=None, readout=None, pending_jobs=pending, physical_qubits=None,
            wall_s=time.perf_counter() - started, sim_method=None)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return f"BraketRemoteBackend({self.name!r})"


@dataclass(frozen=True, slots=True)
class ProgramPayload:
    """What :func:`build_program` needs (pickles to a pool worker)."""

    name: str
    qasm: str
    seed: int
    max_qubits: int
    gates: tuple[str, ...]


def build_program(payload: ProgramPayload) -> tuple[str, dict[int, int], int] | RunFailure:
    """Pool worker: parse the circuit and write the Braket program.

    Returns ``(OpenQASM 3 source, clbit -> qubit, num_clbits)``, or a failure of kind
    ``"circuit"`` (invalid, dynamic or too wide).
    """
    from qstream.backends.circuit_maps import parse

    try:
        qc, features = parse(payload.qasm, payload.name)
        if features.dynamic:
            return RunFailure.of("circuit", "mid-circuit measurement, reset and classical "
                                            "control are not run on Braket")
        if qc.num_qubits > payload.max_qubits:
            return RunFailure.of("circuit", f"circuit needs {qc.num_qubits} qubits; the device "
                                            f"has {payload.max_qubits}")
        source, clbit_qubit = braket_program(qc, seed_transpiler=payload.seed,
                                             gates=payload.gates)
        return source, clbit_qubit, int(qc.num_clbits)
    except Exception as exc:
        return RunFailure.of("circuit", exc)


def _supported_operations(props: Any) -> list[str]:
    action = getattr(props, "action", {}) or {}
    for key, value in action.items():
        if "openqasm" in str(key):
            return list(getattr(value, "supportedOperations", None) or [])
    return []


def _execution_s(result: Any) -> float | None:
    """Simulator execution time from the result's metadata (milliseconds), if reported."""
    meta = getattr(result, "additional_metadata", None)
    sim = getattr(meta, "simulatorMetadata", None)
    ms = getattr(sim, "executionDuration", None)
    return float(ms) / 1000.0 if ms else None
