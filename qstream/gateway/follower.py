"""Read qstream's topics from the beginning into the gateway's state, then keep following.

A plain aiokafka consumer without a consumer group (like
:mod:`qstream.stream.sli_reader`): it assigns every partition of :data:`TOPICS`,
commits nothing and disturbs no worker. It is *caught up* once its position
reaches, on every partition, the end offset it found at start; on the embedded
broker that end offset comes from a fetch
(:func:`qstream.stream.tansu_compat.end_offsets`), because tansu's ListOffsets can
be one batch short (``design.md``, "The embedded broker").

Besides the task index it keeps the fleet's live state (:class:`FleetState`): the
latest ``backend_status`` and ``breaker`` event per backend, and the latest
snapshots on ``qstream.predictor-changelog``: key ``b"predictor"`` (the fleet
predictor) and ``b"selection"`` (the solver-selection models), the raw pickle bytes
the worker's Faust table writes with the ``raw`` serializer (see
:meth:`qstream.stream.runtime.Runtime.save_snapshot`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from qstream.config import KafkaSecurity
from qstream.errors import BrokerError, ValidationError
from qstream.gateway.view import TaskIndex
from qstream.stream import cloudevents, security, tansu_compat
from qstream.stream import topics as T
from qstream.stream.runtime import SNAPSHOT_KEY

log = logging.getLogger("qstream.gateway")

TOPICS = (T.TASKS, T.RESULTS, T.DLQ, T.TELEMETRY, T.REALLOCATIONS, T.CONTROL,
          T.PREDICTOR_CHANGELOG)
"""What the gateway reads, from the beginning."""


@dataclass(slots=True)
class FleetState:
    """The latest fleet telemetry: what ``/v1/backends`` and ``/v1/estimate`` show.

    Attributes
    ----------
    status:
        backend -> its latest ``backend_status`` telemetry event.
    breakers:
        backend -> its latest ``breaker`` telemetry event.
    snapshots:
        Key -> the latest snapshot bytes on ``qstream.predictor-changelog`` (pickle:
        :meth:`Predictor.snapshot <qstream.core.predictor.Predictor.snapshot>` under
        ``b"predictor"``, the selection models under ``b"selection"``).
    snapshot_offset:
        Offset of the latest of them (-1: none); a new offset is a new snapshot.
    """

    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    breakers: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[bytes, bytes] = field(default_factory=dict)
    snapshot_offset: int = -1

    @property
    def snapshot(self) -> bytes | None:
        """The latest predictor snapshot, or None."""
        return self.snapshots.get(SNAPSHOT_KEY)

    def feed_telemetry(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("backend"), str):
            return
        kind = message.get("event")
        if kind == "backend_status":
            self.status[message["backend"]] = message
        elif kind == "breaker":
            self.breakers[message["backend"]] = message

    def feed_snapshot(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        if key is None:
            return
        if value:
            self.snapshots[key] = value
        else:
            self.snapshots.pop(key, None)  # a tombstone deletes it
        self.snapshot_offset = offset

    def pending_jobs(self, backend: str) -> int | None:
        event = self.status.get(backend)
        return int(event["pending_jobs"]) if event is not None else None

    def device_up(self, backend: str) -> bool | None:
        event = self.status.get(backend)
        return bool(event["operational"]) if event is not None else None

    def breaker_state(self, backend: str) -> str:
        """``closed`` (also when no breaker event was seen), ``open`` or ``half_open``."""
        event = self.breakers.get(backend)
        return str(event.get("state", "closed")) if event is not None else "closed"

    def calibration_age_s(self, backend: str, now_s: float | None = None) -> float | None:
        """Age of the calibration now: the last report's age plus the time since it."""
        event = self.status.get(backend)
        if event is None or event.get("calibration_age_s") is None:
            return None
        now_s = time.time() if now_s is None else now_s
        return float(event["calibration_age_s"]) + max(now_s - float(event["at"]), 0.0)


def apply(index: TaskIndex, fleet: FleetState, topic: str, key: bytes | None,
          value: bytes | None, offset: int, headers: Any = None) -> None:
    """Apply one record to the index and the fleet state (bad JSON is skipped).

    A task record that is a CloudEvent (binary or structured mode) is unwrapped to its
    task first, as the partition agent does (:func:`qstream.stream.cloudevents.task_record_value`:
    a task without ``task_id`` takes the event's id).
    """
    if topic == T.PREDICTOR_CHANGELOG:
        fleet.feed_snapshot(key, value, offset)
        return
    if topic == T.TASKS:
        with contextlib.suppress(ValidationError):  # a bad event: its DLQ entry tells
            value, _ = cloudevents.task_record_value(headers, value)
    try:
        message = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return
    if topic == T.TELEMETRY:
        fleet.feed_telemetry(message)
    index.feed(topic, key, message)


class Follower:
    """Reads :data:`TOPICS` into a :class:`TaskIndex` and a :class:`FleetState`.

    Parameters
    ----------
    broker:
        ``kafka://`` or ``tansu://`` URL, already resolved
        (:func:`qstream.stream.worker.resolve_broker`).
    kafka:
        SASL/TLS settings.
    topics:
        What to read (default :data:`TOPICS`; ``qstream estimate`` reads only the
        telemetry and the predictor changelog).
    on_record:
        Called after each applied record (tests; None: nothing).
    """

    def __init__(self, broker: str, index: TaskIndex, fleet: FleetState, *,
                 kafka: KafkaSecurity | None = None, topics: tuple[str, ...] = TOPICS,
                 on_record: Callable[[str], None] | None = None) -> None:
        self.broker = broker
        self.topics = topics
        self.index = index
        self.fleet = fleet
        self.kafka = kafka
        self.on_record = on_record
        self.caught_up = asyncio.Event()
        self.records = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._end: dict[TopicPartition, int] = {}

    async def start(self, timeout_s: float = 15.0) -> None:
        """Connect and assign every partition from the beginning.

        Raises
        ------
        BrokerError
            If no broker answers within ``timeout_s`` or a topic is missing.
        """
        bootstrap = self.broker.split("://", 1)[-1]
        auth = security.client_settings(self.kafka)
        consumer = tansu_compat.new_consumer(
            self.broker, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
            **auth)
        try:
            await asyncio.wait_for(consumer.start(), timeout_s)
            existing = await asyncio.wait_for(consumer.topics(), timeout_s)
            missing = [t for t in self.topics if t not in existing]
            if missing:
                raise BrokerError(f"topics {', '.join(missing)} do not exist on {bootstrap}")
            partitions = [TopicPartition(t, p) for t in self.topics
                          for p in sorted(consumer.partitions_for_topic(t) or ())]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            self._end = await tansu_compat.end_offsets(consumer, self.broker, partitions, auth)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await consumer.stop()
            if isinstance(exc, BrokerError):
                raise
            raise BrokerError(f"no Kafka broker answered at {bootstrap}: "
                              f"{str(exc) or type(exc).__name__}") from exc
        self._consumer = consumer
        if not any(self._end.values()):
            self.caught_up.set()

    async def run(self) -> None:
        """Follow the topics until cancelled."""
        assert self._consumer is not None, "call start() first"
        consumer = self._consumer
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batch.items():
                for record in records:
                    apply(self.index, self.fleet, tp.topic, record.key, record.value,
                          record.offset, record.headers)
                    self.records += 1
                    if self.on_record is not None:
                        self.on_record(tp.topic)
            if not self.caught_up.is_set() and await self._at_end(consumer):
                log.info("gateway index caught up: %d records, %d tasks", self.records,
                         len(self.index))
                self.caught_up.set()

    async def _at_end(self, consumer: AIOKafkaConsumer) -> bool:
        for tp, end in self._end.items():
            if end > 0 and await consumer.position(tp) < end:
                return False
        return True

    async def read_to_end(self, timeout_s: float = 60.0) -> None:
        """Read until caught up, then stop (a one-shot reader: ``qstream estimate``).

        Raises
        ------
        BrokerError
            If the end is not reached within ``timeout_s``.
        """
        runner = asyncio.create_task(self.run())
        try:
            await asyncio.wait_for(self.caught_up.wait(), timeout_s)
        except TimeoutError as exc:
            raise BrokerError(f"could not read to the end of {', '.join(self.topics)} "
                              f"within {timeout_s:g} s") from exc
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await self.stop()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
