"""Read qstream's public topics into an :class:`~qstream.core.sli.SLIAggregator`.

A plain aiokafka consumer without a consumer group: it commits nothing and
disturbs no worker's offsets. It assigns every partition of
``qstream.telemetry``, ``qstream.results`` and ``qstream.reallocations`` and
starts at the beginning (the whole history) or at the end (``from_now``).
:func:`read_to_end` stops at the end offsets of when it started (exact on the
embedded broker too, via :func:`~qstream.stream.tansu_compat.fetch_end_offsets`);
:func:`follow` keeps reading.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from qstream.config import KafkaSecurity
from qstream.core.sli import SLIAggregator
from qstream.errors import BrokerError
from qstream.stream import security, tansu_compat
from qstream.stream import topics as T

SLI_TOPICS = (T.TELEMETRY, T.RESULTS, T.REALLOCATIONS)
"""Topics whose messages the SLIs are computed from."""


def feed(sli: SLIAggregator, value: bytes | None) -> None:
    """Decode one record value (UTF-8 JSON object) and give it to ``sli``.

    Anything else (not JSON, not an object) is counted as ``messages["ignored"]``:
    a monitor reads whatever is on the topic and never stops on it.
    """
    try:
        message = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        message = None
    if isinstance(message, dict):
        sli.observe(message)
    else:
        sli.messages["ignored"] = sli.messages.get("ignored", 0) + 1


async def _start(broker: str, *, from_now: bool, timeout_s: float,
                 kafka: KafkaSecurity | None = None,
                 ) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    bootstrap = broker.split("://", 1)[-1]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="latest" if from_now else "earliest",
        request_timeout_ms=max(int(timeout_s * 1000), 1000),
        **tansu_compat.consumer_settings(broker), **security.client_settings(kafka))
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
        existing = await asyncio.wait_for(consumer.topics(), timeout_s)
    except Exception as exc:
        await consumer.stop()
        reason = str(exc) or type(exc).__name__  # a timeout has no message
        raise BrokerError(f"no Kafka broker answered at {bootstrap} (timeout {timeout_s:g} s): "
                          f"{reason}; is it running?") from exc
    partitions = [TopicPartition(topic, p) for topic in SLI_TOPICS if topic in existing
                  for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if partitions:
        consumer.assign(partitions)
        if from_now:
            await consumer.seek_to_end(*partitions)
        else:
            await consumer.seek_to_beginning(*partitions)
    return consumer, partitions


async def read_to_end(broker: str, sli: SLIAggregator, *, from_now: bool = False,
                      timeout_s: float = 10.0, max_wait_s: float = 60.0,
                      kafka: KafkaSecurity | None = None) -> int:
    """Feed ``sli`` every record up to the end offsets at call time; return how many.

    Parameters
    ----------
    broker:
        ``kafka://`` or ``tansu://`` URL, already resolved
        (:func:`qstream.stream.worker.resolve_broker`).
    from_now:
        Start at the end: read nothing that is already there.
    timeout_s:
        Seconds to wait for the broker to answer.
    max_wait_s:
        Seconds to spend reading at most.

    Raises
    ------
    BrokerError
        If the broker does not answer, or the end is not reached in ``max_wait_s``.
    """
    consumer, partitions = await _start(broker, from_now=from_now, timeout_s=timeout_s,
                                        kafka=kafka)
    n = 0
    try:
        if not partitions or from_now:
            return 0
        end = await tansu_compat.end_offsets(consumer, broker, partitions,
                                             security.client_settings(kafka))
        deadline = time.monotonic() + max_wait_s
        pending = {tp for tp in partitions if end[tp] > 0}
        while pending:
            if time.monotonic() > deadline:
                raise BrokerError(f"could not read to the end of {sorted(tp.topic for tp in pending)} "
                                  f"within {max_wait_s:g} s")
            batch = await consumer.getmany(*pending, timeout_ms=200)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < end[tp]:
                        feed(sli, record.value)
                        n += 1
            for tp in list(pending):
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return n


async def follow(broker: str, sli: SLIAggregator, on_tick: Callable[[], Awaitable[None] | None],
                 *, interval_s: float = 1.0, from_now: bool = False,
                 timeout_s: float = 10.0, kafka: KafkaSecurity | None = None) -> None:
    """Feed ``sli`` forever; call ``on_tick()`` every ``interval_s`` seconds (and at once).

    Raises
    ------
    BrokerError
        If the broker does not answer at start.
    """
    consumer, partitions = await _start(broker, from_now=from_now, timeout_s=timeout_s,
                                        kafka=kafka)
    try:
        last = 0.0
        while True:
            if partitions:
                batch = await consumer.getmany(timeout_ms=min(200, int(interval_s * 1000)))
                for records in batch.values():
                    for record in records:
                        feed(sli, record.value)
            else:
                await asyncio.sleep(min(interval_s, 1.0))
                consumer, partitions = await _restart_if_topics(consumer, broker, from_now, kafka,
                                                                timeout_s)
            if time.monotonic() - last >= interval_s:
                last = time.monotonic()
                result = on_tick()
                if result is not None:
                    await result
    finally:
        await consumer.stop()


async def _restart_if_topics(consumer: AIOKafkaConsumer, broker: str, from_now: bool,
                             kafka: KafkaSecurity | None, timeout_s: float,
                             ) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """Before a worker created the topics there is nothing to assign; look again."""
    existing = await consumer.topics()
    if not any(t in existing for t in SLI_TOPICS):
        return consumer, []
    await consumer.stop()
    return await _start(broker, from_now=from_now, timeout_s=timeout_s, kafka=kafka)
