"""Per-process settings of a pool worker, set once by the pool's initializer.

Every simulator a worker builds (:mod:`qstream.backends.aer_devices`,
:mod:`qstream.backends.sampling`) lets Aer use :func:`aer_threads` threads, so
``workers x threads`` never exceeds the CPU count (see
:func:`qstream.backends.pool.make_pool`).
"""

from __future__ import annotations

import warnings

__all__ = ["aer_threads", "configure"]

_THREADS = 1


def configure(threads: int) -> None:
    """Set this process's Aer thread count (at least 1) and silence SDK warnings
    (Aer and qiskit-ibm-runtime warn on every ``Fake*`` load)."""
    global _THREADS
    _THREADS = max(1, int(threads))
    warnings.filterwarnings("ignore")


def aer_threads() -> int:
    """Aer threads per simulator in this process (1 outside a configured worker).

    >>> aer_threads() >= 1
    True
    """
    return _THREADS
