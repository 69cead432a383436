"""Ground truth of the simulated fleet: queue wait, run time, error, price, drift and faults.

Every model here is what the *world* does; schedulers never read it directly
(except the clairvoyant ``oracle`` policy). Each piece, and where it comes from:

- **External load.** A device's queue length is the real ``pending_jobs`` series of
  the IBM device it emulates (:class:`~qstream.core.queue_model.PendingJobsSeries`,
  2023-11, packaged), each device starting at a seeded offset. A job released at
  ``t`` waits behind ``pending_jobs(t)`` external jobs, each with a log-normal
  service time (:class:`~qstream.core.queue_model.QueueModel`).
- **Hidden per-device truth** the priors do not know, drawn once per seed (so
  five seeds are five different worlds; the draws are assumptions, stated as such):

  ========================  ======================================  ===========================
  quantity                  truth                                   prior assumes
  ========================  ======================================  ===========================
  external job service time ``10 s x LogNormal(0, 0.3)`` per device  10 s (Qonductor)
  routing overhead on depth ``1.5 x LogNormal(0, 0.1)`` per device,  1.0 (logical depth)
                            ``x LogNormal(0, 0.2)`` per circuit
  ESP exponent (crosstalk,  ``LogNormal(0, 0.15)`` per device        1.0
  leakage)
  simulator speed           ``LogNormal(0, 0.3)`` per backend        1.0
  ========================  ======================================  ===========================

- **Run time** follows IBM's QPU-time model, ``job_overhead_s + shots x
  (rep_delay_s + depth x routing x two_qubit_gate_s)`` (as
  :class:`~qstream.backends.ibm_emulated.EmulatedIBMDevice`), with 5% log-normal
  noise per execution. qstream's own jobs run one at a time on a QPU (a FIFO
  behind the device), in parallel on simulators, as in the live executors.
- **Error** is ``1 - ESP ** exponent``, ESP from the calibration *of the day*
  (:meth:`BackendSpec.prior_esp`); observations add binomial shot noise.
- **Calibration drift**: the 181 daily ``ibm_perth`` snapshots (2023H1, packaged).
  Perth follows them; every other device scales its own snapshot by Perth's
  day-over-median ratios, starting at its own seeded day. Each new day is
  published to the scheduler (:meth:`Scheduler.update_spec`), as IBM publishes
  calibrations.
- **Faults**: :class:`Fault` windows. A ``slowdown`` multiplies queue wait and
  run time of jobs released in it; during an ``outage`` the device takes no new
  job (a release fails) and its external queue is frozen (jobs already queued
  start after it ends). A ``drift`` step multiplies the device's true gate and readout
  errors (unannounced: the published calibration does not show it, so only the
  observed errors, and the anomaly detectors, see it). A ``fail`` burst makes each
  execution that finishes in it fail with probability ``factor`` (the live
  ``fail=`` fault; draws seeded by sub-task and attempt).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from qstream.core.backend_spec import BackendSpec, CalibrationSummary
from qstream.core.calibration_drift import (
    DAY_S,
    DriftSeries,
    DriftStep,
    apply_steps,
)
from qstream.core.features import CircuitFeatures
from qstream.core.prediction import Prediction
from qstream.core.queue_model import (
    SERVICE_MEDIAN_S,
    SERVICE_SIGMA,
    PendingJobsSeries,
    QueueModel,
    start_offset_s,
)
from qstream.errors import ConfigError

RUN_NOISE_SIGMA = 0.05
"""Log-normal spread of one execution's run time around the model (assumption)."""

SERVICE_FACTOR_SIGMA = 0.3
ROUTING_MEDIAN = 1.5
"""Median ratio of routed to logical depth on heavy-hex lattices (assumption: about one
SWAP, three two-qubit gates, per five two-qubit gates on average)."""
ROUTING_DEVICE_SIGMA = 0.1
ROUTING_CIRCUIT_SIGMA = 0.2
ESP_EXPONENT_SIGMA = 0.15
SIM_SPEED_SIGMA = 0.3


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected fault on one backend over ``[start_s, end_s)`` (simulation seconds).

    Attributes
    ----------
    kind:
        ``"slowdown"`` (queue wait and run time x ``factor``), ``"outage"``,
        ``"drift"`` (gate and readout errors x ``factor``, unannounced: the published
        calibration does not show it) or ``"fail"`` (each execution finishing in
        the window fails with probability ``factor``).

    Raises
    ------
    ConfigError
        On an empty window, an unknown kind, a slowdown or drift ``factor <= 0`` or
        a fail ``factor`` outside (0, 1].
    """

    backend: str
    start_s: float
    end_s: float
    kind: Literal["slowdown", "outage", "drift", "fail"] = "outage"
    factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s:
            raise ConfigError(f"fault window must end after it starts: {self}")
        if self.kind not in ("slowdown", "outage", "drift", "fail"):
            raise ConfigError(f"fault kind must be slowdown, outage, drift or fail, "
                              f"got {self.kind!r}")
        if self.kind in ("slowdown", "drift") and not self.factor > 0:
            raise ConfigError(f"{self.kind} factor must be > 0, got {self.factor}")
        if self.kind == "fail" and not 0.0 < self.factor <= 1.0:
            raise ConfigError(f"fail probability must be in (0, 1], got {self.factor}")

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s


def _unit_normal(*parts: object) -> float:
    """A deterministic N(0, 1) draw keyed by ``parts`` (stable across processes)."""
    key = zlib.crc32("/".join(map(str, parts)).encode("utf-8"))
    return float(np.random.default_rng(key).standard_normal())


@dataclass(slots=True)
class _Truth:
    spec: BackendSpec
    series: str | None
    offset_s: float
    queue: QueueModel | None
    service_mean_s: float
    routing: float
    esp_exponent: float
    speed: float
    day_offset: int


class World:
    """The simulated fleet's ground truth (see the module docstring).

    Parameters
    ----------
    specs:
        The fleet, as the live worker builds it (:func:`qstream.backends.fleet.fleet_specs`).
    seed:
        Draws the hidden per-device truth, the series offsets and all noise.
    series:
        Pending-jobs series; None loads the packaged one. A QPU whose name
        (without ``_emu``) is not in it has no external load.
    drift:
        Replay calibration drift (else every day is the spec's snapshot).
    faults:
        Injected slowdowns and outages.

    Raises
    ------
    ConfigError
        On a fault for an unknown backend.
    """

    def __init__(
        self,
        specs: Sequence[BackendSpec],
        *,
        seed: int = 0,
        series: PendingJobsSeries | None = None,
        drift: bool = True,
        faults: Sequence[Fault] = (),
    ) -> None:
        self.seed = seed
        self.series = series if series is not None else PendingJobsSeries.load()
        self.drift = drift
        names = {s.name for s in specs}
        for f in faults:
            if f.backend not in names:
                raise ConfigError(f"fault on unknown backend {f.backend!r}; fleet: {sorted(names)}")
        self.faults = tuple(faults)
        self._drift_steps: dict[str, list[DriftStep]] = {}
        for f in self.faults:
            if f.kind == "drift":
                self._drift_steps.setdefault(f.backend, []).append(
                    DriftStep(f.factor, f.start_s, f.end_s))
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x51A1])
        self._drift = DriftSeries.load()
        self._days = self._drift.days
        self._truth: dict[str, _Truth] = {}
        for spec in specs:
            series_name = self._series_name(spec)
            service = float(np.exp(rng.normal(0.0, SERVICE_FACTOR_SIGMA)))
            routing = ROUTING_MEDIAN * float(np.exp(rng.normal(0.0, ROUTING_DEVICE_SIGMA)))
            exponent = float(np.exp(rng.normal(0.0, ESP_EXPONENT_SIGMA)))
            speed = float(np.exp(rng.normal(0.0, SIM_SPEED_SIGMA)))
            day_offset = int(rng.integers(len(self._days)))
            queue = None
            if series_name is not None:
                queue = QueueModel(median_s=SERVICE_MEDIAN_S * service, sigma=SERVICE_SIGMA,
                                   seed=zlib.crc32(f"{seed}/{spec.name}/queue".encode()))
            self._truth[spec.name] = _Truth(
                spec=spec, series=series_name,
                offset_s=start_offset_s(seed, spec.name, self.series.duration_s),
                queue=queue,
                service_mean_s=queue.mean_service_s if queue is not None else 0.0,
                routing=routing, esp_exponent=exponent, speed=speed, day_offset=day_offset,
            )

    def _series_name(self, spec: BackendSpec) -> str | None:
        if spec.kind != "qpu":
            return None
        base = spec.name.removesuffix("_emu")
        for candidate in (base, base.replace("ibm_", "ibmq_", 1)):
            if candidate in self.series.backends:
                return candidate
        return None

    # -- state over time ------------------------------------------------------------------

    def backends(self) -> list[str]:
        return list(self._truth)

    def pending_jobs(self, backend: str, t_s: float) -> int:
        """External pending jobs on ``backend`` at simulation time ``t_s``."""
        tr = self._truth[backend]
        if tr.series is None:
            return 0
        return self.series.pending_jobs(tr.series, t_s, offset_s=tr.offset_s)

    def mean_pending_jobs(self, backend: str, start_s: float = 0.0,
                          end_s: float | None = None) -> float:
        """Time-mean of the external pending jobs over ``[start_s, end_s)`` (whole series if None)."""
        tr = self._truth[backend]
        if tr.series is None:
            return 0.0
        if end_s is None:
            return float(np.mean(self.series.arrays(tr.series)[1]))
        grid = np.arange(start_s, max(end_s, start_s + 60.0), 60.0)
        return float(np.mean([self.pending_jobs(backend, float(t)) for t in grid]))

    def operational(self, backend: str, t_s: float) -> bool:
        return not any(f.kind == "outage" and f.backend == backend and f.active(t_s)
                       for f in self.faults)

    def outage_end_s(self, backend: str, t_s: float) -> float:
        """End of the outage covering ``t_s`` (``t_s`` itself when there is none)."""
        end = t_s
        for f in self.faults:
            if f.kind == "outage" and f.backend == backend and f.start_s <= end < f.end_s:
                end = f.end_s
        return end

    def slowdown(self, backend: str, t_s: float) -> float:
        factor = 1.0
        for f in self.faults:
            if f.kind == "slowdown" and f.backend == backend and f.active(t_s):
                factor *= f.factor
        return factor

    def fails(self, backend: str, t_s: float, key: str) -> bool:
        """Whether the execution ``key`` finishing at ``t_s`` fails (a ``fail`` burst)."""
        p = max((f.factor for f in self.faults
                 if f.kind == "fail" and f.backend == backend and f.active(t_s)), default=0.0)
        if p <= 0.0:
            return False
        u = 0.5 * (1.0 + math.erf(_unit_normal(self.seed, key, "fail") / math.sqrt(2.0)))
        return u < p

    def fault_epoch(self, t_s: float) -> tuple[bool, ...]:
        """Which faults are active: changes exactly when the truth changes by a fault."""
        return tuple(f.active(t_s) for f in self.faults)

    def day(self, t_s: float) -> int:
        return int(t_s // DAY_S)

    def calibration(self, backend: str, t_s: float) -> CalibrationSummary | None:
        """The calibration of the day at ``t_s`` (what IBM would publish)."""
        tr = self._truth[backend]
        base = tr.spec.calibration
        if base is None or not self.drift:
            return base
        k = self._drift.index(t_s, tr.day_offset)
        cal = self._drift.scaled(base, k, own=tr.series == self._drift.reference,
                                 updated_at_s=self.day(t_s) * DAY_S)
        return cal

    def true_calibration(self, backend: str, t_s: float) -> CalibrationSummary | None:
        """The calibration the device really has at ``t_s``: the published one with the
        active ``drift`` fault steps, which are unannounced (:mod:`qstream.core.calibration_drift`)."""
        cal = self.calibration(backend, t_s)
        steps = self._drift_steps.get(backend, ())
        return apply_steps(cal, steps, t_s) if cal is not None and steps else cal

    def published_spec(self, backend: str, t_s: float) -> BackendSpec:
        """The backend's spec with the calibration of the day."""
        tr = self._truth[backend]
        cal = self.calibration(backend, t_s)
        return tr.spec if cal == tr.spec.calibration else replace(tr.spec, calibration=cal)

    # -- truth of one execution ---------------------------------------------------------------

    def expected_run_s(self, backend: str, features: CircuitFeatures, shots: int,
                       t_s: float) -> float:
        """Expected run time (s) of a job released at ``t_s`` (no per-execution noise)."""
        tr = self._truth[backend]
        spec = tr.spec
        if spec.kind == "qpu":
            cal = self.calibration(backend, t_s)
            gate_s = cal.two_qubit_gate_s if cal is not None else 0.0
            routing = tr.routing * math.exp(
                ROUTING_CIRCUIT_SIGMA * _unit_normal(self.seed, backend, features))
            run_s = spec.job_overhead_s + shots * (spec.rep_delay_s + features.depth * routing * gate_s)
        else:
            run_s = spec.prior_run_s(features, shots) * tr.speed
        return run_s * self.slowdown(backend, t_s)

    def expected_error(self, backend: str, features: CircuitFeatures, t_s: float) -> float:
        """True error (1 - success probability) in [0, 1] of a job run at ``t_s``."""
        tr = self._truth[backend]
        if tr.spec.calibration is None:
            return 0.0
        esp = replace(tr.spec, calibration=self.true_calibration(backend, t_s)).prior_esp(features)
        return 1.0 - esp**tr.esp_exponent

    def expected_queue_s(self, backend: str, pending_jobs: int, t_s: float) -> float:
        tr = self._truth[backend]
        return max(pending_jobs, 0) * tr.service_mean_s * self.slowdown(backend, t_s)

    def truth(self, spec: BackendSpec, features: CircuitFeatures, shots: int, pending_jobs: int,
              t_s: float) -> Prediction:
        """Expected queue wait, run time, error and price: what the oracle knows."""
        run_s = self.expected_run_s(spec.name, features, shots, t_s)
        return Prediction(
            queue_s=self.expected_queue_s(spec.name, pending_jobs, t_s),
            run_s=run_s,
            error=self.expected_error(spec.name, features, t_s),
            price_usd=spec.pricing.price_usd(shots, run_s),
        )

    def sample_queue_s(self, backend: str, pending_jobs: int, t_s: float, key: str) -> float:
        """Queue wait (s) drawn for a job released at ``t_s`` behind ``pending_jobs``."""
        tr = self._truth[backend]
        if tr.queue is None:
            return 0.0
        return tr.queue.wait_s(pending_jobs, key=key) * self.slowdown(backend, t_s)

    def sample_run_s(self, backend: str, features: CircuitFeatures, shots: int, t_s: float,
                     key: str) -> float:
        noise = math.exp(RUN_NOISE_SIGMA * _unit_normal(self.seed, key, "run"))
        return self.expected_run_s(backend, features, shots, t_s) * noise

    def sample_error(self, backend: str, features: CircuitFeatures, shots: int, t_s: float,
                     key: str) -> float:
        """Observed error: the truth plus binomial shot noise, clipped to [0, 1]."""
        e = self.expected_error(backend, features, t_s)
        sd = math.sqrt(max(e * (1.0 - e), 0.0) / max(shots, 1))
        return min(max(e + sd * _unit_normal(self.seed, key, "error"), 0.0), 1.0)
