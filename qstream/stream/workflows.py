"""Where a pipeline worker keeps its problem tasks' workflows: table, caches, executor.

:class:`WorkflowStore` is the runtime's part for issue 10's workflows: the
changelog-backed ``workflows`` table (task id -> :class:`~qstream.workflow.state.WorkflowState`,
changelog ``qstream.workflows-changelog``), in-memory caches that are rebuilt on
demand (parsed problems, ansatz circuits), the classical executor and its running
solves, and the selection's online models. The workflow agent
(:mod:`qstream.agents.workflow`) holds the logic; this holds the state.

The table is the truth: every handler reads the state from it and writes it back, so
a worker that takes over after a failover needs nothing but the recovered table.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor as PoolExecutor

from qiskit import QuantumCircuit

from qstream.config import WorkerConfig
from qstream.core.problems import Problem, problem_from_dict
from qstream.core.selection.model import SelectionModel
from qstream.stream.classical_executor import GIB, ClassicalExecutor
from qstream.stream.ports import SnapshotTable, Table
from qstream.workflow.loop import build_ansatz
from qstream.workflow.state import WorkflowState

log = logging.getLogger("qstream.workflows")

SELECTION_SNAPSHOT_KEY = b"selection"
"""Key of the selection models' snapshot in the predictor snapshot table."""


class WorkflowStore:
    """The workflows of one pipeline worker (module docstring).

    Parameters
    ----------
    table:
        The ``workflows`` table; None for an executor-only process.
    config:
        Worker configuration (classical executor slots and memory).
    pool:
        Where classical solves run; None creates a process pool of ``classical_slots``
        workers on first use.
    """

    def __init__(self, table: Table | None, config: WorkerConfig, *,
                 pool: PoolExecutor | None = None) -> None:
        self.table = table
        self.config = config
        self._pool = pool
        self.classical = ClassicalExecutor(config.classical_slots,
                                           int(config.classical_memory_gib * GIB), self.pool)
        self.model = SelectionModel()
        self.solves: dict[str, asyncio.Task[None]] = {}
        self._problems: dict[str, Problem] = {}
        self._ansatz: dict[tuple[str, str, int], QuantumCircuit] = {}

    # -- the table ------------------------------------------------------------------------
    def get(self, task_id: str) -> WorkflowState | None:
        """The workflow of ``task_id``, or None."""
        assert self.table is not None, "an executor-only process holds no workflows"
        data = self.table.get(task_id)
        return WorkflowState.from_dict(data) if data else None

    def put(self, state: WorkflowState) -> None:
        """Write the workflow back (the changelog gets it before the record's offset commits)."""
        assert self.table is not None
        self.table.put(state.task_id, state.to_dict())

    def delete(self, task_id: str) -> None:
        """Drop a finished workflow and its caches."""
        assert self.table is not None
        self.table.delete(task_id)
        self._problems.pop(task_id, None)
        for key in [k for k in self._ansatz if k[0] == task_id]:
            del self._ansatz[key]

    def states(self) -> list[WorkflowState]:
        """Every workflow in the table (a snapshot)."""
        if self.table is None:
            return []
        return [WorkflowState.from_dict(v) for _, v in self.table.items()]

    # -- caches ---------------------------------------------------------------------------
    def problem(self, state: WorkflowState) -> Problem:
        """The parsed problem of ``state`` (cached)."""
        p = self._problems.get(state.task_id)
        if p is None:
            p = self._problems[state.task_id] = problem_from_dict(state.problem)
        return p

    async def ansatz(self, state: WorkflowState) -> QuantumCircuit:
        """The loop's parametrised circuit (cached; built off the event loop)."""
        key = (state.task_id, state.algorithm, state.reps)
        circuit = self._ansatz.get(key)
        if circuit is None:
            circuit = await asyncio.get_running_loop().run_in_executor(
                None, build_ansatz, self.problem(state), state.algorithm, state.reps)
            self._ansatz[key] = circuit
        return circuit

    def clear(self) -> None:
        """Forget in-memory state (this worker lost ownership): caches and running solves."""
        for task in self.solves.values():
            task.cancel()
        self.solves.clear()
        self._problems.clear()
        self._ansatz.clear()

    # -- selection models -----------------------------------------------------------------
    def save_model(self, snapshots: SnapshotTable | None) -> None:
        """Write the selection models' snapshot next to the predictor's."""
        if snapshots is not None:
            snapshots[SELECTION_SNAPSHOT_KEY] = self.model.snapshot()

    def restore_model(self, snapshots: SnapshotTable | None) -> None:
        """Load the selection models from the snapshot table, if saved."""
        data = snapshots.get(SELECTION_SNAPSHOT_KEY) if snapshots is not None else None
        if data:
            self.model = SelectionModel.restore(data)
            log.info("selection models restored: %d solves", self.model.n_learned)

    # -- the classical pool ---------------------------------------------------------------
    def use_pool(self, pool: PoolExecutor) -> None:
        """Run classical solves in ``pool`` (tests: a thread pool) instead of a process pool."""
        self._pool = pool

    def pool(self) -> PoolExecutor:
        """The classical solves' pool (a process pool of ``classical_slots`` workers)."""
        if self._pool is None:
            from qstream.backends.pool import make_pool

            self._pool = make_pool(self.config.classical_slots)
        return self._pool

