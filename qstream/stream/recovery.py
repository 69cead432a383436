"""Failover: rebuild a worker's in-memory state from its changelog-backed tables.

Faust recovers the tables of the partitions a worker is assigned, then sends
``on_rebalance_complete`` before any stream resumes. If this worker now owns the
control topics, :func:`restore_state` rebuilds the scheduler (pending and
in-flight sub-tasks, completions), the task assemblies and the predictor, and
:func:`finish_recovery` settles results the previous owner may or may not have
published (see :meth:`qstream.stream.outbox.Outbox.publish_result`). Records
whose offsets were not committed are then replayed by Faust, and every handler
is idempotent under that replay. A worker that lost ownership clears its in-memory state, so its
timers cannot release work another worker now schedules.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from qstream.core.assembly import TaskAssembly
from qstream.errors import QStreamError
from qstream.stream import budgets
from qstream.stream import topics as T
from qstream.stream.agent_spec import Timer
from qstream.stream.durable import scan_task_ids
from qstream.stream.runtime import Runtime

if TYPE_CHECKING:
    import faust

log = logging.getLogger("qstream.recovery")

PRUNE_INTERVAL_S = 300.0
"""How often ``done`` task records older than the retention are deleted."""


def owns_control_topics(app: faust.App) -> bool:
    """Whether this worker is assigned the (single) partition of ``qstream.subtasks``."""
    return any(tp.topic == T.SUBTASKS for tp in app.consumer.assignment())


def restore_state(rt: Runtime) -> None:
    """Rebuild scheduler, sub-task records, assemblies and predictor from the tables."""
    started = time.perf_counter()
    rt.clear_state()
    rt.restore_predictor()
    active, parts = rt.ledger.restore(rt.scheduler, rt.now_s())
    budgets.restore(rt)
    rt.owner = True
    rt.metrics.recoveries += 1
    log.warning(
        "state restored in %.1f ms: %d active tasks, %d pending and %d in-flight sub-tasks, "
        "%d parts, predictor at %d observations", (time.perf_counter() - started) * 1e3,
        active, sum(len(v) for v in rt.scheduler.pending().values()),
        sum(len(v) for v in rt.scheduler.in_flight().values()), parts,
        rt.predictor.n_learned)


async def finish_recovery(rt: Runtime) -> None:
    """Settle results left ``publishing``, publish finished assemblies, release work.

    A ``publishing`` result is re-sent only when ``qstream.results`` does not
    already hold a record for its task after the offset noted with it.
    """
    publishing = rt.ledger.tasks_in_state("publishing")
    if publishing:
        start = min(int(rec.get("after", -1)) for rec in publishing.values()) + 1
        found = await scan_task_ids(rt.config.broker, T.RESULTS, start, set(publishing),
                                    kafka=rt.config.kafka)
        for task_id, rec in publishing.items():
            if task_id in found:
                rt.ledger.mark_done(task_id, rec.get("source"), found[task_id],
                                    rec["result"]["status"])
                log.warning("result of %s was already published (offset %d)",
                            task_id, found[task_id])
            else:
                log.warning("re-publishing the unconfirmed result of %s", task_id)
                await rt.outbox.send_result_record(rec["result"], rec.get("source"),
                                                   cloudevent=rec.get("cloudevent"))
            # A failed or cancelled task may still have restored pending work: withdraw it.
            rt.forget_task(task_id, cancel=rec["result"]["status"] != "completed")
    for task_id, assembly in list(rt.ledger.assemblies.items()):
        if assembly.done:
            await finish_task(rt, task_id, assembly)
    resent = await rt.resend_in_flight()
    if resent:
        log.warning("sent %d in-flight sub-tasks to their backends again", resent)
    for hook in rt.recovery_hooks:
        await hook(rt)
    await rt.release()
    rt.sync_state()


async def finish_task(rt: Runtime, task_id: str, assembly: TaskAssembly) -> None:
    """Publish a finished assembly's result and drop the task's state.

    The circuit task of a problem task's loop step (its record names a ``parent``)
    is not answered on ``qstream.results``: its result goes to the workflow agent as
    a ``step`` event (:func:`forward_step`).
    """
    result = assembly.result(time.time())
    del rt.ledger.assemblies[task_id]
    record = rt.ledger.task_record(task_id) or {}
    # Publish first: the task's parts and sub-task records may only go once its
    # result is recorded, or a crash in between would leave an active task
    # whose parts are gone.
    budgets.stamp(rt, result, record, spent_usd=rt.scheduler.spent_usd(task_id))
    if record.get("parent"):
        await forward_step(rt, task_id, record, result)
    else:
        await rt.outbox.publish_result(result)
    if result["status"] == "failed":
        await rt.stop_in_flight(task_id, "its task failed")
    rt.forget_task(task_id, cancel=result["status"] == "failed")


async def forward_step(rt: Runtime, task_id: str, record: dict[str, Any],
                       result: dict[str, Any]) -> None:
    """Send a step's result to the workflow agent, then mark the step task done.

    At least once: a crash before the mark re-sends it after the takeover, and the
    workflow agent ignores a step it has already advanced past.
    """
    step = int(task_id.rsplit("/w", 1)[1])
    delivery = await rt.outbox.send(T.WORKFLOW_EVENTS, record["parent"], {
        "schema": "qstream.workflow_event.v1", "event": "step", "task_id": record["parent"],
        "at": time.time(), "step": step, "result": result})
    await delivery
    rt.ledger.mark_done(task_id, record.get("source"), -1, result["status"])


def prune_done(rt: Runtime, now: float) -> int:
    """Delete ``done`` task records older than ``config.done_retention_s``; return how many.

    A redelivered or resubmitted record of a task pruned this way would run
    again; the retention only has to outlast Kafka redelivery (seconds).
    """
    from qstream.stream.ledger import EARLY_CANCEL_TTL_S

    return (rt.ledger.prune_done(now - rt.config.done_retention_s, now)
            + rt.ledger.prune_early_cancels(now - EARLY_CANCEL_TTL_S))


async def prune_tick(rt: Runtime) -> None:
    """The pruning timer's tick (owner only)."""
    if rt.owner:
        n = prune_done(rt, time.time())
        if n:
            log.info("pruned %d done task records", n)


PRUNE_TIMER = Timer("qstream.recovery.prune", lambda config: PRUNE_INTERVAL_S, prune_tick)


def attach(app: faust.App, rt: Runtime) -> None:
    """Connect restore to Faust's rebalance signals (the pruning timer is :data:`PRUNE_TIMER`)."""

    async def on_revoked(*_: Any, **__: Any) -> None:
        rt.owner = False

    async def on_rebalance_complete(*_: Any, **__: Any) -> None:
        if not owns_control_topics(app):
            log.warning("standby: another worker owns the control topics%s",
                        "; dropping in-memory task state"
                        if rt.ledger.assemblies or rt.ledger.task_subtasks else "")
            rt.clear_state()
            return
        restore_state(rt)
        try:
            await finish_recovery(rt)
        except (QStreamError, OSError, TimeoutError) as exc:
            # The work is restored; only unconfirmed results wait for the next rebalance.
            log.error("recovery could not settle unconfirmed results: %s", exc)

    app.on_partitions_revoked.connect(on_revoked)
    app.on_rebalance_complete.connect(on_rebalance_complete)
