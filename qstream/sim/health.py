"""Fleet health in the simulator: the live anomaly detectors and circuit breakers, in simulated seconds.

The same core code and the same actions as the live pipeline
(:class:`qstream.stream.fleet_health.FleetHealth` and the learn agent,
:func:`qstream.agents.learn.watch` / :func:`~qstream.agents.learn.act`):

- every successful execution is scored against what the scheduler's estimator
  predicted for it, *before* the estimator learns from it
  (:meth:`FleetMonitor.observe_execution`); every failure feeds the failure-rate
  detector;
- an ``error`` anomaly (suspected drift) lowers the backend's placement: its spec
  gets its calibrated errors inflated (:func:`~qstream.core.anomaly.lowered_spec`)
  until it publishes a new calibration;
- a ``run_s``, ``queue_s`` or ``failure`` anomaly trips its circuit breaker
  (:class:`~qstream.core.circuit_breaker.CircuitBreaker`), which also opens on
  failures; a half-open breaker closes on a successful probe only once the
  detectors no longer flag the backend (:meth:`FleetMonitor.holds_breaker`);
- a backend is operational for the scheduler when the world says it is up (the
  status tick) AND its breaker lets work through.

Breaker defaults are the live ones (:class:`qstream.config.WorkerConfig`), the
cooldown in simulated seconds: the live 5 wall s x the demo's time scale of 60.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from qstream.core.anomaly import Anomaly, FleetMonitor, lowered_spec
from qstream.core.backend_spec import BackendSpec, CalibrationSummary
from qstream.core.circuit_breaker import OPEN, CircuitBreaker
from qstream.core.observation import ExecutionObservation
from qstream.core.prediction import Prediction
from qstream.core.scheduler import Scheduler

BREAKER_COOLDOWN_S = 300.0
"""Simulated seconds an open breaker waits (live default 5 wall s x time scale 60)."""


class SimHealth:
    """Detectors, breakers and device status of a simulated fleet.

    Parameters
    ----------
    specs:
        The fleet.
    scheduler:
        The run's scheduler (operational flags and specs are applied to it).
    detectors:
        Run the anomaly detectors (False: breakers only, as a control).
    failures, window, failure_rate, cooldown_s:
        Breaker settings (:class:`~qstream.core.circuit_breaker.CircuitBreaker`).
    """

    def __init__(self, specs: Sequence[BackendSpec], scheduler: Scheduler, *,
                 detectors: bool = True, failures: int = 5, window: int = 20,
                 failure_rate: float = 0.5, cooldown_s: float = BREAKER_COOLDOWN_S) -> None:
        self.scheduler = scheduler
        self.detectors = detectors
        self.monitor = FleetMonitor()
        self.spec: dict[str, BackendSpec] = {s.name: s for s in specs}
        """Each backend's spec as the scheduler has it (published, or lowered)."""
        self.published: dict[str, CalibrationSummary | None] = {
            s.name: s.calibration for s in specs}
        self.breakers = {s.name: CircuitBreaker(failures, window, failure_rate, cooldown_s)
                         for s in specs}
        self.device_up: dict[str, bool] = dict.fromkeys(self.spec, True)
        self.anomalies: list[Anomaly] = []
        """Every anomaly found, in order."""
        self.breaker_opens = 0
        """Times a breaker opened (failures, a failed probe, or an anomaly)."""
        self._changes: dict[str, int] = dict.fromkeys(self.spec, 0)

    def sync(self, backend: str, now_s: float) -> None:
        """Apply ``backend``'s device status and breaker to the scheduler."""
        breaker = self.breakers[backend]
        state = breaker.state(now_s)
        if breaker.changes != self._changes[backend]:
            self._changes[backend] = breaker.changes
            if state == OPEN:
                self.breaker_opens += 1
        self.scheduler.set_operational(
            backend, self.device_up[backend] and breaker.allows_work(now_s))

    def set_device_up(self, backend: str, up: bool, now_s: float) -> None:
        """The status tick: the world's operational flag (an open breaker stays open)."""
        self.device_up[backend] = up
        self.sync(backend, now_s)

    def publish(self, spec: BackendSpec) -> bool:
        """A new day's published spec; adopted (undoing a suspected drift) only when its
        calibration changed, as :func:`qstream.agents.learn.learn_calibration`."""
        if spec.calibration == self.published[spec.name]:
            return False
        self.published[spec.name] = spec.calibration
        self.spec[spec.name] = spec
        self.scheduler.update_spec(spec)
        return True

    def observe(self, obs: ExecutionObservation, pred: Prediction) -> list[Anomaly]:
        """Score a successful execution (call before the estimator learns from it)."""
        return self.monitor.observe_execution(obs, pred) if self.detectors else []

    def succeeded(self, backend: str, now_s: float, found: list[Anomaly],
                  predicted_error: float | None) -> None:
        """A successful execution: its breaker outcome, then the actions of ``found``."""
        self.breakers[backend].record(True, now_s, flagged=self.monitor.holds_breaker(backend))
        self.sync(backend, now_s)
        self.act(found, predicted_error, now_s)

    def failed(self, backend: str, now_s: float) -> None:
        """A failed execution (or a release to a device that is down)."""
        self.breakers[backend].record(False, now_s)
        self.sync(backend, now_s)
        if self.detectors:
            self.act(self.monitor.observe(backend, success=False, at_s=now_s), None, now_s)

    def released(self, backends: Iterable[str], now_s: float) -> None:
        """Work was released to ``backends``: a half-open breaker's release is its probe."""
        for b in set(backends):
            breaker = self.breakers[b]
            if breaker.state(now_s) == "half_open":
                breaker.try_probe(now_s)
                self.sync(b, now_s)

    def act(self, found: list[Anomaly], predicted_error: float | None, now_s: float) -> None:
        """The live learn agent's actions (:func:`qstream.agents.learn.act`)."""
        for a in found:
            self.anomalies.append(a)
            if a.action == "lower_placement":
                lowered = lowered_spec(self.spec[a.backend], a, predicted_error)
                if lowered is not None:
                    self.spec[a.backend] = lowered[0]
                    self.scheduler.update_spec(lowered[0])
            else:
                self.breakers[a.backend].trip(now_s, f"anomaly: {a.signal} z={a.score:.1f}")
                self.sync(a.backend, now_s)
