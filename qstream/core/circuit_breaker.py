"""A circuit breaker per backend: stop sending work to a backend that keeps failing.

The classic three-state breaker (M. Nygard, *Release It!*, 2nd ed., 2018, ch. 5):

- **closed**: work flows; every execution outcome is recorded. It opens after
  ``failures`` consecutive failures, or when at least ``window`` outcomes were
  seen and the failed share of the last ``window`` reaches ``failure_rate``.
- **open**: the backend gets no new work for ``cooldown_s``.
- **half-open**: after the cooldown one probe may go through
  (:meth:`CircuitBreaker.try_probe`); a success closes the breaker, a failure
  opens it again for another cooldown.

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
        Seconds it stays open before a probe (>= 0).

    Raises
    ------
    ConfigError
        On a parameter out of range.

    Examples
    --------
    >>> b = CircuitBreaker(failures=2, cooldown_s=10.0)
    >>> b.record(False, now_s=0.0), b.record(False, now_s=1.0)
    ('closed', 'open')
    >>> b.reason
    '2 consecutive failures'
    >>> b.state(5.0), b.state(11.0)
    ('open', 'half_open')
    >>> b.try_probe(11.0), b.try_probe(11.5)
    (True, False)
    >>> b.record(True, now_s=12.0)
    'closed'
    """

    def __init__(self, failures: int = 5, window: int = 20, failure_rate: float = 0.5,
                 cooldown_s: float = 5.0) -> None:
        if failures < 1 or window < 1:
            raise ConfigError(f"breaker failures and window must be >= 1, got {failures}, {window}")
        if not 0.0 < failure_rate <= 1.0:
            raise ConfigError(f"breaker failure_rate must be in (0, 1], got {failure_rate}")
        if not cooldown_s >= 0.0:
            raise ConfigError(f"breaker cooldown_s must be >= 0, got {cooldown_s}")
        self.failures = failures
        self.window = window
        self.failure_rate = failure_rate
        self.cooldown_s = cooldown_s
        self._state: State = CLOSED
        self._consecutive = 0
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._opened_at_s = 0.0
        self._probing = False
        self.reason = ""
        """Why it last opened (or closed), for telemetry."""
        self.changes = 0
        """State changes so far (a caller publishing them compares this)."""

    def state(self, now_s: float) -> State:
        """The state at ``now_s``: an open breaker turns half-open once its cooldown passed."""
        if self._state == OPEN and now_s >= self._opened_at_s + self.cooldown_s:
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

    def record(self, success: bool, now_s: float) -> State:
        """Record one execution outcome; return the state after it."""
        state = self.state(now_s)
        self._outcomes.append(bool(success))
        if success:
            self._consecutive = 0
            if state != CLOSED:
                self._state = CLOSED
                self._probing = False
                self._outcomes.clear()
                self.changes += 1
                self.reason = "probe succeeded"
            return self._state
        self._consecutive += 1
        if state == HALF_OPEN:
            self._open(now_s, "probe failed")
        elif state == CLOSED:
            failed = self._outcomes.count(False)
            if self._consecutive >= self.failures:
                self._open(now_s, f"{self._consecutive} consecutive failures")
            elif (len(self._outcomes) >= self.window
                  and failed >= self.failure_rate * len(self._outcomes)):
                self._open(now_s, f"{failed} of the last {len(self._outcomes)} executions failed")
        return self._state

    def trip(self, now_s: float, reason: str) -> None:
        """Open now, whatever the outcomes (e.g. a sustained anomaly,
        :mod:`qstream.core.anomaly`); it half-opens after the cooldown as usual."""
        if self.state(now_s) != OPEN:
            self._open(now_s, reason)

    def _open(self, now_s: float, reason: str) -> None:
        self._state = OPEN
        self.changes += 1
        self._opened_at_s = now_s
        self._probing = False
        self.reason = reason
