"""The task ledger: one worker's task and sub-task bookkeeping, and its durable records.

In memory it holds one :class:`SubtaskRecord` per tracked sub-task (the sub-task,
its attempt number, failed backends and their reasons, the failed executions
already handled, its trace context), the task assemblies, and the sub-task results
that arrived before their task's plan. It owns the three changelog-backed tables of
:mod:`qstream.stream.durable` (``tasks``, ``subtasks``, ``parts``): what it writes
there (:meth:`TaskLedger.sync_state`, :meth:`TaskLedger.accept_task`, ...) is what
:meth:`TaskLedger.restore` reads back after a failover. The failover *protocol*
(when to restore, settling unconfirmed results) is :mod:`qstream.stream.recovery`'s.

The scheduler is passed in where it is needed, because a worker that loses
ownership replaces its scheduler (see :meth:`qstream.stream.runtime.Runtime.clear_state`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context

from qstream.core.assembly import TaskAssembly
from qstream.core.scheduler import Placement, Scheduler
from qstream.core.subtask import SubTask
from qstream.stream.messages import part_of
from qstream.stream.ports import Table

log = logging.getLogger("qstream.ledger")


def task_of(subtask_id: str) -> str:
    """The task id of a sub-task id ``{task_id}/c{i}/s{j}[.{k}]`` (task ids may hold ``/``).

    >>> task_of("runs/42/c3/s0.1")
    'runs/42'
    """
    return subtask_id.rsplit("/", 2)[0]


def assembly_from_plan(plan: dict[str, Any]) -> TaskAssembly:
    """The empty assembly of a ``qstream.plan.v1`` message."""
    observables = {o["name"]: [[(str(label), float(c)) for label, c in terms]
                               for terms in o["observables"]]
                   for o in plan.get("observables", ())}
    bases = [c.get("basis") for c in plan["circuits"]]
    return TaskAssembly(plan["task_id"], [(c["name"], int(c["shots"])) for c in plan["circuits"]],
                        float(plan["submitted_at"]),
                        bases=bases if observables else None, observables=observables)


def apply_part(assembly: TaskAssembly, data: dict[str, Any]) -> None:
    """Add one ``qstream.subtask_result.v1`` to its task's assembly (idempotent)."""
    if data["status"] == "failed":
        assembly.fail(f"circuit '{data['circuit_name']}': {data.get('error') or 'failed'}")
    else:
        assembly.add(part_of(data), int(data.get("attempt", 0)))


@dataclass
class SubtaskRecord:
    """What this worker knows about one sub-task beyond its scheduler placement.

    Attributes
    ----------
    subtask:
        The sub-task; None while it is not tracked (only bookkeeping was recorded).
    attempt:
        Current attempt number (0 = first execution; +1 per failover or hedge).
    failed_backends:
        Backends whose execution of it failed, in order (excluded on requeue).
    failure_reasons:
        Each failed execution's error, for the failed result's message.
    failed_attempts:
        ``"backend#attempt"`` of each failed execution already handled, so a
        redelivered failure event is recognised after a failover too.
    trace_context:
        Its decision span's context: its release, reallocation or hedge joins its trace.
    """

    subtask: SubTask | None = None
    attempt: int = 0
    failed_backends: list[str] = field(default_factory=list)
    failure_reasons: list[str] = field(default_factory=list)
    failed_attempts: list[str] = field(default_factory=list)
    trace_context: otel_context.Context | None = None

    def durable(self, task_id: str, placement: Placement) -> dict[str, Any]:
        """The ``placed`` record of ``qstream.subtasks-changelog`` (its JSON field names)."""
        return {"task_id": task_id, "state": "placed", "placement": placement.to_dict(),
                "attempt": self.attempt, "failed": self.failed_attempts,
                "failed_backends": self.failed_backends, "reasons": self.failure_reasons}

    @classmethod
    def from_durable(cls, rec: dict[str, Any], subtask: SubTask) -> SubtaskRecord:
        """The record of a ``placed`` changelog value (see :meth:`durable`)."""
        return cls(subtask=subtask, attempt=int(rec.get("attempt", 0)),
                   failed_backends=list(rec.get("failed_backends") or ()),
                   failure_reasons=list(rec.get("reasons") or ()),
                   failed_attempts=list(rec.get("failed") or ()))



EARLY_CANCEL_TTL_S = 600.0
"""Wall seconds a cancel request for a task not seen yet is remembered: longer than any
plausible lag between ``qstream.control`` and ``qstream.tasks``, short enough that a
mistyped id leaves nothing behind for long."""

class TaskLedger:
    """Task and sub-task state of one worker, in memory and in its changelog tables.

    Parameters
    ----------
    task_table, subtask_table, part_table:
        The ``tasks``, ``subtasks`` and ``parts`` tables (see :mod:`qstream.stream.durable`);
        all None for an executor-only process, which keeps no durable state.
    """

    def __init__(self, task_table: Table | None = None, subtask_table: Table | None = None,
                 part_table: Table | None = None) -> None:
        self.task_table = task_table
        self.subtask_table = subtask_table
        self.part_table = part_table
        self.records: dict[str, SubtaskRecord] = {}
        self.task_subtasks: dict[str, set[str]] = {}
        self.assemblies: dict[str, TaskAssembly] = {}
        # Sub-task results that arrived before their task's plan (after a failover).
        self.orphan_parts: dict[str, list[dict[str, Any]]] = {}
        # Sub-task ids with durable records, per task (deleted with the task).
        self.persisted: dict[str, set[str]] = {}
        # Sub-tasks whose bookkeeping (attempts, failures) changed since the last sync.
        self.changed: set[str] = set()
        # Offset of the newest result this worker knows on qstream.results: a
        # failover scans for unconfirmed results only after it.
        self.results_end = -1

    @property
    def durable(self) -> bool:
        """Whether this ledger keeps changelog-backed records."""
        return self.subtask_table is not None

    # -- sub-tasks ------------------------------------------------------------------------
    def record(self, subtask_id: str) -> SubtaskRecord:
        """The sub-task's record, created empty (untracked) if it has none."""
        rec = self.records.get(subtask_id)
        if rec is None:
            rec = self.records[subtask_id] = SubtaskRecord()
        return rec

    def subtask(self, subtask_id: str) -> SubTask | None:
        """The tracked sub-task of that id; None if this worker does not track it."""
        rec = self.records.get(subtask_id)
        return rec.subtask if rec is not None else None

    def attempt(self, subtask_id: str) -> int:
        """The sub-task's current attempt number (0 if it has no record)."""
        rec = self.records.get(subtask_id)
        return rec.attempt if rec is not None else 0

    def track(self, subtask: SubTask) -> SubtaskRecord:
        """Track a placed sub-task; returns its record."""
        rec = self.record(subtask.subtask_id)
        rec.subtask = subtask
        self.task_subtasks.setdefault(subtask.task_id, set()).add(subtask.subtask_id)
        return rec

    def trace_context(self, subtask_id: str) -> otel_context.Context:
        """The sub-task's trace context; an empty one (a new trace) if it has none.

        Empty rather than the current span's: a release or move often happens while
        processing another task's record, which must not adopt it.
        """
        rec = self.records.get(subtask_id)
        ctx = rec.trace_context if rec is not None else None
        return otel_context.Context() if ctx is None else ctx

    # -- tasks and parts (durable) --------------------------------------------------------
    def task_record(self, task_id: str) -> dict[str, Any] | None:
        """The task's durable record: ``state`` active, publishing or done; None if unknown."""
        assert self.task_table is not None, "an executor-only process keeps no task records"
        return self.task_table.get(task_id)

    def accept_task(self, task_id: str, source: str, plan: dict[str, Any] | None, *,
                    parent: str | None = None, workflow: bool = False,
                    cloudevent: dict[str, str] | None = None) -> None:
        """Record an accepted task (``source`` = topic/partition/offset of its record).

        ``plan`` is None for a problem task (``workflow``: its state is the workflow
        agent's); ``parent`` names the problem task whose loop step this circuit task is;
        ``cloudevent`` is the submission event's origin
        (:class:`~qstream.stream.cloudevents.EventOrigin` as a dict), kept so the result
        carries CloudEvent headers even when another worker publishes it.
        """
        assert self.task_table is not None
        record: dict[str, Any] = {"state": "active", "source": source, "plan": plan,
                                  "at": time.time()}
        if parent is not None:
            record["parent"] = parent
        if workflow:
            record["workflow"] = True
        if cloudevent is not None:
            record["cloudevent"] = cloudevent
        self.task_table.put(task_id, record)

    def mark_cancelling(self, task_id: str, request: dict[str, Any]) -> None:
        """Note on an active task's record the cancel request being carried out.

        A worker taking over finishes a noted cancel even when the control record
        itself is not redelivered (see :func:`qstream.agents.control.resume`).
        """
        assert self.task_table is not None
        record = self.task_table.get(task_id)
        if record is not None and record["state"] == "active":
            self.task_table.put(task_id, {**record, "cancel": request})

    def note_early_cancel(self, task_id: str, request: dict[str, Any]) -> None:
        """Remember a cancel request for a task not seen yet (state ``cancel_requested``).

        The control topic and ``qstream.tasks`` are separate topics, so a cancel sent
        right after its task can be consumed first. The task is then cancelled when it
        arrives (:func:`qstream.agents.partition.handle`), if it arrives before the note
        is pruned (:data:`EARLY_CANCEL_TTL_S`).
        """
        assert self.task_table is not None
        self.task_table.put(task_id, {"state": "cancel_requested", "cancel": request,
                                      "at": time.time()})

    def prune_early_cancels(self, cutoff: float) -> int:
        """Delete ``cancel_requested`` notes written before ``cutoff`` (epoch s)."""
        assert self.task_table is not None
        old = [tid for tid, rec in self.tasks_in_state("cancel_requested").items()
               if float(rec.get("at", cutoff)) < cutoff]
        for tid in old:
            self.task_table.delete(tid)
        return len(old)

    def mark_publishing(self, result: dict[str, Any], source: str | None, *,
                        cloudevent: dict[str, str] | None = None) -> None:
        """Write-ahead record of a result about to be sent (with :attr:`results_end`;
        ``cloudevent``: the task's submission event, see :meth:`accept_task`)."""
        assert self.task_table is not None
        record: dict[str, Any] = {"state": "publishing", "source": source, "result": result,
                                  "after": self.results_end, "at": time.time()}
        if cloudevent is not None:
            record["cloudevent"] = cloudevent
        self.task_table.put(result["task_id"], record)

    def mark_done(self, task_id: str, source: str | None, offset: int, status: str) -> None:
        """Record that the task's result is on ``qstream.results`` at ``offset``."""
        assert self.task_table is not None
        self.results_end = max(self.results_end, offset)
        self.task_table.put(task_id, {"state": "done", "source": source, "offset": offset,
                                      "status": status, "at": time.time()})

    def record_part(self, data: dict[str, Any]) -> None:
        """Keep one received ``qstream.subtask_result.v1`` until its task is done."""
        assert self.part_table is not None
        self.part_table.put(data["subtask_id"], data)

    def sync_state(self, scheduler: Scheduler, *, persist: bool = True) -> None:
        """Write every sub-task whose placement, completion or bookkeeping changed.

        Called after each record and timer tick; what a handler changed is thus
        in the producer buffer before the record's offset can be committed.
        ``persist`` False (a standby worker, or no durable tables) only drains
        the scheduler's change set.
        """
        if not self.durable or not persist:
            scheduler.drain_changed()
            return
        for sid in scheduler.drain_changed() | self.changed:
            self.persist_subtask(sid, scheduler)
        self.changed.clear()

    def persist_subtask(self, sid: str, scheduler: Scheduler) -> None:
        """Write the sub-task's ``placed`` or ``completed`` record, or delete it."""
        assert self.subtask_table is not None
        task_id = task_of(sid)
        placement = scheduler.placement(sid)
        if placement is not None:
            rec = self.records.get(sid) or SubtaskRecord()
            self.subtask_table.put(sid, rec.durable(task_id, placement))
        elif scheduler.is_completed(sid):
            self.subtask_table.put(sid, {"task_id": task_id, "state": "completed"})
        else:
            self.subtask_table.delete(sid)
            return
        self.persisted.setdefault(task_id, set()).add(sid)

    def forget_task(self, task_id: str, scheduler: Scheduler, now_s: float, *,
                    cancel: bool = False) -> None:
        """Drop a finished task's state; ``cancel`` also withdraws its unfinished sub-tasks.

        Its durable sub-task records and parts are deleted too; the task's own
        record stays (``done``) so redelivered input for it is recognised.
        """
        subtask_ids = self.task_subtasks.pop(task_id, set())
        if cancel:
            # A failed task's other sub-tasks would only waste backend time.
            for subtask_id in subtask_ids:
                scheduler.complete(subtask_id, now_s)
        scheduler.forget_task(task_id)
        for subtask_id in subtask_ids:
            self.records.pop(subtask_id, None)
        if self.durable:
            assert self.subtask_table is not None and self.part_table is not None
            for sid in self.persisted.pop(task_id, set()) | subtask_ids:
                self.subtask_table.delete(sid)
                self.part_table.delete(sid)

    def clear_state(self) -> None:
        """Forget all in-memory task state (this worker lost ownership)."""
        self.records.clear()
        self.task_subtasks.clear()
        self.assemblies.clear()
        self.orphan_parts.clear()
        self.persisted.clear()
        self.changed.clear()

    # -- restore --------------------------------------------------------------------------
    def restore(self, scheduler: Scheduler, now_s: float) -> tuple[int, int]:
        """Rebuild sub-task records, ``scheduler`` and assemblies from the tables.

        Expects cleared in-memory state and a fresh ``scheduler``. Part records
        of tasks that are no longer active (left over from a crash after their
        result went out) are deleted.

        Returns
        -------
        tuple of int
            ``(active tasks, parts)`` restored.
        """
        assert self.task_table is not None and self.subtask_table is not None
        assert self.part_table is not None
        placements: list[Placement] = []
        completed: list[str] = []
        durable: dict[str, dict[str, Any]] = {}
        for sid, rec in self.subtask_table.items():
            self.persisted.setdefault(rec["task_id"], set()).add(sid)
            if rec["state"] == "completed":
                completed.append(sid)
                continue
            placements.append(Placement.from_dict(rec["placement"]))
            durable[sid] = rec
        scheduler.restore(placements, completed, now_s)
        scheduler.drain_changed()
        for p in placements:
            sid = p.subtask.subtask_id
            self.records[sid] = SubtaskRecord.from_durable(durable[sid], p.subtask)
            self.task_subtasks.setdefault(p.subtask.task_id, set()).add(sid)
        active = 0
        for task_id, rec in self.task_table.items():
            if rec["state"] == "done":
                self.results_end = max(self.results_end, int(rec.get("offset", -1)))
            elif rec["state"] == "active" and rec.get("plan"):
                self.assemblies[task_id] = assembly_from_plan(rec["plan"])
                active += 1
        parts = 0
        for sid, data in self.part_table.items():
            record = self.task_record(data["task_id"])
            if record is not None and record["state"] != "active":
                self.part_table.delete(sid)  # left over from a crash after the result went out
                continue
            assembly = self.assemblies.get(data["task_id"])
            if assembly is None:
                self.orphan_parts.setdefault(data["task_id"], []).append(data)
            else:
                apply_part(assembly, data)
            parts += 1
        return active, parts

    def tasks_in_state(self, state: str) -> dict[str, dict[str, Any]]:
        """Every task record in ``state`` (active, publishing, done or cancel_requested),
        by task id."""
        assert self.task_table is not None
        return {tid: rec for tid, rec in self.task_table.items() if rec["state"] == state}

    def prune_done(self, cutoff: float, now: float) -> int:
        """Delete ``done`` task records written before ``cutoff`` (epoch s); return how many."""
        assert self.task_table is not None
        old = [tid for tid, rec in self.tasks_in_state("done").items()
               if float(rec.get("at", now)) < cutoff]
        for tid in old:
            self.task_table.delete(tid)
        return len(old)
