"""qstream's agents (installed as ``qstream.agents``), listed in one place.

:data:`PIPELINE` holds the stream processors of the pipeline worker and
:data:`TIMERS` its periodic tasks; :func:`qstream.stream.app.create_worker_app`
binds both in one loop, and :mod:`qstream.stream.testing` feeds the same list
in-memory records. Executors (one agent per backend exec topic) come from
:func:`qstream.agents.execute.agents`, bound by the same loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from qstream.stream import recovery
from qstream.stream.agent_spec import Agent, Timer
from qstream.stream.runtime import Runtime

from . import control, dispatch, learn, partition, postprocess, reallocate, workflow

PIPELINE: tuple[Agent, ...] = (partition.AGENT, dispatch.AGENT, learn.AGENT, postprocess.AGENT,
                               workflow.AGENT, control.AGENT)
"""Pipeline agents: tasks -> partition -> dispatch -> (executors) -> learn / post-process,
problem tasks' workflows (post-process -> workflow -> partition's admission), and
control requests (cancel)."""

TIMERS: tuple[Timer, ...] = (reallocate.TIMER, recovery.PRUNE_TIMER, workflow.TIMER)
"""Periodic tasks of the pipeline worker: reallocation and breaker refresh, pruning,
rebalancing of running loops."""

RECOVERY: tuple[Callable[[Runtime], Awaitable[None]], ...] = (control.resume, workflow.resume)
"""Run after a takeover restored the tables: noted cancels are finished, then workflows
make sure their steps are out."""

__all__ = ["PIPELINE", "RECOVERY", "TIMERS"]
