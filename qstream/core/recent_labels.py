"""What the latest labels and the still-waiting jobs say about a backend's next label.

Queue wait is autocorrelated and heavy-tailed: the best single forecast of the
next job's wait is often the last wait seen on the same backend (a random
walk). :class:`RecentLabels` keeps, per key and in the model's link space
(``log1p`` seconds), the forecasters of that family: the last label (in
arrival order), an EWMA of the labels, the label of the latest-*submitted* job
known (the freshest state of the queue), and the median of the last three.

:class:`WaitingJobs` adds what is known before any label: a job predicted and
not yet labelled has waited at least ``now - its submission``. For queue wait
that is a right-censored observation of the queue (Kaplan and Meier,
"Nonparametric estimation from incomplete observations", JASA 53, 1958, treat
such rows as lower bounds); here it is the floor ``max`` over the waiting jobs,
which reacts to a queue that jumps before the first long wait is ever observed.

Both are O(1) per event, except :class:`WaitingJobs`' heap (O(log n)).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable

#: Forecasters of :meth:`RecentLabels.forecasts`, in order.
RECENT_FORECASTERS: tuple[str, ...] = ("last", "ewma", "freshest", "median3")


class RecentLabels:
    """Per-key recent-label forecasters in link space.

    Parameters
    ----------
    rate:
        EWMA rate in (0, 1] (1: the EWMA is the last label).

    Examples
    --------
    >>> r = RecentLabels(rate=0.5)
    >>> r.forecasts("b") is None
    True
    >>> for z, submitted in ((1.0, 10.0), (3.0, 30.0), (2.0, 20.0)):
    ...     r.learn("b", z, submitted)
    >>> r.forecasts("b")   # last, EWMA, freshest (submitted at 30), median of 1, 3, 2
    (2.0, 2.0, 3.0, 2.0)
    """

    __slots__ = ("_keys", "rate")

    def __init__(self, rate: float = 0.3) -> None:
        self.rate = rate
        # key -> [last, ewma, freshest, freshest's submission, last three...]
        self._keys: dict[Hashable, list[float]] = {}

    def forecasts(self, key: Hashable) -> tuple[float, float, float, float] | None:
        """``(last, ewma, freshest, median3)`` of ``key``; ``None`` before its first label."""
        s = self._keys.get(key)
        if s is None:
            return None
        last3 = sorted(s[4:])
        return s[0], s[1], s[2], last3[len(last3) // 2]

    def learn(self, key: Hashable, z: float, submitted_at_s: float) -> None:
        """Learn one label ``z`` (link space) of a job submitted at ``submitted_at_s``."""
        s = self._keys.get(key)
        if s is None:
            self._keys[key] = [z, z, z, submitted_at_s, z]
            return
        s[0] = z
        s[1] += self.rate * (z - s[1])
        if submitted_at_s >= s[3]:
            s[2], s[3] = z, submitted_at_s
        s.append(z)
        if len(s) > 7:
            del s[4]


class WaitingJobs:
    """Per key, the jobs predicted and not yet labelled, oldest first.

    Examples
    --------
    >>> w = WaitingJobs()
    >>> w.enter("b", (100.0, 2)), w.enter("b", (160.0, 3))   # seconds waited by the oldest
    (0.0, 60.0)
    >>> w.enter("b", (100.0, 2))        # the same job again: the floor it had
    0.0
    >>> w.leave("b", (100.0, 2))
    0.0
    >>> w.enter("b", (200.0, 4))        # job 3 still waits, since 160 s
    40.0
    """

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        # key -> (heap of (submitted_at_s, line), {waiting job: its floor at entry, seconds})
        self._keys: dict[Hashable, tuple[list[tuple[float, int]], dict[tuple[float, int], float]]] = {}

    def enter(self, key: Hashable, job: tuple[float, int]) -> float:
        """Record ``job`` = ``(submitted_at_s, line)`` as waiting; return its floor: how
        long the oldest job still waiting on ``key`` has waited at its submission (s)."""
        entry = self._keys.get(key)
        if entry is None:
            entry = self._keys[key] = ([], {})
        heap, live = entry
        if job in live:
            return live[job]
        while heap and heap[0] not in live:
            heapq.heappop(heap)
        floor_s = max(job[0] - heap[0][0], 0.0) if heap else 0.0
        live[job] = floor_s
        heapq.heappush(heap, job)
        return floor_s

    def leave(self, key: Hashable, job: tuple[float, int]) -> float | None:
        """Remove ``job`` (its label arrived); return the floor it had, ``None`` if unknown."""
        entry = self._keys.get(key)
        return None if entry is None else entry[1].pop(job, None)
