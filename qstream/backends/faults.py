"""Injected backend faults: a per-backend :class:`FaultProfile` and the :class:`FaultyBackend` wrapper.

A fault profile makes a backend fail at random, time out, go down for outage
windows or slow down, so retries, the circuit breaker and failover can be
exercised (and demonstrated) on emulated backends. Profiles come from a compact
spec string, the worker's ``--faults`` option or ``QSTREAM_FAULTS``::

    spec   := entry (";" entry)*
    entry  := BACKEND ":" fault ("," fault)*
    fault  := "fail=" RATE            random transient failure, RATE in [0, 1]
            | "timeout=" RATE         transient timeout after timeout_s
            | "timeout_s=" SECONDS    how long a timeout hangs (emulated s, default 60)
            | "outage=" START "-" END outage window, emulated s since worker start
                                      (END may be "inf"; repeat for several windows)
            | "slow=" FACTOR ["@" START "-" END]
                                      run time x FACTOR (>= 1), in the window if given
            | "drift=" FACTOR ["@" START ["-" END]]
                                      gate and readout errors x FACTOR (> 0) from START
                                      (to END, default inf; no "@": from 0), unannounced;
                                      emulated IBM devices only (repeatable)

for example ``ibm_hanoi_emu:fail=0.3,timeout=0.1;braket_local:outage=0-120`` or
``ibm_perth_emu:drift=3@600``. A drift step changes the device's simulated noise
(:meth:`~qstream.backends.ibm_emulated.EmulatedIBMDevice.add_drift_step`) but not the
calibration it publishes, so only the observed errors (and the anomaly detectors,
:mod:`qstream.core.anomaly`) show it.
Outages are unannounced: the device keeps reporting itself operational, and
qstream finds out from failed executions (retries, then the circuit breaker and
failover take over).

Faults are drawn from a random generator seeded by ``(seed, backend, subtask_id,
attempt, call)``, where ``call`` counts the executions of that attempt (the
execute agent's retries), so a run with the same seed draws the same faults.
"""

from __future__ import annotations

import math
import random
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from qstream.backends.base import Backend, ExecutionRequest, ExecutionResult
from qstream.backends.clock import EmulatedClock
from qstream.backends.payloads import WarmUp
from qstream.core.backend_spec import BackendSpec
from qstream.core.calibration_drift import DriftStep
from qstream.errors import BackendUnavailable, ConfigError, TransientBackendError

__all__ = ["FaultProfile", "FaultyBackend", "parse_faults"]

Window = tuple[float, float]


def _check_window(what: str, window: Window) -> None:
    start, end = window
    if not (math.isfinite(start) and start >= 0 and end > start):
        raise ConfigError(f"{what} window {start:g}-{end:g} must have 0 <= start < end")


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """What goes wrong on one backend.

    Attributes
    ----------
    failure_rate:
        Probability in [0, 1] that an execution fails at once with a
        :class:`~qstream.errors.TransientBackendError`.
    timeout_rate:
        Probability in [0, 1] that an execution hangs ``timeout_s`` emulated
        seconds, then fails with a :class:`~qstream.errors.TransientBackendError`.
    timeout_s:
        Emulated seconds a timeout hangs (> 0).
    outages:
        ``(start_s, end_s)`` windows, emulated seconds since worker start, during
        which every execution fails with :class:`~qstream.errors.BackendUnavailable`.
    slowdown:
        Factor (>= 1) on the run time of executions in ``slowdown_window``.
    slowdown_window:
        ``(start_s, end_s)``; None means always.
    drift:
        Unannounced error steps (:class:`~qstream.core.calibration_drift.DriftStep`).

    Raises
    ------
    ConfigError
        On a rate outside [0, 1], a non-positive ``timeout_s``, a slowdown below 1
        or a window without ``0 <= start < end``.

    Examples
    --------
    >>> FaultProfile(failure_rate=0.2).in_outage(5.0)
    False
    >>> FaultProfile(failure_rate=1.5)
    Traceback (most recent call last):
    ...
    qstream.errors.ConfigError: failure_rate must be in [0, 1], got 1.5
    """

    failure_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 60.0
    outages: tuple[Window, ...] = ()
    slowdown: float = 1.0
    slowdown_window: Window | None = None
    drift: tuple[DriftStep, ...] = ()

    def __post_init__(self) -> None:
        for name in ("failure_rate", "timeout_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value:g}")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ConfigError(f"timeout_s must be finite and > 0, got {self.timeout_s:g}")
        if not (math.isfinite(self.slowdown) and self.slowdown >= 1.0):
            raise ConfigError(f"slowdown must be finite and >= 1, got {self.slowdown:g}")
        for window in self.outages:
            _check_window("outage", window)
        if self.slowdown_window is not None:
            _check_window("slowdown", self.slowdown_window)

    def in_outage(self, now_s: float) -> bool:
        """Whether emulated time ``now_s`` (since worker start) is in an outage window."""
        return any(start <= now_s < end for start, end in self.outages)

    def slowdown_at(self, now_s: float) -> float:
        """The run-time factor at emulated time ``now_s`` (1.0 outside the window)."""
        w = self.slowdown_window
        return self.slowdown if w is None or w[0] <= now_s < w[1] else 1.0


def _number(backend: str, key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"faults for {backend!r}: {key}={text!r} is not a number") from None


def _window(backend: str, key: str, text: str) -> Window:
    start, sep, end = text.partition("-")
    if not sep:
        raise ConfigError(f"faults for {backend!r}: {key} window {text!r} must look like "
                          f"START-END (emulated seconds since worker start)")
    return _number(backend, key, start), _number(backend, key, end)


def parse_faults(spec: str, known: Iterable[str] | None = None) -> dict[str, FaultProfile]:
    """Parse a fault spec (grammar in the module docstring) into backend -> profile.

    Parameters
    ----------
    spec:
        The spec; empty or blank means no faults.
    known:
        Valid backend names; None means every name from
        :func:`qstream.backends.catalog.available_backends`.

    Raises
    ------
    ConfigError
        On a malformed entry, an unknown key or backend, a backend named twice or
        an out-of-range value (see :class:`FaultProfile`).

    Examples
    --------
    >>> p = parse_faults("cpu_statevector:fail=0.3,timeout=0.1;braket_local:outage=0-120")
    >>> p["cpu_statevector"].failure_rate, p["braket_local"].outages
    (0.3, ((0.0, 120.0),))
    >>> parse_faults("cpu_statevector:slow=2@10-inf")["cpu_statevector"].slowdown_window
    (10.0, inf)
    >>> parse_faults("ibm_perth_emu:drift=3@600", ["ibm_perth_emu"])["ibm_perth_emu"].drift
    (DriftStep(factor=3.0, start_s=600.0, end_s=inf),)
    >>> parse_faults("cpu_statevector:explode=1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qstream.errors.ConfigError: faults for 'cpu_statevector': unknown fault 'explode'; use ...
    """
    if known is None:
        from qstream.backends.catalog import available_backends
        known = available_backends()
    valid = set(known)
    out: dict[str, FaultProfile] = {}
    for entry in (e.strip() for e in spec.split(";")):
        if not entry:
            continue
        backend, sep, body = (part.strip() for part in entry.partition(":"))
        if not sep or not backend or not body:
            raise ConfigError(f"fault entry {entry!r} must look like BACKEND:fault=value,...")
        if backend not in valid:
            raise ConfigError(f"faults name unknown backend {backend!r}; "
                              f"valid: {', '.join(sorted(valid))}")
        if backend in out:
            raise ConfigError(f"faults name backend {backend!r} twice; join its entries")
        values: dict[str, object] = {}
        outages: list[Window] = []
        drift: list[DriftStep] = []
        for item in (i.strip() for i in body.split(",")):
            key, eq, text = (part.strip() for part in item.partition("="))
            if not eq or not text:
                raise ConfigError(f"faults for {backend!r}: {item!r} must look like key=value")
            if key == "fail":
                values["failure_rate"] = _number(backend, key, text)
            elif key == "timeout":
                values["timeout_rate"] = _number(backend, key, text)
            elif key == "timeout_s":
                values["timeout_s"] = _number(backend, key, text)
            elif key == "outage":
                outages.append(_window(backend, key, text))
            elif key == "slow":
                factor, at, window = text.partition("@")
                values["slowdown"] = _number(backend, key, factor)
                if at:
                    values["slowdown_window"] = _window(backend, key, window)
            elif key == "drift":
                factor, at, window = text.partition("@")
                start, end = 0.0, math.inf
                if at:
                    start, end = (_window(backend, key, window) if "-" in window
                                  else (_number(backend, key, window), math.inf))
                try:
                    drift.append(DriftStep(_number(backend, key, factor), start, end))
                except ConfigError as exc:
                    raise ConfigError(f"faults for {backend!r}: {exc}") from None
            else:
                raise ConfigError(f"faults for {backend!r}: unknown fault {key!r}; "
                                  f"use fail, timeout, timeout_s, outage, slow or drift")
        try:
            out[backend] = FaultProfile(outages=tuple(outages), drift=tuple(drift),
                                        **values)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ConfigError(f"faults for {backend!r}: {exc}") from None
    return out


class FaultyBackend:
    """A :class:`~qstream.backends.base.Backend` that injects a :class:`FaultProfile`'s faults.

    Parameters
    ----------
    inner:
        The backend that runs what does not fail.
    profile:
        The faults.
    clock:
        The fleet's emulated clock; its time 0 (worker start) anchors the windows,
        and timeouts and slowdowns sleep on it.
    seed:
        Seed of the fault draws.

    ``execute`` raises :class:`~qstream.errors.BackendUnavailable` in an outage and
    :class:`~qstream.errors.TransientBackendError` for a random failure or a
    timeout; otherwise it runs ``inner`` and stretches its run time by the slowdown.
    """

    _MAX_CALLS = 100_000

    def __init__(self, inner: Backend, profile: FaultProfile, clock: EmulatedClock,
                 seed: int = 0) -> None:
        self.inner = inner
        self.profile = profile
        self.clock = clock
        self.seed = seed
        self._calls: OrderedDict[tuple[str, int], int] = OrderedDict()
        if profile.drift:
            add = getattr(inner, "add_drift_step", None)
            if add is None:
                raise ConfigError(f"drift= needs an emulated IBM device; {inner.spec.name} "
                                  f"has no calibration to drift")
            for step in profile.drift:
                add(step)

    @property
    def spec(self) -> BackendSpec:
        return self.inner.spec

    def calibration_age_s(self) -> float | None:
        """The inner device's (None when it does not replay a calibration series)."""
        age = getattr(self.inner, "calibration_age_s", None)
        return age() if age is not None else None

    def pending_jobs(self) -> int:
        return self.inner.pending_jobs()

    def operational(self) -> bool:
        """The inner device's own status: injected outages are unannounced."""
        return self.inner.operational()

    def warm_ups(self) -> tuple[WarmUp, ...]:
        """The inner backend's warm-ups (faults need no cache)."""
        return self.inner.warm_ups()

    def stoppable(self) -> bool:
        """As the inner backend (the injected waits are sleeps, which cancel)."""
        return self.inner.stoppable()

    def draw(self, request: ExecutionRequest) -> tuple[float, float]:
        """The next two uniform draws (failure, timeout) for ``request``.

        The n-th call for the same ``(subtask_id, attempt)`` gets the same draws in
        every run with the same seed.
        """
        key = (request.subtask_id, request.attempt)
        call = self._calls.pop(key, 0)
        self._calls[key] = call + 1
        while len(self._calls) > self._MAX_CALLS:
            self._calls.popitem(last=False)
        rng = random.Random(zlib.crc32(
            f"{self.seed}/{self.spec.name}/{request.subtask_id}/{request.attempt}/{call}"
            .encode()))
        return rng.random(), rng.random()

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        p = self.profile
        now_s = self.clock.now_s()
        if p.in_outage(now_s):
            raise BackendUnavailable(
                f"injected outage (down at emulated {now_s:.0f} s since start; windows "
                + ", ".join(f"{a:g}-{b:g} s" for a, b in p.outages) + ")")
        fail_u, timeout_u = self.draw(request)
        if fail_u < p.failure_rate:
            raise TransientBackendError(f"injected transient failure (rate {p.failure_rate:g})")
        if timeout_u < p.timeout_rate:
            await self.clock.sleep(p.timeout_s)
            raise TransientBackendError(f"injected timeout after {p.timeout_s:g} s")
        factor = p.slowdown_at(now_s)
        started = time.perf_counter()
        result = await self.inner.execute(request)
        if factor == 1.0:
            return result
        extra_s = (factor - 1.0) * result.run_s
        await self.clock.sleep(extra_s)
        return replace(result, run_s=result.run_s * factor, wall_s=time.perf_counter() - started)
