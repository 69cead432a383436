"""The emulated clock: emulated seconds run ``time_scale`` times faster than wall seconds.

Emulated devices report queue waits and run times of minutes to hours (real IBM
queues). A demo compresses them with ``time_scale``: at ``time_scale=60`` one wall
second is one emulated minute. Every ``queue_s`` and ``run_s`` a backend reports
is in emulated seconds on this clock.

The clock reads :func:`time.time`, so processes that share ``origin_s`` (e.g. 0,
the Unix epoch, as the scheduler's ``Runtime.now_s`` does) agree on the emulated
time.
"""

from __future__ import annotations

import asyncio
import math
import time

from qstream.errors import ConfigError

__all__ = ["EmulatedClock"]


class EmulatedClock:
    """Emulated time, ``time_scale`` emulated seconds per wall second.

    Parameters
    ----------
    time_scale:
        Emulated seconds per wall second, finite and > 0 (1.0 = real time).
    origin_s:
        Wall-clock instant (Unix seconds) that is emulated time 0; None means now.

    Raises
    ------
    ConfigError
        If ``time_scale`` is not finite and > 0, or ``origin_s`` is not finite.

    Examples
    --------
    >>> clock = EmulatedClock(time_scale=1000.0)
    >>> 0.0 <= clock.now_s() < 1000.0
    True
    >>> clock.to_wall_s(60.0)
    0.06
    >>> EmulatedClock(time_scale=0)
    Traceback (most recent call last):
    ...
    qstream.errors.ConfigError: time_scale must be finite and > 0, got 0
    """

    __slots__ = ("origin_s", "time_scale")

    def __init__(self, time_scale: float = 1.0, origin_s: float | None = None) -> None:
        if not (isinstance(time_scale, int | float) and math.isfinite(time_scale)
                and time_scale > 0):
            raise ConfigError(f"time_scale must be finite and > 0, got {time_scale}")
        if origin_s is not None and not math.isfinite(origin_s):
            raise ConfigError(f"origin_s must be finite, got {origin_s}")
        self.time_scale = float(time_scale)
        self.origin_s = time.time() if origin_s is None else float(origin_s)

    def now_s(self) -> float:
        """Emulated seconds since ``origin_s``."""
        return (time.time() - self.origin_s) * self.time_scale

    def to_wall_s(self, emulated_s: float) -> float:
        """Wall seconds that ``emulated_s`` emulated seconds take (negative -> 0)."""
        return max(emulated_s, 0.0) / self.time_scale

    def to_emulated_s(self, wall_s: float) -> float:
        """Emulated seconds that ``wall_s`` wall seconds correspond to (negative -> 0)."""
        return max(wall_s, 0.0) * self.time_scale

    async def sleep(self, emulated_s: float) -> None:
        """Sleep ``emulated_s`` emulated seconds (``emulated_s / time_scale`` wall seconds).

        Non-positive durations still yield to the event loop once.
        """
        await asyncio.sleep(self.to_wall_s(emulated_s))

    def __repr__(self) -> str:
        return f"EmulatedClock(time_scale={self.time_scale}, origin_s={self.origin_s})"
