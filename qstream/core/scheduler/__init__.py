"""The dispatcher's brain: cost-based placement, credit-based release, reallocation.

:class:`Scheduler` is the one object callers use; it is a thin facade over:

- :mod:`~qstream.core.scheduler.types`: the public value types (:class:`SchedulerConfig`,
  :class:`BackendScore`, :class:`Decision`, :class:`Reallocation`, :class:`Hedge`,
  :class:`Placement`);
- :mod:`~qstream.core.scheduler.fleet`: the fleet's specs, rank, pending jobs and up/down state;
- :mod:`~qstream.core.scheduler.ledger`: pending and in-flight sub-tasks, credits,
  completions, shot-split bookkeeping, change records and restore;
- :mod:`~qstream.core.scheduler.scoring`: the HEFT-style cost of a sub-task on a backend
  (cached predictions plus local wait) and the policy's pick;
- :mod:`~qstream.core.scheduler.splits`: shot-split planning;
- :mod:`~qstream.core.scheduler.placing`: submit and requeue;
- :mod:`~qstream.core.scheduler.moves`: reallocation of pending sub-tasks and hedging of
  stragglers.
- :mod:`~qstream.core.scheduler.budget`: per-task budgets (remaining budget, the price
  weight as it tightens, actual spend);
- :mod:`~qstream.core.scheduler.fairness`: fair sharing of credits between tenants
  (start-time fair queuing) and per-tenant concurrency limits.

Everything takes ``now_s`` explicitly; the wall clock is read only to measure
decision latency.
"""

from __future__ import annotations

from qstream.core.scheduler.facade import Scheduler
from qstream.core.scheduler.types import (
    BackendScore,
    Decision,
    Hedge,
    Placement,
    Reallocation,
    SchedulerConfig,
)

__all__ = ["BackendScore", "Decision", "Hedge", "Placement", "Reallocation", "Scheduler",
           "SchedulerConfig"]
