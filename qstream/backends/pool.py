"""The shared process pool: its lifecycle, its warm-up, and :func:`submit`.

Simulation and transpilation never run in the event loop: a backend builds a
frozen payload (:mod:`qstream.backends.payloads`), and :func:`submit` runs a
module-level runner on it in a :class:`~concurrent.futures.ProcessPoolExecutor`
(``spawn`` start method, because the parent runs threads). The runners live one
per module (:mod:`~qstream.backends.aer_runner`,
:mod:`~qstream.backends.statevector_runner`, :mod:`~qstream.backends.braket_runner`)
with their per-process caches; a runner returns its outcome or a
:class:`~qstream.backends.payloads.RunFailure`, which :func:`submit` raises as a
:class:`~qstream.errors.BackendError`.

The pool knows no backend: :func:`warm` asks each backend for its
:class:`~qstream.backends.payloads.WarmUp` declarations and runs their builders in
every worker.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol, TypeVar

from qstream.backends import worker_env
from qstream.backends.payloads import RunFailure, WarmUp
from qstream.errors import BackendError, ConfigError

__all__ = ["WarmsUp", "default_pool", "make_pool", "submit", "warm", "warm_worker"]

_SPAWN = multiprocessing.get_context("spawn")

PayloadT = TypeVar("PayloadT")
OutcomeT = TypeVar("OutcomeT")


class WarmsUp(Protocol):
    """Anything that declares the worker caches it needs (every backend does)."""

    def warm_ups(self) -> tuple[WarmUp, ...]:
        """The caches to build in every worker before serving traffic."""
        ...


def make_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """Create a process pool for simulation and transpilation.

    Parameters
    ----------
    workers:
        Worker processes; None means ``os.cpu_count()``. Each worker lets Aer use
        ``cpu_count // workers`` threads, so the pool does not oversubscribe the CPU.

    Returns
    -------
    ProcessPoolExecutor
        Uses the ``spawn`` start method (the parent runs threads: Faust, aiokafka).
        Workers start lazily on first use; :func:`warm` starts them and builds
        their caches ahead of time. The caller owns the pool (``shutdown()`` it).

    Raises
    ------
    ConfigError
        If ``workers < 1``.
    """
    cpus = os.cpu_count() or 1
    n = cpus if workers is None else int(workers)
    if n < 1:
        raise ConfigError(f"pool workers must be >= 1, got {workers}")
    return ProcessPoolExecutor(max_workers=n, mp_context=_SPAWN, initializer=_init_worker,
                               initargs=(max(1, cpus // n),))


_DEFAULT_POOL: ProcessPoolExecutor | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> ProcessPoolExecutor:
    """The process-wide pool that backends built without one share (created on first use,
    shut down at interpreter exit)."""
    global _DEFAULT_POOL
    with _DEFAULT_LOCK:
        if _DEFAULT_POOL is None:
            _DEFAULT_POOL = make_pool(None)
            atexit.register(_DEFAULT_POOL.shutdown, wait=False, cancel_futures=True)
        return _DEFAULT_POOL


def warm(pool: ProcessPoolExecutor, backends: Iterable[WarmsUp], *,
         timeout_s: float = 300.0) -> dict[str, float]:
    """Start every worker of ``pool`` and build the caches ``backends`` declare. Blocking.

    Call it at start-up, before the event loop serves traffic (or through
    ``loop.run_in_executor(None, warm, pool, backends)``);
    :func:`qstream.backends.fleet.warm_fleet` does it for fleet names.

    Parameters
    ----------
    pool:
        A pool from :func:`make_pool`.
    backends:
        Backends (or anything with ``warm_ups()``); their warm-ups are built once
        per key, in the order first declared.
    timeout_s:
        Give up after this many seconds.

    Returns
    -------
    dict[str, float]
        Seconds it took one worker to build each cache (``"FakePerth"``,
        ``"braket"``, ``"statevector"``), the slowest worker's figure.

    Raises
    ------
    BackendError
        If the workers fail or do not finish within ``timeout_s``.
    """
    ups: dict[str, WarmUp] = {}
    for backend in backends:
        for up in backend.warm_ups():
            ups.setdefault(up.key, up)
    return _warm(pool, list(ups.values()), timeout_s)


def _warm(pool: ProcessPoolExecutor, ups: Sequence[WarmUp], timeout_s: float) -> dict[str, float]:
    workers = int(getattr(pool, "_max_workers", 1))
    seen: set[int] = set()
    timings: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    try:
        for _ in range(3):  # a worker that finished early may take a second task
            futures = [pool.submit(warm_worker, ups, 0.5) for _ in range(workers)]
            for fut in futures:
                pid, built = fut.result(timeout=max(deadline - time.monotonic(), 0.001))
                seen.add(pid)
                for key, seconds in built.items():
                    timings[key] = max(timings.get(key, 0.0), seconds)
            if len(seen) >= workers:
                break
    except FutureTimeout as exc:
        raise BackendError(f"warming the pool took longer than {timeout_s} s") from exc
    except Exception as exc:
        raise BackendError(f"warming the pool failed: {type(exc).__name__}: {exc}") from exc
    return timings


async def submit(pool: Executor | None, fn: Callable[[PayloadT], OutcomeT | RunFailure],
                 payload: PayloadT, backend: str) -> OutcomeT:
    """Run runner ``fn(payload)`` in ``pool`` without blocking the event loop.

    Parameters
    ----------
    pool:
        The executor; None uses :func:`default_pool`.
    fn, payload:
        A module-level runner function and its payload (both pickle).
    backend:
        Backend name for error messages.

    Returns
    -------
    OutcomeT
        The runner's outcome.

    Raises
    ------
    BackendError
        ``f"{backend}: {failure.error}"`` if the runner returns a
        :class:`~qstream.backends.payloads.RunFailure`; also if the pool is broken
        or shut down.
    """
    executor = pool if pool is not None else default_pool()
    loop = asyncio.get_running_loop()
    try:
        out = await loop.run_in_executor(executor, fn, payload)
    except BrokenProcessPool as exc:
        raise BackendError(f"{backend}: the worker pool broke ({exc}); restart the executor") \
            from exc
    except RuntimeError as exc:  # "cannot schedule new futures after shutdown"
        raise BackendError(f"{backend}: {exc}") from exc
    if isinstance(out, RunFailure):
        raise BackendError(f"{backend}: {out.error}")
    return out


# -- worker side -----------------------------------------------------------------------


def _init_worker(threads: int) -> None:
    worker_env.configure(threads)


def warm_worker(ups: Sequence[WarmUp], hold_s: float = 0.0) -> tuple[int, dict[str, float]]:
    """Worker function: build the caches ``ups`` declare; return (pid, seconds per key).

    ``hold_s`` keeps the worker busy a little, so the next warm task goes to another
    worker. Cached devices report the time of their first build.
    """
    built = {up.key: up.build(up.key) for up in ups}
    time.sleep(hold_s)
    return os.getpid(), built
