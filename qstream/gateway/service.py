"""What the gateway does, without HTTP: admit and publish tasks, publish cancel requests,
and own the Kafka clients (a producer, the :class:`~qstream.gateway.follower.Follower`).

Admission runs the partition agent's own checks before anything is published:
:func:`qstream.stream.codec.decode_task` (JSON, UTF-8, size, schema, content) and
:func:`qstream.agents.partition.admission_checks` (limits, QASM, widths, kinds; in an
executor, since it parses QASM), or :func:`~qstream.agents.partition.check_solvable`
for a problem task. An input that fails raises the same error, with the same reason,
that the partition agent would send to ``qstream.dlq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import orjson

from qstream.agents.partition import admission_checks, check_solvable
from qstream.backends.fleet import fleet_specs
from qstream.client import Client
from qstream.config import WorkerConfig
from qstream.core.task import Task
from qstream.errors import BrokerError, TaskConflictError, UnknownTaskError
from qstream.gateway.estimate import Planner
from qstream.gateway.follower import FleetState, Follower
from qstream.gateway.view import TaskIndex, TaskView
from qstream.stream import codec, security
from qstream.stream import topics as T

log = logging.getLogger("qstream.gateway")

TASK_SCHEMA = "qstream.task.v1"


def new_task_id() -> str:
    """A fresh task id: a UUID4 in hex (32 characters)."""
    return uuid.uuid4().hex


def parse_task(body: bytes, *, max_bytes: int) -> tuple[dict[str, Any], Task]:
    """The task message of a request body, ``task_id`` and ``schema`` filled in when absent,
    and its typed, validated value.

    Raises
    ------
    ValidationError
        As :func:`qstream.stream.codec.decode_task` (reasons ``too_large``, ``utf8``,
        ``json``, ``not_object``, ``unknown_schema``, ``schema``).
    TaskContentError
        Schema-valid content that cannot run.

    Examples
    --------
    >>> message, task = parse_task(b'{"circuits": [{"name": "c", "qasm": "x"}], "shots": 5}',
    ...                            max_bytes=1000)
    >>> message["schema"], len(task.task_id), task.shots
    ('qstream.task.v1', 32, 5)
    >>> parse_task(b'{"circuits": [{"name": "c", "qasm": "x"}], "shots": 0}', max_bytes=1000)
    Traceback (most recent call last):
    ...
    qstream.errors.ValidationError: field 'shots': 0 is less than the minimum of 1
    """
    if len(body) > max_bytes:
        codec.decode_task(body, max_bytes=max_bytes)  # raises too_large
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        codec.decode_task(body, max_bytes=max_bytes)  # raises utf8 or json, naming the place
        raise
    if isinstance(message, dict):
        message.setdefault("schema", TASK_SCHEMA)
        if "task_id" not in message:
            message["task_id"] = new_task_id()
    task = codec.decode_task(orjson.dumps(message), max_bytes=None)
    return message, task


class Gateway:
    """The gateway's state and Kafka clients; one per process (or per test).

    Parameters
    ----------
    config:
        The worker settings the gateway shares (broker, fleet, policy, limits, Kafka
        security); ``config.broker`` must be resolved
        (:func:`qstream.stream.worker.resolve_broker`).
    """

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.specs = fleet_specs(config.fleet)
        self.index = TaskIndex()
        self.fleet = FleetState()
        self.planner = Planner(config, self.specs)
        self.follower = Follower(config.broker, self.index, self.fleet, kafka=config.kafka)
        self.client: Client | None = None
        self._task: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Create missing topics, connect the producer, start following the topics.

        Raises
        ------
        BrokerError
            If no broker answers (BrokerAuthError: credentials or TLS refused).
        """
        auth = security.client_settings(self.config.kafka)
        try:
            await T.ensure_topics(self.config.bootstrap,
                                  T.pipeline_topics([s.name for s in self.specs]), auth=auth)
        except Exception as exc:
            raise await security.connection_error(self.config.bootstrap, self.config.kafka,
                                                  exc) from exc
        client = Client(self.config.broker, kafka=self.config.kafka)
        await client.__aenter__()
        self.client = client
        await self.follower.start()
        self._task = asyncio.create_task(self.follower.run(), name="qstream-gateway-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self.follower.stop()
        if self.client is not None:
            await self.client.__aexit__(None, None, None)
            self.client = None

    @property
    def ready(self) -> bool:
        """Producer connected and the index caught up with the topics."""
        return (self.client is not None and self.follower.caught_up.is_set()
                and (self._task is None or not self._task.done()))

    # -- tasks -----------------------------------------------------------------------------

    async def admit(self, body: bytes) -> tuple[dict[str, Any], Task]:
        """Validate a request body as the partition agent would; nothing is published.

        Raises
        ------
        ValidationError, TaskContentError, CircuitError, CapacityError
            The task would be rejected (the DLQ reason is the error's ``reason``, or
            ``invalid_qasm`` / ``capacity`` for the last two).
        """
        message, task = parse_task(body, max_bytes=self.config.limits.max_message_bytes)
        loop = asyncio.get_running_loop()
        rt = self.planner.rt
        if task.problem is not None:
            await loop.run_in_executor(None, check_solvable, rt, task)
        else:
            await loop.run_in_executor(None, admission_checks, task, rt)
        return message, task

    async def submit(self, body: bytes, *,
                     headers: list[tuple[str, bytes]] | None = None) -> str:
        """Admit and publish a task (key = task_id, after the broker's ack); its id.

        ``headers`` go on the record (binary-mode CloudEvent attributes of a task that
        came as a CloudEvent: ``POST /``).

        Raises
        ------
        TaskConflictError
            ``reason="duplicate"``: the id is already known.
        BrokerError
            The broker did not take the record.
        ValidationError, TaskContentError, CircuitError, CapacityError
            As :meth:`admit`.
        """
        message, task = await self.admit(body)
        known = self.index.get(task.task_id)
        if known is not None:
            raise TaskConflictError(
                f"task_id {task.task_id!r} is already known (status {known.status}); "
                "submit under a new task_id", reason="duplicate", status=known.status)
        await self._client().submit(message, headers=headers)
        self.index.accepted(task.task_id)
        return task.task_id

    def view(self, task_id: str) -> TaskView:
        """The task's view.

        Raises
        ------
        UnknownTaskError
            If no such task was seen.
        """
        view = self.index.get(task_id)
        if view is None:
            raise UnknownTaskError(f"no task {task_id!r} on {T.TASKS}")
        return view

    async def cancel(self, task_id: str, *, reason: str | None = None) -> str:
        """Publish a ``qstream.control.v1`` cancel request for a task that is not finished;
        return its ``request_id``.

        Raises
        ------
        UnknownTaskError
            If no such task was seen (nothing is published).
        TaskConflictError
            ``reason="finished"`` if it already has its final status (nothing is published).
        """
        view = self.view(task_id)
        if view.finished:
            raise TaskConflictError(f"task already {view.status}; nothing to cancel",
                                    reason="finished", status=view.status)
        request_id = uuid.uuid4().hex
        control: dict[str, Any] = {"schema": "qstream.control.v1", "action": "cancel",
                                   "task_id": task_id, "request_id": request_id,
                                   "requested_by": "gateway", "at": time.time()}
        if reason:
            control["reason"] = reason
        await self._client().send_raw(T.CONTROL, codec.encode(control),
                                      key=task_id.encode("utf-8"))
        return request_id

    def _client(self) -> Client:
        if self.client is None:
            raise BrokerError("the gateway's producer is not connected")
        return self.client
