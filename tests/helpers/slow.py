"""Deliberately slow pool tasks for the stop tests (module-level, so they pickle)."""

from __future__ import annotations

import os
import time


def burn(seconds: float) -> int:
    """Keep one CPU busy for ``seconds`` wall seconds; return this process's pid."""
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1
    return os.getpid()


def pid() -> int:
    """This process's pid."""
    return os.getpid()
