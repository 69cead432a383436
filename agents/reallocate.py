"""Reallocate agent: re-score pending sub-tasks and move them when cheaper elsewhere.

It runs after every prediction update (called by the learn agent) and on a timer,
because external queue load changes even when nothing of ours completes. A pass
costs O(pending x backends), so after an execution it is skipped while the last
pass was slow (over :data:`SLOW_PASS_S`) and ran less than its duration /
:data:`MAX_SHARE` ago: with a long backlog, passes take at most that share of the
loop instead of one pass per completed sub-task (quadratic in the backlog; a burst of
600 Bell tasks spent 35% of the worker's CPU there). The next execution or the
periodic pass then runs it. Only
pending (unreleased) sub-tasks move; a straggling in-flight one gets a backup copy
on an idle backend instead (hedging). Both decisions go to ``qstream.reallocations``
(a hedge's ``reason`` starts with ``straggler:``).
"""

from __future__ import annotations

import time

from qstream.stream.agent_spec import Timer
from qstream.stream.runtime import Runtime

SLOW_PASS_S = 0.005
"""A pass shorter than this (wall seconds) always runs after an execution."""

MAX_SHARE = 0.1
"""Share of wall time that passes triggered by executions may take once they are slow."""


async def reallocate_now(rt: Runtime) -> int:
    """Run one reallocation pass and hedge stragglers; return how many sub-tasks moved.

    Both are no-ops for policies that do not reallocate or hedge.
    """
    now_s = rt.now_s()
    started = time.perf_counter()
    moves = rt.scheduler.reallocate(now_s)
    rt.realloc_pass = (started, time.perf_counter() - started)
    await rt.publish_reallocations(moves)
    await rt.start_hedges(rt.scheduler.hedge(now_s))
    if moves:
        await rt.release()
    return len(moves)


async def after_execution(rt: Runtime) -> int:
    """The pass after an execution: :func:`reallocate_now` unless the last pass was slow
    and recent (see the module docstring); return how many sub-tasks moved."""
    started, took_s = rt.realloc_pass
    if took_s > SLOW_PASS_S and time.perf_counter() - started < took_s / MAX_SHARE:
        return 0
    return await reallocate_now(rt)


async def tick(rt: Runtime) -> None:
    """The periodic pass (owner only): refresh breakers, reallocate, release, sync state."""
    if not rt.owner:
        return  # a standby worker: another worker schedules
    await rt.health.sync_all(rt.scheduler)  # an open breaker turns half-open after its cooldown
    await reallocate_now(rt)
    await rt.release()
    rt.sync_state()


TIMER = Timer("qstream.agents.reallocate", lambda config: config.realloc_interval_s, tick)
