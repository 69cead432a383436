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


def mark_warm(key: str) -> float:
    """A warm-up builder: append this process's pid to the file named by ``$QSTREAM_TEST_WARM``."""
    with open(os.environ["QSTREAM_TEST_WARM"], "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    return 0.0
