"""Pipeline overhead benchmark: qstream against a null pipeline with the same topic hops.

In one run, on a fresh embedded broker (tansu) per pipeline:

- **qstream**: ``qstream worker --fleet cpu_statevector`` in a process of its own (as
  deployed); a task goes ``qstream.tasks`` -> partition -> ``qstream.subtasks`` ->
  dispatch -> ``qstream.exec.cpu_statevector`` -> execute -> ``qstream.subtask-results``
  -> post-process -> ``qstream.results``: four hops inside the worker, plus the client's
  produce and consume.
- **null**: plain aiokafka forwarders over the same four hops, in a process of its own,
  with one consumer (in a consumer group, offsets auto-committed every 0.5 s, as Faust
  commits) and one producer for all of them, and the client settings the worker uses on
  tansu (:mod:`qstream.stream.tansu_compat`: the adaptive fetch wait, ``acks=1``).

The client is this process: an aiokafka producer and a consumer of ``qstream.results``
that assigns its partition from the beginning (tansu's ListOffsets defect) with the same
fetch wait. The task is a 2-qubit Bell circuit of 100 shots on the classical kind, as in
the speed issue. Measured:

- idle round trip, publish -> result seen, over ``--sequential`` tasks sent one after the
  other (each after the previous result): p50 and p99, ms;
- sustained throughput for each ``--burst`` size: all tasks published at once, tasks/s from
  the first publish to the last result, and p50 latency.

Prints one table per pipeline, the qstream/null ratios, and the worker's CPU seconds per
task (from ``/proc``). It is a benchmark, not a test: nothing is asserted.

Usage::

    .venv/bin/python scripts/bench_pipeline.py --sequential 60 --burst 1000,10000
    .venv/bin/python scripts/bench_pipeline.py --only qstream --sequential 100 --burst 1000
    .venv/bin/python scripts/bench_pipeline.py --worker-python ../old/.venv/bin/python  # before
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from qstream.broker import EmbeddedBroker
from qstream.stream import tansu_compat
from qstream.stream import topics as T

BELL = ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\n'
        "cx q[0],q[1];\nmeasure q -> c;\n")
HOPS = (T.TASKS, T.SUBTASKS, T.exec_topic("cpu_statevector"), T.SUBTASK_RESULTS, T.RESULTS)
"""The topics a Bell task crosses in the worker, in order (the null pipeline forwards
each to the next)."""


def task_bytes(task_id: str) -> bytes:
    return orjson.dumps({"schema": "qstream.task.v1", "task_id": task_id, "shots": 100,
                         "kinds": ["classical"], "circuits": [{"name": "bell", "qasm": BELL}]})


def quantile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) by linear interpolation (``statistics.quantiles``)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, round(q * 100) - 1)]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its reaped children (``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


# -- the null pipeline (run with --null-forwarder BOOTSTRAP in a process of its own) --

async def null_forwarder(bootstrap: str) -> None:
    url = f"tansu://{bootstrap}"
    nxt = dict(itertools.pairwise(HOPS))
    consumer = tansu_compat.new_consumer(url, *nxt, group_id="bench-null",
                                         auto_offset_reset="earliest", enable_auto_commit=True,
                                         auto_commit_interval_ms=500)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, enable_idempotence=False)
    await producer.start()
    await consumer.start()
    try:
        async for record in consumer:
            await producer.send(nxt[record.topic], record.value, key=record.key)
    finally:
        await consumer.stop()
        await producer.stop()


# -- the client --

class Client:
    """Publishes tasks and notes when each one's result is seen (by record key)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.seen: dict[bytes, float] = {}
        self.waiters: dict[bytes, asyncio.Future[float]] = {}

    async def __aenter__(self) -> Client:
        url = f"tansu://{self.bootstrap}"
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap,
                                         **tansu_compat.producer_settings(url))
        self.consumer = tansu_compat.new_consumer(url, enable_auto_commit=False)
        await self.producer.start()
        await self.consumer.start()
        tp = TopicPartition(T.RESULTS, 0)
        self.consumer.assign([tp])
        await self.consumer.seek_to_beginning(tp)
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reader.cancel()
        await self.consumer.stop()
        await self.producer.stop()

    async def _read(self) -> None:
        async for record in self.consumer:
            key = record.key or b""
            if key not in self.seen:
                now = time.perf_counter()
                self.seen[key] = now
                waiter = self.waiters.pop(key, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)

    async def publish(self, task_id: str) -> tuple[float, asyncio.Future[float]]:
        """Send one task; return when it was sent and a future of when its result was seen."""
        key = task_id.encode()
        seen = self.waiters[key] = asyncio.get_running_loop().create_future()
        start = time.perf_counter()
        await self.producer.send(T.TASKS, task_bytes(task_id), key=key)
        return start, seen

    async def round_trip(self, task_id: str, timeout_s: float = 60.0) -> float:
        start, seen = await self.publish(task_id)
        await self.producer.flush()
        return await asyncio.wait_for(seen, timeout_s) - start

    async def burst(self, n: int, prefix: str, timeout_s: float) -> tuple[float, list[float]]:
        ids = [f"{prefix}-{i:06d}" for i in range(n)]
        sent = [await self.publish(tid) for tid in ids]
        await self.producer.flush()
        ends = await asyncio.wait_for(asyncio.gather(*(seen for _, seen in sent)), timeout_s)
        lat = [end - start for (start, _), end in zip(sent, ends, strict=True)]
        return n / (max(ends) - sent[0][0]), lat


def start_pipeline(kind: str, broker: EmbeddedBroker, log: Path,
                   worker_python: str) -> subprocess.Popen[bytes]:
    if kind == "null":
        cmd = [sys.executable, __file__, "--null-forwarder", broker.bootstrap]
    else:
        cmd = [worker_python, "-c", "from qstream.cli import app; app()", "worker", "--broker", broker.url,
               "--fleet", "cpu_statevector"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


async def measure(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with EmbeddedBroker() as broker:
        from qstream.stream.topics import ensure_topics, pipeline_topics

        await ensure_topics(broker.bootstrap, pipeline_topics(["cpu_statevector"]))
        proc = start_pipeline(kind, broker, workdir / f"{kind}.log", args.worker_python)
        try:
            async with Client(broker.bootstrap) as client:
                ready_t0 = time.perf_counter()
                await client.round_trip(f"warm-{uuid.uuid4().hex[:8]}", timeout_s=120)
                out: dict[str, Any] = {"ready_s": time.perf_counter() - ready_t0}
                for i in range(args.warmup):
                    await client.round_trip(f"warm{i}-{uuid.uuid4().hex[:8]}")
                cpu0, t0 = cpu_s(proc.pid), time.perf_counter()
                rtt = [await client.round_trip(f"seq{i}-{uuid.uuid4().hex[:8]}")
                       for i in range(args.sequential)]
                out["idle_cpu_ms_per_task"] = 1000 * (cpu_s(proc.pid) - cpu0) / args.sequential
                out["idle_wall_s"] = time.perf_counter() - t0
                out["rtt_p50_ms"] = 1000 * quantile(rtt, 0.5)
                out["rtt_p99_ms"] = 1000 * quantile(rtt, 0.99)
                for n in args.burst:
                    cpu0 = cpu_s(proc.pid)
                    rate, lat = await client.burst(n, f"burst{n}-{uuid.uuid4().hex[:6]}",
                                                   timeout_s=args.burst_timeout_s)
                    out[f"burst{n}_tasks_per_s"] = rate
                    out[f"burst{n}_p50_s"] = quantile(lat, 0.5)
                    out[f"burst{n}_cpu_ms_per_task"] = 1000 * (cpu_s(proc.pid) - cpu0) / n
                return out
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sequential", type=int, default=60, help="idle round trips (>= 50)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--burst", default="1000,10000",
                    help="comma-separated burst sizes for sustained throughput")
    ap.add_argument("--burst-timeout-s", type=float, default=900.0)
    ap.add_argument("--only", choices=("qstream", "null"), help="measure one pipeline")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--worker-python", default=sys.executable,
                    help="interpreter of the qstream worker (another checkout's venv: its "
                         "code against the same client and null pipeline)")
    ap.add_argument("--null-forwarder", metavar="BOOTSTRAP", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.null_forwarder:
        asyncio.run(null_forwarder(args.null_forwarder))
        return
    args.burst = [int(n) for n in args.burst.split(",") if n]
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-pipeline-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    kinds = [args.only] if args.only else ["null", "qstream"]
    results = {k: asyncio.run(measure(k, args, workdir)) for k in kinds}
    print(f"# {platform.node()}: {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"fetch wait {tansu_compat.FETCH_MAX_WAIT_MS} ms, {args.sequential} sequential "
          f"tasks, bursts {args.burst}; logs in {workdir}")
    keys = sorted({k for r in results.values() for k in r}, key=list(results[kinds[0]]).index)
    print(f"{'figure':32s}" + "".join(f"{k:>12s}" for k in kinds)
          + ("   qstream/null" if len(kinds) == 2 else ""))
    for key in keys:
        row = [results[k].get(key, float("nan")) for k in kinds]
        ratio = f"   {row[1] / row[0]:.2f}" if len(kinds) == 2 and row[0] else ""
        print(f"{key:32s}" + "".join(f"{v:12.2f}" for v in row) + ratio)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
