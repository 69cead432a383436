"""A circuit breaker per backend: stop sending work to a backend that keeps failing.

The classic three-state breaker (M. Nygard, *Release It!*, 2nd ed., 2018, ch. 5):

- **closed**: work flows; every execution outcome is recorded. It opens after
  ``failures`` consecutive failures, or when at least ``window`` outcomes were
  seen and the failed share of the last ``window`` reaches ``failure_rate``; or
  when the caller trips it (:meth:`CircuitBreaker.trip`, a sustained anomaly from
  :mod:`qstream.core.anomaly`).
- **open**: the backend gets no new work for the current cooldown. Outcomes of work
  released *before* it opened still arrive; they do not change the state (a job
  that was already queued says nothing about the backend's health now).
- **half-open**: after the cooldown one probe may go through
  (:meth:`CircuitBreaker.try_probe`). Its outcome decides:

  * it failed: the breaker opens again, with the cooldown multiplied by
    ``backoff`` (capped at ``max_cooldown_s``): capped exponential backoff
    (M. Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015;
    no jitter, the breaker is per backend and deterministic);
  * it succeeded and the caller says the backend is still ``flagged`` (its
    anomaly detector still sees the anomaly that tripped it): the breaker stays
    half-open and lets the next single probe through (limited traffic, one job
    at a time, which also feeds the detector the values it needs to clear);
  * it succeeded and the backend is not flagged: the breaker closes and the
    cooldown is reset.

Time is passed in (``now_s``, any monotonic seconds); nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from qstream.errors import ConfigError

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitBreaker"]

State = Literal["closed", "open", "half_open"]
CLOSED: State = "closed"
OPEN: State = "open"
HALF_OPEN: State = "half_open"


class CircuitBreaker:
    """One backend's breaker.

    Parameters
    ----------
    failures:
        Consecutive failures that open it (>= 1).
    window:
        Outcomes in the failure-rate window (>= 1).
    failure_rate:
        Failed share of a full window that opens it, in (0, 1].
    cooldown_s:
        Seconds it stays open before a probe, the first time (>= 0).
    backoff:
        Factor on the cooldown after each failed probe (>= 1).
    max_cooldown_s:
        Cap of the backed-off cooldown (>= ``cooldown_s``); None: 16 x ``cooldown_s``.

    Raises
    ------
    ConfigError
        On a parameter out of range.

    Examples
    --------
    Failures open it, a probe after the cooldown closes it:

    >>> b = CircuitBreaker(failures=2, cooldown_s=10.0)
    >>> b.record(False, now_s=0.0), b.record(False, now_s=1.0)
    ('closed', 'open')
    >>> b.reason
    '2 consecutive failures'
    >>> b.record(True, now_s=2.0)  # a job released before it opened: no change
    'open'
    >>> b.state(5.0), b.state(11.0)
    ('open', 'half_open')
    >>> b.try_probe(11.0), b.try_probe(11.5)
    (True, False)
    >>> b.record(True, now_s=12.0)
    'closed'

    Tripped by an anomaly: a failed probe backs off, a successful one closes it
    only once the detector no longer flags the backend:

    >>> b = CircuitBreaker(cooldown_s=10.0)
    >>> b.trip(0.0, "anomaly: run_s z=8.0")
    >>> b.state(10.0), b.try_probe(10.0), b.record(False, 10.5)
    ('half_open', True, 'open')
    >>> b.cooldown_now_s, b.state(30.0), b.state(30.5)
    (20.0, 'open', 'half_open')
    >>> b.try_probe(30.5), b.record(True, 31.0, flagged=True), b.try_probe(31.0)
    (True, 'half_open', True)
    >>> b.record(True, 32.0, flagged=False), b.cooldown_now_s
    ('closed', 10.0)
    """

    def __init__(self, failures: int = 5, window: int = 20, failure_rate: float = 0.5,
                 cooldown_s: float = 5.0, backoff: float = 2.0,
                 max_cooldown_s: float | None = None) -> None:
        if failures < 1 or window < 1:
            raise ConfigError(f"breaker failures and window must be >= 1, got {failures}, {window}")
        if not 0.0 < failure_rate <= 1.0:
            raise ConfigError(f"breaker failure_rate must be in (0, 1], got {failure_rate}")
        if not cooldown_s >= 0.0:
            raise ConfigError(f"breaker cooldown_s must be >= 0, got {cooldown_s}")
        if not backoff >= 1.0:
            raise ConfigError(f"breaker backoff must be >= 1, got {backoff}")
        cap = 16.0 * cooldown_s if max_cooldown_s is None else max_cooldown_s
        if not cap >= cooldown_s:
            raise ConfigError(f"breaker max_cooldown_s must be >= cooldown_s ({cooldown_s}), "
                              f"got {max_cooldown_s}")
        self.failures = failures
        self.window = window
        self.failure_rate = failure_rate
        self.cooldown_s = cooldown_s
        self.backoff = backoff
        self.max_cooldown_s = cap
        self.cooldown_now_s = cooldown_s
        """The cooldown of the current (or next) opening: backed off after failed probes."""
        self._state: State = CLOSED
        self._consecutive = 0
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._opened_at_s = 0.0
        self._probing = False
        self.reason = ""
        """Why it last changed (or why a probe left it half-open), for telemetry."""
        self.changes = 0
        """State changes so far (a caller publishing them compares this)."""

    def state(self, now_s: float) -> State:
        """The state at ``now_s``: an open breaker turns half-open once its cooldown passed."""
        if self._state == OPEN and now_s >= self._opened_at_s + self.cooldown_now_s:
            self._state = HALF_OPEN
            self._probing = False
            self.changes += 1
        return self._state

    def allows_work(self, now_s: float) -> bool:
        """Whether the backend may get new work: closed, or half-open with no probe out yet."""
        state = self.state(now_s)
        return state == CLOSED or (state == HALF_OPEN and not self._probing)

    def try_probe(self, now_s: float) -> bool:
        """In half-open, claim the one probe (True once); always True when closed."""
        state = self.state(now_s)
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record(self, success: bool, now_s: float, flagged: bool = False) -> State:
        """Record one execution outcome; return the state after it.

        ``flagged``: the backend's anomaly detector still flags it (only read in
        half-open: a successful probe then keeps it half-open instead of closing).
        While open, outcomes (of work released before it opened) change nothing.
        """
        state = self.state(now_s)
        if state == OPEN:
            return state
        if state == HALF_OPEN:
            if not success:
                self._backoff()
                self._open(now_s, "probe failed")
            elif flagged:
                self._probing = False  # the next probe may go
                self.reason = "probe succeeded but the anomaly detector still flags it"
            else:
                self._close("probe succeeded")
            return self._state
        self._outcomes.append(bool(success))
        if success:
            self._consecutive = 0
            return self._state
        self._consecutive += 1
        failed = self._outcomes.count(False)
        if self._consecutive >= self.failures:
            self._open(now_s, f"{self._consecutive} consecutive failures")
        elif (len(self._outcomes) >= self.window
              and failed >= self.failure_rate * len(self._outcomes)):
            self._open(now_s, f"{failed} of the last {len(self._outcomes)} executions failed")
        return self._state

    def trip(self, now_s: float, reason: str) -> None:
        """Open now, whatever the outcomes (a sustained anomaly, :mod:`qstream.core.anomaly`).

        From closed it opens for ``cooldown_s``; from half-open (the anomaly came back
        while probing) it opens again with the backed-off cooldown; an open breaker
        stays as it is.
        """
        state = self.state(now_s)
        if state == OPEN:
            return
        if state == HALF_OPEN:
            self._backoff()
        self._open(now_s, reason)

    def _backoff(self) -> None:
        self.cooldown_now_s = min(self.cooldown_now_s * self.backoff, self.max_cooldown_s)

    def _open(self, now_s: float, reason: str) -> None:
        self._state = OPEN
        self.changes += 1
        self._opened_at_s = now_s
        self._probing = False
        self.reason = reason

    def _close(self, reason: str) -> None:
        self._state = CLOSED
        self.changes += 1
        self._probing = False
        self._consecutive = 0
        self._outcomes.clear()
        self.cooldown_now_s = self.cooldown_s
        self.reason = reason
