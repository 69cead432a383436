"""The gateway's task index: every task's status and events, rebuilt from the topics.

The gateway keeps no state of its own: this index is a pure function of the
records on ``qstream.tasks``, ``qstream.results``, ``qstream.dlq``,
``qstream.telemetry``, ``qstream.reallocations`` and ``qstream.control``, read from
the beginning (:mod:`qstream.gateway.follower`). Any replica that has read the
same records answers the same.

Status of a task (``GET /v1/tasks/{task_id}``):

=============  ===============================================================
``accepted``   its record is on ``qstream.tasks`` (or this gateway published it)
``running``    a ``dispatch`` or ``execution`` telemetry event of it (or of one of
               its workflow steps ``{task_id}/w{n}``) was seen
``completed``  its result says so (likewise ``failed``, ``cancelled``)
``failed``     also: rejected to ``qstream.dlq`` from ``qstream.tasks`` with its
               ``task_id`` and no result yet (the DLQ reason is reported)
=============  ===============================================================

A ``duplicate`` DLQ entry is a resubmission of a known task: it is recorded as an
event and does not change the first submission's status.

Examples
--------
>>> index = TaskIndex()
>>> index.feed("qstream.tasks", b"t1", {"schema": "qstream.task.v1", "task_id": "t1"})
>>> index.get("t1").status
'accepted'
>>> index.feed("qstream.telemetry", None, {"event": "dispatch", "task_id": "t1",
...            "subtask_id": "t1/c0/s0", "backend": "b"})
>>> index.get("t1").status, index.get("t1").counts
('running', {'dispatch': 1})
>>> index.feed("qstream.results", b"t1", {"schema": "qstream.result.v1", "task_id": "t1",
...            "status": "completed"})
>>> index.get("t1").status, index.get("t1").finished
('completed', True)
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from qstream.stream import topics as T

MAX_EVENTS = 200
"""Events kept per task for ``/events`` replay and the ``events`` field (the oldest
are dropped beyond it; their counts are kept)."""

FINAL = ("completed", "failed", "cancelled")
"""Statuses after which nothing changes."""

TASK_EVENTS = ("dispatch", "execution", "retry", "failover", "cancel", "selection", "iteration")
"""Telemetry ``event`` kinds that belong to one task (they carry ``task_id``)."""

RUNNING_EVENTS = frozenset({"dispatch", "execution", "iteration", "selection"})
"""Telemetry kinds that mean the task has started."""

_STEP = re.compile(r"^(?P<parent>.+)/w\d+$")


@dataclass(slots=True)
class Event:
    """One record about a task: ``kind`` (telemetry event, ``reallocation``, ``control``,
    ``dlq``, ``result``), its sequence number in this index, and the message."""

    seq: int
    kind: str
    message: dict[str, Any]


@dataclass(slots=True)
class TaskView:
    """What the index knows about one task.

    Attributes
    ----------
    task_id:
        The id.
    status:
        One of ``accepted``, ``running``, ``completed``, ``failed``, ``cancelled``.
    result:
        Its ``qstream.result.v1`` message, or None.
    reason:
        The machine reason of a failure (result ``reason``, else the DLQ reason), or None.
    error:
        The human-readable error of a failure (result or DLQ), or None.
    counts:
        Events seen per kind.
    events:
        The last :data:`MAX_EVENTS` events.
    """

    task_id: str
    status: str = "accepted"
    result: dict[str, Any] | None = None
    reason: str | None = None
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    submitted: bool = False

    @property
    def finished(self) -> bool:
        """True once the status is final (a result, or a rejection)."""
        return self.status in FINAL


class TaskIndex:
    """Task views by id, fed one decoded record at a time (no I/O: the caller reads).

    Subscribers (:meth:`subscribe`) get every later event of their task on an
    :class:`asyncio.Queue`; the SSE endpoint replays :attr:`TaskView.events` and
    then reads its queue.
    """

    def __init__(self) -> None:
        self.tasks: dict[str, TaskView] = {}
        self._seq = 0
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}

    def __len__(self) -> int:
        return len(self.tasks)

    def get(self, task_id: str) -> TaskView | None:
        """The view of ``task_id``; None for a task never submitted."""
        return self.tasks.get(task_id)

    def accepted(self, task_id: str) -> TaskView:
        """Record a task this gateway just published (before it reads it back)."""
        view = self.tasks.get(task_id)
        if view is None:
            view = self.tasks[task_id] = TaskView(task_id)
        view.submitted = True
        return view

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, topic: str, key: bytes | None, message: Any) -> None:
        """Apply one record of ``topic`` (its decoded JSON value; anything else is ignored)."""
        if not isinstance(message, dict):
            return
        if topic == T.TASKS:
            self._on_task(key, message)
        elif topic == T.RESULTS:
            self._on_result(message)
        elif topic == T.DLQ:
            self._on_dlq(message)
        elif topic == T.TELEMETRY:
            kind = message.get("event")
            if kind in TASK_EVENTS:
                self._on_event(str(kind), message)
        elif topic == T.REALLOCATIONS:
            self._on_event("reallocation", message)
        elif topic == T.CONTROL:
            self._on_event("control", message)

    def _on_task(self, key: bytes | None, message: dict[str, Any]) -> None:
        task_id = _task_id_of(message, key)
        if task_id is not None:
            self.accepted(task_id)

    def _on_result(self, message: dict[str, Any]) -> None:
        task_id = message.get("task_id")
        if not isinstance(task_id, str):
            return
        view = self._view(task_id)
        if view.result is not None:
            return  # exactly one result counts: the first
        view.result = message
        status = message.get("status")
        view.status = status if status in FINAL else "failed"
        if view.status != "completed":
            view.reason = message.get("reason") or view.reason
            view.error = message.get("error") or view.error
        self._add(view, "result", message)

    def _on_dlq(self, message: dict[str, Any]) -> None:
        task_id = message.get("task_id")
        source = message.get("source")
        if not isinstance(task_id, str) or not isinstance(source, dict):
            return
        view = self.tasks.get(task_id)
        if source.get("topic") == T.TASKS and message.get("reason") != "duplicate":
            view = self._view(task_id)
            if view.result is None:
                view.status = "failed"
                view.reason = message.get("reason")
                view.error = message.get("error")
        if view is not None:
            self._add(view, "dlq", message)

    def _on_event(self, kind: str, message: dict[str, Any]) -> None:
        task_id = message.get("task_id")
        if not isinstance(task_id, str):
            return
        step = _STEP.match(task_id)
        if task_id not in self.tasks and step is not None and step["parent"] in self.tasks:
            task_id = step["parent"]  # a workflow step's event is its problem task's
        view = self.tasks.get(task_id)
        if view is None:
            return  # an internal task (a step of an unknown problem task)
        if kind in RUNNING_EVENTS and view.status == "accepted":
            view.status = "running"
        self._add(view, kind, message)

    def _view(self, task_id: str) -> TaskView:
        view = self.tasks.get(task_id)
        if view is None:
            view = self.tasks[task_id] = TaskView(task_id)
        return view

    def _add(self, view: TaskView, kind: str, message: dict[str, Any]) -> None:
        self._seq += 1
        event = Event(self._seq, kind, message)
        view.counts[kind] = view.counts.get(kind, 0) + 1
        view.events.append(event)
        for queue in self._subscribers.get(view.task_id, ()):
            queue.put_nowait(event)

    # -- following ---------------------------------------------------------------------------

    def subscribe(self, task_id: str) -> tuple[list[Event], asyncio.Queue[Event]]:
        """The events known now and a queue of every later one (call :meth:`unsubscribe`)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.setdefault(task_id, set()).add(queue)
        view = self.tasks.get(task_id)
        return (list(view.events) if view is not None else []), queue

    def unsubscribe(self, task_id: str, queue: asyncio.Queue[Event]) -> None:
        queues = self._subscribers.get(task_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[task_id]


def _task_id_of(message: dict[str, Any], key: bytes | None) -> str | None:
    """A task record's id: its ``task_id``, else the record key (a CloudEvent record is
    unwrapped to its task before it gets here, see :func:`qstream.gateway.follower.apply`).

    >>> _task_id_of({"task_id": "a"}, None), _task_id_of({}, b"k"), _task_id_of({}, None)
    ('a', 'k', None)
    """
    task_id = message.get("task_id")
    if isinstance(task_id, str) and task_id:
        return task_id
    if key:
        return key.decode("utf-8", "replace")
    return None
