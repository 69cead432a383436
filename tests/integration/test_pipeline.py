"""The pipeline against a real embedded broker and a real worker process."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from helpers.watch import submit_and_wait

from qstream.client import Client
from qstream.stream import topics as T
from qstream.workload import mqt_qasm

QASM_DIR = Path(__file__).resolve().parent.parent / "data" / "qasm"


def task(circuits: list[tuple[str, str]], shots: int = 1000, **extra: Any) -> dict[str, Any]:
    return {"schema": "qstream.task.v1", "task_id": f"it-{uuid.uuid4()}",
            "circuits": [{"name": n, "qasm": q} for n, q in circuits], "shots": shots, **extra}


def dlq_entries(url: str, task_id: str | None = None, timeout_s: float = 30.0,
                reason: str | None = None, error_part: str = "") -> list[dict[str, Any]]:
    """The first DLQ entry (as a list; empty if none) matching every given filter."""
    async def go() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async with Client(url) as client:
            async def collect() -> None:
                async for _, msg in client.stream(T.DLQ):
                    if (task_id is None or msg.get("task_id") == task_id) and \
                            (reason is None or msg["reason"] == reason) and \
                            error_part in msg["error"]:
                        found.append(msg)
                        return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(collect(), timeout_s)
        return found
    return asyncio.run(go())


def test_ghz_task_completes_with_counts_summing_to_shots(worker) -> None:
    t = task([("ghz5", mqt_qasm("ghz", 5)), ("qft4", mqt_qasm("qft", 4))], shots=2000)
    results = submit_and_wait(worker.broker_url, [t])
    result = results[t["task_id"]]
    assert result["status"] == "completed", result["error"]
    assert [r["name"] for r in result["results"]] == ["ghz5", "qft4"]
    for r in result["results"]:
        assert sum(r["counts"].values()) == 2000
        assert r["backends"], "every circuit reports where it ran"
    ghz = result["results"][0]
    p_ideal = (ghz["counts"].get("00000", 0) + ghz["counts"].get("11111", 0)) / 2000
    assert p_ideal > 0.5
    assert result["metrics"]["cost_usd"] >= 0.0
    assert 0.0 < result["metrics"]["est_fidelity"] <= 1.0


def test_user_qasm_files_legacy_gates_registers_partial_measurement_and_qasm3(worker) -> None:
    files = ["legacy_qelib1.qasm", "two_registers_partial.qasm", "bell_qasm3.qasm"]
    t = task([(f, (QASM_DIR / f).read_text()) for f in files], shots=500)
    result = submit_and_wait(worker.broker_url, [t])[t["task_id"]]
    assert result["status"] == "completed", result["error"]
    by_name = {r["name"]: r for r in result["results"]}
    assert all(len(k) == 4 for k in by_name["legacy_qelib1.qasm"]["counts"])
    # clbits: b[0] a[1] a[0], registers joined without spaces; x q[0] -> a[0] = 1 always.
    partial = by_name["two_registers_partial.qasm"]["counts"]
    assert all(len(k) == 3 for k in partial)
    assert sum(n for k, n in partial.items() if k[-1] == "1") / 500 > 0.8
    bell = by_name["bell_qasm3.qasm"]["counts"]
    assert (bell.get("00", 0) + bell.get("11", 0)) / 500 > 0.8


def test_invalid_qasm_gets_failed_result_and_dlq_entry(worker) -> None:
    t = task([("bad", (QASM_DIR / "invalid.qasm").read_text())])
    result = submit_and_wait(worker.broker_url, [t], timeout_s=60)[t["task_id"]]
    assert result["status"] == "failed"
    assert "hadamard" in result["error"]
    [entry] = dlq_entries(worker.broker_url, t["task_id"])
    assert entry["reason"] == "invalid_qasm"
    assert entry["source"]["topic"] == T.TASKS and entry["source"]["offset"] >= 0
    original = orjson.loads(base64.b64decode(entry["original_b64"]))
    assert original["task_id"] == t["task_id"]


def test_too_wide_circuit_fails_with_capacity_reason(worker) -> None:
    qasm = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[200];\ncreg c[200];\n" \
           "h q[0];\nmeasure q -> c;\n"
    t = task([("wide", qasm)])
    result = submit_and_wait(worker.broker_url, [t], timeout_s=60)[t["task_id"]]
    assert result["status"] == "failed"
    assert "needs 200 qubits" in result["error"] and "largest backend has" in result["error"]
    assert dlq_entries(worker.broker_url, t["task_id"])[0]["reason"] == "capacity"


def test_malformed_input_goes_to_dlq_and_worker_keeps_processing(worker) -> None:
    marker = uuid.uuid4().hex.encode()

    async def send_bad() -> None:
        async with Client(worker.broker_url) as client:
            await client.send_raw(T.TASKS, b"\xff\xfe not utf-8 " + marker, key=b"bad-utf8")
            await client.send_raw(T.TASKS, b"{\"schema\": \"qstream.task.v1\", " + marker)
            await client.send_raw(T.TASKS, orjson.dumps({"schema": "qstream.task.v9",
                                                         "task_id": marker.decode()}))
    asyncio.run(send_bad())
    reasons = {e["reason"] for e in _dlq_with_marker(worker.broker_url, marker, 3)}
    assert reasons == {"utf8", "json", "unknown_schema"}
    t = task([("ghz3", mqt_qasm("ghz", 3))], shots=200)
    assert submit_and_wait(worker.broker_url, [t])[t["task_id"]]["status"] == "completed"


def _dlq_with_marker(url: str, marker: bytes, n: int) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        found = []
        async with Client(url) as client:
            async def collect() -> None:
                async for _, msg in client.stream(T.DLQ):
                    if marker in base64.b64decode(msg["original_b64"]):
                        found.append(msg)
                        if len(found) == n:
                            return
            await asyncio.wait_for(collect(), 30)
        return found
    return asyncio.run(go())


def test_plain_json_producer_without_qstream_or_key(worker) -> None:
    """Acceptance 4: any Kafka producer can submit plain JSON, key optional."""
    task_id = f"plain-{uuid.uuid4()}"
    body = orjson.dumps({"schema": "qstream.task.v1", "task_id": task_id, "shots": 300,
                         "circuits": [{"name": "bell", "qasm":
                                       (QASM_DIR / "bell_qasm3.qasm").read_text()}]})

    async def go() -> dict[str, Any]:
        producer = AIOKafkaProducer(bootstrap_servers=worker.broker_url.split("://")[1])
        await producer.start()
        try:
            await producer.send_and_wait(T.TASKS, body)  # no key, no headers
        finally:
            await producer.stop()
        async with Client(worker.broker_url) as client:
            return (await client.wait_results([task_id], 120))[task_id]
    result = asyncio.run(go())
    assert result["status"] == "completed"
    assert sum(result["results"][0]["counts"].values()) == 300


def test_duplicate_task_id_while_running_is_rejected(worker) -> None:
    t = task([("qaoa6", mqt_qasm("qaoa", 6))], shots=1000)

    async def go() -> None:
        async with Client(worker.broker_url) as client:
            await client.submit(t)
            await client.submit(t)
    asyncio.run(go())
    entries = dlq_entries(worker.broker_url, t["task_id"], reason="duplicate")
    assert entries and "already running" in entries[0]["error"]

    async def first() -> dict[str, Any]:
        async with Client(worker.broker_url) as client:
            return await client.wait_results([t["task_id"]], 120)
    assert t["task_id"] in asyncio.run(first())
    results = _all_results(worker.broker_url, t["task_id"], wait_s=3.0)
    assert len(results) == 1 and results[0]["status"] == "completed"

    # Once answered, the same task_id is still rejected: its result stays the only one.
    async def again() -> None:
        async with Client(worker.broker_url) as client:
            await client.submit(t)
    asyncio.run(again())
    assert dlq_entries(worker.broker_url, t["task_id"], reason="duplicate",
                       error_part="already has its result")
    assert len(_all_results(worker.broker_url, t["task_id"], wait_s=3.0)) == 1


def _all_results(url: str, task_id: str, wait_s: float) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        out = []
        async with Client(url) as client:
            deadline = time.monotonic() + wait_s + 120
            async for _, msg in client.stream(T.RESULTS, idle_timeout_s=wait_s):
                if msg["task_id"] == task_id:
                    out.append(msg)
                if time.monotonic() > deadline:
                    break
        return out
    return asyncio.run(go())
