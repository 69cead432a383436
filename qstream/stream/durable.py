"""Durable worker state: JSON values in changelog-backed Faust tables, and a results scan.

What a worker must not lose when it is SIGKILLed lives in three tables besides
the predictor snapshot (see README, "Guarantees"):

==================  =============================  ==========================================
table               changelog topic                key -> value
==================  =============================  ==========================================
``tasks``           ``qstream.tasks-changelog``    task_id -> active / publishing / done record
``subtasks``        ``qstream.subtasks-changelog`` subtask_id -> placement or completion marker
``parts``           ``qstream.parts-changelog``    subtask_id -> its ``subtask_result`` message
==================  =============================  ==========================================

Why this is enough: Faust flushes the producer (changelog writes included)
before it commits a source offset, so the state changes of every record whose
offset is committed are in the changelog. After a crash the next worker recovers
the tables, rebuilds the scheduler and task assemblies from them, and replays
only records whose offsets were not committed; every handler is idempotent under
that replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiokafka
import faust
import orjson
from aiokafka import TopicPartition

from qstream.config import KafkaSecurity
from qstream.stream import security, tansu_compat


class JsonTable:
    """A changelog-backed Faust table of ``str`` keys and JSON-object values.

    ``use_partitioner=True``: writes do not need a current stream event, so timers
    (reallocation, hedging, pruning) may write too. Every table has one
    partition, like every qstream control topic.

    Parameters
    ----------
    app:
        The worker's Faust app.
    name:
        Table name.
    changelog:
        Name of its compacted changelog topic.
    """

    def __init__(self, app: faust.App, name: str, changelog: str) -> None:
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                               "key_serializer": "raw", "value_serializer": "raw"}
        self.table = app.Table(
            # bytes keys: with the raw serializer a str key comes back as bytes after
            # changelog recovery and would no longer match.
            name, partitions=1, key_type=bytes, value_type=bytes, use_partitioner=True,
            changelog_topic=app.topic(changelog, partitions=1, compacting=True,
                                      internal=True, **raw),
        )

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.table.get(key.encode("utf-8"))
        return orjson.loads(raw) if raw else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Write ``value``; an unchanged value is not written again."""
        k = key.encode("utf-8")
        data = orjson.dumps(value)
        if self.table.get(k) != data:
            self.table[k] = data

    def delete(self, key: str) -> None:
        k = key.encode("utf-8")
        if k in self.table:
            del self.table[k]

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every ``(key, value)``; a snapshot, so the caller may write meanwhile."""
        for k, raw in list(self.table.items()):
            if raw:
                yield k.decode("utf-8"), orjson.loads(raw)

    def __len__(self) -> int:
        return len(self.table)


async def scan_task_ids(broker: str, topic: str, start_offset: int, task_ids: set[str], *,
                        kafka: KafkaSecurity | None = None,
                        timeout_s: float = 30.0) -> dict[str, int]:
    """Offsets of the records keyed by one of ``task_ids`` in partition 0 of ``topic``.

    Reads from ``start_offset`` to the end offset at the time of the call (with
    the SASL/TLS settings ``kafka``); used
    after a failover to learn which results the crashed worker had already
    published. On the embedded broker the end offset comes from a fetch
    (:func:`qstream.stream.tansu_compat.fetch_end_offsets`), not ListOffsets.

    Returns
    -------
    dict
        task_id -> offset of its first record at or after ``start_offset``.

    Raises
    ------
    TimeoutError
        If the range cannot be read within ``timeout_s``.
    """
    bootstrap = broker.split("://", 1)[-1]
    tp = TopicPartition(topic, 0)
    auth = security.client_settings(kafka)
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False,
        **tansu_compat.consumer_settings(broker), **auth)
    await consumer.start()
    found: dict[str, int] = {}
    try:
        consumer.assign([tp])
        end = (await tansu_compat.end_offsets(consumer, broker, [tp], auth))[tp]
        if start_offset >= end:
            return found
        consumer.seek(tp, max(start_offset, 0))

        async def read() -> None:
            while True:
                batch = await consumer.getmany(tp, timeout_ms=200)
                for record in batch.get(tp, ()):
                    key = record.key.decode("utf-8", "replace") if record.key else None
                    if key in task_ids and key not in found:
                        found[key] = record.offset
                    if record.offset >= end - 1:
                        return

        await asyncio.wait_for(read(), timeout_s)
    finally:
        await consumer.stop()
    return found
