"""Memory of exact repeats: what the same job did the last times it ran.

Users resubmit identical jobs (the same circuits, shots and backend: parameter
sweeps, calibration jobs, retries), and the issue's analysis of real IBM job
traces found such repeats frequent. For a repeat, the best forecast is what
that job did before, so :class:`RepeatMemory` keeps, per exact job key, an
exponentially weighted mean of the target in link space (``log1p`` seconds).
"""

from __future__ import annotations

import math
from collections.abc import Hashable

from qstream.errors import ConfigError


class RepeatMemory:
    """Per-key EWMA of a link-space target, with a bounded number of keys.

    Parameters
    ----------
    rate:
        Weight of the newest value in the EWMA; the first value is taken as is.
        0.3 keeps the mean of a stationary key within about a third of the
        noise's standard deviation (``sqrt(rate / (2 - rate))``) while
        following a drift within a few repeats.
    max_keys:
        Keys kept; beyond it the least recently *learned* key is forgotten.

    Raises
    ------
    ConfigError
        If ``rate`` is outside (0, 1] or ``max_keys < 1``.

    Examples
    --------
    >>> mem = RepeatMemory(rate=0.5)
    >>> mem.get(("ibm_kyiv", 4000)) is None
    True
    >>> mem.learn(("ibm_kyiv", 4000), 2.0)
    >>> mem.learn(("ibm_kyiv", 4000), 4.0)
    >>> mem.get(("ibm_kyiv", 4000))
    (3.0, 2)
    >>> len(mem)
    1
    """

    __slots__ = ("_mem", "max_keys", "rate")

    def __init__(self, rate: float = 0.3, max_keys: int = 100_000) -> None:
        if not 0.0 < rate <= 1.0:
            raise ConfigError(f"rate must be in (0, 1], got {rate}")
        if max_keys < 1:
            raise ConfigError(f"max_keys must be >= 1, got {max_keys}")
        self.rate = rate
        self.max_keys = max_keys
        # key -> [ewma, count]; dict order = learn order, oldest first (the LRU victim).
        self._mem: dict[Hashable, list[float]] = {}

    def __len__(self) -> int:
        return len(self._mem)

    def get(self, key: Hashable) -> tuple[float, int] | None:
        """Return ``(ewma, times learned)`` for ``key``, or ``None`` if unseen."""
        entry = self._mem.get(key)
        return None if entry is None else (entry[0], int(entry[1]))

    def learn(self, key: Hashable, value: float) -> None:
        """Fold ``value`` (link space) into ``key``'s mean; non-finite values are ignored."""
        if not math.isfinite(value):
            return
        entry = self._mem.pop(key, None)
        if entry is None:
            entry = [value, 1.0]
            if len(self._mem) >= self.max_keys:
                del self._mem[next(iter(self._mem))]
        else:
            entry[0] += self.rate * (value - entry[0])
            entry[1] += 1.0
        self._mem[key] = entry
