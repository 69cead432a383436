"""A small asyncio client for the public topics: submit tasks, read results and telemetry.

Any Kafka client can do the same with plain JSON; this one adds schema validation
before sending and the embedded broker's settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from qstream.config import KafkaSecurity
from qstream.stream import codec, security, tansu_compat, tracing
from qstream.stream import topics as T


class Client:
    """Producer and consumer of qstream's public topics.

    Parameters
    ----------
    broker:
        ``kafka://HOST:PORT`` or ``tansu://HOST:PORT`` (already resolved, see
        :func:`qstream.stream.worker.resolve_broker`).
    tracer_provider:
        OpenTelemetry tracer provider for the ``send qstream.tasks`` spans; None uses
        the global one (a no-op unless :func:`qstream.stream.tracing.configure` ran).
    kafka:
        SASL/TLS settings; None is PLAINTEXT.
    compression_type:
        The producer's record compression (``"gzip"``: the stdlib's, needs no extra
        package); None sends records uncompressed. The broker's ``message.max.bytes``
        applies to the compressed batch.
    max_message_bytes:
        Largest encoded (uncompressed) task :meth:`submit` publishes; a larger one
        raises before anything is sent. None: no check (aiokafka's own
        ``max_request_size``, 1 MiB, still applies).

    Raises
    ------
    qstream.errors.BrokerAuthError
        On entering, if the broker refuses the credentials or the TLS handshake fails.
    qstream.errors.BrokerError
        On entering, if no broker answers.
    """

    def __init__(self, broker: str, tracer_provider: Any = None,
                 kafka: KafkaSecurity | None = None, *, compression_type: str | None = None,
                 max_message_bytes: int | None = None) -> None:
        self.broker = broker
        self.compression_type = compression_type
        self.max_message_bytes = max_message_bytes
        self.tracer = tracing.tracer(tracer_provider)
        self.bootstrap = broker.split("://", 1)[-1]
        self.kafka = kafka
        self._auth = security.client_settings(kafka)
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Client:
        sizing: dict[str, Any] = {}
        if self.max_message_bytes is not None:
            # aiokafka checks the uncompressed record against max_request_size; the
            # broker checks the compressed batch. Leave room for the record overhead.
            sizing["max_request_size"] = max(1_048_576, self.max_message_bytes + 65_536)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, **tansu_compat.producer_settings(self.broker),
            compression_type=self.compression_type, **sizing, **self._auth)
        try:
            await producer.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise await security.connection_error(self.bootstrap, self.kafka, exc) from exc
        self._producer = producer
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def submit(self, task: dict[str, Any], *,
                     headers: list[tuple[str, bytes]] | None = None) -> None:
        """Validate and publish one task (key = task_id); stamps ``submitted_at``.

        Traced as a ``send qstream.tasks`` PRODUCER span, the root of the task's
        trace (or a child of the caller's current span); its W3C trace context goes
        into the record headers, next to ``headers`` (e.g. binary-mode CloudEvent
        attributes, :func:`qstream.stream.cloudevents.submission_headers`).

        Raises
        ------
        qstream.errors.ValidationError
            If the task is invalid, or (``reason="limit"``) its encoding is over
            ``max_message_bytes``; nothing is sent then.
        """
        assert self._producer is not None, "use `async with Client(...)`"
        task = {**task, "submitted_at": task.get("submitted_at") or time.time()}
        value = codec.encode(task)
        if self.max_message_bytes is not None:
            check_size(task["task_id"], value, self.max_message_bytes)
        with self.tracer.start_as_current_span(
                f"send {T.TASKS}", kind=tracing.SEND,
                attributes={**tracing.send_attributes(T.TASKS, task["task_id"]),
                            "qstream.task_id": task["task_id"],
                            "qstream.circuits": len(task.get("circuits") or ())}):
            await self._producer.send_and_wait(
                T.TASKS, value, key=task["task_id"].encode("utf-8"),
                headers=tracing.inject(headers) or None)

    async def cancel(self, task_id: str, *, reason: str | None = None,
                     requested_by: str | None = None,
                     request_id: str | None = None) -> dict[str, Any]:
        """Publish a ``qstream.control.v1`` cancel request (key = task_id); return it.

        The worker answers with a ``cancel`` telemetry event carrying ``request_id``
        (a new UUID when not given) and, for an active task, a ``cancelled`` result.
        """
        assert self._producer is not None, "use `async with Client(...)`"
        request: dict[str, Any] = {"schema": "qstream.control.v1", "action": "cancel",
                                   "task_id": task_id, "request_id": request_id or str(uuid.uuid4()),
                                   "at": time.time()}
        if reason:
            request["reason"] = reason
        if requested_by:
            request["requested_by"] = requested_by
        await self._producer.send_and_wait(T.CONTROL, codec.encode(request),
                                           key=task_id.encode("utf-8"),
                                           headers=tracing.inject() or None)
        return request

    async def send_raw(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Publish raw bytes (for tests of bad input)."""
        assert self._producer is not None
        await self._producer.send_and_wait(topic, value, key=key)

    def consumer(self, *topics: str, from_beginning: bool = True) -> AIOKafkaConsumer:
        return tansu_compat.new_consumer(
            self.broker, *topics, enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest", **self._auth)

    async def stream(self, *topics: str, from_beginning: bool = True,
                     idle_timeout_s: float | None = None) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield ``(topic, message)`` from ``topics``; stop after ``idle_timeout_s`` of silence."""
        consumer = self.consumer(*topics, from_beginning=from_beginning)
        await consumer.start()
        try:
            last = time.monotonic()
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    for record in records:
                        last = time.monotonic()
                        yield tp.topic, orjson.loads(record.value)
                if idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                    return
        finally:
            await consumer.stop()

    async def wait_results(self, task_ids: Iterable[str], timeout_s: float,
                           ) -> dict[str, dict[str, Any]]:
        """Return the results of ``task_ids`` seen on ``qstream.results`` within ``timeout_s``."""
        wanted = set(task_ids)
        found: dict[str, dict[str, Any]] = {}

        async def collect() -> None:
            async for _, message in self.stream(T.RESULTS):
                if message.get("task_id") in wanted:
                    found[message["task_id"]] = message
                    if len(found) == len(wanted):
                        return

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(collect(), timeout_s)
        return found


def check_size(task_id: str, value: bytes, max_message_bytes: int) -> None:
    """Refuse an encoded task over ``max_message_bytes`` (bytes, uncompressed) before it is
    sent: the worker would reject it to ``qstream.dlq`` (its admission limit,
    ``QSTREAM_MAX_MESSAGE_BYTES``), and Apache Kafka refuses records over its
    ``message.max.bytes`` (1 MiB by default).

    Raises
    ------
    qstream.errors.ValidationError
        ``reason="limit"``, with the encoded and the gzip-compressed size.

    Examples
    --------
    >>> from qstream.errors import ValidationError
    >>> check_size("t", b"x" * 10, 10)  # at the limit: passes
    >>> try:
    ...     check_size("t", b"x" * 11, 10)
    ... except ValidationError as exc:
    ...     print(exc.reason, str(exc)[:49])
    limit task t is 11 bytes encoded (gzip: 23 bytes), over
    """
    if len(value) <= max_message_bytes:
        return
    from qstream.errors import ValidationError

    compressed = len(gzip.compress(value, compresslevel=6))
    raise ValidationError(
        f"task {task_id} is {len(value):,} bytes encoded (gzip: {compressed:,} bytes), over the "
        f"limit of {max_message_bytes:,} bytes (QSTREAM_MAX_MESSAGE_BYTES); nothing was sent. "
        "Workers reject larger tasks to qstream.dlq and Kafka brokers refuse records over "
        "message.max.bytes (1 MiB by default): split the circuits into several tasks",
        reason="limit")
