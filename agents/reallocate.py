"""Reallocate agent: re-score pending sub-tasks and move them when cheaper elsewhere.

It runs after every prediction update (called by the learn agent) and on a timer,
because external queue load changes even when nothing of ours completes. Only
pending (unreleased) sub-tasks move; a straggling in-flight one gets a backup copy
on an idle backend instead (hedging). Both decisions go to ``qstream.reallocations``
(a hedge's ``reason`` starts with ``straggler:``).
"""

from __future__ import annotations

from qstream.stream.agent_spec import Timer
from qstream.stream.runtime import Runtime


async def reallocate_now(rt: Runtime) -> int:
    """Run one reallocation pass and hedge stragglers; return how many sub-tasks moved.

    Both are no-ops for policies that do not reallocate or hedge.
    """
    now_s = rt.now_s()
    moves = rt.scheduler.reallocate(now_s)
    await rt.publish_reallocations(moves)
    await rt.start_hedges(rt.scheduler.hedge(now_s))
    if moves:
        await rt.release()
    return len(moves)


async def tick(rt: Runtime) -> None:
    """The periodic pass (owner only): refresh breakers, reallocate, release, sync state."""
    if not rt.owner:
        return  # a standby worker: another worker schedules
    await rt.health.sync_all(rt.scheduler)  # an open breaker turns half-open after its cooldown
    await reallocate_now(rt)
    await rt.release()
    rt.sync_state()


TIMER = Timer("qstream.agents.reallocate", lambda config: config.realloc_interval_s, tick)
