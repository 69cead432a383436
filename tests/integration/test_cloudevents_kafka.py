"""CloudEvents on the real broker, produced and consumed by a plain librdkafka client.

What a Knative KafkaSource/KafkaSink or an AWS Lambda Kafka trigger does: publish a
``dev.qstream.task.submitted`` event on ``qstream.tasks`` (binary or structured mode)
and filter ``qstream.results`` on the ``ce_type`` header. No qstream code on the client side.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

BELL = ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\n'
        'cx q[0],q[1];\nmeasure q -> c;\n')


def _task_body(shots: int = 200) -> dict[str, Any]:
    # No task_id: it takes the event's id.
    return {"schema": "qstream.task.v1", "shots": shots, "kinds": ["simulator"],
            "circuits": [{"name": "bell", "qasm": BELL}]}


def _results(bootstrap: str, wanted: set[str], timeout_s: float,
             settle_s: float = 2.0) -> dict[str, list[Any]]:
    """Every result record of ``wanted`` task ids (value and headers), read from the start."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ce-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False})
    meta = c.list_topics("qstream.results", timeout=10).topics["qstream.results"]
    c.assign([TopicPartition("qstream.results", p, OFFSET_BEGINNING) for p in meta.partitions])
    got: dict[str, list[Any]] = {}
    deadline = time.time() + timeout_s
    settle_until = None
    try:
        while time.time() < (settle_until or deadline):
            m = c.poll(0.2)
            if m is not None and not m.error():
                value = json.loads(m.value())
                if value.get("task_id") in wanted:
                    got.setdefault(value["task_id"], []).append(
                        (value, {k: v for k, v in (m.headers() or [])}))
            if settle_until is None and wanted <= got.keys():
                settle_until = time.time() + settle_s
    finally:
        c.close()
    return got


def test_binary_and_structured_events_from_librdkafka_get_cloudevent_results(broker, worker):
    bootstrap = broker.url.split("://", 1)[1]
    binary_id, structured_id = f"ce-b-{uuid.uuid4().hex[:8]}", f"ce-s-{uuid.uuid4().hex[:8]}"
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce("qstream.tasks", value=json.dumps(_task_body()).encode(), headers=[
        ("ce_specversion", b"1.0"), ("ce_id", binary_id.encode()),
        ("ce_source", b"/apis/v1/namespaces/lab/kafkasources/qpu"),
        ("ce_type", b"dev.qstream.task.submitted"), ("ce_time", b"2026-12-01T21:00:00Z"),
        ("content-type", b"application/json")])
    envelope = {"specversion": "1.0", "id": structured_id, "source": "arn:aws:pipes:lab",
                "type": "dev.qstream.task.submitted", "datacontenttype": "application/json",
                "data": _task_body(300)}
    p.produce("qstream.tasks", key=structured_id.encode(), value=json.dumps(envelope).encode(),
              headers=[("content-type", b"application/cloudevents+json")])
    assert p.flush(10) == 0

    got = _results(bootstrap, {binary_id, structured_id}, timeout_s=120)
    assert set(got) == {binary_id, structured_id}
    for task_id, shots in ((binary_id, 200), (structured_id, 300)):
        [(result, headers)] = got[task_id]  # exactly one result each
        assert result["status"] == "completed", result
        assert sum(result["results"][0]["counts"].values()) == shots
        assert headers["ce_type"] == b"dev.qstream.task.completed"
        assert headers["ce_subject"] == task_id.encode()
        assert headers["ce_specversion"] == b"1.0" and headers["ce_id"] and headers["ce_source"]
        assert headers["content-type"] == b"application/json"
