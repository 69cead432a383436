"""Fleet health: each backend's device status and circuit breaker, applied to the scheduler.

A backend is operational for the scheduler when its device says it is up (its
``backend_status`` telemetry) AND its breaker lets work through
(:class:`qstream.core.circuit_breaker.CircuitBreaker`, wall-clock time). A
breaker state change is published as a ``breaker`` telemetry event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from qstream.config import WorkerConfig
from qstream.core.backend_spec import BackendSpec
from qstream.core.circuit_breaker import CircuitBreaker
from qstream.core.scheduler import Scheduler
from qstream.stream import topics as T
from qstream.stream.outbox import Outbox

log = logging.getLogger("qstream.worker")


class FleetHealth:
    """Breakers and device status of a fleet.

    Parameters
    ----------
    specs:
        The fleet (one breaker per backend).
    config:
        Breaker settings (``breaker_failures``, ``breaker_window``,
        ``breaker_failure_rate``, ``breaker_cooldown_s``).
    outbox:
        Where ``breaker`` telemetry events go.
    """

    def __init__(self, specs: Iterable[BackendSpec], config: WorkerConfig, outbox: Outbox) -> None:
        names = [s.name for s in specs]
        self.breakers = {name: CircuitBreaker(
            config.breaker_failures, config.breaker_window, config.breaker_failure_rate,
            config.breaker_cooldown_s) for name in names}
        self.breaker_changes: dict[str, int] = dict.fromkeys(names, 0)
        self.device_up: dict[str, bool] = dict.fromkeys(names, True)
        self.outbox = outbox

    async def sync_breaker(self, backend: str, scheduler: Scheduler) -> None:
        """Apply ``backend``'s device status and breaker to ``scheduler``.

        Operational = the device says it is up AND its breaker is closed, or
        half-open with its one probe not yet sent. A breaker state change is
        published as a ``breaker`` telemetry event. Unknown backends are ignored.
        """
        breaker = self.breakers.get(backend)
        if breaker is None:
            return
        now = time.monotonic()
        state = breaker.state(now)
        if breaker.changes != self.breaker_changes[backend]:
            self.breaker_changes[backend] = breaker.changes
            reason = breaker.reason if state != "half_open" else \
                f"cooldown of {breaker.cooldown_now_s:g} s over; one probe may go through"
            log.warning("circuit breaker of %s is %s: %s", backend, state, reason)
            await self.outbox.send(T.TELEMETRY, None, {
                "schema": "qstream.telemetry.v1", "event": "breaker", "at": time.time(),
                "backend": backend, "state": state, "reason": reason})
        scheduler.set_operational(backend, self.device_up[backend] and breaker.allows_work(now))

    async def sync_all(self, scheduler: Scheduler) -> None:
        """:meth:`sync_breaker` for every backend (an open breaker turns half-open after its cooldown)."""
        for backend in self.breakers:
            await self.sync_breaker(backend, scheduler)

    async def record_outcome(self, backend: str, success: bool, scheduler: Scheduler,
                             flagged: bool = False) -> None:
        """Feed one execution outcome to ``backend``'s breaker; ``flagged``: its anomaly
        detector still flags it (a half-open breaker then stays half-open on a success,
        :meth:`CircuitBreaker.record`)."""
        breaker = self.breakers.get(backend)
        if breaker is not None:
            breaker.record(success, time.monotonic(), flagged=flagged)
            await self.sync_breaker(backend, scheduler)

    async def trip(self, backend: str, reason: str, scheduler: Scheduler) -> None:
        """Open ``backend``'s breaker now (a sustained anomaly) and publish it; it
        half-opens after its cooldown and closes only on a successful probe once the
        detector no longer flags the backend."""
        breaker = self.breakers.get(backend)
        if breaker is not None:
            breaker.trip(time.monotonic(), reason)
            await self.sync_breaker(backend, scheduler)

    async def set_device_up(self, backend: str, up: bool, scheduler: Scheduler) -> None:
        """Record the device's own status; its breaker still applies (an open one stays open)."""
        self.device_up[backend] = up
        await self.sync_breaker(backend, scheduler)

    async def probes_released(self, backends: Iterable[str], scheduler: Scheduler) -> None:
        """Work was released to ``backends``: a half-open breaker's release is its one probe."""
        for backend in backends:
            breaker = self.breakers.get(backend)
            if breaker is not None and breaker.state(time.monotonic()) == "half_open":
                breaker.try_probe(time.monotonic())  # this release is the probe
                await self.sync_breaker(backend, scheduler)
