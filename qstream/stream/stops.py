"""Stopping executions whose results nobody needs: cancelled tasks and abandoned copies.

Design (also docs/cancel.md):

- **Who decides.** Only the owner of the control topics (the pipeline worker that
  runs the scheduler) knows that a task was cancelled (the control agent,
  :mod:`qstream.agents.control`) or that a copy of a sub-task lost: the losing copy
  of a hedge, a copy sent again after a takeover, the in-flight parts of a task
  that already failed. It withdraws what is still pending in its scheduler and
  asks every executor to stop the rest, with a **stop request**: a
  ``qstream.telemetry.v1`` ``cancel`` event (outcome ``cancelled`` for a whole task,
  ``abandoned_copy`` for one sub-task, optionally on one backend).
- **How executors learn it.** The request is applied at once to the executions
  of the owner's own process (:meth:`Executions.stop`), and published on the
  internal topic ``qstream.stops`` (1 partition). Every process that runs
  executors follows that topic *without a consumer group* (:func:`follow`), from
  its beginning, so every executor process sees every request, including ones
  made before it started.
- **What an executor does.** A running execution is an asyncio task registered
  here; stopping it cancels it. Cancelling a backend's ``execute`` stops the work
  where the backend can (:meth:`qstream.backends.base.Backend.stoppable`): a
  simulation in the pool has its worker process terminated
  (:class:`qstream.backends.pool.StoppablePool`), an emulated queue wait ends. A
  released exec record of a stopped task or sub-task that arrives later is
  skipped. The executor answers with its own ``cancel`` event (``stopped: 1``,
  or ``discarded: 1`` when the backend cannot stop), and sends no result.
- **Results that still arrive** (a copy that finished before the request reached
  it) are dropped: post-processing ignores parts of tasks that are not active,
  and the first result of a sub-task wins.

Stops are at most once per executor process and idempotent: stopping what is not
running does nothing. The remembered requests are bounded (oldest dropped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qstream.errors import ValidationError
from qstream.stream import codec
from qstream.stream import topics as T

if TYPE_CHECKING:
    from qstream.stream.runtime import Runtime

log = logging.getLogger("qstream.stops")

REMEMBERED = 50_000
"""Most stop requests (tasks, sub-tasks) an executor process remembers, to skip late
exec records of stopped work; the oldest are forgotten first."""


def stop_request(task_id: str, outcome: str, *, subtask_id: str | None = None,
                 backend: str | None = None, message: str,
                 request_id: str | None = None) -> dict[str, Any]:
    """A stop request: the ``cancel`` telemetry event the owner sends on ``qstream.stops``.

    ``outcome`` is ``cancelled`` (every execution of ``task_id``) or
    ``abandoned_copy`` (the executions of ``subtask_id``; only on ``backend`` if given).

    >>> stop_request("t", "abandoned_copy", subtask_id="t/c0/s0", backend="b",
    ...              message="lost")["outcome"]
    'abandoned_copy'
    """
    event: dict[str, Any] = {"schema": "qstream.telemetry.v1", "event": "cancel",
                             "at": time.time(), "task_id": task_id, "outcome": outcome,
                             "subtask_id": subtask_id, "backend": backend, "message": message}
    if request_id is not None:
        event["request_id"] = request_id
    return event


@dataclass
class Execution:
    """One execution running in this process (an asyncio task awaiting a backend)."""

    task_id: str
    subtask_id: str
    backend: str
    attempt: int
    job: asyncio.Future[Any]
    stopped_by: dict[str, Any] | None = field(default=None)
    """The stop request that cancelled it; None while it runs unasked."""


class Executions:
    """The executions running in this process, and the stop requests it has seen."""

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self.remembered = remembered
        self._running: dict[int, Execution] = {}
        self._tasks: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._subtasks: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._running)

    def running(self, task_id: str | None = None) -> list[Execution]:
        """The running executions (of ``task_id`` only, if given)."""
        return [e for e in self._running.values() if task_id is None or e.task_id == task_id]

    def start(self, execution: Execution) -> None:
        """Register a running execution (the execute agent, before it awaits it)."""
        self._running[id(execution.job)] = execution

    def finish(self, execution: Execution) -> None:
        """Unregister an execution that ended (however it ended)."""
        self._running.pop(id(execution.job), None)

    def request_for(self, task_id: str, subtask_id: str, backend: str) -> dict[str, Any] | None:
        """The stop request that covers an execution of ``subtask_id`` on ``backend``, if any."""
        request = self._tasks.get(task_id)
        if request is not None:
            return request
        request = self._subtasks.get(subtask_id)
        if request is not None and request.get("backend") in (None, backend):
            return request
        return None

    def stop(self, request: dict[str, Any]) -> list[Execution]:
        """Apply a stop request: remember it and cancel the running executions it covers.

        Returns the executions cancelled now (their execute handlers answer for them).
        """
        if request.get("outcome") == "cancelled":
            self._remember(self._tasks, request["task_id"], request)
        elif request.get("subtask_id"):
            self._remember(self._subtasks, request["subtask_id"], request)
        else:
            return []
        out = []
        for execution in list(self._running.values()):
            if execution.stopped_by is not None or execution.job.done():
                continue
            if self.request_for(execution.task_id, execution.subtask_id,
                                execution.backend) is request:
                execution.stopped_by = request
                execution.job.cancel()
                out.append(execution)
        return out

    def _remember(self, where: OrderedDict[str, dict[str, Any]], key: str,
                  request: dict[str, Any]) -> None:
        where[key] = request
        where.move_to_end(key)
        while len(where) > self.remembered:
            where.popitem(last=False)


async def follow(rt: Runtime, *, poll_ms: int = 200) -> None:
    """Apply every stop request on ``qstream.stops`` to this process's executions. Forever.

    A plain consumer without a consumer group, assigned partition 0 from its
    beginning (the embedded broker's end offsets are unreliable, and a request
    made before this process started must still skip the late records it covers).
    Connection errors are logged and retried; cancelling the task ends it.
    """
    from aiokafka.structs import TopicPartition

    from qstream.stream import security, tansu_compat

    tp = TopicPartition(T.STOPS, 0)
    while True:
        consumer = tansu_compat.new_consumer(
            rt.config.broker, enable_auto_commit=False, auto_offset_reset="earliest",
            **security.client_settings(rt.config.kafka))
        try:
            await consumer.start()
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            while True:
                batch = await consumer.getmany(tp, timeout_ms=poll_ms)
                for record in batch.get(tp, ()):
                    apply_record(rt, record.value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep following: a missed stop only wastes CPU
            log.warning("following %s failed (%s: %s); retrying", T.STOPS,
                        type(exc).__name__, exc)
            await asyncio.sleep(1.0)
        finally:
            await consumer.stop()


def apply_record(rt: Runtime, value: bytes | None) -> int:
    """Apply one ``qstream.stops`` record; returns how many executions it stopped."""
    try:
        request = codec.decode(value, expected="qstream.telemetry.v1")
    except ValidationError as exc:
        log.warning("bad record on %s: %s", T.STOPS, exc)
        return 0
    if request.get("event") != "cancel":
        return 0
    stopped = rt.executions.stop(request)
    if stopped:
        log.info("stop request for %s stopped %d executions", request["task_id"], len(stopped))
    return len(stopped)
