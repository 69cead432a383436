"""Online prediction intervals from a rolling window of residuals (split conformal).

Scheduling on a distribution beats scheduling on a point estimate (3Sigma:
Park et al., "3Sigma: distribution-based cluster scheduling for runtime
uncertainty", EuroSys 2018), and hedging stragglers needs an upper quantile.
:class:`ConformalInterval` gives one cheaply: it keeps the last ``window``
residuals ``actual - predicted`` (in the model's link space, e.g. ``log1p``
seconds, where run-time noise is roughly additive) per key, and offsets a new
point prediction by their empirical quantiles. That is split conformal
prediction (Lei et al., "Distribution-free predictive inference for
regression", JASA 113, 2018) with the calibration set replaced by the recent
past: the coverage guarantee holds for exchangeable residuals only, so on a
drifting stream it is approximate, and the rolling window is what lets it
track the drift.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Hashable

from qstream.errors import ConfigError


class _Window:
    """The last ``size`` values in arrival order and in sorted order."""

    __slots__ = ("fifo", "sorted")

    def __init__(self, size: int) -> None:
        self.fifo: deque[float] = deque(maxlen=size)
        self.sorted: list[float] = []

    def add(self, value: float) -> None:
        if len(self.fifo) == self.fifo.maxlen:
            del self.sorted[bisect.bisect_left(self.sorted, self.fifo[0])]
        self.fifo.append(value)
        bisect.insort(self.sorted, value)


class ConformalInterval:
    """Per-key rolling-window conformal offsets ``(lo, hi)`` around a prediction.

    With ``n`` residuals in the window, the upper offset is the
    ``ceil((n + 1) * upper)``-th smallest and the lower the
    ``floor((n + 1) * lower)``-th smallest (the finite-sample conformal ranks),
    so ``[pred + lo, pred + hi]`` covers about ``upper - lower`` of the
    actuals. A key with fewer than ``min_residuals`` residuals borrows the
    window of all keys together; with fewer than that overall there is no
    interval yet.

    Parameters
    ----------
    lower, upper:
        Quantile levels, ``0 <= lower < upper <= 1`` (0.1 and 0.9: an 80% interval).
    window:
        Residuals kept per key (and for all keys together).
    min_residuals:
        Residuals a window needs before it is used; at least enough for both
        conformal ranks to exist.

    Raises
    ------
    ConfigError
        On levels out of order or range, or a window too small for the ranks.

    Examples
    --------
    >>> ci = ConformalInterval(lower=0.1, upper=0.9, window=100, min_residuals=9)
    >>> ci.offsets("ibm_kyiv") is None
    True
    >>> for r in range(-4, 5):         # residuals -4 .. 4
    ...     ci.learn("ibm_kyiv", float(r))
    >>> ci.offsets("ibm_kyiv")         # 1st and 9th smallest of 9
    (-4.0, 4.0)
    >>> ci.offsets("ibm_torino")       # unseen key: the pooled window
    (-4.0, 4.0)
    >>> ci.n("ibm_kyiv"), ci.n("ibm_torino")
    (9, 0)
    """

    __slots__ = ("_all", "_keys", "lower", "min_residuals", "upper", "window")

    def __init__(self, lower: float = 0.1, upper: float = 0.9, window: int = 200,
                 min_residuals: int = 20) -> None:
        if not 0.0 <= lower < upper <= 1.0:
            raise ConfigError(f"need 0 <= lower < upper <= 1, got {lower}, {upper}")
        if min_residuals < 1 or window < min_residuals:
            raise ConfigError(f"need 1 <= min_residuals <= window, got {min_residuals}, {window}")
        if self._ranks(min_residuals, lower, upper) is None:
            raise ConfigError(
                f"min_residuals={min_residuals} is too few for the {lower}/{upper} conformal ranks")
        self.lower = lower
        self.upper = upper
        self.window = window
        self.min_residuals = min_residuals
        self._keys: dict[Hashable, _Window] = {}
        self._all = _Window(window)

    @staticmethod
    def _ranks(n: int, lower: float, upper: float) -> tuple[int, int] | None:
        # 1-based ranks; the small epsilon keeps (n + 1) * 0.9 = 18.000000000000004 at 18.
        lo = math.floor((n + 1) * lower + 1e-9)
        hi = math.ceil((n + 1) * upper - 1e-9)
        if (lower > 0.0 and lo < 1) or hi > n:
            return None
        return max(lo, 1), hi

    def n(self, key: Hashable) -> int:
        """Residuals in ``key``'s own window."""
        w = self._keys.get(key)
        return 0 if w is None else len(w.fifo)

    def learn(self, key: Hashable, residual: float) -> None:
        """Add one residual ``actual - predicted`` (link space); non-finite ones are ignored."""
        if not math.isfinite(residual):
            return
        w = self._keys.get(key)
        if w is None:
            w = self._keys[key] = _Window(self.window)
        w.add(residual)
        self._all.add(residual)

    def reset(self, key: Hashable) -> None:
        """Forget ``key``'s residuals (after a regime change); it borrows the pooled
        window until it has ``min_residuals`` again."""
        self._keys.pop(key, None)

    def offsets(self, key: Hashable) -> tuple[float, float] | None:
        """Return ``(lo, hi)`` to add to a point prediction, or ``None`` without enough residuals."""
        w = self._keys.get(key)
        if w is None or len(w.sorted) < self.min_residuals:
            w = self._all
            if len(w.sorted) < self.min_residuals:
                return None
        ranks = self._ranks(len(w.sorted), self.lower, self.upper)
        if ranks is None:  # pragma: no cover - excluded by the constructor's check
            return None
        return w.sorted[ranks[0] - 1], w.sorted[ranks[1] - 1]
