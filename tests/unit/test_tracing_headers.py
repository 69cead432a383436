"""W3C trace context in Kafka record headers (qstream.stream.tracing)."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from qstream.config import WorkerConfig
from qstream.errors import ConfigError
from qstream.stream import tracing


@pytest.fixture()
def tracer() -> trace.Tracer:
    return TracerProvider().get_tracer("test")


def _traceparent(headers: list[tuple[str, bytes]]) -> str:
    [value] = [v for k, v in headers if k == "traceparent"]
    return value.decode()


def test_inject_then_extract_from_list_headers(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("send") as span:
        headers = tracing.inject([("other", b"kept")])
    ctx = span.get_span_context()
    assert ("other", b"kept") in headers
    assert _traceparent(headers).startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")
    extracted = trace.get_current_span(tracing.extract(headers)).get_span_context()
    assert extracted.trace_id == ctx.trace_id
    assert extracted.span_id == ctx.span_id
    assert extracted.is_remote


def test_extract_from_dict_headers_and_tuples(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("send") as span:
        headers = tracing.inject()
    ctx = span.get_span_context()
    for carrier in (dict(headers), tuple(headers),
                    {k: v.decode() for k, v in headers}):  # str values too
        got = trace.get_current_span(tracing.extract(carrier)).get_span_context()
        assert (got.trace_id, got.span_id) == (ctx.trace_id, ctx.span_id)


def test_child_of_extracted_context_is_in_the_same_trace(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("send") as parent:
        headers = tracing.inject()
    with tracer.start_as_current_span("process", context=tracing.extract(headers)) as child:
        pass
    assert child.get_span_context().trace_id == parent.get_span_context().trace_id
    assert child.parent is not None and child.parent.span_id == parent.get_span_context().span_id


@pytest.mark.parametrize("headers", [None, [], {}, [("x", b"y")],
                                     [("traceparent", b"garbage")]])
def test_missing_or_bad_headers_start_a_new_trace(tracer: trace.Tracer, headers) -> None:
    ctx = tracing.extract(headers)
    assert not trace.get_current_span(ctx).get_span_context().is_valid
    with tracer.start_as_current_span("process", context=ctx) as span:
        pass
    assert span.parent is None and span.get_span_context().is_valid


def test_inject_without_a_span_adds_nothing() -> None:
    assert tracing.inject() == []


def test_replaces_an_existing_traceparent(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("a"):
        first = tracing.inject()
    with tracer.start_as_current_span("b"):
        second = tracing.inject(first)
    assert len([k for k, _ in second if k == "traceparent"]) == 1
    assert _traceparent(second) != _traceparent(first)


def test_exporter_config_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSTREAM_OTEL_EXPORTER", "memory:/tmp/spans.jsonl")
    assert WorkerConfig.from_env().otel_exporter == "memory:/tmp/spans.jsonl"
    assert WorkerConfig().otel_exporter == "none"
    for bad in ("jaeger", "memory:", ""):
        with pytest.raises(ConfigError):
            WorkerConfig(otel_exporter=bad)
