"""A worker killed exactly between recording a result and confirming it: still one result.

Random kills (test_worker_kill.py) hit these two windows only by luck. Here the
worker SIGKILLs itself at a named crash point (``QSTREAM_CRASH_AT``), and a fresh
worker takes over:

* ``result-recorded``: the result is in the changelog as ``publishing`` but was
  never sent; the successor must publish it.
* ``result-sent``: the result is on ``qstream.results`` but the task is not
  marked done; the successor must find it there and not publish it again.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from helpers.watch import results_counted

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.workload import mqt_qasm

CRASH_AT_RESULT = 3


@pytest.mark.parametrize(("point", "successor_line"), [
    ("result-recorded", "re-publishing the unconfirmed result"),
    ("result-sent", "was already published"),
])
def test_kill_at_crash_point_gives_exactly_one_result(
        point: str, successor_line: str, tmp_path: Path, worker_factory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = [{"schema": "qstream.task.v1", "task_id": f"cp-{i}-{uuid.uuid4().hex[:6]}",
              "circuits": [{"name": "ghz3", "qasm": mqt_qasm("ghz", 3)}], "shots": 128}
             for i in range(8)]
    ids = {t["task_id"] for t in tasks}
    with EmbeddedBroker() as broker:
        monkeypatch.setenv("QSTREAM_CRASH_AT", f"{point}:{CRASH_AT_RESULT}")
        first = worker_factory(broker.url, tmp_path / "first.log")
        monkeypatch.delenv("QSTREAM_CRASH_AT")
        second = None
        try:
            async def submit() -> None:
                async with Client(broker.url) as client:
                    for t in tasks:
                        await client.submit(t)
                    while first.proc.poll() is None:
                        await asyncio.sleep(0.1)

            asyncio.run(asyncio.wait_for(submit(), 120))
            assert first.proc.returncode == -9, "the crash point did not kill the worker"
            second = worker_factory(broker.url, tmp_path / "second.log")

            counts = {tid: len(msgs) for tid, msgs in
                      results_counted(broker.url, ids, timeout_s=120).items()}
            successor_log = second.log()
        finally:
            first.stop()
            if second is not None:
                second.stop()
    assert {t: n for t, n in counts.items() if t in ids} == dict.fromkeys(ids, 1)
    assert successor_line in successor_log, successor_log[-3000:]
    assert "state restored in" in successor_log
