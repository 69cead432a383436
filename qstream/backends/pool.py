"""The shared process pool: its lifecycle, its warm-up, :func:`submit`, and stopping a run.

Simulation and transpilation never run in the event loop: a backend builds a
frozen payload (:mod:`qstream.backends.payloads`), and :func:`submit` runs a
module-level runner on it in a :class:`StoppablePool` (``spawn`` start method,
because the parent runs threads). The runners live one per module
(:mod:`~qstream.backends.aer_runner`, :mod:`~qstream.backends.statevector_runner`,
:mod:`~qstream.backends.braket_runner`) with their per-process caches; a runner
returns its outcome or a :class:`~qstream.backends.payloads.RunFailure`, which
:func:`submit` raises as a :class:`~qstream.errors.BackendError`.

Stopping a running simulation: a :class:`concurrent.futures.ProcessPoolExecutor`
cannot stop one task (killing its worker breaks the whole pool), so the pool is a
:class:`pebble.ProcessPool`. Cancelling the coroutine that awaits :func:`submit`
cancels the pool future, and pebble terminates the worker process running it
and starts a replacement (measured: the run's CPU is free within about a second,
see docs/cancel.md). The replacement runs the pool's initializer, which builds
the caches :func:`warm` registered, so a restarted worker is warm again. A
worker process exits on its own when its parent dies (even by SIGKILL), and
:meth:`StoppablePool.shutdown` terminates running children: a stopped worker
leaves no simulation process behind.

The pool knows no backend: :func:`warm` asks each backend for its
:class:`~qstream.backends.payloads.WarmUp` declarations and runs their builders in
every worker.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

import pebble

from qstream.backends import worker_env
from qstream.backends.payloads import RunFailure, WarmUp
from qstream.errors import BackendError, ConfigError

__all__ = ["StoppablePool", "WarmsUp", "default_pool", "make_pool", "submit", "warm",
           "warm_worker"]

log = logging.getLogger("qstream.backends.pool")

_SPAWN = multiprocessing.get_context("spawn")

PARENT_CHECK_S = 0.5
"""How often a pool worker checks that its parent is alive (wall seconds)."""

PayloadT = TypeVar("PayloadT")
OutcomeT = TypeVar("OutcomeT")


class WarmsUp(Protocol):
    """Anything that declares the worker caches it needs (every backend does)."""

    def warm_ups(self) -> tuple[WarmUp, ...]:
        """The caches to build in every worker before serving traffic."""
        ...


class StoppablePool(Executor):
    """A process pool whose running tasks can be stopped: ``future.cancel()`` kills the run.

    A :class:`concurrent.futures.Executor` (``submit``, ``shutdown``, usable with
    ``loop.run_in_executor``) over :class:`pebble.ProcessPool`. Cancelling a future
    of a task that is running terminates its worker process (SIGTERM, which a
    worker does not handle, so it dies at once even inside a C++ simulator loop)
    and pebble starts a new one; cancelling a queued task just drops it.

    Parameters
    ----------
    workers:
        Worker processes (>= 1).
    threads:
        Aer threads per worker (see :mod:`qstream.backends.worker_env`).
    """

    def __init__(self, workers: int, threads: int) -> None:
        self._max_workers = int(workers)
        # Mutable on purpose: a worker started later (a replacement) receives the
        # warm-ups registered by then, because spawn pickles its arguments at start.
        self._warm_ups: list[WarmUp] = []
        self._pool = pebble.ProcessPool(max_workers=self._max_workers, context=_SPAWN,
                                        initializer=_init_worker,
                                        initargs=(threads, self._warm_ups))
        self._closed = False
        self.stopped = 0
        """Running tasks stopped (their worker process terminated) so far."""

    @property
    def workers(self) -> int:
        """Number of worker processes."""
        return self._max_workers

    def set_warm_ups(self, ups: Iterable[WarmUp]) -> None:
        """Caches every worker started from now on builds before it takes a task."""
        keys = {up.key for up in self._warm_ups}
        for up in ups:
            if up.key not in keys:
                self._warm_ups.append(up)
                keys.add(up.key)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule ``fn(*args, **kwargs)``; raises RuntimeError once shut down."""
        if self._closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future = self._pool.schedule(fn, args=args, kwargs=kwargs)
        future.add_done_callback(self._count_stop)
        return future

    def _count_stop(self, future: Future[Any]) -> None:
        if future.cancelled():
            self.stopped += 1

    def worker_pids(self) -> list[int]:
        """PIDs of the live worker processes (for tests and diagnostics)."""
        manager = getattr(self._pool, "_pool_manager", None)
        workers = getattr(getattr(manager, "worker_manager", None), "workers", {})
        return [pid for pid, proc in dict(workers).items() if proc.is_alive()]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the pool: running tasks are terminated with their worker processes.

        ``cancel_futures`` is accepted for the Executor interface; queued and running
        tasks are always cancelled (a stopping worker must leave no simulation behind).
        """
        if self._closed:
            return
        self._closed = True
        self._pool.stop()
        if wait:
            self._pool.join(timeout=30.0)


def make_pool(workers: int | None = None) -> StoppablePool:
    """Create a process pool for simulation and transpilation.

    Parameters
    ----------
    workers:
        Worker processes; None means ``os.cpu_count()``. Each worker lets Aer use
        ``cpu_count // workers`` threads, so the pool does not oversubscribe the CPU.

    Returns
    -------
    StoppablePool
        Uses the ``spawn`` start method (the parent runs threads: Faust, aiokafka).
        Workers start on first use; :func:`warm` starts them and builds their
        caches ahead of time. The caller owns the pool (``shutdown()`` it).

    Raises
    ------
    ConfigError
        If ``workers < 1``.
    """
    cpus = os.cpu_count() or 1
    n = cpus if workers is None else int(workers)
    if n < 1:
        raise ConfigError(f"pool workers must be >= 1, got {workers}")
    return StoppablePool(n, max(1, cpus // n))


_DEFAULT_POOL: StoppablePool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> StoppablePool:
    """The process-wide pool that backends built without one share (created on first use,
    shut down at interpreter exit)."""
    global _DEFAULT_POOL
    with _DEFAULT_LOCK:
        if _DEFAULT_POOL is None:
            _DEFAULT_POOL = make_pool(None)
            atexit.register(_DEFAULT_POOL.shutdown, wait=False, cancel_futures=True)
        return _DEFAULT_POOL


def warm(pool: Executor, backends: Iterable[WarmsUp], *,
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
    if isinstance(pool, StoppablePool):
        pool.set_warm_ups(ups.values())  # replacements of stopped workers build them too
    return _warm(pool, list(ups.values()), timeout_s)


def _warm(pool: Executor, ups: Sequence[WarmUp], timeout_s: float) -> dict[str, float]:
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
        or shut down, or the worker process died (e.g. out of memory).

    Cancelling the awaiting coroutine cancels the pool future; a
    :class:`StoppablePool` then terminates the worker process running it.
    """
    executor = pool if pool is not None else default_pool()
    loop = asyncio.get_running_loop()
    try:
        out = await loop.run_in_executor(executor, fn, payload)
    except BrokenProcessPool as exc:
        raise BackendError(f"{backend}: the worker pool broke ({exc}); restart the executor") \
            from exc
    except pebble.ProcessExpired as exc:
        raise BackendError(f"{backend}: the simulation process died ({exc})") from exc
    except RuntimeError as exc:  # "cannot schedule new futures after shutdown"
        raise BackendError(f"{backend}: {exc}") from exc
    if isinstance(out, RunFailure):
        raise BackendError(f"{backend}: {out.error}")
    return out


# -- worker side -----------------------------------------------------------------------


def _init_worker(threads: int, ups: Sequence[WarmUp] = ()) -> None:
    """Initializer of every pool worker, first ones and replacements alike.

    SIGTERM gets its default action back (pebble installs a handler that only
    runs between bytecodes, i.e. after a long C++ simulation returns): stopping a
    run kills it at once. A watchdog thread ends the process when its parent
    dies, so even a SIGKILLed worker leaves no simulation running. Then the
    registered warm-ups are built (a failing one is logged: the runner builds
    its cache on first use anyway).
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    worker_env.configure(threads)
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="qstream-parent-watch").start()
    for up in ups:
        try:
            up.build(up.key)
        except Exception as exc:  # never fail the initializer: pebble would respawn in a loop
            log.warning("warm-up %s failed in pool worker %d: %s", up.key, os.getpid(), exc)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def warm_worker(ups: Sequence[WarmUp], hold_s: float = 0.0) -> tuple[int, dict[str, float]]:
    """Worker function: build the caches ``ups`` declare; return (pid, seconds per key).

    ``hold_s`` keeps the worker busy a little, so the next warm task goes to another
    worker. Cached devices report the time of their first build.
    """
    built = {up.key: up.build(up.key) for up in ups}
    time.sleep(hold_s)
    return os.getpid(), built
