"""CloudEvents on qstream's doors: task submissions in, result notifications out.

A task may arrive as a CloudEvent (Knative KafkaSource/KafkaSink, AWS EventBridge
Pipes, an HTTP trigger), and its result record then carries binary-mode CloudEvent
headers, so a Knative trigger or a Lambda can filter on the event type.

Specifications followed (CloudEvents 1.0.2):

- core attributes: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md
  (``id``, ``source``, ``specversion`` and ``type`` required and non-empty; ``time``
  RFC 3339);
- Kafka protocol binding:
  https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md
  (section 3.1: *structured* mode when the ``content-type`` header starts with
  ``application/cloudevents``, else *binary* mode: attributes in ``ce_`` headers, UTF-8,
  ``content-type`` = ``datacontenttype``, the value = the data);
- HTTP protocol binding (same rules with ``ce-`` headers), used by the gateway's ``POST /``;
- JSON event format (section 3.1: no ``datacontenttype`` means ``application/json``;
  ``data_base64`` carries binary data).

The official SDK (``cloudevents`` 2.x, its ``cloudevents.core`` API) parses and
validates the attributes. Two of its behaviours differ from the Kafka binding, so
this module does the mode detection itself:

- the SDK's ``from_kafka`` picks binary mode when any ``ce_`` header is present and
  structured mode otherwise, where the binding decides on ``content-type`` (a
  structured event that also carries ``ce_`` headers is structured);
- a record with neither a CloudEvents ``content-type`` nor a ``ce_specversion`` header
  is, for qstream, a plain ``qstream.task.v1`` record (the binding would call it binary
  mode with missing attributes): plain producers keep working.

Only ``specversion`` 1.0 is accepted. The event ``type`` of a submission must be
:data:`SUBMITTED`; its data must be a JSON ``qstream.task.v1`` object. A task without
``task_id`` takes the event's ``id``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import orjson
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from qstream.errors import CloudEventError, ValidationError

__all__ = [
    "CANCELLED", "COMPLETED", "FAILED", "SUBMITTED", "EventOrigin", "from_http", "from_record",
    "result_headers", "submission_headers", "task_from_event", "task_record_value",
]

SUBMITTED = "dev.qstream.task.submitted"
"""Event type of a task submission."""
COMPLETED = "dev.qstream.task.completed"
FAILED = "dev.qstream.task.failed"
CANCELLED = "dev.qstream.task.cancelled"
RESULT_TYPES = {"completed": COMPLETED, "failed": FAILED, "cancelled": CANCELLED}
"""Event type of a result record, by the result's ``status``."""

SOURCE = "/qstream/worker"
"""``source`` of the result events qstream emits (a URI-reference, spec section 3.1.1)."""

STRUCTURED_PREFIX = "application/cloudevents"
JSON_CONTENT_TYPES = ("application/json", "text/json")

_FORMAT = JSONFormat()


@dataclass(frozen=True, slots=True)
class EventOrigin:
    """The CloudEvent a task came in: kept with the task, echoed on its result.

    Attributes
    ----------
    id, source, type:
        The submission's attributes.
    mode:
        ``binary`` or ``structured`` (how it arrived), or ``http`` (the gateway).
    """

    id: str
    source: str
    type: str
    mode: str

    def to_dict(self) -> dict[str, str]:
        """As kept in the task's durable record (``cloudevent``)."""
        return {"id": self.id, "source": self.source, "type": self.type, "mode": self.mode}


def _headers(headers: Any) -> dict[str, bytes]:
    """Kafka headers (pairs or a mapping, str or bytes values) as a lower-cased dict."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, bytes] = {}
    for k, v in items:
        key = k.decode("utf-8", "replace") if isinstance(k, bytes | bytearray) else str(k)
        out[key.lower()] = bytes(v) if isinstance(v, bytes | bytearray | memoryview) else \
            str(v).encode("utf-8") if v is not None else b""
    return out


def mode_of(headers: Any) -> str | None:
    """``structured``, ``binary``, or None for a plain (non-CloudEvent) record.

    >>> mode_of([("content-type", b"application/cloudevents+json; charset=utf-8")])
    'structured'
    >>> mode_of([("ce_specversion", b"1.0"), ("content-type", b"application/json")])
    'binary'
    >>> mode_of([("traceparent", b"00-...")]) is None
    True
    """
    h = _headers(headers)
    content_type = h.get("content-type", b"").decode("utf-8", "replace").strip().lower()
    if content_type.startswith(STRUCTURED_PREFIX):
        return "structured"
    if "ce_specversion" in h:
        return "binary"
    return None


def from_record(headers: Any, value: bytes | None) -> tuple[BaseCloudEvent, str] | None:
    """Parse a Kafka record as a CloudEvent; None when it is a plain record.

    Returns
    -------
    (event, mode) or None
        The SDK's validated event and ``binary`` / ``structured``.

    Raises
    ------
    qstream.errors.CloudEventError
        ``cloudevent`` for a missing or invalid required attribute, a specversion other
        than 1.0, undecodable headers, or a structured value that is not a JSON event;
        ``cloudevent_data`` for a data content type that is not JSON.

    >>> event, mode = from_record(
    ...     [("ce_specversion", b"1.0"), ("ce_id", b"e-1"), ("ce_source", b"/lab"),
    ...      ("ce_type", SUBMITTED.encode()), ("content-type", b"application/json")],
    ...     b'{"schema": "qstream.task.v1"}')
    >>> mode, event.get_id(), event.get_data()
    ('binary', 'e-1', {'schema': 'qstream.task.v1'})
    """
    mode = mode_of(headers)
    if mode is None:
        return None
    h = _headers(headers)
    value = value or b""
    if mode == "structured":
        _check_required(_envelope(value), "")
    else:
        try:
            attributes = {k[3:]: v.decode("utf-8") for k, v in h.items() if k.startswith("ce_")}
        except UnicodeDecodeError as exc:
            raise CloudEventError(f"a ce_ header is not UTF-8: {exc}", reason="cloudevent") from exc
        _check_binary_data(h.get("content-type"), value)
        _check_required(attributes, "ce_")
    message = ce_kafka.KafkaMessage(h, None, value)
    return _built(mode, lambda: ce_kafka.from_structured(message, _FORMAT, CloudEvent)
                  if mode == "structured" else
                  ce_kafka.from_binary(message, _FORMAT, CloudEvent)), mode


def from_http(headers: Mapping[str, str], body: bytes) -> tuple[BaseCloudEvent, str]:
    """Parse an HTTP request as a CloudEvent (HTTP protocol binding 1.0.2, section 3).

    Structured mode when ``Content-Type`` starts with ``application/cloudevents`` (a
    batch, ``application/cloudevents-batch+json``, is refused); otherwise binary mode,
    with the attributes in ``ce-`` headers (percent-decoded by the SDK).

    Raises
    ------
    qstream.errors.CloudEventError
        As :func:`from_record`; ``cloudevent`` also for a request that is no CloudEvent
        at all (no ``ce-specversion`` header and no CloudEvents content type).

    >>> event, mode = from_http({"ce-specversion": "1.0", "ce-id": "h-1", "ce-source": "/x",
    ...                          "ce-type": SUBMITTED, "content-type": "application/json"},
    ...                         b'{"shots": 5}')
    >>> mode, event.get_id()
    ('binary', 'h-1')
    """
    h = {k.lower(): v for k, v in headers.items()}
    content_type = h.get("content-type", "").strip().lower()
    if content_type.startswith("application/cloudevents-batch"):
        raise CloudEventError("batched CloudEvents are not accepted; send one event per "
                              "request", reason="cloudevent")
    message = ce_http.HTTPMessage(h, body or b"")
    if content_type.startswith(STRUCTURED_PREFIX):
        _check_required(_envelope(body or b""), "")
        return _built("structured", lambda: ce_http.from_structured(message, _FORMAT,
                                                                    CloudEvent)), "structured"
    _check_binary_data(h.get("content-type", "").encode("utf-8") or None, body or b"")
    _check_required({k[3:]: unquote(v) for k, v in h.items() if k.startswith("ce-")}, "ce-")
    return _built("binary", lambda: ce_http.from_binary(message, _FORMAT, CloudEvent)), "binary"


def _envelope(value: bytes) -> dict[str, Any]:
    """A structured-mode value parsed as the JSON object it must be."""
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise CloudEventError(f"a structured-mode CloudEvent must be a JSON object: {exc}",
                              reason="cloudevent") from exc
    if not isinstance(envelope, dict):
        raise CloudEventError("a structured-mode CloudEvent must be a JSON object, got "
                              f"{type(envelope).__name__}", reason="cloudevent")
    return envelope


def _check_binary_data(content_type: bytes | None, value: bytes) -> None:
    """A binary-mode event's data: a JSON content type and JSON bytes."""
    _check_json_content_type(content_type)
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise CloudEventError(f"CloudEvent data is not JSON: {exc}",
                              reason="cloudevent_data") from exc


def _built(mode: str, build: Callable[[], BaseCloudEvent]) -> BaseCloudEvent:
    """Run the SDK's parser; its errors become ``cloudevent`` errors."""
    try:
        return build()
    except (BaseCloudEventException, ValueError, TypeError, KeyError, AttributeError) as exc:
        # ValueError also covers the SDK's isoparse of an invalid `time`.
        raise CloudEventError(f"malformed {mode}-mode CloudEvent: {_describe(exc)}",
                              reason="cloudevent") from exc


REQUIRED = ("specversion", "id", "source", "type")
"""Required context attributes (core spec section 3.1)."""


def _check_required(attributes: Mapping[str, Any], prefix: str) -> None:
    """Every required attribute present, a non-empty string, and specversion 1.0.

    Checked here, before the SDK: its ``CloudEvent`` generates an ``id`` (a UUID)
    when none is given, where the specification makes ``id`` required.
    """
    for name in REQUIRED:
        value = attributes.get(name)
        if not isinstance(value, str) or not value:
            raise CloudEventError(
                f"CloudEvent attribute {prefix}{name} is required and must be a non-empty "
                f"string (CloudEvents 1.0 section 3.1); got {value!r}", reason="cloudevent")
    if attributes["specversion"] != "1.0":
        raise CloudEventError(f"{prefix}specversion {attributes['specversion']!r} is not "
                              "supported; qstream accepts CloudEvents 1.0", reason="cloudevent")


def _describe(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:300]


def _check_json_content_type(raw: bytes | None) -> None:
    if raw is None:
        return  # JSON event format section 3.1: absent means application/json
    content_type = raw.decode("utf-8", "replace").split(";")[0].strip().lower()
    if content_type in JSON_CONTENT_TYPES or content_type.endswith("+json"):
        return
    raise CloudEventError(f"content-type {content_type!r}: a {SUBMITTED} event's data must "
                          "be a JSON qstream.task.v1 object (application/json)",
                          reason="cloudevent_data")


def task_from_event(event: BaseCloudEvent, mode: str) -> tuple[bytes, EventOrigin]:
    """The ``qstream.task.v1`` bytes a submission event carries, and where it came from.

    A task without ``task_id`` takes the event's ``id``; one without ``schema`` gets
    ``qstream.task.v1``. The bytes are then decoded and validated like any task.

    Raises
    ------
    qstream.errors.CloudEventError
        ``cloudevent_type`` for a type other than :data:`SUBMITTED`; ``cloudevent_data``
        when the data is not a JSON object or its content type is not JSON.

    >>> event = CloudEvent({"id": "e-7", "source": "/lab", "type": SUBMITTED},
    ...                    {"shots": 10})
    >>> raw, origin = task_from_event(event, "structured")
    >>> orjson.loads(raw)["task_id"], origin.mode
    ('e-7', 'structured')
    """
    if event.get_type() != SUBMITTED:
        raise CloudEventError(f"CloudEvent type {event.get_type()!r}: qstream.tasks accepts "
                              f"only {SUBMITTED!r}", reason="cloudevent_type")
    content_type = event.get_datacontenttype()
    _check_json_content_type(None if content_type is None else content_type.encode("utf-8"))
    data = event.get_data()
    if isinstance(data, bytes | bytearray | str):  # data_base64, or JSON text as a string
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CloudEventError(f"CloudEvent data is not JSON: {exc}",
                                  reason="cloudevent_data") from exc
    if not isinstance(data, dict):
        raise CloudEventError(f"CloudEvent data must be a qstream.task.v1 JSON object, got "
                              f"{type(data).__name__ if data is not None else 'no data'}",
                              reason="cloudevent_data")
    task = dict(data)
    task.setdefault("schema", "qstream.task.v1")
    task.setdefault("task_id", event.get_id())
    origin = EventOrigin(event.get_id(), event.get_source(), event.get_type(), mode)
    return orjson.dumps(task), origin


def task_record_value(headers: Any, value: bytes | None, *, max_bytes: int | None = None,
                      ) -> tuple[bytes | None, EventOrigin | None]:
    """The task bytes of a ``qstream.tasks`` record, CloudEvent or plain, and its origin.

    A plain record is returned as it is (origin None); a CloudEvent's task is
    unwrapped (:func:`from_record`, :func:`task_from_event`). The size limit is
    checked first, on the record as it arrived.

    Raises
    ------
    qstream.errors.ValidationError
        ``too_large`` above ``max_bytes``.
    qstream.errors.CloudEventError
        A CloudEvent that is not an acceptable submission.

    >>> task_record_value(None, b'{"task_id": "t"}')
    (b'{"task_id": "t"}', None)
    """
    size = len(value or b"")
    if max_bytes is not None and size > max_bytes:
        raise ValidationError(f"message is {size} bytes; the limit is {max_bytes}",
                              reason="too_large")
    parsed = from_record(headers, value)
    if parsed is None:
        return value, None
    return task_from_event(*parsed)


def submission_headers(origin: EventOrigin) -> list[tuple[str, bytes]]:
    """Binary-mode Kafka headers that carry a submission event on to ``qstream.tasks``
    (the gateway's ``POST /``), so its result gets CloudEvent headers too.

    >>> submission_headers(EventOrigin("e-1", "/x", SUBMITTED, "http"))[1]
    ('ce_id', b'e-1')
    """
    attrs = {"ce_specversion": "1.0", "ce_id": origin.id, "ce_source": origin.source,
             "ce_type": origin.type, "content-type": "application/json"}
    return [(k, v.encode("utf-8")) for k, v in attrs.items()]


def result_headers(result: Mapping[str, Any], *, now_s: float | None = None,
                   ) -> list[tuple[str, bytes]]:
    """Binary-mode CloudEvent headers of a result record (Kafka binding section 3.2).

    ``type`` follows the status (:data:`RESULT_TYPES`), ``subject`` is the task id,
    ``id`` is unique per record, ``datacontenttype`` is ``application/json`` and
    ``dataschema`` names ``qstream.result.v1``.

    >>> h = dict(result_headers({"task_id": "t-1", "status": "completed"}, now_s=0.0))
    >>> h["ce_type"], h["ce_subject"], h["ce_time"], h["content-type"]
    (b'dev.qstream.task.completed', b't-1', b'1970-01-01T00:00:00Z', b'application/json')
    """
    when = datetime.fromtimestamp(time.time() if now_s is None else now_s, tz=UTC)
    attrs = {
        "ce_specversion": "1.0",
        "ce_id": f"{result['task_id']}/result/{uuid.uuid4().hex[:12]}",
        "ce_source": SOURCE,
        "ce_type": RESULT_TYPES[str(result["status"])],
        "ce_subject": str(result["task_id"]),
        "ce_time": when.strftime("%Y-%m-%dT%H:%M:%S") + (
            f".{when.microsecond:06d}Z" if when.microsecond else "Z"),
        "ce_dataschema": "https://qstream.dev/schemas/qstream.result.v1.json",
        "content-type": "application/json",
    }
    return [(k, v.encode("utf-8")) for k, v in attrs.items()]
