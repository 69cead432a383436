"""Reallocate agent: re-score pending sub-tasks and move them when cheaper elsewhere.

It runs after every prediction update (called by the learn agent) and on a timer,
because external queue load changes even when nothing of ours completes. Only
pending (unreleased) sub-tasks move; decisions go to ``qstream.reallocations``.
"""

from __future__ import annotations

import faust

from qstream.stream.runtime import Runtime


async def reallocate_now(rt: Runtime) -> int:
    """Run one reallocation pass; return how many sub-tasks moved."""
    if not rt.realloc_enabled:
        return 0
    moves = rt.scheduler.reallocate(rt.now_s())
    await rt.publish_reallocations(moves)
    if moves:
        await rt.release()
    return len(moves)


def attach(app: faust.App, rt: Runtime) -> None:
    @app.timer(interval=rt.config.realloc_interval_s)
    async def reallocate_periodically() -> None:
        await reallocate_now(rt)
