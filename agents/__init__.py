"""qstream's agents (installed as ``qstream.agents``), listed in one place.

:data:`PIPELINE` holds the stream processors of the pipeline worker and
:data:`TIMERS` its periodic tasks; :func:`qstream.stream.app.create_worker_app`
binds both in one loop, and :mod:`qstream.stream.testing` feeds the same list
in-memory records. Executors (one agent per backend exec topic) come from
:func:`qstream.agents.execute.agents`, bound by the same loop.
"""

from __future__ import annotations

from qstream.stream import recovery
from qstream.stream.agent_spec import Agent, Timer

from . import dispatch, learn, partition, postprocess, reallocate

PIPELINE: tuple[Agent, ...] = (partition.AGENT, dispatch.AGENT, learn.AGENT, postprocess.AGENT)
"""Pipeline agents: tasks -> partition -> dispatch -> (executors) -> learn / post-process."""

TIMERS: tuple[Timer, ...] = (reallocate.TIMER, recovery.PRUNE_TIMER)
"""Periodic tasks of the pipeline worker: reallocation and breaker refresh, pruning."""

__all__ = ["PIPELINE", "TIMERS"]
