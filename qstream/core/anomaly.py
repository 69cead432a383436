"""Online anomaly detection per backend: robust z-scores of prediction residuals and failures.

One :class:`BackendMonitor` per backend watches four signals, each fed one value per
execution (test-then-train: scored against the window *before* it is added):

=============  ==========================================================  ==========
signal         value per execution                                         MAD floor
=============  ==========================================================  ==========
``run_s``      ``log(observed run_s / predicted run_s)``                   0.05
``queue_s``    ``log((observed queue_s + 1) / (predicted queue_s + 1))``   0.10
``error``      ``observed error - predicted error`` (error = 1 - quality)  0.01
``failure``    failures in the last ``failure_window`` outcomes, as a      --
               one-sided binomial z-score against the long-run rate
=============  ==========================================================  ==========

**Robust score** (residual signals): the modified z-score of Iglewicz and Hoaglin
("How to Detect and Handle Outliers", ASQC Quality Press, 1993, ch. 3),
``z = 0.6745 * (x - median) / MAD`` over a rolling window of the last ``window``
values (a Hampel filter; Hampel, "The influence curve and its role in robust
estimation", JASA 69, 1974). 0.6745 is the 0.75 quantile of N(0, 1), so ``z`` is in
standard deviations for Gaussian data; their suggested outlier cut is ``|z| > 3.5``.
The MAD is floored (table above) so a window of near-identical residuals (a
deterministic simulator) does not turn noise into huge scores: the floors are the
smallest shifts worth acting on (5% run time, 10% queue wait, 1 point of error),
assumptions stated as such.

**Failure rate**: ``z = (k - n p0) / sqrt(n p0 (1 - p0))`` for ``k`` failures in the
last ``n = failure_window`` outcomes, ``p0`` the long-run failure rate (an
exponentially weighted mean, floored at ``failure_floor``): the normal approximation
of a binomial test.

**Sustained**: a signal is *anomalous* when at least ``sustain`` of its last
``sustain_of`` scores exceed ``threshold`` (one-sided: slower, longer queue, more
error, more failures; the opposite direction is never a fault). A signal turning
anomalous yields one :class:`Anomaly` (the ``anomaly`` telemetry event); it re-arms
once the signal has been calm for ``sustain_of`` values. Values scored anomalous are
not added to the window while the anomaly lasts, so the baseline does not absorb
the fault; after ``adapt_after`` values in a row it is accepted as the new normal
(a lasting change the predictors will learn).

**Action** (:func:`action_for`): an ``error`` anomaly is *suspected drift* and lowers
the backend's placement (its errors are inflated by the observed excess,
:func:`suspected_drift_factor`); a ``run_s``, ``queue_s`` or ``failure`` anomaly opens
its circuit breaker.

Pure: no clock, no I/O; the same code runs in the live learn agent and over the
simulator (``scripts/bench_anomaly.py``).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Literal

from qstream.core.backend_spec import BackendSpec
from qstream.core.observation import ExecutionObservation
from qstream.core.prediction import Prediction
from qstream.errors import ConfigError

__all__ = [
    "MAD_FLOOR",
    "SIGNALS",
    "Anomaly",
    "BackendMonitor",
    "FleetMonitor",
    "RobustScore",
    "action_for",
    "lowered_spec",
    "suspected_drift_factor",
]

Signal = Literal["run_s", "queue_s", "error", "failure"]
SIGNALS: tuple[Signal, ...] = ("run_s", "queue_s", "error", "failure")
MAD_FLOOR: dict[str, float] = {"run_s": 0.05, "queue_s": 0.10, "error": 0.01}
"""Smallest MAD per residual signal (see the module docstring)."""

_K = 0.6745  # Phi^-1(0.75): the MAD of N(0, 1) (Iglewicz and Hoaglin 1993)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One sustained anomaly on one backend's signal.

    Attributes
    ----------
    backend, signal:
        Where.
    score:
        The modified (or binomial) z-score of the value that made it sustained.
    value, median, mad:
        That value and the window's median and (floored) MAD; for ``failure``: the
        failed share of the last ``failure_window`` outcomes, the long-run rate, 0.
    window:
        Values in the baseline window (outcomes for ``failure``).
    at_s:
        The caller's time of the observation (seconds).
    action:
        ``"lower_placement"`` or ``"open_breaker"`` (:func:`action_for`).
    """

    backend: str
    signal: str
    score: float
    value: float
    median: float
    mad: float
    window: int
    at_s: float
    action: str

    def evidence(self) -> dict[str, float | int | str]:
        """The JSON-ready evidence of the ``anomaly`` telemetry event."""
        return {"signal": self.signal, "value": self.value, "median": self.median,
                "mad": self.mad, "window": self.window}


def action_for(signal: str) -> str:
    """What a sustained anomaly of ``signal`` does.

    >>> action_for("error"), action_for("run_s")
    ('lower_placement', 'open_breaker')
    """
    return "lower_placement" if signal == "error" else "open_breaker"


def suspected_drift_factor(median_error: float, excess: float) -> float:
    """Factor on a backend's calibrated errors for a suspected drift: predicted plus
    the observed excess over predicted, clipped to [1, 10].

    >>> suspected_drift_factor(0.1, 0.1)
    2.0
    """
    base = max(median_error, 1e-3)
    return min(max((base + max(excess, 0.0)) / base, 1.0), 10.0)


def lowered_spec(spec: BackendSpec, anomaly: Anomaly,
                 predicted_error: float | None) -> tuple[BackendSpec, float] | None:
    """The ``lower_placement`` action of an ``error`` anomaly (suspected drift).

    Returns ``spec`` with its calibrated one-, two-qubit and readout errors x
    :func:`suspected_drift_factor` (predicted error plus the observed excess,
    ``anomaly.value - anomaly.median``), each capped at 1, and that factor; or None
    when ``spec`` has no calibration or the factor is 1 (nothing to lower). The
    live learn agent and the simulator both apply it; the inflated errors stay until
    the backend publishes a new calibration.

    >>> from qstream.core.backend_spec import CalibrationSummary
    >>> cal = CalibrationSummary(1e-3, 1e-2, 2e-2, 1e-4, 1e-4, 4e-7)
    >>> spec = BackendSpec("qpu", "qpu", 7, 10_000, calibration=cal)
    >>> a = Anomaly("qpu", "error", 6.0, 0.3, 0.0, 0.01, 64, 0.0, "lower_placement")
    >>> new, factor = lowered_spec(spec, a, 0.1)
    >>> factor, round(new.calibration.readout_error, 6)
    (4.0, 0.08)
    >>> lowered_spec(BackendSpec("cpu", "classical", 30, 10**6), a, 0.1) is None
    True
    """
    factor = suspected_drift_factor(predicted_error or 0.0, anomaly.value - anomaly.median)
    cal = spec.calibration
    if cal is None or not factor > 1.0:
        return None
    return replace(spec, calibration=replace(
        cal, one_qubit_error=min(cal.one_qubit_error * factor, 1.0),
        two_qubit_error=min(cal.two_qubit_error * factor, 1.0),
        readout_error=min(cal.readout_error * factor, 1.0))), factor


class RobustScore:
    """Rolling-window modified z-score (see the module docstring).

    >>> r = RobustScore(window=20, mad_floor=0.1)
    >>> for x in [0.0, 0.05, -0.05] * 5:
    ...     _ = r.score_and_learn(x, keep=True)
    >>> round(r.score(1.0), 2)
    6.74
    """

    def __init__(self, window: int = 64, mad_floor: float = 0.0, min_values: int = 10) -> None:
        if window < 3 or min_values < 3:
            raise ConfigError(f"window and min_values must be >= 3, got {window}, {min_values}")
        self.values: deque[float] = deque(maxlen=window)
        self.mad_floor = mad_floor
        self.min_values = min_values

    def stats(self) -> tuple[float, float]:
        """``(median, floored MAD)`` of the window."""
        med = statistics.median(self.values)
        mad = statistics.median(abs(v - med) for v in self.values)
        return med, max(mad, self.mad_floor)

    def score(self, x: float) -> float:
        """Modified z-score of ``x`` (0 until ``min_values`` values are in)."""
        if len(self.values) < self.min_values:
            return 0.0
        med, mad = self.stats()
        return _K * (x - med) / mad if mad > 0 else 0.0

    def score_and_learn(self, x: float, keep: bool = True) -> float:
        z = self.score(x)
        if keep:
            self.values.append(x)
        return z


@dataclass(slots=True)
class _SignalState:
    recent: deque[bool]
    active: bool = False
    streak: int = 0
    calm: int = 0


@dataclass(slots=True)
class BackendMonitor:
    """The four detectors of one backend (parameters in the module docstring).

    Examples
    --------
    >>> m = BackendMonitor("qpu")
    >>> for i in range(40):
    ...     _ = m.observe(run_s=(1.0 + 0.01 * (i % 3), 1.0), at_s=i)
    >>> found = [m.observe(run_s=(3.0, 1.0), at_s=40 + i) for i in range(3)]
    >>> [a.signal for f in found for a in f]
    ['run_s']
    """

    backend: str
    window: int = 64
    threshold: float = 3.5
    sustain: int = 3
    sustain_of: int = 5
    adapt_after: int = 30
    failure_window: int = 20
    failure_floor: float = 0.02
    failure_alpha: float = 0.01
    scores: dict[str, RobustScore] = field(default_factory=dict)
    states: dict[str, _SignalState] = field(default_factory=dict)
    outcomes: deque[bool] = field(default_factory=deque)
    failure_rate: float = 0.0
    n_outcomes: int = 0
    last: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (1 <= self.sustain <= self.sustain_of):
            raise ConfigError(f"need 1 <= sustain <= sustain_of, got {self.sustain}, "
                              f"{self.sustain_of}")
        for s in ("run_s", "queue_s", "error"):
            self.scores[s] = RobustScore(self.window, MAD_FLOOR[s])
        for s in SIGNALS:
            self.states[s] = _SignalState(deque(maxlen=self.sustain_of))
        self.outcomes = deque(maxlen=self.failure_window)

    def active(self) -> list[str]:
        """Signals anomalous now."""
        return [s for s, st in self.states.items() if st.active]

    def observe(self, *, run_s: tuple[float, float] | None = None,
                queue_s: tuple[float, float] | None = None,
                error: tuple[float, float] | None = None,
                success: bool | None = None, at_s: float = 0.0) -> list[Anomaly]:
        """Score one execution; return the anomalies that just became sustained.

        Parameters
        ----------
        run_s, queue_s:
            ``(observed, predicted)`` seconds (>= 0), or None when unknown.
        error:
            ``(observed, predicted)`` error in [0, 1], or None.
        success:
            The execution's outcome (after retries), or None.
        at_s:
            Time stamp copied into the anomalies.
        """
        out: list[Anomaly] = []
        if run_s is not None and run_s[0] > 0 and run_s[1] > 0:
            out += self._residual("run_s", math.log(run_s[0] / run_s[1]), at_s)
        if queue_s is not None:
            x = math.log((max(queue_s[0], 0.0) + 1.0) / (max(queue_s[1], 0.0) + 1.0))
            out += self._residual("queue_s", x, at_s)
        if error is not None:
            out += self._residual("error", error[0] - error[1], at_s, ref=error[1])
        if success is not None:
            out += self._failure(success, at_s)
        return out

    def _residual(self, signal: str, x: float, at_s: float, ref: float = 0.0) -> list[Anomaly]:
        r = self.scores[signal]
        st = self.states[signal]
        z = r.score(x)
        hot = z > self.threshold
        # Hold anomalous values out of the baseline, until the change has lasted.
        keep = not (hot and st.active and st.streak < self.adapt_after)
        found = self._update(signal, hot, z, x, *(r.stats() if len(r.values) else (0.0, 0.0)),
                             len(r.values), at_s)
        if keep:
            r.values.append(x)
        if signal == "error":
            self.last["error_ref"] = ref
        return found

    def _failure(self, success: bool, at_s: float) -> list[Anomaly]:
        p0 = max(self.failure_rate, self.failure_floor)
        self.outcomes.append(not success)
        n = len(self.outcomes)
        k = sum(self.outcomes)
        z = 0.0
        if self.n_outcomes >= self.failure_window:
            z = (k - n * p0) / math.sqrt(n * p0 * (1.0 - p0))
        hot = z > self.threshold
        st = self.states["failure"]
        found = self._update("failure", hot, z, k / n, p0, 0.0, n, at_s)
        if not (hot and st.active and st.streak < self.adapt_after):
            self.failure_rate += self.failure_alpha * ((not success) - self.failure_rate)
        self.n_outcomes += 1
        return found

    def _update(self, signal: str, hot: bool, z: float, value: float, median: float, mad: float,
                n: int, at_s: float) -> list[Anomaly]:
        st = self.states[signal]
        st.recent.append(hot)
        st.streak = st.streak + 1 if hot else 0
        if st.active:
            st.calm = 0 if hot else st.calm + 1
            if st.calm >= self.sustain_of:
                st.active = False
            return []
        if sum(st.recent) >= self.sustain:
            st.active, st.calm = True, 0
            self.last[signal] = value - median
            return [Anomaly(self.backend, signal, float(z), float(value), float(median),
                            float(mad), n, float(at_s), action_for(signal))]
        return []


class FleetMonitor:
    """One :class:`BackendMonitor` per backend (created on first observation).

    Parameters are passed to every :class:`BackendMonitor`.

    >>> fm = FleetMonitor()
    >>> fm.observe("b", success=True, at_s=0.0)
    []
    >>> sorted(fm.monitors), fm.counts
    (['b'], {})
    """

    def __init__(self, **params: float) -> None:
        self.params = params
        self.monitors: dict[str, BackendMonitor] = {}
        self.counts: dict[tuple[str, str], int] = {}
        """Anomalies so far per (backend, signal)."""
        self.recent: deque[Anomaly] = deque(maxlen=100)
        """The last 100 anomalies, newest last."""

    def monitor(self, backend: str) -> BackendMonitor:
        m = self.monitors.get(backend)
        if m is None:
            m = self.monitors[backend] = BackendMonitor(backend, **self.params)  # type: ignore[arg-type]
        return m

    def observe(self, backend: str, **kw: object) -> list[Anomaly]:
        """:meth:`BackendMonitor.observe` on ``backend``'s monitor; counts what it finds."""
        found = self.monitor(backend).observe(**kw)  # type: ignore[arg-type]
        for a in found:
            self.counts[(a.backend, a.signal)] = self.counts.get((a.backend, a.signal), 0) + 1
            self.recent.append(a)
        return found

    def observe_execution(self, obs: ExecutionObservation, pred: Prediction) -> list[Anomaly]:
        """Score one successful execution against what was predicted for it (taken
        before the predictor learns from it): run time, queue wait and error
        residuals and a success. The live learn agent and the simulator call this."""
        return self.observe(obs.backend, run_s=(obs.run_s, pred.run_s),
                            queue_s=(obs.queue_s, pred.queue_s), error=(obs.error, pred.error),
                            success=True, at_s=obs.at_s)

    def holds_breaker(self, backend: str) -> bool:
        """Whether a signal whose action opens the breaker (run time, queue wait,
        failures) is anomalous on ``backend`` now: its half-open breaker must not
        close yet (:meth:`qstream.core.circuit_breaker.CircuitBreaker.record`).

        >>> fm = FleetMonitor()
        >>> for i in range(40):
        ...     _ = fm.observe("b", run_s=(1.0 + 0.01 * (i % 3), 1.0), at_s=i)
        >>> fm.holds_breaker("b"), fm.holds_breaker("other")
        (False, False)
        >>> _ = [fm.observe("b", run_s=(3.0, 1.0), at_s=40 + i) for i in range(3)]
        >>> fm.holds_breaker("b")
        True
        """
        m = self.monitors.get(backend)
        return m is not None and any(action_for(s) == "open_breaker" for s in m.active())
