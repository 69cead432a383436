"""Effectively-once results under SIGKILL: 200 tasks, two workers, the owner killed 3 times.

Two workers share one consumer group: one owns the control topics (partition,
dispatch, learn, post-process and the executors), the other is a standby with
table replicas. The test SIGKILLs whichever worker owns the control topics
(with its simulator processes) three times while the workload runs, restarting
it each time, and then checks every task got exactly one result and that each
takeover restored the scheduler, task and predictor state instead of starting
empty.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.stream import topics as T
from qstream.workload import mqt_qasm

N_TASKS = 200
KILLS = 3
OWNER = "state restored in"
STANDBY = "standby: another worker owns the control topics"
RESTORED = re.compile(
    r"state restored in ([\d.]+) ms: (\d+) active tasks, (\d+) pending and (\d+) in-flight "
    r"sub-tasks, (\d+) parts, predictor at (\d+) observations")


def role(log: str) -> str | None:
    """``owner`` or ``standby`` from a worker's last rebalance line, None before its first."""
    owner, standby = log.rfind(OWNER), log.rfind(STANDBY)
    if owner < 0 and standby < 0:
        return None
    return "owner" if owner > standby else "standby"


def tasks() -> list[dict[str, Any]]:
    shapes = [("ghz", 3), ("ghz", 5), ("qft", 4), ("dj", 4), ("wstate", 3)]
    return [{"schema": "qstream.task.v1", "task_id": f"kill-{i:03d}-{uuid.uuid4().hex[:6]}",
             "circuits": [{"name": f"{b}{n}", "qasm": mqt_qasm(b, n)}], "shots": 256}
            for i, (b, n) in enumerate(shapes * (N_TASKS // len(shapes)))]


def test_sigkill_owner_three_times_loses_and_doubles_nothing(tmp_path: Path,
                                                             worker_factory) -> None:
    workload = tasks()
    ids = {t["task_id"] for t in workload}
    counts: dict[str, int] = {}
    statuses: dict[str, str] = {}
    kill_log: list[dict[str, Any]] = []
    with EmbeddedBroker() as broker:
        workers = [worker_factory(broker.url, tmp_path / f"w{i}-0.log") for i in range(2)]
        try:
            async def wait_roles(timeout_s: float = 90.0) -> int:
                """Index of the owner once one worker owns and the other is standby."""
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline:
                    roles = [role(w.log()) for w in workers]
                    if sorted(map(str, roles)) == ["owner", "standby"]:
                        return roles.index("owner")
                    await asyncio.sleep(0.1)
                raise AssertionError(f"no owner/standby pair: {[role(w.log()) for w in workers]}")

            async def run() -> None:
                async with Client(broker.url) as client:
                    arrivals: list[float] = []

                    async def read() -> None:
                        async for _, msg in client.stream(T.RESULTS):
                            if msg["task_id"] in ids:
                                counts[msg["task_id"]] = counts.get(msg["task_id"], 0) + 1
                                statuses[msg["task_id"]] = msg["status"]
                                arrivals.append(time.monotonic())

                    reader = asyncio.create_task(read())
                    for t in workload:
                        await client.submit(t)
                    for k in range(KILLS):
                        victim = await wait_roles()
                        # Let the owner make progress (and learn) before it dies.
                        # 15 results mean >= 10 learned executions: a predictor snapshot exists.
                        before = len(arrivals)
                        deadline = time.monotonic() + 180
                        while len(arrivals) < before + 15 and time.monotonic() < deadline:
                            await asyncio.sleep(0.1)
                        assert len(arrivals) >= before + 15, \
                            f"only {len(arrivals) - before} results in 180 s before kill {k + 1}"
                        assert len(counts) < len(ids), "the workload finished before kill " \
                            f"{k + 1}; make it longer"
                        survivor = workers[1 - victim]
                        survivor_lines = survivor.log().count(OWNER)
                        os.killpg(workers[victim].proc.pid, signal.SIGKILL)
                        killed_at = time.monotonic()
                        workers[victim].proc.wait()
                        done_at_kill = len(counts)
                        # The survivor takes over: its own restore line, then results again.
                        while survivor.log().count(OWNER) == survivor_lines:
                            assert time.monotonic() - killed_at < 60, survivor.log()[-3000:]
                            await asyncio.sleep(0.05)
                        owner_at = time.monotonic()
                        # Results the victim sent just before it died may still arrive;
                        # recovery counts until the first result after the takeover.
                        while not any(a > owner_at for a in arrivals):
                            assert time.monotonic() - killed_at < 90, "no result after the kill"
                            await asyncio.sleep(0.05)
                        first_result = min(a for a in arrivals if a > owner_at)
                        restored = RESTORED.findall(survivor.log())[-1]
                        kill_log.append({
                            "results_before": done_at_kill,
                            "takeover_s": owner_at - killed_at,
                            "next_result_s": first_result - killed_at,
                            "restore_ms": float(restored[0]), "active": int(restored[1]),
                            "pending": int(restored[2]), "in_flight": int(restored[3]),
                            "parts": int(restored[4]), "observations": int(restored[5])})
                        workers[victim] = await asyncio.to_thread(
                            worker_factory, broker.url, tmp_path / f"w{victim}-{k + 1}.log")
                    deadline = time.monotonic() + 300
                    while len(counts) < len(ids) and time.monotonic() < deadline:
                        await asyncio.sleep(0.5)
                    await asyncio.sleep(5)  # a late duplicate would arrive now
                    reader.cancel()

            asyncio.run(run())
        finally:
            logs = {w.log_path.name: w.log() for w in workers}
            for w in workers:
                w.stop()
    for k, entry in enumerate(kill_log, 1):
        print(f"kill {k}: {entry}")
    joined = "\n".join(logs.values())
    print("re-published:", joined.count("re-publishing the unconfirmed result"),
          "already published:", joined.count("was already published"),
          "parts before plan:", joined.count("before its plan; kept"))
    missing = ids - counts.keys()
    duplicated = {t: n for t, n in counts.items() if n > 1}
    assert len(kill_log) == KILLS
    assert not missing, f"{len(missing)} tasks without a result; logs: {list(logs)}"
    assert not duplicated, f"{len(duplicated)} tasks with more than one result: {duplicated}"
    assert set(statuses.values()) == {"completed"}, statuses
    # Each takeover restored live state, not an empty worker: unfinished tasks, their
    # sub-tasks, and the predictor's learned observations.
    for entry in kill_log:
        assert entry["active"] > 0 and entry["pending"] + entry["in_flight"] > 0, entry
        assert entry["observations"] > 0, entry
    # The predictor keeps learning across takeovers rather than restarting from zero.
    assert kill_log[-1]["observations"] > kill_log[0]["observations"], kill_log
