"""Spend over a sliding time window, in fixed buckets (a tenant's window budget).

The window of ``window_s`` seconds is kept as :data:`BUCKETS` buckets of
``window_s / BUCKETS`` seconds each; the spend "in the window" at ``now_s`` is the
sum of the buckets that start after ``now_s - window_s``. It is thus a sliding
window with a resolution of one bucket (it may count up to one bucket's worth of
spend that is just older than the window), in bounded memory whatever the
number of executions: the bucketed sliding-window counter of rate limiters
(e.g. Cloudflare's "How we built rate limiting capable of scaling to millions of
domains", 2017, which interpolates two buckets; 60 buckets make that error
1/60 of the window at most, without interpolating).
"""

from __future__ import annotations

import math
from typing import Any

from qstream.errors import ConfigError

BUCKETS = 60
"""Buckets per window."""


class SpendWindow:
    """Spend (USD) over the last ``window_s`` seconds.

    Parameters
    ----------
    window_s:
        Window length, seconds (> 0).

    Raises
    ------
    ConfigError
        On a window <= 0.

    Examples
    --------
    >>> w = SpendWindow(60.0)          # 1-second buckets
    >>> w.add(0.5, at_s=100.0); w.add(0.25, at_s=130.0)
    >>> w.total(now_s=131.0)
    0.75
    >>> w.total(now_s=170.5)           # the first spend left the window
    0.25
    >>> SpendWindow.from_dict(w.to_dict()).total(now_s=170.5)
    0.25
    """

    def __init__(self, window_s: float) -> None:
        if not window_s > 0 or not math.isfinite(window_s):
            raise ConfigError(f"window_s must be a finite number > 0, got {window_s}")
        self.window_s = float(window_s)
        self.bucket_s = self.window_s / BUCKETS
        self.buckets: dict[int, float] = {}  # bucket index (start = index * bucket_s) -> USD

    def add(self, usd: float, at_s: float) -> None:
        """Record ``usd`` spent at ``at_s`` (epoch seconds); old buckets are dropped."""
        if usd <= 0.0:
            return
        index = math.floor(at_s / self.bucket_s)
        self.buckets[index] = self.buckets.get(index, 0.0) + usd
        self._prune(at_s)

    def total(self, now_s: float) -> float:
        """Spend (USD) in the window ending at ``now_s``."""
        first = self._first(now_s)
        return math.fsum(v for i, v in self.buckets.items() if i >= first)

    def _first(self, now_s: float) -> int:
        return math.floor((now_s - self.window_s) / self.bucket_s) + 1

    def _prune(self, now_s: float) -> None:
        first = self._first(now_s)
        for i in [i for i in self.buckets if i < first]:
            del self.buckets[i]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :meth:`from_dict` inverts it."""
        return {"window_s": self.window_s,
                "buckets": [[i, v] for i, v in sorted(self.buckets.items())]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpendWindow:
        w = cls(float(data["window_s"]))
        w.buckets = {int(i): float(v) for i, v in data.get("buckets") or ()}
        return w
