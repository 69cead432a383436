"""Emulated IBM Quantum devices: real calibrations, real queue load, IBM's time and price model.

An :class:`EmulatedIBMDevice` stands in for one IBM backend:

- **Noise and coupling** come from a ``qiskit_ibm_runtime.fake_provider`` snapshot
  of the real device (``Fake*``): circuits are transpiled at optimization level 3
  (level 1 picked a qubit with 26% readout error on FakeSherbrooke) with a fixed
  ``seed_transpiler``, and simulated with the noise model
  ``AerSimulator.from_backend`` uses (see :mod:`qstream.backends.aer_runner`).
- **Queue wait**: the pending jobs of the real device at the emulated time, replayed
  from ``ibm_pending_jobs_2023-11.csv.gz`` (each device starts at its own seeded
  offset in the 10-day window), times a log-normal service time per external job
  (:class:`~qstream.core.queue_model.QueueModel`). qstream's own jobs on the device
  run one at a time: a job that finds another of ours running waits for it, and
  that wait is added to its ``queue_s``.
- **Run time** is IBM's QPU-time model: ``JOB_OVERHEAD_S + shots * (rep_delay_s +
  circuit_s)``, with ``rep_delay_s`` the device's ``default_rep_delay`` and
  ``circuit_s`` the as-soon-as-possible schedule of the transpiled circuit with the
  calibrated gate lengths.
- **Price**: IBM pay-as-you-go, :data:`PRICE_PER_QPU_SECOND_USD` per QPU second.
- **Emulation cost**: the noisy simulation runs on this machine's CPU, and its wall
  cost is not the QPU time above. The spec's :data:`EMULATION` makes it visible: the
  scheduler does not place a circuit whose emulation fits no method within the memory
  and time limits (:meth:`BackendSpec.can_run
  <qstream.core.backend_spec.BackendSpec.can_run>`, :mod:`qstream.core.sim_cost`).

**Calibration drift** (``drift=True``, off by default): the device replays the packaged
daily calibration series (:mod:`qstream.core.calibration_drift`: ``ibm_perth``'s own 181
snapshots, every other device its ``Fake*`` snapshot scaled by Perth's day-over-median
ratios, from its seeded day), one snapshot per ``day_s`` emulated seconds on the clock
(so ``time_scale`` advances it). :attr:`~EmulatedIBMDevice.spec` carries the snapshot
of the moment (ESP priors, cost function, ``backend_status`` calibration and
``calibration_age_s``) and the noisy simulation uses a noise model built from it
(cached per snapshot in each pool process, :func:`qstream.backends.aer_devices.device`).
An injected drift step (:meth:`~EmulatedIBMDevice.add_drift_step`, the ``drift=``
fault) changes the simulated noise but not the published calibration: it is
unannounced, like a real defect between two calibrations.

Times are emulated seconds on the device's :class:`~qstream.backends.clock.EmulatedClock`:
``execute`` sleeps ``queue_s / time_scale`` wall seconds, then runs the simulation in
the process pool, then sleeps whatever is left of ``run_s / time_scale``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import warnings
import zlib
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from qstream.backends.aer_devices import warm_device
from qstream.backends.aer_runner import run_emulated
from qstream.backends.base import ExecutionRequest, ExecutionResult, check_request, request_seed
from qstream.backends.clock import EmulatedClock
from qstream.backends.limits import TRAJECTORIES
from qstream.backends.payloads import EmulatedPayload, WarmUp
from qstream.backends.pool import submit
from qstream.core.backend_spec import BackendSpec, CalibrationSummary, Pricing
from qstream.core.calibration_drift import DAY_S, DriftSeries, DriftStep, apply_steps, day_offset
from qstream.core.queue_model import PendingJobsSeries, QueueModel, start_offset_s
from qstream.core.sim_cost import NOISELESS_METHODS, NOISY_METHODS, SimSpec
from qstream.errors import BackendError, ConfigError

__all__ = [
    "DEFAULT_CAPACITY",
    "DEVICES",
    "EMULATION",
    "JOB_OVERHEAD_S",
    "OPTIMIZATION_LEVEL",
    "PRICE_PER_QPU_SECOND_USD",
    "SEED_TRANSPILER",
    "DeviceInfo",
    "EmulatedIBMDevice",
    "device_spec",
]

PRICE_PER_QPU_SECOND_USD = 1.60
"""IBM Quantum pay-as-you-go price, USD 96 per QPU minute = USD 1.60 per QPU second
(IBM Quantum pricing page, 2024)."""

JOB_OVERHEAD_S = 3.0
"""Fixed QPU time per job, seconds.

Derived from IBM's documentation ("Estimate job run time", IBM Quantum docs): a
2-qubit Bell circuit run with SamplerV2's default 4096 shots is estimated at
4.1 quantum seconds. Its shots account for 4096 x (250 µs default rep_delay + ~5 µs
circuit) = 1.04 s, which leaves ~3 s of per-job overhead (loading, compilation,
readout transfer).
"""

EMULATION = SimSpec(NOISY_METHODS + NOISELESS_METHODS, noisy=True)
"""How the emulated devices simulate: noisy density matrix, trajectories or the
depolarizing approximation (ideal samples by statevector, stabilizer or MPS), within
the default memory and time limits of :mod:`qstream.core.sim_cost`."""

DEFAULT_CAPACITY = 2
"""Sub-tasks qstream releases to one emulated device at once (one runs, one queues)."""

OPTIMIZATION_LEVEL = 3
"""Transpiler optimization level (noise-aware layout; level 1 picked a qubit with 26%
readout error on FakeSherbrooke)."""

SEED_TRANSPILER = 1234
"""Fixed ``seed_transpiler``: the same circuit gets the same layout and routing every time."""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One emulated device: fleet name, calibration snapshot and load series."""

    name: str
    fake_class: str
    series: str
    description: str


def _info(real: str, fake: str, qubits: int, processor: str,
          series: str | None = None) -> DeviceInfo:
    name = real.replace("ibmq_", "ibm_") + "_emu"
    return DeviceInfo(
        name=name, fake_class=fake, series=series or real,
        description=f"emulated {real} ({qubits} qubits, {processor}): {fake} calibration, "
                    f"{real} queue load 2023-11",
    )


DEVICES: dict[str, DeviceInfo] = {
    d.name: d for d in (
        _info("ibm_perth", "FakePerth", 7, "Falcon r5.11H"),
        _info("ibm_lagos", "FakeLagosV2", 7, "Falcon r5.11H, median readout error 17%"),
        _info("ibm_nairobi", "FakeNairobiV2", 7, "Falcon r5.11H"),
        _info("ibm_hanoi", "FakeHanoiV2", 27, "Falcon r5.11"),
        _info("ibm_algiers", "FakeAlgiers", 27, "Falcon r5.11"),
        _info("ibmq_kolkata", "FakeKolkataV2", 27, "Falcon r5.11, no dynamic circuits"),
        _info("ibmq_mumbai", "FakeMumbaiV2", 27, "Falcon r5.10, no dynamic circuits"),
        _info("ibm_sherbrooke", "FakeSherbrooke", 127, "Eagle r3"),
        _info("ibm_brisbane", "FakeBrisbane", 127, "Eagle r3"),
        _info("ibm_cusco", "FakeCusco", 127, "Eagle r3"),
    )
}
"""Emulated devices by fleet name. Each has a ``Fake*`` calibration snapshot and a
pending-jobs series of the same real device. Left out: ``FakeCairoV2`` (its mixed
cx/ecr target fails level-3 transpilation in qiskit 2.6: "cx would be supported on
[8, 5] if the direction was swapped"), ``FakeKyoto`` (ECR errors all 1.0), and
devices without a load series (Fez, Torino, ...)."""


def _fake_backend(fake_class: str) -> Any:
    from qiskit_ibm_runtime import fake_provider

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(fake_provider, fake_class)()


@cache
def device_spec(name: str) -> BackendSpec:
    """Build the :class:`BackendSpec` of an emulated device without building a simulator.

    Calibration medians come from the ``Fake*`` target (per-instruction errors and
    lengths, T1/T2) and properties (``last_update_date``); cached per process.

    Raises
    ------
    ConfigError
        If ``name`` is not in :data:`DEVICES`.
    """
    info = DEVICES.get(name)
    if info is None:
        raise ConfigError(f"unknown emulated device {name!r}; valid: {', '.join(DEVICES)}")
    fake = _fake_backend(info.fake_class)
    target = fake.target
    config = fake.configuration() if hasattr(fake, "configuration") else None
    rep_delay_s = float(getattr(config, "default_rep_delay", None) or 250e-6)
    max_shots = int(getattr(config, "max_shots", None) or 100_000)
    return BackendSpec(
        name=info.name,
        kind="qpu",
        num_qubits=int(fake.num_qubits),
        max_shots=max_shots,
        capacity=DEFAULT_CAPACITY,
        supports_dynamic="if_else" in target.operation_names,
        calibration=calibration_summary(fake),
        pricing=Pricing(per_second_usd=PRICE_PER_QPU_SECOND_USD),
        job_overhead_s=JOB_OVERHEAD_S,
        rep_delay_s=rep_delay_s,
        queue_s_per_pending_job=QueueModel().mean_service_s,
        description=info.description,
        simulation=EMULATION,
    )


def calibration_summary(fake: Any) -> CalibrationSummary:
    """Medians of a ``Fake*`` backend's calibration (errors, T1/T2 s, 2q gate length s)."""
    target = fake.target

    def errors(names: tuple[str, ...], arity: int) -> list[float]:
        out: list[float] = []
        for gate in names:
            if gate not in target:
                continue
            for qargs, props in target[gate].items():
                if qargs is not None and len(qargs) == arity and props is not None \
                        and props.error is not None:
                    out.append(float(props.error))
        return out

    def lengths(names: tuple[str, ...]) -> list[float]:
        out: list[float] = []
        for gate in names:
            if gate in target:
                out.extend(float(p.duration) for q, p in target[gate].items()
                           if q is not None and len(q) == 2 and p is not None and p.duration)
        return out

    two_q = ("cx", "ecr", "cz")
    t1 = [p.t1 for p in target.qubit_properties or [] if p is not None and p.t1]
    t2 = [p.t2 for p in target.qubit_properties or [] if p is not None and p.t2]
    updated_at_s = 0.0
    props = fake.properties() if hasattr(fake, "properties") else None
    if props is not None and getattr(props, "last_update_date", None) is not None:
        updated_at_s = props.last_update_date.timestamp()
    return CalibrationSummary(
        one_qubit_error=_median(errors(("sx",), 1)),
        two_qubit_error=_median(errors(two_q, 2)),
        readout_error=_median(errors(("measure",), 1)),
        t1_s=_median(t1),
        t2_s=_median(t2),
        two_qubit_gate_s=_median(lengths(two_q)),
        updated_at_s=updated_at_s,
    )


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


class EmulatedIBMDevice:
    """An IBM Quantum device emulated from its calibration snapshot and real queue load.

    Parameters
    ----------
    name:
        Fleet name, a key of :data:`DEVICES` (e.g. ``"ibm_perth_emu"``).
    clock:
        Emulated clock; None creates one with ``time_scale``.
    time_scale:
        Emulated seconds per wall second, when ``clock`` is None.
    seed:
        Fleet seed: picks the device's start offset in the load series and seeds
        the queue model and (with each request's id) the simulator.
    pool:
        Process pool for transpilation and simulation; None uses
        :func:`qstream.backends.pool.default_pool`.
    series:
        Pending-jobs series; None loads the packaged one.
    queue_model:
        Queue-wait model; None uses :class:`QueueModel` with the documented defaults.
    offset_s:
        Start offset in the load series, seconds; None draws one from ``seed``.
    trajectories:
        Noisy trajectories for circuits wider than the density-matrix limit
        (see :mod:`qstream.backends.aer_runner`).
    drift:
        Replay the calibration series (see the module docstring).
    day_s:
        Emulated seconds per calibration snapshot (:data:`~qstream.core.calibration_drift.DAY_S`;
        a demo compresses it).
    drift_series:
        The series; None loads the packaged one.

    Raises
    ------
    ConfigError
        On an unknown ``name``.
    """

    def __init__(
        self,
        name: str,
        *,
        clock: EmulatedClock | None = None,
        time_scale: float = 1.0,
        seed: int = 0,
        pool: Executor | None = None,
        series: PendingJobsSeries | None = None,
        queue_model: QueueModel | None = None,
        offset_s: float | None = None,
        trajectories: int = TRAJECTORIES,
        drift: bool = False,
        day_s: float = DAY_S,
        drift_series: DriftSeries | None = None,
    ) -> None:
        if name not in DEVICES:
            raise ConfigError(f"unknown emulated device {name!r}; valid: {', '.join(DEVICES)}")
        self.info = DEVICES[name]
        self._spec = device_spec(name)
        self.clock = clock if clock is not None else EmulatedClock(time_scale)
        self.seed = int(seed)
        self._pool = pool
        self.series = series if series is not None else PendingJobsSeries.load()
        self.series_name = self.info.series
        mixed_seed = zlib.crc32(f"{self.seed}/{name}".encode())
        self.queue_model = queue_model if queue_model is not None else QueueModel(seed=mixed_seed)
        self.offset_s = (start_offset_s(self.seed, name, self.series.duration_s)
                         if offset_s is None else float(offset_s))
        self.trajectories = int(trajectories)
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.drift = bool(drift) and self._spec.calibration is not None
        self._series: DriftSeries | None = None
        if self.drift:
            self._series = drift_series if drift_series is not None else DriftSeries.load(
                day_s=day_s)
        self._day_offset = day_offset(self.seed, name, len(self._series)) if self._series else 0
        self._steps: list[DriftStep] = []
        self._specs: dict[int, BackendSpec] = {}

    @property
    def spec(self) -> BackendSpec:
        """The device's :class:`BackendSpec` (see :func:`device_spec`); with drift, its
        calibration is the published snapshot of the current emulated day, with
        ``updated_at_s`` the emulated epoch second the day began (clock origin + day)."""
        series = self._series
        if series is None or not self.drift:
            return self._spec
        day = series.day(self.clock.now_s())
        spec = self._specs.get(day)
        if spec is None:
            base = self._spec.calibration
            assert base is not None  # drift is off for an uncalibrated device
            cal = series.scaled(base, series.index(day * series.day_s, self._day_offset),
                                own=self.info.series == series.reference,
                                updated_at_s=self.clock.origin_s + day * series.day_s)
            spec = replace(self._spec, calibration=cal)
            self._specs = {day: spec}  # one day at a time
        return spec

    def calibration_age_s(self) -> float | None:
        """Emulated seconds since the current snapshot was taken (drift only; else None)."""
        if self._series is None or not self.drift:
            return None
        now_s = self.clock.now_s()
        return now_s - self._series.day(now_s) * self._series.day_s

    def add_drift_step(self, step: DriftStep) -> None:
        """Inject an unannounced error step (the ``drift=`` fault): the simulated noise
        follows it, the published :attr:`spec` does not."""
        if self._spec.calibration is None:
            raise ConfigError(f"{self.info.name} has no calibration to drift")
        if self._series is None:  # steps need a snapshot to scale: a constant series
            self._series = DriftSeries([self._spec.calibration], day_s=DAY_S)
        self._steps.append(step)

    def true_calibration(self) -> CalibrationSummary | None:
        """The calibration the simulation uses now: the published one with active steps."""
        cal = self.spec.calibration
        if cal is None or not self._steps:
            return cal
        return apply_steps(cal, self._steps, self.clock.now_s())

    def _noise_scale(self) -> tuple[float, ...] | None:
        base = self._spec.calibration
        if self._series is None or base is None:
            return None
        true = self.true_calibration()
        assert true is not None
        return self._series.scale_of(base, true)

    @property
    def fake_class(self) -> str:
        """Name of the ``Fake*`` calibration snapshot, e.g. ``"FakePerth"``."""
        return self.info.fake_class

    def pending_jobs(self) -> int:
        """External pending jobs of the real device at the current emulated time."""
        return self.series.pending_jobs(self.series_name, self.clock.now_s(),
                                        offset_s=self.offset_s)

    def operational(self) -> bool:
        """The real device's ``operational`` flag at the current emulated time."""
        return self.series.operational(self.series_name, self.clock.now_s(),
                                       offset_s=self.offset_s)

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Queue, transpile, simulate and bill one sub-task (see the module docstring).

        Raises
        ------
        BackendError
            If the shots are out of range, the device is not operational, the
            circuit does not fit the device (too wide, dynamic on a device without
            control flow, invalid), or the worker pool fails.
        """
        started = time.perf_counter()
        spec = self.spec
        check_request(spec, request)
        if not self.operational():
            raise BackendError(f"{spec.name} is not operational")
        seed = request_seed(request, self.seed)
        loop = asyncio.get_running_loop()

        pending = self.pending_jobs()
        queue_s = self.queue_model.wait_s(pending, key=f"{request.subtask_id}/{request.attempt}")
        await self.clock.sleep(queue_s)

        lock = self._device_lock(loop)
        if lock.locked():  # another of our jobs holds the device: wait for it
            waited_from = self.clock.now_s()
            await lock.acquire()
            queue_s += max(self.clock.now_s() - waited_from, 0.0)
        else:
            await lock.acquire()
        try:
            run_started = loop.time()
            payload = EmulatedPayload(
                fake=self.info.fake_class, name=request.subtask_id, qasm=request.qasm,
                shots=request.shots, seed=seed, optimization_level=OPTIMIZATION_LEVEL,
                seed_transpiler=SEED_TRANSPILER, trajectories=self.trajectories,
                scale=self._noise_scale(),
            )
            out = await submit(self._pool, run_emulated, payload, spec.name)
            run_s = spec.job_overhead_s + request.shots * (spec.rep_delay_s + out.duration_s)
            remaining_wall_s = self.clock.to_wall_s(run_s) - (loop.time() - run_started)
            if remaining_wall_s > 0:
                await asyncio.sleep(remaining_wall_s)
        finally:
            lock.release()

        return ExecutionResult(
            backend=spec.name,
            counts=out.counts,
            shots=request.shots,
            queue_s=queue_s,
            run_s=run_s,
            price_usd=spec.pricing.price_usd(request.shots, run_s),
            esp=float(out.esp),
            quality=out.quality,
            readout=[(float(a), float(b)) for a, b in out.readout],
            pending_jobs=pending,
            physical_qubits=list(out.physical_qubits),
            wall_s=time.perf_counter() - started,
            sim_method=out.method,
        )

    def stoppable(self) -> bool:
        """True: the queue wait is a sleep and the simulation runs in the stoppable pool."""
        return True

    def warm_ups(self) -> tuple[WarmUp, ...]:
        """The device's ``Fake*`` calibration and noise model (key: the ``Fake*`` class name)."""
        return (WarmUp(self.info.fake_class, warm_device),)

    def _device_lock(self, loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
        # asyncio.Lock binds to the loop it first waits on; tests run several loops.
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    def __repr__(self) -> str:
        return (f"EmulatedIBMDevice({self.info.name!r}, fake={self.info.fake_class}, "
                f"series={self.series_name}, offset_s={self.offset_s:.0f})")
