"""A bounded distribution summary: cumulative histogram buckets plus recent quantiles.

The histogram follows OpenTelemetry's *explicit bucket histogram* data model
(OpenTelemetry metrics data model, "Histogram"): bucket ``i`` counts the values
``v`` with ``bounds[i-1] < v <= bounds[i]``, and one overflow bucket counts those
above the last bound. Counts, sum, min and max cover every value ever added.

Quantiles (p50, p95) are exact over the most recent ``window`` values: numpy's
default ``linear`` interpolation (Hyndman & Fan 1996, definition 7). A
window keeps memory bounded while the quantiles still follow drift.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from qstream.errors import ConfigError

SECONDS_BOUNDS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                                     300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)
"""Bucket bounds for durations, seconds: 0.1 s to one day, roughly 1-2.5-5 steps. Queue
waits on IBM devices run from seconds to hours (``ibm_pending_jobs_2023-11``), JCTs of
local simulations from a fraction of a second up."""

USD_BOUNDS: tuple[float, ...] = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0, 500.0)
"""Bucket bounds for money, USD: one IBM pay-as-you-go QPU second is USD 1.60."""

RATIO_BOUNDS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Bucket bounds for relative errors (dimensionless): 5% to 10x off."""


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of already sorted values, linear interpolation.

    Parameters
    ----------
    sorted_values:
        Shape (n,), ascending, n >= 1.
    q:
        Probability in [0, 1].

    Returns
    -------
    float
        ``x[k] + (x[k+1] - x[k]) * f`` with ``h = (n - 1) q``, ``k = floor(h)``,
        ``f = h - k`` (numpy's default method; Hyndman & Fan 1996, definition 7).

    Raises
    ------
    ConfigError
        If ``sorted_values`` is empty or ``q`` is outside [0, 1].

    Examples
    --------
    >>> quantile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    >>> quantile([10.0], 0.95)
    10.0
    >>> round(quantile([0.0, 10.0, 20.0, 30.0, 40.0], 0.95), 6)
    38.0
    """
    if not sorted_values:
        raise ConfigError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ConfigError(f"q must be in [0, 1], got {q}")
    h = (len(sorted_values) - 1) * q
    k = math.floor(h)
    if k + 1 >= len(sorted_values):
        return float(sorted_values[-1])
    lo, hi = sorted_values[k], sorted_values[k + 1]
    return float(lo + (hi - lo) * (h - k))


class Distribution:
    """Cumulative explicit-bucket histogram of a stream, with quantiles over a window.

    Parameters
    ----------
    bounds:
        Shape (b,), strictly increasing finite bucket upper bounds, in the unit of
        the values (e.g. seconds).
    window:
        How many most recent values the quantiles use (>= 1).

    Raises
    ------
    ConfigError
        On empty or unsorted ``bounds``, or ``window < 1``.

    Examples
    --------
    >>> d = Distribution((1.0, 10.0), window=3)
    >>> for v in (0.5, 2.0, 20.0, 5.0):
    ...     d.add(v)
    >>> d.count, d.sum, d.bucket_counts
    (4, 27.5, [1, 2, 1])
    >>> d.p50(), d.p95()   # over the last three values: 2, 20, 5
    (5.0, 18.5)
    >>> d.add(float("nan")); d.count   # non-finite values are ignored
    4
    """

    __slots__ = ("_recent", "bounds", "bucket_counts", "count", "max", "min", "sum")

    def __init__(self, bounds: Sequence[float], window: int = 10_000) -> None:
        b = tuple(float(x) for x in bounds)
        if not b or any(not math.isfinite(x) for x in b) or any(
                lo >= hi for lo, hi in pairwise(b)):
            raise ConfigError(f"bounds must be finite and strictly increasing, got {b}")
        if window < 1:
            raise ConfigError(f"window must be >= 1, got {window}")
        self.bounds = b
        self.bucket_counts = [0] * (len(b) + 1)
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self._recent: deque[float] = deque(maxlen=int(window))

    def add(self, value: float) -> None:
        """Add one value (same unit as ``bounds``); NaN and infinities are ignored."""
        value = float(value)
        if not math.isfinite(value):
            return
        self.bucket_counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self._recent.append(value)

    def mean(self) -> float | None:
        """Mean of every value added; None when empty."""
        return self.sum / self.count if self.count else None

    def q(self, q: float) -> float | None:
        """The ``q`` quantile (probability in [0, 1]) of the recent window; None when empty."""
        if not self._recent:
            return None
        return quantile(sorted(self._recent), q)

    def p50(self) -> float | None:
        """Median of the recent window; None when empty."""
        return self.q(0.5)

    def p95(self) -> float | None:
        """95th percentile of the recent window; None when empty."""
        return self.q(0.95)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: count, sum, mean, min, max, p50, p95, bounds, bucket counts.

        Examples
        --------
        >>> d = Distribution((1.0,)); d.add(3.0)
        >>> d.summary()["p50"], d.summary()["buckets"]
        (3.0, {'bounds': [1.0], 'counts': [0, 1]})
        >>> Distribution((1.0,)).summary()["min"] is None
        True
        """
        return {
            "count": self.count, "sum": self.sum, "mean": self.mean(),
            "min": self.min if self.count else None, "max": self.max if self.count else None,
            "p50": self.p50(), "p95": self.p95(),
            "buckets": {"bounds": list(self.bounds), "counts": list(self.bucket_counts)},
        }
