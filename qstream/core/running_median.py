"""Exact running median of a stream (two heaps).

The simplest honest forecast of a job's queue wait or run time is the median
of what the same backend showed so far: robust to the heavy tails of both, and
the prior that :class:`~qstream.core.trace_model.OnlineTraceModel` corrects.
"""

from __future__ import annotations

import heapq
import math


class RunningMedian:
    """Median of every value added so far, exact, ``O(log n)`` per :meth:`add`.

    The lower half is a max-heap (stored negated), the upper half a min-heap;
    the halves differ in size by at most one (Knuth, TAOCP vol. 3, §5.2.3).
    Memory grows with the number of values (8 bytes each plus list overhead).

    Examples
    --------
    >>> m = RunningMedian()
    >>> m.median() is None
    True
    >>> for v in (5.0, 1.0, 9.0, 3.0):
    ...     m.add(v)
    >>> m.median(), m.n
    (4.0, 4)
    >>> m.add(float("nan")); m.n   # non-finite values are ignored
    4
    """

    __slots__ = ("_hi", "_lo")

    def __init__(self) -> None:
        self._lo: list[float] = []  # negated: a max-heap of the lower half
        self._hi: list[float] = []  # a min-heap of the upper half

    @property
    def n(self) -> int:
        """Values added."""
        return len(self._lo) + len(self._hi)

    def add(self, value: float) -> None:
        """Add one value; NaN and infinities are ignored."""
        if not math.isfinite(value):
            return
        if self._lo and value > -self._lo[0]:
            heapq.heappush(self._hi, value)
            if len(self._hi) > len(self._lo):
                heapq.heappush(self._lo, -heapq.heappop(self._hi))
        else:
            heapq.heappush(self._lo, -value)
            if len(self._lo) > len(self._hi) + 1:
                heapq.heappush(self._hi, -heapq.heappop(self._lo))

    def median(self) -> float | None:
        """The median (mean of the middle two for an even count); ``None`` when empty."""
        if not self._lo:
            return None
        if len(self._lo) > len(self._hi):
            return -self._lo[0]
        return (-self._lo[0] + self._hi[0]) / 2.0
