"""One backend's pending sub-tasks in release-key order, with exact running sums of their time.

A placement decision needs, per candidate backend, the predicted time of the
sub-tasks pending there ahead of the new one (:meth:`Scorer.ahead_s`); a release
needs them in release-key order. Summing and sorting the whole queue per call made
both O(pending); :class:`PendingQueue` keeps the entries in sorted blocks (the
layout of ``sortedcontainers.SortedList``: Jenks, "Python Sorted Containers",
JOSS 2019) with each block's sum, so :meth:`PendingQueue.ahead_s` costs
O(pending / block + block) and is O(1) for a key behind every pending one.

The sums are exact: every ``dur_s`` is held as an integer multiple of 2**-1074
(every finite double is one), so additions and removals never drift, and the
value returned is the correctly rounded sum (Python's int true division rounds
correctly), whatever the order the entries arrived or left in. An empty queue
sums to exactly 0.0.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qstream.core.scheduler.ledger import Entry, Key

_SHIFT = 1074
_DEN = 1 << _SHIFT
_LOAD = 128  # a block splits at twice this many entries


def exact(x: float) -> int:
    """``x`` as an integer count of 2**-1074 (exact for every finite double).

    >>> exact(0.5) == 1 << 1073, exact(0.0)
    (True, 0)
    """
    n, d = x.as_integer_ratio()
    return n * (_DEN // d)


def to_float(total: int) -> float:
    """The double nearest to ``total`` * 2**-1074 (correctly rounded).

    >>> to_float(exact(0.1) + exact(0.2)) == math.fsum([0.1, 0.2])
    True
    """
    return total / _DEN


class PendingQueue:
    """The entries pending on one backend, in key order, with exact sums of ``dur_s``.

    Equal keys (the shot-split parts of one sub-task) keep their arrival order,
    as a stable sort of the backend's pending entries would. Entries whose ``dur_s``
    is not finite are counted apart; a prefix holding one sums as Python's
    ``sum`` would (inf, or nan).

    Examples
    --------
    >>> from types import SimpleNamespace as E
    >>> q = PendingQueue()
    >>> for i, d in enumerate([0.1, 0.2, 0.3]):
    ...     q.add(E(key=(0.0, math.inf, i), dur_s=d))
    >>> q.ahead_s((0.0, math.inf, 2)), q.total_s()
    (0.30000000000000004, 0.6)
    >>> q.remove(next(iter(q))); q.ahead_s((0.0, math.inf, 9)), len(q)
    (0.5, 2)
    """

    __slots__ = ("_durs", "_ents", "_keys", "_len", "_maxes", "_nonfinite", "_sums", "_total")

    def __init__(self) -> None:
        self._keys: list[list[Key]] = []
        self._ents: list[list[Entry]] = []
        self._durs: list[list[int]] = []
        self._sums: list[int] = []
        self._maxes: list[Key] = []
        self._total = 0
        self._len = 0
        self._nonfinite: dict[Key, float] = {}

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Entry]:
        """The entries in key order (do not add or remove while iterating)."""
        for block in self._ents:
            yield from block

    def _exact(self, key: Key, dur_s: float) -> int:
        if math.isfinite(dur_s):
            self._nonfinite.pop(key, None)
            return exact(dur_s)
        self._nonfinite[key] = dur_s
        return 0

    def add(self, e: Entry) -> None:
        """Hold ``e`` (its ``key`` and ``dur_s`` as they are now)."""
        key = e.key
        x = self._exact(key, e.dur_s)
        self._len += 1
        self._total += x
        if not self._maxes:
            self._keys.append([key])
            self._ents.append([e])
            self._durs.append([x])
            self._sums.append(x)
            self._maxes.append(key)
            return
        i = bisect_right(self._maxes, key)
        if i == len(self._maxes):
            i -= 1
            self._keys[i].append(key)
            self._ents[i].append(e)
            self._durs[i].append(x)
            self._maxes[i] = key
        else:
            j = bisect_right(self._keys[i], key)
            self._keys[i].insert(j, key)
            self._ents[i].insert(j, e)
            self._durs[i].insert(j, x)
        self._sums[i] += x
        if len(self._keys[i]) > 2 * _LOAD:
            self._split(i)

    def _split(self, i: int) -> None:
        keys, ents, durs = self._keys[i], self._ents[i], self._durs[i]
        self._keys[i:i + 1] = [keys[:_LOAD], keys[_LOAD:]]
        self._ents[i:i + 1] = [ents[:_LOAD], ents[_LOAD:]]
        self._durs[i:i + 1] = [durs[:_LOAD], durs[_LOAD:]]
        first = sum(durs[:_LOAD])
        self._sums[i:i + 1] = [first, self._sums[i] - first]
        self._maxes[i:i + 1] = [keys[_LOAD - 1], keys[-1]]

    def _locate(self, e: Entry) -> tuple[int, int]:
        key = e.key
        i = bisect_left(self._maxes, key)
        if i < len(self._maxes):
            j = bisect_left(self._keys[i], key)
            while i < len(self._keys):
                keys, ents = self._keys[i], self._ents[i]
                while j < len(keys) and keys[j] == key:
                    if ents[j] is e:
                        return i, j
                    j += 1
                if j < len(keys):
                    break
                i, j = i + 1, 0
        raise KeyError(key)

    def remove(self, e: Entry) -> None:
        """Stop holding ``e``.

        Raises
        ------
        KeyError
            If ``e`` is not held.
        """
        i, j = self._locate(e)
        x = self._durs[i][j]
        self._nonfinite.pop(e.key, None)
        del self._keys[i][j], self._ents[i][j], self._durs[i][j]
        self._sums[i] -= x
        self._total -= x
        self._len -= 1
        if not self._keys[i]:
            del self._keys[i], self._ents[i], self._durs[i], self._sums[i], self._maxes[i]
        else:
            self._maxes[i] = self._keys[i][-1]

    def set_dur(self, e: Entry, dur_s: float) -> None:
        """Set ``e.dur_s`` (``e`` is held) and its share of the sums."""
        i, j = self._locate(e)
        x = self._exact(e.key, dur_s)
        delta = x - self._durs[i][j]
        self._durs[i][j] = x
        self._sums[i] += delta
        self._total += delta
        e.dur_s = dur_s

    def _with_nonfinite(self, total: int, key: Key | None) -> float:
        value = to_float(total)
        for k, d in self._nonfinite.items():
            if key is None or k < key:
                value += d
        return value

    def ahead_s(self, key: Key) -> float:
        """Summed ``dur_s`` (s) of the entries with a key below ``key``."""
        if not self._len:
            return 0.0
        if key > self._maxes[-1]:
            total = self._total
        else:
            i = bisect_left(self._maxes, key)
            j = bisect_left(self._keys[i], key)
            total = sum(self._sums[:i]) + sum(self._durs[i][:j])
        if self._nonfinite:
            return self._with_nonfinite(total, key)
        return to_float(total)

    def total_s(self) -> float:
        """Summed ``dur_s`` (s) of every entry."""
        if self._nonfinite:
            return self._with_nonfinite(self._total, None)
        return to_float(self._total)
