"""The outbox: every record a worker publishes goes through here.

:meth:`Outbox.send` validates a message against its JSON Schema, traces the send
and records SLI metrics; :meth:`Outbox.send_dlq` publishes rejected input;
:meth:`Outbox.publish_result` publishes a task's one result, effectively once
across crashes (the write-ahead protocol below, settled after a failover by
:mod:`qstream.stream.recovery`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from qstream.stream import cloudevents, codec, metrics, tracing
from qstream.stream import topics as T
from qstream.stream.counters import Counters
from qstream.stream.crash_points import crash_point
from qstream.stream.ledger import TaskLedger
from qstream.stream.messages import dlq_entry
from qstream.stream.ports import Message, Producer, Topic

log = logging.getLogger("qstream.worker")


class Outbox:
    """Validated, traced sends to the worker's topics.

    Parameters
    ----------
    topics:
        Topic name -> topic (every topic this worker may send to).
    producer:
        The producer behind them (``flush`` before a result is sent).
    ledger:
        Where task records (``publishing``, ``done``) are written.
    counters:
        The worker's counters (``dlq_sent``, ``results_sent``).
    tracer:
        OpenTelemetry tracer of the ``send <topic>`` spans.
    all_results_as_cloudevents:
        Give every result record CloudEvent headers, not only those of tasks that came
        as CloudEvents (``QSTREAM_RESULT_CLOUDEVENTS=all``).
    """

    def __init__(self, topics: Mapping[str, Topic], producer: Producer, ledger: TaskLedger,
                 counters: Counters, tracer: trace.Tracer, *,
                 all_results_as_cloudevents: bool = False) -> None:
        self.all_results_as_cloudevents = all_results_as_cloudevents
        self.topics = topics
        self.producer = producer
        self.ledger = ledger
        self.counters = counters
        self.tracer = tracer

    async def send(self, topic: str, key: str | None, message: dict[str, Any],
                   headers: Any = None, *, context: otel_context.Context | None = None,
                   attributes: dict[str, Any] | None = None) -> Any:
        """Validate ``message`` against its schema, then publish it.

        The send is traced as a ``send <topic>`` PRODUCER span, a child of ``context``
        (default: the current span); its W3C trace context goes into the record headers.

        Returns
        -------
        Awaitable
            Resolves to the record's metadata (``.offset``) once the broker has it.

        Raises
        ------
        qstream.errors.ValidationError
            If ``message`` does not match its schema (nothing is sent).
        """
        value = codec.encode(message)
        with self.tracer.start_as_current_span(
                f"send {topic}", context=context, kind=tracing.SEND,
                attributes={**tracing.send_attributes(topic, key), **(attributes or {})}):
            out = tracing.inject(headers)
            delivery = await self.topics[topic].send(
                key=key.encode("utf-8") if key is not None else None, value=value,
                headers=out or headers)
        metrics.observe(topic, message)  # SLI metrics of what this process publishes
        return delivery

    async def send_dlq(self, *, reason: str, error: str, message: Message,
                       task_id: str | None = None) -> None:
        """Publish a ``qstream.dlq.v1`` entry for the consumed ``message`` that was rejected."""
        entry = dlq_entry(
            reason=reason, error=error, original=message.value, topic=message.topic,
            partition=message.partition, offset=message.offset, key=message.key,
            task_id=task_id,
        )
        await self.send(T.DLQ, task_id, entry)
        self.counters.dlq_sent += 1
        log.warning("dlq %s at %s[%d]@%d: %s", reason, message.topic, message.partition,
                    message.offset, error)

    async def publish_result(self, result: dict[str, Any], *, source: str | None = None,
                             cloudevent: dict[str, str] | None = None) -> None:
        """Publish a task's one ``qstream.result.v1``, effectively once across crashes.

        Write-ahead: the result is first recorded as ``publishing`` (with the
        offset of the newest result known so far, and the task's CloudEvent origin:
        its record's, or ``cloudevent``) and flushed to the changelog;
        then it is sent and its delivery awaited; then the task is marked
        ``done`` with the result's offset. A worker that takes over finds any
        ``publishing`` record and scans ``qstream.results`` after that offset:
        the result is re-sent only if it is not there (:mod:`qstream.stream.recovery`).
        """
        prev = self.ledger.task_record(result["task_id"]) or {}
        source = source or prev.get("source")
        cloudevent = cloudevent or prev.get("cloudevent")
        self.ledger.mark_publishing(result, source, cloudevent=cloudevent)
        await self.producer.flush()
        crash_point("result-recorded")
        await self.send_result_record(result, source, cloudevent=cloudevent)

    async def send_result_record(self, result: dict[str, Any], source: str | None, *,
                                 cloudevent: dict[str, str] | None = None) -> None:
        """Send ``result``, await its delivery, then mark its task ``done``.

        The record carries binary-mode CloudEvent headers
        (:func:`qstream.stream.cloudevents.result_headers`) when the task came as a
        CloudEvent (``cloudevent``) or the deployment asks for them on every result
        (:attr:`all_results_as_cloudevents`).
        """
        task_id = result["task_id"]
        headers = cloudevents.result_headers(result) \
            if cloudevent is not None or self.all_results_as_cloudevents else None
        delivery = await self.send(T.RESULTS, task_id, result, headers,
                                   attributes={"qstream.task_id": task_id,
                                               "qstream.task.status": result["status"]})
        offset = int((await delivery).offset)
        crash_point("result-sent")
        self.ledger.mark_done(task_id, source, offset, result["status"])
        self.counters.results_sent += 1
