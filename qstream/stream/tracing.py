"""OpenTelemetry tracing at the Kafka edge: exporter setup and W3C trace context in headers.

A task's trace follows its records: the producer injects ``traceparent`` (and
``tracestate``) into the Kafka record headers, every consumer extracts it and opens
a ``process <topic>`` span under it, and every send opens a ``send <topic>`` span
whose context goes into the outgoing headers. Names and attributes follow the
OpenTelemetry messaging semantic conventions (``messaging.system=kafka``, ...).
The pure core never sees any of it.

Exporters (``--otel-exporter`` / ``QSTREAM_OTEL_EXPORTER``):

- ``none`` (default): the API's no-op tracer; near-zero overhead.
- ``console``: spans as JSON on stderr (batched).
- ``otlp`` or ``otlp:URL``: OTLP/HTTP (batched); without a URL the standard
  ``OTEL_EXPORTER_OTLP_*`` variables apply (default ``http://localhost:4318``).
- ``memory:PATH``: the SDK's in-memory exporter; finished spans are appended to
  ``PATH`` as JSON lines at :func:`shutdown` (for tests across processes).

Examples
--------
>>> headers = [("other", b"x")]
>>> carrier_get(headers, "other")
['x']
>>> carrier_get({"traceparent": b"00-abc"}, "traceparent")
['00-abc']
>>> carrier_get(None, "traceparent") is None
True
"""

from __future__ import annotations

import atexit
import json
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.semconv._incubating.attributes import messaging_attributes as M
from opentelemetry.trace import SpanKind

from qstream.config import check_otel_exporter

TRACER_NAME = "qstream"

_lock = threading.Lock()
_provider: Any = None  # the SDK TracerProvider this process configured, if any
_memory: tuple[Any, Path] | None = None  # (InMemorySpanExporter, path)


def configure(spec: str, service_name: str) -> None:
    """Install the global tracer provider for ``spec`` (see the module docstring).

    ``none`` installs nothing, so the API's no-op tracer stays in place. Calling it
    a second time in one process does nothing.

    Raises
    ------
    ConfigError
        If ``spec`` names no exporter.
    """
    global _provider, _memory
    check_otel_exporter(spec)
    if spec == "none" or _provider is not None:
        return
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if spec.startswith("memory:"):
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        # Simple is fine: the in-memory export only appends to a list.
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        _memory = (exporter, Path(spec.split(":", 1)[1]))
    elif spec == "console":
        # stderr: stdout may carry a command's output (``qstream submit --json``).
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = spec.split(":", 1)[1] if ":" in spec else None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _provider = provider
    atexit.register(shutdown)


def write_memory_spans() -> int:
    """Append the in-memory exporter's finished spans to its file; return how many."""
    if _memory is None:
        return 0
    exporter, path = _memory
    with _lock:
        spans = exporter.get_finished_spans()
        exporter.clear()
        if spans:
            with path.open("a", encoding="utf-8") as f:
                for span in spans:
                    f.write(json.dumps(json.loads(span.to_json()), separators=(",", ":")) + "\n")
    return len(spans)


def shutdown() -> None:
    """Flush and stop this process's exporter (idempotent)."""
    global _provider
    if _provider is None:
        return
    _provider.force_flush()
    write_memory_spans()
    _provider.shutdown()
    _provider = None


def tracer(provider: Any = None) -> trace.Tracer:
    """The qstream tracer of ``provider`` (default: the global one, no-op until configured)."""
    return trace.get_tracer(TRACER_NAME, tracer_provider=provider)


# -- W3C trace context in Kafka headers -------------------------------------------------------

def carrier_get(headers: Any, key: str) -> list[str] | None:
    """Values of header ``key`` in Kafka headers: a mapping or a sequence of (str, bytes)."""
    if not headers:
        return None
    if isinstance(headers, Mapping):
        pairs: Iterable[tuple[Any, Any]] = headers.items()
    else:
        pairs = headers
    values = [_text(v) for k, v in pairs if _text(k).lower() == key]
    return values or None


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


class HeaderGetter(Getter[Any]):
    """Reads propagation fields from Kafka record headers (list of pairs or dict)."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        return carrier_get(carrier, key)

    def keys(self, carrier: Any) -> list[str]:
        if not carrier:
            return []
        items = carrier.keys() if isinstance(carrier, Mapping) else (k for k, _ in carrier)
        return [_text(k) for k in items]


class HeaderSetter(Setter[list[tuple[str, bytes]]]):
    """Writes propagation fields into a list of Kafka ``(str, bytes)`` headers."""

    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        carrier[:] = [(k, v) for k, v in carrier if k != key]
        carrier.append((key, value.encode("utf-8")))


GETTER = HeaderGetter()
SETTER = HeaderSetter()


def extract(headers: Any) -> otel_context.Context:
    """The context carried by Kafka ``headers``; an empty one (a new trace) if none."""
    return propagate.extract(headers or [], getter=GETTER)


def inject(headers: list[tuple[str, bytes]] | None = None,
           context: otel_context.Context | None = None) -> list[tuple[str, bytes]]:
    """Add ``traceparent``/``tracestate`` of ``context`` (default: current) to ``headers``."""
    carrier = list(headers or [])
    propagate.inject(carrier, context=context, setter=SETTER)
    return carrier


# -- messaging attributes -----------------------------------------------------------------------

def send_attributes(topic: str, key: str | None) -> dict[str, Any]:
    """Attributes of a ``send <topic>`` (PRODUCER) span."""
    attrs: dict[str, Any] = {
        M.MESSAGING_SYSTEM: M.MessagingSystemValues.KAFKA.value,
        M.MESSAGING_DESTINATION_NAME: topic,
        M.MESSAGING_OPERATION_TYPE: M.MessagingOperationTypeValues.SEND.value,
        M.MESSAGING_OPERATION_NAME: "send",
    }
    if key is not None:
        attrs[M.MESSAGING_KAFKA_MESSAGE_KEY] = key
    return attrs


def process_attributes(message: Any, group: str | None) -> dict[str, Any]:
    """Attributes of a ``process <topic>`` (CONSUMER) span for a Faust/aiokafka ``message``."""
    attrs: dict[str, Any] = {
        M.MESSAGING_SYSTEM: M.MessagingSystemValues.KAFKA.value,
        M.MESSAGING_DESTINATION_NAME: str(getattr(message, "topic", "")),
        M.MESSAGING_OPERATION_TYPE: M.MessagingOperationTypeValues.PROCESS.value,
        M.MESSAGING_OPERATION_NAME: "process",
    }
    partition = getattr(message, "partition", None)
    if partition is not None:
        attrs[M.MESSAGING_DESTINATION_PARTITION_ID] = str(partition)
    offset = getattr(message, "offset", None)
    if offset is not None:
        attrs[M.MESSAGING_KAFKA_OFFSET] = int(offset)
    key = getattr(message, "key", None)
    if key is not None:
        attrs[M.MESSAGING_KAFKA_MESSAGE_KEY] = _text(key)
    if group:
        attrs[M.MESSAGING_CONSUMER_GROUP_NAME] = group
    return attrs


SEND = SpanKind.PRODUCER
PROCESS = SpanKind.CONSUMER
