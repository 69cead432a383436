"""Known credentials never show up in a worker's log, its trace spans, or any topic.

A real worker on its own embedded broker runs with distinctive credentials (IBM token
and AWS session token from the environment; AWS keys and the Kafka SASL password from
a mode-600 secrets file), DEBUG logging and the in-memory span exporter. It processes
real MQT Bench tasks and bad input. Then every record of every topic (key, value,
headers), the whole log and the span dump are searched for each value in plain,
URL-encoded and base64 form (:func:`qstream.secrets.find_leaks`, whose own detection
is tested in ``tests/unit/test_secrets.py``). A canary value sent as a task id must
be found in all three sources, so the search cannot pass vacuously.

The worker's fleet is the remote adapters in their local modes (``ibm:fake_manila``,
``braket:local``), built with those credentials; every sub-task runs through them. The production paths, which
hand the credentials to qiskit-ibm-runtime and boto3, are exercised by
``qstream backends`` on real device names with DEBUG logging: with no network every
connection fails, and its whole output (SDK debug logs of the signed AWS requests,
error messages, the JSON report) is searched the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.secrets import Secret, find_leaks
from qstream.stream import tansu_compat
from qstream.stream import topics as T
from qstream.workload import mqt_qasm

SECRETS = {
    "QSTREAM_IBM_TOKEN": "qsIBM-tok/7d1e+9b0f=4c2a8e61",
    "AWS_SESSION_TOKEN": "qs-aws-session-5a6b7c8d9e0f",
    "AWS_ACCESS_KEY_ID": "AKIAQSTREAMLEAKTEST7",
    "AWS_SECRET_ACCESS_KEY": "qsAWS+sec/9f8e7d6c5b4a3=x",
    "QSTREAM_KAFKA_SASL_PASSWORD": "qs-kafka pw&0c1d2e3f",
}
FROM_ENV = ("QSTREAM_IBM_TOKEN", "AWS_SESSION_TOKEN")
FLEET = "ibm:fake_manila,braket:local"
"""The worker's fleet: the remote adapters, in their local modes, run every sub-task."""


def _dump_topics(bootstrap: str, url: str) -> list[tuple[str, bytes]]:
    """``(topic, key + value + headers)`` of every record of every topic, from offset 0."""
    async def run() -> list[tuple[str, bytes]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            names = await admin.list_topics()
        finally:
            await admin.close()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    **tansu_compat.consumer_settings(url))
        await consumer.start()
        out: list[tuple[str, bytes]] = []
        try:
            tps = [tp for name in names for tp in
                   (await _partitions(consumer, name))]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            listed = await consumer.end_offsets(tps)
            # tansu's ListOffsets can be short (tansu_compat defect 1); fetch gives the truth.
            ends = await tansu_compat.fetch_end_offsets(bootstrap, listed)
            async def behind() -> bool:
                return any([await consumer.position(tp) < ends[tp] for tp in tps])

            while await behind():
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    for r in records:
                        headers = b"".join(k.encode() + b"=" + (v or b"") for k, v in r.headers)
                        out.append((tp.topic, (r.key or b"") + b"\n" + (r.value or b"") + b"\n"
                                    + headers))
        finally:
            await consumer.stop()
        return out
    return asyncio.run(asyncio.wait_for(run(), 120))


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[Any]:
    from aiokafka import TopicPartition

    parts = consumer.partitions_for_topic(topic)
    if parts is None:
        await consumer._client.force_metadata_update()  # a topic this consumer never saw
        parts = consumer.partitions_for_topic(topic) or {0}
    return [TopicPartition(topic, p) for p in sorted(parts)]


def test_no_secret_in_logs_spans_or_topics(tmp_path: Path, worker_factory,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    secrets_path = tmp_path / "secrets.toml"
    secrets_path.write_text("".join(f'{k} = "{v}"\n' for k, v in SECRETS.items()
                                    if k not in FROM_ENV))
    secrets_path.chmod(0o600)
    for name in FROM_ENV:
        monkeypatch.setenv(name, SECRETS[name])
    spans_path = tmp_path / "spans.jsonl"
    good = [{"schema": "qstream.task.v1", "task_id": f"leak-{family}-{n}-{uuid.uuid4()}",
             "shots": 200, "circuits": [{"name": f"{family}{n}", "qasm": mqt_qasm(family, n)}]}
            for family, n in (("ghz", 3), ("qft", 3), ("dj", 4), ("wstate", 3))]
    bad_qasm = {"schema": "qstream.task.v1", "task_id": f"leak-bad-{uuid.uuid4()}",
                "shots": 10, "circuits": [{"name": "bad", "qasm": "OPENQASM 2.0;\nnot qasm;\n"}]}
    # A canary: not a secret, but searched like one. It travels as a task id, so the
    # search must find it in the records, the spans and the log; that shows the search
    # covers each of them.
    canary = f"leak-canary-{uuid.uuid4().hex}"
    tasks = [*good, bad_qasm, {**good[0], "task_id": canary}]

    with EmbeddedBroker() as broker:  # its own broker: only this test's records
        worker = worker_factory(broker.url, tmp_path / "worker.log", "--loglevel", "DEBUG",
                                "--fleet", FLEET,
                                "--otel-exporter", f"memory:{spans_path}",
                                "--secrets-file", str(secrets_path))
        try:
            async def run() -> dict[str, dict[str, Any]]:
                async with Client(broker.url) as client:
                    await client.send_raw(T.TASKS, b"{not json", key=b"leak-raw-bad")
                    await client.send_raw(T.TASKS, b'{"schema": "qstream.task.v1"}',
                                          key=b"leak-no-id")
                    for t in tasks:
                        await client.submit(t)
                    return await client.wait_results([t["task_id"] for t in tasks], 120)
            results = asyncio.run(run())
        finally:
            assert worker.stop() == 0, worker.log()[-3000:]
        records = _dump_topics(broker.bootstrap, broker.url)

    # The run happened: every task has a result, the bad one failed, the log and spans exist.
    assert set(results) == {t["task_id"] for t in tasks}, worker.log()[-3000:]
    assert all(results[t["task_id"]]["status"] == "completed" for t in tasks if t is not bad_qasm)
    assert results[bad_qasm["task_id"]]["status"] == "failed"
    log = worker.log()
    assert " DEBUG " in log and len(log) > 10_000
    assert "IBM token: set, AWS access key: set, AWS session token: set" in log
    spans = spans_path.read_text()
    assert len([json.loads(line) for line in spans.splitlines()]) >= len(tasks)
    topics = {topic for topic, _ in records}
    assert {T.TASKS, T.RESULTS, T.DLQ, T.TELEMETRY, T.SUBTASKS} <= topics
    assert len(records) > 2 * len(tasks)
    telemetry = b"".join(blob for topic, blob in records if topic == T.TELEMETRY)
    assert b"ibm:fake_manila" in telemetry and b"braket:local" in telemetry  # adapters ran
    executed = {name for name in ("ibm:fake_manila", "braket:local")
                if any(name.encode() in blob for topic, blob in records if topic == T.RESULTS)}
    assert executed, "no sub-task ran on a remote adapter"
    dlq = [blob for topic, blob in records if topic == T.DLQ]
    assert len(dlq) >= 2

    assert find_leaks(log, {"canary": Secret(canary)}) == ["canary"]
    assert find_leaks(spans, {"canary": Secret(canary)}) == ["canary"]
    canary_topics = {topic for topic, blob in records
                     if find_leaks(blob, {"canary": Secret(canary)})}
    assert {T.TASKS, T.RESULTS, T.SUBTASKS} <= canary_topics

    secrets = {name: Secret(value) for name, value in SECRETS.items()}
    assert find_leaks(log, secrets) == []
    assert find_leaks(spans, secrets) == []
    leaked = {(topic, name) for topic, blob in records for name in find_leaks(blob, secrets)}
    assert leaked == set()


def test_no_secret_in_remote_backend_checks(tmp_path: Path) -> None:
    secrets_path = tmp_path / "secrets.toml"
    secrets_path.write_text("".join(f'{k} = "{v}"\n' for k, v in SECRETS.items()
                                    if k not in FROM_ENV))
    secrets_path.chmod(0o600)
    env = {**os.environ, **{k: SECRETS[k] for k in FROM_ENV},
           "HOME": str(tmp_path),  # no saved qiskit account, no ~/.aws
           "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    fleet = ("ibm:ibm_brisbane,braket:arn:aws:braket:::device/quantum-simulator/amazon/sv1,"
             "braket:arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet,ibm:fake_manila")
    proc = subprocess.run(
        [sys.executable, "-m", "qstream", "backends", "--json", "--loglevel", "DEBUG",
         "--secrets-file", str(secrets_path), "--fleet", fleet],
        capture_output=True, text=True, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    report = {c["name"]: c for c in json.loads(proc.stdout)}
    # The credentials were used: AWS requests were signed with them (botocore's DEBUG log
    # shows the redacted signature), the IBM service was opened with the token.
    assert proc.returncode == 1
    assert "Credential=***" in out and "x-amz-security-token:***" in out
    assert report["ibm:ibm_brisbane"]["credentials"] == "IBM token: set"
    assert not report["ibm:ibm_brisbane"]["ok"] and report["ibm:fake_manila"]["ok"]
    assert all(not c["ok"] and "cannot open" in c["detail"]
               for n, c in report.items() if n.startswith("braket:"))
    secrets = {name: Secret(value) for name, value in SECRETS.items()
               if name != "QSTREAM_KAFKA_SASL_PASSWORD"}
    assert find_leaks(out, secrets) == []
