"""One task's OpenTelemetry trace spans the client and every agent of a real worker."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.workload import mqt_qasm


def _hex(value: int) -> str:
    return f"0x{value:032x}"


def traced_run(task: dict[str, Any], tmp_path: Path, worker_factory: Any,
               monkeypatch: pytest.MonkeyPatch, timeout_s: float = 60,
               ) -> tuple[dict[str, dict], Any, list[dict[str, Any]], Any]:
    """Run ``task`` on a worker of its own broker with span export on (to
    ``tmp_path/spans.jsonl``), from a traced client.

    Returns (results, the client's ``send qstream.tasks`` span, the worker's spans, worker).
    """
    spans_path = tmp_path / "spans.jsonl"
    monkeypatch.setenv("QSTREAM_OTEL_EXPORTER", f"memory:{spans_path}")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with EmbeddedBroker() as broker:  # its own broker: only this test's spans
        worker = worker_factory(broker.url, tmp_path / "worker.log")
        try:
            async def run() -> dict[str, dict]:
                async with Client(broker.url, tracer_provider=provider) as client:
                    await client.submit(task)
                    return await client.wait_results([task["task_id"]], timeout_s)
            results = asyncio.run(run())
        finally:
            assert worker.stop() == 0
    [client_span] = [s for s in exporter.get_finished_spans() if s.name == "send qstream.tasks"]
    assert spans_path.exists(), worker.log()[-3000:]
    spans = [json.loads(line) for line in spans_path.read_text().splitlines()]
    return results, client_span, spans, worker


def test_one_trace_covers_client_and_every_agent(tmp_path: Path, worker_factory,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    task_id = f"trace-{uuid.uuid4()}"
    task = {"schema": "qstream.task.v1", "task_id": task_id, "shots": 200,
            "circuits": [{"name": "ghz3", "qasm": mqt_qasm("ghz", 3)},
                         {"name": "ghz4", "qasm": mqt_qasm("ghz", 4)}]}
    results, client_span, spans, _ = traced_run(task, tmp_path, worker_factory, monkeypatch)
    assert results[task_id]["status"] == "completed", results
    assert client_span.attributes["messaging.system"] == "kafka"
    trace_id = _hex(client_span.context.trace_id)
    assert spans and all(s["resource"]["attributes"]["service.name"] == "qstream-worker"
                         for s in spans)
    ours = [s for s in spans if s["context"]["trace_id"] == trace_id]
    by_id = {s["context"]["span_id"]: s for s in ours}
    by_id[f"0x{client_span.context.span_id:016x}"] = {"name": client_span.name}

    def named(name: str) -> list[dict[str, Any]]:
        return [s for s in ours if s["name"] == name]

    # Every hop of the pipeline is in the client's trace.
    [partition] = named("process qstream.tasks")
    assert partition["parent_id"] == f"0x{client_span.context.span_id:016x}"
    assert partition["kind"] == "SpanKind.CONSUMER"
    attrs = partition["attributes"]
    assert attrs["messaging.system"] == "kafka"
    assert attrs["messaging.operation.type"] == "process"
    assert attrs["messaging.destination.name"] == "qstream.tasks"
    assert attrs["messaging.kafka.message.key"] == task_id
    assert attrs["messaging.consumer.group.name"] == "qstream"
    assert "messaging.kafka.offset" in attrs and "messaging.destination.partition.id" in attrs
    assert len(named("process qstream.subtasks")) >= 2
    executes = [s for s in ours if s["name"].startswith("process qstream.exec.")]
    assert {s["attributes"]["qstream.subtask_id"] for s in executes} >= {
        d["attributes"]["qstream.subtask_id"] for d in named("qstream.decide")}
    assert len(executes) >= 2
    assert named("process qstream.subtask-results")
    [result_send] = named("send qstream.results")
    assert result_send["kind"] == "SpanKind.PRODUCER"
    assert result_send["attributes"]["qstream.task.status"] == "completed"

    # Parent links are consistent: every parent is a span of this trace, and each
    # hop hangs under the send that produced its record.
    for s in ours:
        assert s["parent_id"] in by_id, f"{s['name']} has a parent outside the trace"
        if s["name"].startswith("process "):
            parent = by_id[s["parent_id"]]
            assert parent["name"] == "send " + s["name"].removeprefix("process "), s["name"]
    assert by_id[result_send["parent_id"]]["name"] == "process qstream.subtask-results"
    for s in executes:  # dispatch -> decide -> send exec -> execute
        send = by_id[s["parent_id"]]
        decide = by_id[send["parent_id"]]
        assert decide["name"] in ("qstream.decide", "qstream.reallocate", "qstream.hedge")

    # The decision and the actual outcome are recorded.
    decides = named("qstream.decide")
    assert len(decides) >= 2
    for d in decides:
        a = d["attributes"]
        assert by_id[d["parent_id"]]["name"] == "process qstream.subtasks"
        for key in ("qstream.backend", "qstream.predicted.queue_s", "qstream.predicted.run_s",
                    "qstream.cost.time", "qstream.cost.error", "qstream.cost.cost",
                    "qstream.cost.total", "qstream.decision_latency_ms"):
            assert key in a, key
    # Actual times on the execute span of every sub-task's finished run (a losing
    # hedge copy may have been cancelled at shutdown, without them).
    finished = [s for s in executes if "qstream.run_s" in s["attributes"]]
    assert {s["attributes"]["qstream.subtask_id"] for s in finished} == {
        d["attributes"]["qstream.subtask_id"] for d in decides}
    for s in finished:
        a = s["attributes"]
        for key in ("qstream.backend", "qstream.queue_s", "qstream.run_s",
                    "qstream.price_usd", "qstream.shots"):
            assert key in a, key
    # No user data in attributes: no QASM anywhere.
    assert "OPENQASM" not in (tmp_path / "spans.jsonl").read_text()


def test_trace_crosses_a_separate_executor_process(tmp_path: Path, worker_factory,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    fleet = "ibm_hanoi_emu,cpu_statevector"
    task = {"schema": "qstream.task.v1", "task_id": f"trace-{uuid.uuid4()}", "shots": 300,
            "circuits": [{"name": "ghz4", "qasm": mqt_qasm("ghz", 4)}]}
    with EmbeddedBroker() as broker:
        monkeypatch.setenv("QSTREAM_OTEL_EXPORTER", f"memory:{tmp_path / 'executor.jsonl'}")
        executor = subprocess.Popen(
            [sys.executable, "-m", "qstream", "executor", "--broker", broker.url,
             "--backends", fleet, "--time-scale", "600"],
            stdout=open(tmp_path / "executor.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT)
        monkeypatch.setenv("QSTREAM_OTEL_EXPORTER", f"memory:{tmp_path / 'worker.jsonl'}")
        worker = worker_factory(broker.url, tmp_path / "worker.log", "--no-executors",
                                "--fleet", fleet)
        try:
            async def run() -> dict[str, dict]:
                async with Client(broker.url, tracer_provider=provider) as client:
                    await client.submit(task)
                    return await client.wait_results([task["task_id"]], 60)
            results = asyncio.run(run())
        finally:
            executor.send_signal(signal.SIGTERM)
            executor.wait(30)
            worker.stop()
    assert results[task["task_id"]]["status"] == "completed"
    trace_id = _hex(exporter.get_finished_spans()[0].context.trace_id)

    def spans(name: str) -> list[dict[str, Any]]:
        return [s for s in map(json.loads, (tmp_path / name).read_text().splitlines())
                if s["context"]["trace_id"] == trace_id]

    in_worker, in_executor = spans("worker.jsonl"), spans("executor.jsonl")
    assert {s["resource"]["attributes"]["service.name"] for s in in_executor} == {
        "qstream-executor"}
    sends = {s["context"]["span_id"]: s for s in in_worker
             if s["name"].startswith("send qstream.exec.")}
    executes = [s for s in in_executor if s["name"].startswith("process qstream.exec.")]
    assert executes and all(s["parent_id"] in sends for s in executes)
    assert executes[0]["attributes"]["messaging.consumer.group.name"] == "qstream-executors"
    # The executor's result comes back into the worker's trace and ends in the result.
    result_parts = {s["context"]["span_id"] for s in in_executor
                    if s["name"] == "send qstream.subtask-results"}
    assert any(s["parent_id"] in result_parts for s in in_worker
               if s["name"] == "process qstream.subtask-results")
    assert [s["name"] for s in in_worker if s["name"] == "send qstream.results"]


def test_a_problem_tasks_loop_is_one_trace_with_its_selection(tmp_path: Path, worker_factory,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              ) -> None:
    task_id = f"trace-problem-{uuid.uuid4()}"
    task = {"schema": "qstream.task.v1", "task_id": task_id, "algorithms": ["qaoa"],
            "max_iterations": 2, "backends": ["cpu_statevector"], "shots": 200,
            "problem": {"kind": "maxcut", "num_nodes": 4,
                        "edges": [[0, 1], [1, 2], [2, 3], [0, 3]]}}
    results, client_span, spans, _ = traced_run(task, tmp_path, worker_factory, monkeypatch,
                                                timeout_s=120)
    assert results[task_id]["status"] == "completed", results
    trace_id = _hex(client_span.context.trace_id)
    ours = [s for s in spans if s["context"]["trace_id"] == trace_id]
    names = [s["name"] for s in ours]
    [select] = [s for s in ours if s["name"] == "qstream.select"]
    assert select["attributes"]["qstream.selection.chosen"] == "qaoa@cpu_statevector"
    candidates = [e for e in select["events"] if e["name"] == "candidate"]
    assert candidates and all("qstream.cost.total" in e["attributes"] for e in candidates)
    # start, two iterations and the final run: all in the client's trace, down to the result.
    assert names.count("process qstream.workflow-events") >= 4
    assert "send qstream.results" in names and names.count("process qstream.exec.cpu_statevector") >= 3
