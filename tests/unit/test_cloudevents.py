"""CloudEvents on qstream.tasks and qstream.results, against the specification's rules.

The rules checked (CloudEvents 1.0.2 core spec, Kafka protocol binding, JSON format):
mode by ``content-type`` (structured when it starts with ``application/cloudevents``),
``ce_`` headers in binary mode, the four required attributes, specversion 1.0, and
the binary-mode headers of a result record. The agents run in process.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from helpers import harness, run, task

from qstream.errors import CloudEventError
from qstream.stream import cloudevents as C
from qstream.stream import topics as T


def binary_headers(**overrides: str | None) -> list[tuple[str, bytes]]:
    attrs: dict[str, str | None] = {"ce_specversion": "1.0", "ce_id": "evt-1",
                                    "ce_source": "/knative/lab", "ce_type": C.SUBMITTED,
                                    "content-type": "application/json"}
    attrs.update(overrides)
    return [(k, v.encode()) for k, v in attrs.items() if v is not None]


def structured(**attrs: Any) -> bytes:
    envelope: dict[str, Any] = {"specversion": "1.0", "id": "evt-2", "source": "/pipes",
                                "type": C.SUBMITTED}
    envelope.update(attrs)
    return orjson.dumps({k: v for k, v in envelope.items() if v is not None})


STRUCTURED = [("content-type", b"application/cloudevents+json; charset=utf-8")]


# -- the module, rule by rule --------------------------------------------------------------


def test_mode_is_decided_by_content_type_not_by_ce_headers() -> None:
    # Kafka binding 3.1: content-type prefixed application/cloudevents -> structured,
    # even when ce_ headers are present too (the SDK's from_kafka would pick binary).
    assert C.mode_of(STRUCTURED + binary_headers()[:-1]) == "structured"
    assert C.mode_of(binary_headers()) == "binary"
    assert C.mode_of([("Content-Type", b"APPLICATION/CLOUDEVENTS+JSON")]) == "structured"
    assert C.mode_of(None) is None and C.mode_of([("traceparent", b"00-x")]) is None


@pytest.mark.parametrize("missing", ["ce_id", "ce_source", "ce_type"])
def test_binary_mode_requires_every_required_attribute(missing: str) -> None:
    # The SDK would generate a missing id; the spec makes it required.
    with pytest.raises(CloudEventError, match=missing) as err:
        C.from_record(binary_headers(**{missing: None}), b"{}")
    assert err.value.reason == "cloudevent"


@pytest.mark.parametrize("attr", ["id", "source", "type", "specversion"])
def test_structured_mode_requires_every_required_attribute_as_a_string(attr: str) -> None:
    for bad in (None, "", 7):
        with pytest.raises(CloudEventError, match=attr) as err:
            C.from_record(STRUCTURED, structured(**{attr: bad}))
        assert err.value.reason == "cloudevent"


@pytest.mark.parametrize("headers, value, reason", [
    (binary_headers(ce_specversion="0.3"), b"{}", "cloudevent"),
    (binary_headers(ce_time="yesterday"), b"{}", "cloudevent"),
    (binary_headers(ce_type="com.example.other"), b"{}", "cloudevent_type"),
    (binary_headers(**{"content-type": "application/xml"}), b"<task/>", "cloudevent_data"),
    (binary_headers(), b"{not json", "cloudevent_data"),
    (binary_headers(), b"[1, 2]", "cloudevent_data"),
    (STRUCTURED, b"{", "cloudevent"),
    (STRUCTURED, b"[]", "cloudevent"),
    (STRUCTURED, structured(specversion="0.3"), "cloudevent"),
    (STRUCTURED, structured(time="not a time", data={}), "cloudevent"),
    (STRUCTURED, structured(), "cloudevent_data"),  # no data at all
    (STRUCTURED, structured(datacontenttype="text/plain", data="hi"), "cloudevent_data"),
    (STRUCTURED, structured(type="dev.qstream.task.completed", data={}), "cloudevent_type"),
])
def test_malformed_events_get_a_specific_reason(headers: Any, value: bytes, reason: str) -> None:
    with pytest.raises(CloudEventError) as err:
        C.task_record_value(headers, value)
    assert err.value.reason == reason and str(err.value)


def test_binary_event_unwraps_to_its_task_and_takes_the_event_id() -> None:
    body = {k: v for k, v in task().items() if k != "task_id"}
    raw, origin = C.task_record_value(binary_headers(ce_time="2026-12-01T10:00:00Z"),
                                      orjson.dumps(body))
    assert orjson.loads(raw)["task_id"] == "evt-1"
    assert origin == C.EventOrigin("evt-1", "/knative/lab", C.SUBMITTED, "binary")


def test_a_task_id_in_the_data_wins_over_the_event_id() -> None:
    raw, _ = C.task_record_value(binary_headers(), orjson.dumps(task(task_id="mine")))
    assert orjson.loads(raw)["task_id"] == "mine"


def test_structured_event_with_data_or_data_base64() -> None:
    body = task(task_id="s-1")
    raw, origin = C.task_record_value(STRUCTURED, structured(data=body))
    assert orjson.loads(raw) == body and origin is not None and origin.mode == "structured"
    encoded = base64.b64encode(orjson.dumps(body)).decode()
    raw, _ = C.task_record_value(STRUCTURED, structured(data_base64=encoded))
    assert orjson.loads(raw) == body


def test_plain_records_pass_through_untouched() -> None:
    value = orjson.dumps(task())
    assert C.task_record_value([("traceparent", b"00-abc")], value) == (value, None)


def test_size_limit_is_checked_on_the_record_as_it_arrived() -> None:
    big = structured(data={"pad": "x" * 2000})
    with pytest.raises(Exception, match="limit is 1000") as err:
        C.task_record_value(STRUCTURED, big, max_bytes=1000)
    assert getattr(err.value, "reason", None) == "too_large"


@pytest.mark.parametrize("status, ce_type", sorted(C.RESULT_TYPES.items()))
def test_result_headers_are_binary_mode_attributes(status: str, ce_type: str) -> None:
    headers = C.result_headers({"task_id": "t-9", "status": status})
    h = dict(headers)
    assert len(h) == len(headers)  # no header twice
    assert h["ce_type"] == ce_type.encode() and h["ce_subject"] == b"t-9"
    assert h["ce_specversion"] == b"1.0" and h["ce_source"] == C.SOURCE.encode()
    assert h["content-type"] == b"application/json" and h["ce_id"]
    assert all(isinstance(v, bytes) for v in h.values())
    # The SDK reads them back as a valid event (the round trip a Knative trigger does).
    event, mode = C.from_record(headers, b'{"task_id": "t-9"}')  # type: ignore[misc]
    assert mode == "binary" and event.get_type() == ce_type and event.get_subject() == "t-9"
    assert C.result_headers({"task_id": "t-9", "status": status})[1] != headers[1]  # ids unique


# -- the agents ------------------------------------------------------------------------------


def _headers_of(record: Any) -> dict[str, bytes]:
    return {k: v for k, v in (record.headers or [])}


def _result_record(h: Any) -> Any:
    [record] = [r for r in h.records(T.RESULTS) if r.sent]
    return record


def test_binary_mode_task_gets_a_result_with_cloudevent_headers() -> None:
    h, _ = harness()
    body = {k: v for k, v in task().items() if k != "task_id"}
    h.produce(T.TASKS, orjson.dumps(body), headers=binary_headers(ce_id="ce-bin"))
    run(h.run())
    record = _result_record(h)
    result, headers = record.decoded(), _headers_of(record)
    assert result["task_id"] == "ce-bin" and result["status"] == "completed"
    assert headers["ce_type"] == b"dev.qstream.task.completed"
    assert headers["ce_subject"] == b"ce-bin"


def test_structured_mode_task_gets_a_result_with_cloudevent_headers() -> None:
    h, _ = harness()
    h.produce(T.TASKS, structured(id="ce-str", data=task(task_id="ce-str")),
              key="ce-str", headers=STRUCTURED)
    run(h.run())
    record = _result_record(h)
    assert record.decoded()["status"] == "completed"
    assert _headers_of(record)["ce_type"] == b"dev.qstream.task.completed"


def test_a_rejected_cloudevent_task_gets_a_failed_cloudevent_result() -> None:
    h, _ = harness()
    h.produce(T.TASKS, orjson.dumps(task(task_id="ce-bad", shots=10**9)),
              headers=binary_headers(ce_id="ce-bad"))
    run(h.run())
    [dlq] = h.sent(T.DLQ)
    assert dlq["reason"] == "limit" and dlq["task_id"] == "ce-bad"
    record = _result_record(h)
    assert record.decoded()["status"] == "failed" and record.decoded()["reason"] == "limit"
    assert _headers_of(record)["ce_type"] == b"dev.qstream.task.failed"


def test_malformed_event_goes_to_the_dlq_with_its_reason_and_original_bytes() -> None:
    h, _ = harness()
    value = orjson.dumps(task(task_id="x"))
    h.produce(T.TASKS, value, headers=binary_headers(ce_source=None))
    h.produce(T.TASKS, value, headers=binary_headers(ce_type="com.example.nope"))
    run(h.run())
    reasons = [(d["reason"], base64.b64decode(d["original_b64"])) for d in h.sent(T.DLQ)]
    assert reasons == [("cloudevent", value), ("cloudevent_type", value)]
    # The data still named a task: the client waiting on it gets a failed result.
    assert [r["status"] for r in h.sent(T.RESULTS)] == ["failed"]


def test_plain_tasks_get_plain_results_unless_the_deployment_asks_for_all() -> None:
    h, _ = harness()
    h.produce(T.TASKS, task(task_id="plain"), key="plain")
    run(h.run())
    assert "ce_type" not in _headers_of(_result_record(h))

    h, _ = harness(result_cloudevents="all")
    h.produce(T.TASKS, task(task_id="plain"), key="plain")
    run(h.run())
    assert _headers_of(_result_record(h))["ce_type"] == b"dev.qstream.task.completed"


def test_cloudevent_origin_survives_a_takeover_before_the_result() -> None:
    h, _ = harness()
    body = {k: v for k, v in task().items() if k != "task_id"}
    h.produce(T.TASKS, orjson.dumps(body), headers=binary_headers(ce_id="ce-fail"))
    run(h.deliver(h.records(T.TASKS)[0]))  # accepted, then the worker dies
    assert h.rt.ledger.task_record("ce-fail")["cloudevent"]["id"] == "ce-fail"
    h.restart()
    run(h.run())
    assert _headers_of(_result_record(h))["ce_subject"] == b"ce-fail"


def test_result_record_carries_the_w3c_trace_context_next_to_the_cloudevent() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    h, _ = harness()
    h.rt.outbox.tracer = TracerProvider().get_tracer("test")
    h.produce(T.TASKS, orjson.dumps(task(task_id="ce-tr")), headers=binary_headers(ce_id="ce-tr"))
    run(h.run())
    headers = _headers_of(_result_record(h))
    assert headers["traceparent"].startswith(b"00-") and headers["ce_subject"] == b"ce-tr"


# -- the HTTP binding (the gateway's POST /) ------------------------------------------------


def http_headers(**overrides: str | None) -> dict[str, str]:
    attrs: dict[str, str | None] = {"ce-specversion": "1.0", "ce-id": "h-1",
                                    "ce-source": "/apis/lab%20one", "ce-type": C.SUBMITTED,
                                    "Content-Type": "application/json"}
    attrs.update(overrides)
    return {k: v for k, v in attrs.items() if v is not None}


def test_http_binary_mode_percent_decodes_header_values() -> None:
    event, mode = C.from_http(http_headers(), orjson.dumps(task(task_id="h")))
    assert mode == "binary" and event.get_source() == "/apis/lab one"
    raw, origin = C.task_from_event(event, "http")
    assert orjson.loads(raw)["task_id"] == "h" and origin.mode == "http"


def test_http_structured_mode_and_refused_batches() -> None:
    event, mode = C.from_http({"content-type": "application/cloudevents+json"},
                              structured(data=task(task_id="hs")))
    assert mode == "structured" and event.get_data()["task_id"] == "hs"
    with pytest.raises(CloudEventError, match="batch"):
        C.from_http({"content-type": "application/cloudevents-batch+json"}, b"[]")


@pytest.mark.parametrize("headers, body, reason", [
    ({"content-type": "application/json"}, b"{}", "cloudevent"),  # not a CloudEvent at all
    (http_headers(**{"ce-id": None}), b"{}", "cloudevent"),
    (http_headers(**{"ce-specversion": "0.3"}), b"{}", "cloudevent"),
    (http_headers(**{"Content-Type": "text/csv"}), b"a,b", "cloudevent_data"),
    (http_headers(), b"{", "cloudevent_data"),
])
def test_http_malformed_events(headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(CloudEventError) as err:
        C.from_http(headers, body)
    assert err.value.reason == reason
