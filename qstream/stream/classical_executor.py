"""The classical executor of a pipeline worker: CPU slots and memory for classical solves.

Classical solves (``exact``, simulated annealing, local search, Goemans–Williamson; see
:mod:`qstream.solvers`) run here, in a process pool of ``cpu_slots`` workers, never in
the event loop. The executor declares its slots and the memory one solve may use
(:class:`~qstream.core.selection.Executor`), so selection never places a solve whose
predicted peak memory exceeds it, and it reports its utilisation, queue and reserved
memory as ``classical_status`` telemetry. Its queue wait is predicted by a River model
(:class:`~qstream.core.online_model.PriorAnchoredRegressor`, features: slot utilisation
and queue length) anchored on an analytic prior, the predicted remaining run time of
the running and queued solves divided by the slots; the model learns from the wait
every solve actually had.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor as PoolExecutor
from typing import Any

from qstream.backends.classical import USD_PER_CPU_SECOND
from qstream.core.backend_spec import BackendSpec, Pricing
from qstream.core.online_model import PriorAnchoredRegressor
from qstream.core.problems import exact_optimum, problem_from_dict
from qstream.core.selection import Executor

CLASSICAL_EXECUTOR = "cpu_solvers"
"""Name of the pipeline worker's classical executor (a configuration's backend)."""

GIB = 1 << 30


def run_solve(solver: str, problem: dict[str, Any], seed: int,
              max_iterations: int | None) -> dict[str, Any]:
    """One classical solve, in a pool process: the outcome as a JSON-ready dict.

    ``exact`` is :func:`~qstream.core.problems.exact_optimum` (brute force or sparse
    eigensolver); the others are :data:`qstream.solvers.registry.CLASSICAL_SOLVERS`.

    Returns
    -------
    dict
        ``bitstring`` (None for a ground state), ``objective``, ``iterations``,
        ``history``, ``run_s`` (wall seconds), ``details``.
    """
    started = time.perf_counter()
    parsed = problem_from_dict(problem)
    if solver == "exact":
        opt = exact_optimum(parsed)
        return {"bitstring": opt.bitstring, "objective": float(opt.value), "iterations": 1,
                "history": [float(opt.value)], "run_s": time.perf_counter() - started,
                "details": {"method": "brute force" if opt.bits is not None
                            else "sparse eigensolver"}}
    from qstream.solvers.registry import CLASSICAL_SOLVERS

    out = CLASSICAL_SOLVERS[solver].solve(parsed, seed=seed, max_iterations=max_iterations)
    return {"bitstring": out.bitstring, "objective": float(out.objective),
            "iterations": int(out.iterations), "history": [float(v) for v in out.history],
            "run_s": float(out.run_s), "details": dict(out.details)}


class ClassicalExecutor:
    """CPU slots and memory for classical solves (module docstring).

    Parameters
    ----------
    cpu_slots:
        Solves run at once.
    memory_bytes:
        Memory one solve may use.
    pool:
        Returns where solves run (called at each solve, so a process pool can be made
        on first use; any ``concurrent.futures`` executor in tests).
    name:
        Executor name (the configurations' backend).
    """

    def __init__(self, cpu_slots: int, memory_bytes: int, pool: Callable[[], PoolExecutor], *,
                 name: str = CLASSICAL_EXECUTOR) -> None:
        self.name = name
        self.cpu_slots = int(cpu_slots)
        self.memory_bytes = int(memory_bytes)
        self.pool = pool
        self._slots = asyncio.Semaphore(self.cpu_slots)
        self.busy = 0
        self.queued = 0
        self.reserved_bytes = 0
        self._predicted: dict[str, tuple[float, float]] = {}  # job -> (predicted run_s, start)
        self.queue_model = PriorAnchoredRegressor(kind="log1p", warmup=4)
        self.spec = BackendSpec(name=name, kind="classical", num_qubits=0, max_shots=1,
                                capacity=self.cpu_slots,
                                pricing=Pricing(per_second_usd=USD_PER_CPU_SECOND),
                                description="classical solvers (CPU slots, memory)")

    def executor(self) -> Executor:
        """This executor as the selection sees it."""
        return Executor(self.name, "classical", memory_bytes=self.memory_bytes,
                        cpu_slots=self.cpu_slots, spec=self.spec)

    def _queue_features(self) -> dict[str, float]:
        return {"utilisation": min(self.busy / self.cpu_slots, 1.0),
                "queued_per_slot": self.queued / self.cpu_slots}

    def backlog_s(self, now: float | None = None) -> float:
        """Analytic wait of a solve submitted now, seconds: 0 while a slot is free, else
        the predicted remaining run time of the held solves divided by the slots."""
        now = time.time() if now is None else now
        if self.busy + self.queued < self.cpu_slots:
            return 0.0
        remaining = 0.0
        for run_s, started in self._predicted.values():
            remaining += max(run_s - (now - started if started else 0.0), 0.0)
        return remaining / self.cpu_slots

    def predicted_queue_s(self, now: float | None = None) -> float:
        """Predicted wait of a solve submitted now, seconds (module docstring)."""
        return self.queue_model.predict_one(self._queue_features(), self.backlog_s(now))

    async def run(self, job: str, solver: str, problem: dict[str, Any], *, seed: int,
                  max_iterations: int | None, predicted_run_s: float,
                  memory_bytes: int) -> dict[str, Any]:
        """Run one solve when a slot is free; returns :func:`run_solve`'s dict plus
        ``queue_s`` (seconds it waited for a slot)."""
        submitted = started = time.time()
        features, prior = self._queue_features(), self.backlog_s(submitted)
        self.queued += 1
        acquired = False
        self._predicted[job] = (predicted_run_s, 0.0)
        try:
            async with self._slots:
                self.queued -= 1
                acquired = True
                self.queue_model.learn_one(features, prior, time.time() - submitted)
                self.busy += 1
                self.reserved_bytes += memory_bytes
                started = time.time()
                self._predicted[job] = (predicted_run_s, started)
                try:
                    out = await asyncio.get_running_loop().run_in_executor(
                        self.pool(), run_solve, solver, problem, seed, max_iterations)
                finally:
                    self.busy -= 1
                    self.reserved_bytes -= memory_bytes
        finally:
            if not acquired:
                self.queued -= 1
            self._predicted.pop(job, None)
        out["queue_s"] = started - submitted
        return out

    def status_event(self) -> dict[str, Any]:
        """The ``classical_status`` telemetry event."""
        return {"schema": "qstream.telemetry.v1", "event": "classical_status", "at": time.time(),
                "executor": self.name, "cpu_slots": self.cpu_slots, "busy": self.busy,
                "queued": self.queued, "utilisation": min(self.busy / self.cpu_slots, 1.0),
                "memory_bytes": self.memory_bytes, "memory_reserved_bytes": self.reserved_bytes,
                "predicted_queue_s": self.predicted_queue_s()}
