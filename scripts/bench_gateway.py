"""Gateway latency benchmark: ``POST /v1/tasks`` -> 202, against a bare produce + ack.

Starts an embedded broker and ``qstream gateway`` (a process of its own, as deployed),
then times ``--requests`` sequential submissions of a Bell-circuit task over one
keep-alive HTTP connection (httpx): each is parsed, schema-validated, its QASM parsed
(the partition agent's admission checks), published to ``qstream.tasks`` and acked by
the broker before the 202. The baseline, in this process, is a bare aiokafka producer
(the same settings the gateway's producer uses on the embedded broker) sending the
same task bytes and awaiting the ack. No worker runs, so nothing consumes the tasks.

Prints p50 and p99 of both in milliseconds, the gateway's added latency (gateway -
baseline, per percentile) and the ratio.

Usage::

    .venv/bin/python scripts/bench_gateway.py --requests 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from qstream.broker import EmbeddedBroker, free_port
from qstream.stream import tansu_compat
from qstream.stream import topics as T

BELL = ('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; '
        "h q[0]; cx q[0], q[1]; measure q -> c;")


def task(task_id: str) -> dict[str, object]:
    return {"schema": "qstream.task.v1", "task_id": task_id,
            "circuits": [{"name": "bell", "qasm": BELL}], "shots": 1000}


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) by linear interpolation (``statistics.quantiles``)."""
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def bench_gateway(base: str, n: int, warmup: int) -> list[float]:
    times = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(warmup + n):
            body = orjson.dumps(task(f"bench-gw-{uuid.uuid4().hex}"))
            start = time.perf_counter()
            r = client.post("/v1/tasks", content=body, headers={"content-type": "application/json"})
            elapsed = time.perf_counter() - start
            if r.status_code != 202:
                raise SystemExit(f"unexpected {r.status_code}: {r.text}")
            if i >= warmup:
                times.append(elapsed * 1e3)
    return times


async def bench_produce(url: str, n: int, warmup: int) -> list[float]:
    producer = AIOKafkaProducer(bootstrap_servers=url.split("://", 1)[1],
                                **tansu_compat.producer_settings(url))
    await producer.start()
    times = []
    try:
        for i in range(warmup + n):
            task_id = f"bench-raw-{uuid.uuid4().hex}"
            value = orjson.dumps(task(task_id))
            start = time.perf_counter()
            await producer.send_and_wait(T.TASKS, value, key=task_id.encode())
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times.append(elapsed * 1e3)
    finally:
        await producer.stop()
    return times


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the gateway exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the gateway did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    with EmbeddedBroker() as broker:
        asyncio.run(T.ensure_topics(broker.bootstrap, T.pipeline_topics([])))
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "qstream", "gateway", "--broker",
                                 broker.url, "--port", str(port)])
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc)
            gateway = bench_gateway(base, args.requests, args.warmup)
        finally:
            proc.terminate()
            proc.wait(30)
        baseline = asyncio.run(bench_produce(broker.url, args.requests, args.warmup))
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{args.requests} requests after {args.warmup} warm-up, sequential")
    rows = {"gateway POST /v1/tasks -> 202": gateway, "bare aiokafka produce + ack": baseline}
    for name, values in rows.items():
        print(f"{name:32s} p50 {percentile(values, 0.5):7.2f} ms   p99 {percentile(values, 0.99):7.2f} ms"
              f"   mean {statistics.fmean(values):7.2f} ms")
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        g, b = percentile(gateway, q), percentile(baseline, q)
        print(f"added latency {label}: {g - b:6.2f} ms (gateway / baseline = {g / b:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
