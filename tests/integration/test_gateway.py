"""The HTTP gateway against the real embedded broker: with the shared worker (tasks run),
and on an idle broker of its own (no worker: tasks stay accepted, cancels stay pending).

Every gateway here is a fresh app (uvicorn on port 0 in a thread); a "restart" is a new
one, whose index is rebuilt from the topics.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from helpers.gateway import running_gateway

from qstream.broker import EmbeddedBroker
from qstream.stream import codec, tansu_compat
from qstream.stream import topics as T
from qstream.stream.durable import scan_task_ids
from qstream.workload import mqt_qasm

BELL = ('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; '
        "h q[0]; cx q[0], q[1]; measure q -> c;")


def circuit_task(shots: int = 1000, **extra: Any) -> dict[str, Any]:
    return {"circuits": [{"name": "bell", "qasm": BELL}, {"name": "ghz4", "qasm": mqt_qasm("ghz", 4)}],
            "shots": shots, **extra}


def records(url: str, topic: str) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Every (key, JSON value) on partition 0 of ``topic``, up to its end offset now."""
    async def go() -> list[tuple[bytes | None, dict[str, Any]]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=url.split("://", 1)[1],
                                    enable_auto_commit=False,
                                    **tansu_compat.consumer_settings(url))
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            end = (await tansu_compat.end_offsets(consumer, url, [tp]))[tp]
            await consumer.seek_to_beginning(tp)
            out: list[tuple[bytes | None, dict[str, Any]]] = []
            while await consumer.position(tp) < end:
                for r in (await consumer.getmany(tp, timeout_ms=200)).get(tp, ()):
                    out.append((r.key, orjson.loads(r.value)))
            return out
        finally:
            await consumer.stop()
    return asyncio.run(asyncio.wait_for(go(), 30))


def published(url: str, topic: str, task_id: str) -> bool:
    """Whether any record keyed ``task_id`` is on ``topic``."""
    found = asyncio.run(scan_task_ids(url, topic, 0, {task_id}))
    return task_id in found


def poll(base: str, task_id: str, until: tuple[str, ...], timeout_s: float = 180.0,
         ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = httpx.get(f"{base}/v1/tasks/{task_id}").json()
        if body["status"] in until or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


@pytest.fixture(scope="module")
def live(worker) -> Iterator[str]:
    """A gateway on the shared worker's broker."""
    with running_gateway(worker.broker_url) as base:
        yield base


@pytest.fixture(scope="module")
def idle() -> Iterator[tuple[str, str]]:
    """(broker URL, gateway URL) of a broker no worker reads."""
    with EmbeddedBroker() as broker, running_gateway(broker.url) as base:
        yield broker.url, base


@pytest.fixture(scope="module")
def completed(live: str) -> dict[str, Any]:
    """A circuit task submitted over HTTP and polled to its final status."""
    r = httpx.post(f"{live}/v1/tasks", json=circuit_task(shots=1500))
    assert r.status_code == 202, r.text
    return poll(live, r.json()["task_id"], ("completed", "failed", "cancelled"))


def test_submitted_task_polls_to_completed_with_counts_summing_to_shots(completed) -> None:
    assert completed["status"] == "completed", completed
    result = completed["result"]
    assert result["schema"] == "qstream.result.v1" and result["task_id"] == completed["task_id"]
    assert [r["name"] for r in result["results"]] == ["bell", "ghz4"]
    for r in result["results"]:
        assert sum(r["counts"].values()) == 1500
    assert len(completed["task_id"]) == 32  # generated: uuid4 hex


def test_events_of_a_completed_task_count_dispatches_and_executions(live, completed) -> None:
    body = poll(live, completed["task_id"], ("completed",))
    deadline = time.monotonic() + 10
    while body["events"]["counts"].get("execution", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # telemetry and results are separate topics: no order between them
        body = httpx.get(f"{live}/v1/tasks/{completed['task_id']}").json()
    counts = body["events"]["counts"]
    assert counts.get("dispatch", 0) >= 2 and counts.get("execution", 0) >= 2, counts
    assert counts["result"] == 1
    assert {e["kind"] for e in body["events"]["last"]} >= {"dispatch", "execution", "result"}


def test_shots_zero_is_422_naming_shots_and_nothing_is_published(live, worker) -> None:
    task_id = f"gw-zero-{uuid.uuid4().hex}"
    r = httpx.post(f"{live}/v1/tasks", json=circuit_task(shots=0, task_id=task_id))
    assert r.status_code == 422
    assert r.json()["reason"] == "schema" and "shots" in r.json()["error"]
    assert not published(worker.broker_url, T.TASKS, task_id)
    assert httpx.get(f"{live}/v1/tasks/{task_id}").status_code == 404


def test_invalid_inputs_get_the_dlq_reasons_and_nothing_is_published(idle) -> None:
    url, base = idle
    cases = {
        b"{not json": (400, "json"),
        b"[1, 2]": (400, "not_object"),
        b"\xff\xfe": (400, "utf8"),
        orjson.dumps({"task_id": "gw-bad-qasm", "shots": 10,
                      "circuits": [{"name": "c", "qasm": "OPENQASM 2.0; qreg q[1]; foo q[0];"}]}):
            (422, "invalid_qasm"),
        orjson.dumps({"task_id": "gw-weights", **circuit_task(),
                      "weights": {"time": 0, "error": 0, "cost": 0}}): (422, "zero_weights"),
        orjson.dumps({"task_id": "gw-limit", **circuit_task(shots=2_000_000)}): (422, "limit"),
        orjson.dumps({"task_id": "gw-schema", **circuit_task(), "schema": "qstream.task.v9"}):
            (422, "unknown_schema"),
    }
    for body, (code, reason) in cases.items():
        r = httpx.post(f"{base}/v1/tasks", content=body,
                       headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["reason"]) == (code, reason), (body[:60], r.text)
        assert r.json()["error"]
    assert not [k for k, _ in records(url, T.TASKS) if k and k.startswith(b"gw-")]


def test_a_known_task_id_is_409_duplicate(live, completed) -> None:
    r = httpx.post(f"{live}/v1/tasks", json=circuit_task(task_id=completed["task_id"]))
    assert r.status_code == 409
    assert r.json()["reason"] == "duplicate" and r.json()["status"] == "completed"


def test_unknown_task_is_404_and_its_cancel_publishes_nothing(idle) -> None:
    url, base = idle
    task_id = f"gw-unknown-{uuid.uuid4().hex}"
    r = httpx.get(f"{base}/v1/tasks/{task_id}")
    assert r.status_code == 404 and r.json()["reason"] == "not_found" and task_id in r.json()["error"]
    assert httpx.get(f"{base}/v1/tasks/{task_id}/events").status_code == 404
    r = httpx.delete(f"{base}/v1/tasks/{task_id}")
    assert r.status_code == 404 and task_id in r.json()["error"]
    assert not published(url, T.CONTROL, task_id)


def test_delete_publishes_one_well_formed_control_record(idle) -> None:
    url, base = idle
    r = httpx.post(f"{base}/v1/tasks", json=circuit_task())
    task_id = r.json()["task_id"]
    r = httpx.delete(f"{base}/v1/tasks/{task_id}")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["task_id"] == task_id and body["status"] == "cancelling" and body["request_id"]
    mine = [(k, v) for k, v in records(url, T.CONTROL) if v.get("task_id") == task_id]
    assert len(mine) == 1
    key, control = mine[0]
    assert key == task_id.encode()
    codec.validate(control, expected="qstream.control.v1")
    assert control["action"] == "cancel" and control["requested_by"] == "gateway"
    assert control["request_id"] == body["request_id"] and abs(control["at"] - time.time()) < 60


def test_cancelling_a_finished_task_is_409_and_publishes_nothing(live, worker, completed) -> None:
    r = httpx.delete(f"{live}/v1/tasks/{completed['task_id']}")
    assert r.status_code == 409
    assert r.json()["status"] == "completed" and "nothing to cancel" in r.json()["error"]
    assert not published(worker.broker_url, T.CONTROL, completed["task_id"])


def test_a_restarted_gateway_answers_from_the_topics(worker, completed, idle) -> None:
    with running_gateway(worker.broker_url) as fresh:
        body = httpx.get(f"{fresh}/v1/tasks/{completed['task_id']}").json()
    assert body["status"] == "completed" and body["result"] == completed["result"]
    url, base = idle
    task_id = httpx.post(f"{base}/v1/tasks", json=circuit_task()).json()["task_id"]
    with running_gateway(url) as fresh:
        assert httpx.get(f"{fresh}/v1/tasks/{task_id}").json()["status"] == "accepted"
        r = httpx.post(f"{fresh}/v1/tasks", json=circuit_task(task_id=task_id))
        assert r.status_code == 409  # another replica's task is known from the topic


def sse(base: str, task_id: str, timeout_s: float = 180.0) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    kind = None
    with httpx.stream("GET", f"{base}/v1/tasks/{task_id}/events", timeout=timeout_s) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind is not None:
                events.append((kind, orjson.loads(line.split(":", 1)[1])))
                kind = None
    return events


def test_sse_streams_dispatches_and_executions_and_ends_with_the_result(live) -> None:
    task_id = httpx.post(f"{live}/v1/tasks", json=circuit_task(shots=500)).json()["task_id"]
    events = sse(live, task_id)  # opened at once: mostly live, not replayed
    kinds = [k for k, _ in events]
    assert kinds[-1] == "result" and kinds.count("result") == 1
    assert events[-1][1]["status"] == "completed" and events[-1][1]["task_id"] == task_id
    assert "dispatch" in kinds
    assert all(m.get("task_id") == task_id for _, m in events)
    replay = sse(live, task_id, timeout_s=30)  # a finished task: replayed, then the end
    assert replay[-1][0] == "result" and len(replay) >= len(events) - kinds.count("execution")


def test_backends_list_the_fleet_with_live_status_and_reference_predictions(live, worker) -> None:
    deadline = time.monotonic() + 30
    body = httpx.get(f"{live}/v1/backends").json()
    while any(b["pending_jobs"] is None for b in body["backends"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        body = httpx.get(f"{live}/v1/backends").json()
    by_name = {b["name"]: b for b in body["backends"]}
    assert set(by_name) >= {"ibm_perth_emu", "ibm_hanoi_emu", "braket_local", "cpu_statevector"}
    assert body["reference_shots"] == 1000 and "cx q[0], q[1]" in body["reference_circuit"]
    for b in by_name.values():
        assert b["qubits"] >= 2 and b["breaker"] in ("closed", "open", "half_open")
        assert isinstance(b["pending_jobs"], int) and b["operational"] is True
        ref = b["reference"]
        assert ref["queue_s"] >= 0 and ref["run_s"] > 0 and 0 <= ref["error"] <= 1
    perth, cpu = by_name["ibm_perth_emu"], by_name["cpu_statevector"]
    assert perth["kind"] == "qpu" and perth["qubits"] == 7 and perth["calibration_age_s"] > 0
    assert cpu["calibration_age_s"] is None
    # ibm_perth's queue (hundreds of pending jobs) is predicted to wait longer than the CPU's
    assert perth["reference"]["queue_s"] > cpu["reference"]["queue_s"]
    assert perth["reference"]["price_usd"] > cpu["reference"]["price_usd"]


def test_estimate_scores_capable_backends_picks_the_cheapest_and_publishes_nothing(
        live, worker) -> None:
    task_id = f"gw-estimate-{uuid.uuid4().hex}"
    task = {"task_id": task_id, "shots": 2000,
            "circuits": [{"name": "ghz10", "qasm": mqt_qasm("ghz", 10)}]}
    r = httpx.post(f"{live}/v1/estimate", json=task)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictor"]["source"] in ("snapshot", "priors")
    (sub,) = body["subtasks"]
    names = [c["backend"] for c in sub["candidates"]]
    assert "ibm_perth_emu" not in names and "ibm_hanoi_emu" in names  # 7 qubits < 10
    totals = [c["cost"]["total"] for c in sub["candidates"]]
    assert totals == sorted(totals) and sub["backend"] == names[0]
    for c in sub["candidates"]:
        cost = c["cost"]
        assert cost["total"] == pytest.approx(cost["time"] + cost["error"] + cost["cost"])
        assert 0 <= c["error"] <= 1 and c["price_usd"] >= 0 and c["run_s"] > 0
        assert c["time_s"] == pytest.approx(c["wait_s"] + c["queue_s"] + c["run_s"])
    assert body["choice"]["backends"] == [sub["backend"]]
    r = httpx.post(f"{live}/v1/estimate", json={**task, "shots": 0})
    assert r.status_code == 422 and "shots" in r.json()["error"]
    assert not published(worker.broker_url, T.TASKS, task_id)
    assert httpx.get(f"{live}/v1/tasks/{task_id}").status_code == 404


def test_probes_and_openapi(idle) -> None:
    _, base = idle
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["status"] == "ok" and ready["producer"] and ready["caught_up"]
    spec = httpx.get(f"{base}/openapi.json").json()
    assert {"/v1/tasks", "/v1/tasks/{task_id}", "/v1/tasks/{task_id}/events", "/v1/backends",
            "/v1/estimate"} <= set(spec["paths"])
    body = spec["paths"]["/v1/tasks"]["post"]["requestBody"]["content"]["application/json"]
    assert "shots" in body["schema"]["properties"]
    assert "text/html" in httpx.get(f"{base}/docs").headers["content-type"]


def test_estimate_of_a_problem_task_is_the_workflow_agents_selection(live) -> None:
    ring = {"kind": "maxcut", "num_nodes": 6,
            "edges": [[i, (i + 1) % 6] for i in range(6)]}
    r = httpx.post(f"{live}/v1/estimate", json={"problem": ring, "algorithms": ["qaoa"]})
    assert r.status_code == 200, r.text
    body = r.json()
    selection = body["selection"]
    assert body["subtasks"] == [] and selection["chosen"].startswith("qaoa@")
    candidates = selection["candidates"]
    assert {c["solver"] for c in candidates} == {"qaoa"} and len(candidates) >= 4
    totals = [c["terms"]["total"] for c in candidates]
    assert totals == sorted(totals)
    assert body["choice"]["backends"] == [candidates[0]["backend"]]
    assert body["choice"]["price_usd"] == pytest.approx(candidates[0]["price_usd"])
    # with live backend status, the emulated IBM devices' queues are not empty
    assert max(c["queue_s"] for c in candidates if c["backend"].startswith("ibm_")) > 0


def test_backends_use_the_workers_predictor_snapshot_once_it_has_learned(live) -> None:
    # 12 executions: the worker snapshots its predictor every 10 learned observations
    many = {"shots": 100, "circuits": [{"name": f"bell{i}", "qasm": BELL} for i in range(12)],
            "kinds": ["simulator"]}
    task_id = httpx.post(f"{live}/v1/tasks", json=many).json()["task_id"]
    assert poll(live, task_id, ("completed", "failed"))["status"] == "completed"
    deadline = time.monotonic() + 30
    predictor = httpx.get(f"{live}/v1/backends").json()["predictor"]
    while predictor["source"] != "snapshot" and time.monotonic() < deadline:
        time.sleep(0.3)
        predictor = httpx.get(f"{live}/v1/backends").json()["predictor"]
    assert predictor["source"] == "snapshot" and predictor["observations"] >= 10, predictor
    estimate = httpx.post(f"{live}/v1/estimate", json=circuit_task()).json()
    assert estimate["predictor"]["source"] == "snapshot"


def _result_headers(url: str, task_id: str, timeout_s: float = 60.0) -> dict[str, bytes]:
    """Headers of the task's result record on qstream.results (waits for it)."""
    async def go() -> dict[str, bytes]:
        consumer = AIOKafkaConsumer(T.RESULTS, bootstrap_servers=url.split("://", 1)[1],
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    **tansu_compat.consumer_settings(url))
        await consumer.start()
        try:
            async for r in consumer:
                if orjson.loads(r.value)["task_id"] == task_id:
                    return dict(r.headers or ())
        finally:
            await consumer.stop()
        raise AssertionError("unreachable")
    return asyncio.run(asyncio.wait_for(go(), timeout_s))


def test_cloudevents_http_binding_binary_and_structured(live, worker) -> None:
    binary_id, structured_id = f"gw-ceb-{uuid.uuid4().hex[:8]}", f"gw-ces-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{live}/", content=orjson.dumps(circuit_task(shots=400)), headers={
        "ce-specversion": "1.0", "ce-id": binary_id, "ce-source": "/knative/kafkasink%2Flab",
        "ce-type": "dev.qstream.task.submitted", "content-type": "application/json"})
    assert r.status_code == 202 and r.json() == {"task_id": binary_id}, r.text  # the event id
    envelope = {"specversion": "1.0", "id": structured_id, "source": "/pipes",
                "type": "dev.qstream.task.submitted", "data": circuit_task(shots=300)}
    r = httpx.post(f"{live}/", content=orjson.dumps(envelope),
                   headers={"content-type": "application/cloudevents+json"})
    assert r.status_code == 202 and r.json() == {"task_id": structured_id}, r.text
    for task_id, shots in ((binary_id, 400), (structured_id, 300)):
        body = poll(live, task_id, ("completed", "failed", "cancelled"))
        assert body["status"] == "completed", body
        assert all(sum(c["counts"].values()) == shots for c in body["result"]["results"])
        headers = _result_headers(worker.broker_url, task_id)
        assert headers["ce_type"] == b"dev.qstream.task.completed"
        assert headers["ce_subject"] == task_id.encode()


def test_cloudevents_http_binding_rejects_malformed_events(idle) -> None:
    url, base = idle
    cases = [
        ({"content-type": "application/json"}, circuit_task(), "cloudevent"),  # no ce- headers
        ({"ce-specversion": "1.0", "ce-id": "x", "ce-source": "/s", "ce-type": "com.other",
          "content-type": "application/json"}, circuit_task(), "cloudevent_type"),
        ({"ce-specversion": "1.0", "ce-id": "x", "ce-source": "/s",
          "ce-type": "dev.qstream.task.submitted", "content-type": "application/json"},
         circuit_task(shots=0), "schema"),
    ]
    for headers, body, reason in cases:
        r = httpx.post(f"{base}/", content=orjson.dumps(body), headers=headers)
        assert 400 <= r.status_code < 500 and r.json()["reason"] == reason, r.text
    assert not published(url, T.TASKS, "x")


def test_estimate_says_whether_the_budget_fits_and_places_within_it(live, worker) -> None:
    task = {"shots": 2000, "kinds": ["qpu"],
            "circuits": [{"name": "ghz4", "qasm": mqt_qasm("ghz", 4)}]}
    free = httpx.post(f"{live}/v1/estimate", json=task).json()
    assert free["budget"] is None
    qpu_price = free["choice"]["price_usd"]
    assert qpu_price > 0
    tight = httpx.post(f"{live}/v1/estimate", json={**task, "budget_usd": qpu_price / 100}).json()
    assert tight["budget"]["fits"] is False and "budget" in tight["budget"]["error"]
    roomy = httpx.post(f"{live}/v1/estimate", json={**task, "budget_usd": qpu_price * 10}).json()
    assert roomy["budget"] == {"budget_usd": qpu_price * 10, "fits": True, "error": None}
    assert roomy["choice"]["price_usd"] <= qpu_price * 10
    # Without the QPU-only restriction, a tight budget moves the choice to a cheaper backend.
    open_task = {**task, "kinds": None}
    open_task.pop("kinds")
    cheap = httpx.post(f"{live}/v1/estimate", json={**open_task, "budget_usd": qpu_price / 100}
                       ).json()
    assert cheap["budget"]["fits"] is True and cheap["choice"]["price_usd"] <= qpu_price / 100
