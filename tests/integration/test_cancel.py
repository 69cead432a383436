"""Cancel on the real broker: one ``cancelled`` result, the CPU freed, no process left behind.

* A long 24-qubit statevector simulation is cancelled while it runs: the pool
  process running it is terminated within seconds, and the task has exactly one
  result on ``qstream.results``, with status ``cancelled``.
* A worker killed just after it consumed the cancel request (crash point
  ``cancel-received``): its successor cancels the task again, and it still has
  exactly one ``cancelled`` result. The successor, stopped by SIGTERM in the middle of
  another simulation, leaves none of its pool processes behind.
* An executor in another process (``qstream executor``) stops the simulation of a
  task cancelled on the pipeline worker (it follows ``qstream.stops``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from helpers.watch import results_counted

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.stream import topics as T

LONG_QUBITS = 24
LONG_LAYERS = 150  # predicted 184 s of statevector simulation (qstream.core.sim_cost)


def long_qasm(n: int = LONG_QUBITS, layers: int = LONG_LAYERS) -> str:
    """A non-Clifford, all-entangling circuit: statevector is the only fitting method."""
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n}];", f"creg c[{n}];"]
    for layer in range(layers):
        lines += [f"ry({0.1 + 0.01 * ((i * 7 + layer * 3) % 31)}) q[{i}];" for i in range(n)]
        lines += [f"cx q[{i}],q[{i + 1}];" for i in range(layer % 2, n - 1, 2)]
        lines.append(f"cx q[{n - 1}],q[0];")
    lines.append("measure q -> c;")
    return "\n".join(lines)


def long_task(task_id: str) -> dict[str, Any]:
    return {"schema": "qstream.task.v1", "task_id": task_id, "shots": 100,
            "backends": ["cpu_statevector"],
            "circuits": [{"name": "long24", "qasm": long_qasm()}]}


def busy_child(pid: int, timeout_s: float = 120.0) -> int:
    """The pid of a child process of ``pid`` that keeps a CPU busy (the simulation)."""
    deadline = time.monotonic() + timeout_s
    parent = psutil.Process(pid)
    while time.monotonic() < deadline:
        children = parent.children(recursive=True)
        for c in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                c.cpu_percent(None)
        time.sleep(1.0)
        for c in children:
            try:
                if c.cpu_percent(None) > 60.0:
                    return c.pid
            except psutil.NoSuchProcess:
                continue
    raise AssertionError("no pool process started simulating")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def cancel(url: str, task_id: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with Client(url) as client:
            return await client.cancel(task_id, reason="test", requested_by="pytest")
    return asyncio.run(go())


def submit(url: str, task: dict[str, Any]) -> None:
    async def go() -> None:
        async with Client(url) as client:
            await client.submit(task)
    asyncio.run(go())


def answers(url: str, task_id: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """The ``cancel`` answers for ``task_id`` (read until one is there, then 2 s more)."""
    async def go() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async with Client(url) as client:
            async def read() -> None:
                async for _, msg in client.stream(T.TELEMETRY):
                    if msg.get("event") == "cancel" and msg.get("task_id") == task_id:
                        found.append(msg)

            reader = asyncio.create_task(read())
            for _ in range(int(timeout_s * 10)):
                if any(m.get("subtask_id") is None for m in found):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)
            reader.cancel()
        return found
    return asyncio.run(go())


def test_cancelling_a_running_simulation_frees_its_cpu_and_gives_one_cancelled_result(
        worker) -> None:
    url = worker.broker_url
    task_id = f"cancel-long-{uuid.uuid4().hex[:6]}"
    submit(url, long_task(task_id))
    child = busy_child(worker.proc.pid)
    requested = time.monotonic()
    cancel(url, task_id)
    while not gone(child):
        assert time.monotonic() - requested < 30, "the simulation was not stopped"
        time.sleep(0.05)
    freed_s = time.monotonic() - requested
    print(f"cancel request -> simulation process {child} gone in {freed_s:.2f} s")
    results = results_counted(url, {task_id}, timeout_s=60)[task_id]
    assert [r["status"] for r in results] == ["cancelled"]
    assert results[0]["reason"] == "cancelled" and "cancelled by pytest: test" in results[0]["error"]
    events = answers(url, task_id)
    [answer] = [e for e in events if e.get("subtask_id") is None]
    assert answer["outcome"] == "cancelled" and answer["stopped"] == 1
    [stopped] = [e for e in events if e.get("subtask_id")]
    assert stopped["stopped"] == 1 and stopped["backend"] == "cpu_statevector"
    # The pool replaced the process; the worker goes on serving (its pool has as many).
    assert all(not gone(c.pid) for c in psutil.Process(worker.proc.pid).children())
    # A second cancel of the same task changes nothing and says so.
    cancel(url, task_id)
    again = [e["outcome"] for e in answers(url, task_id) if e.get("subtask_id") is None]
    assert again == ["cancelled", "already_finished"]
    assert len(results_counted(url, {task_id}, timeout_s=5, settle_s=1)[task_id]) == 1


def sigterm_leaves_no_child(url: str, handle: Any) -> None:
    """SIGTERM ``handle``'s worker mid-simulation: none of its processes may be left."""
    submit(url, long_task(f"sigterm-{uuid.uuid4().hex[:6]}"))
    child = busy_child(handle.proc.pid)
    children = [c.pid for c in psutil.Process(handle.proc.pid).children(recursive=True)]
    stopped_at = time.monotonic()
    handle.proc.terminate()
    # Well before the simulation would end: the worker must not wait for it.
    handle.proc.wait(30)
    print(f"SIGTERM -> worker exited in {time.monotonic() - stopped_at:.2f} s")
    deadline = time.monotonic() + 5.0  # a child notices its parent's exit within 0.5 s
    while any(not gone(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [" ".join(psutil.Process(p).cmdline())[:200] for p in children if not gone(p)]
    assert gone(child) and left == [], f"left behind: {left}"


def test_cancel_across_a_worker_crash_still_gives_exactly_one_cancelled_result(
        worker_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task_id = f"cancel-crash-{uuid.uuid4().hex[:6]}"
    with EmbeddedBroker() as broker:
        monkeypatch.setenv("QSTREAM_CRASH_AT", "cancel-received")
        first = worker_factory(broker.url, tmp_path / "first.log")
        monkeypatch.delenv("QSTREAM_CRASH_AT")
        second = None
        try:
            submit(broker.url, long_task(task_id))
            busy_child(first.proc.pid)
            cancel(broker.url, task_id)
            first.proc.wait(60)
            assert first.proc.returncode == -9, "the crash point did not kill the worker"
            # The successor restores the task as active with the cancel noted on its
            # record, and finishes the cancel.
            second = worker_factory(broker.url, tmp_path / "second.log")
            results = results_counted(broker.url, {task_id}, timeout_s=120)[task_id]
            events = answers(broker.url, task_id)
            log = second.log()
            # The successor, stopped by SIGTERM mid-simulation, leaves no process behind.
            sigterm_leaves_no_child(broker.url, second)
        finally:
            first.stop()
            if second is not None:
                second.stop()
    assert [r["status"] for r in results] == ["cancelled"], results
    assert "state restored in" in log
    # The successor finished the noted cancel; a redelivered request is then answered
    # already_finished.
    outcomes = [e["outcome"] for e in events if e.get("subtask_id") is None]
    assert outcomes[0] == "cancelled" and set(outcomes[1:]) <= {"already_finished"}, outcomes
    assert "finishing the cancel of" in log


def test_an_executor_in_another_process_stops_the_cancelled_simulation(
        worker_factory, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    task_id = f"cancel-remote-{uuid.uuid4().hex[:6]}"
    with EmbeddedBroker() as broker:
        log = open(tmp_path / "executor.log", "wb")  # noqa: SIM115 - owned by the process
        executor = subprocess.Popen(
            [sys.executable, "-m", "qstream", "executor", "--broker", broker.url,
             "--backends", "cpu_statevector", "--time-scale", "600", "--loglevel", "INFO"],
            stdout=log, stderr=subprocess.STDOUT)
        worker = worker_factory(broker.url, tmp_path / "worker.log", "--no-executors",
                                "--fleet", "cpu_statevector")
        try:
            submit(broker.url, long_task(task_id))
            child = busy_child(executor.pid)
            requested = time.monotonic()
            cancel(broker.url, task_id)
            while not gone(child):
                assert time.monotonic() - requested < 30, "the executor did not stop it"
                time.sleep(0.05)
            print(f"cancel request -> remote executor's simulation gone in "
                  f"{time.monotonic() - requested:.2f} s")
            results = results_counted(broker.url, {task_id}, timeout_s=60)[task_id]
            events = answers(broker.url, task_id)
        finally:
            executor.send_signal(signal.SIGTERM)
            executor.wait(30)
            worker.stop()
    assert [r["status"] for r in results] == ["cancelled"]
    [answer] = [e for e in events if e.get("subtask_id") is None]
    # The owner could not stop it itself (another process runs it): discarded, then the
    # executor stopped it and said so.
    assert (answer["stopped"], answer["discarded"]) == (0, 1)
    [stopped] = [e for e in events if e.get("subtask_id")]
    assert stopped["stopped"] == 1 and stopped["outcome"] == "cancelled"


def test_the_cli_prints_the_workers_answer(worker) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "qstream", "cancel", f"no-such-{uuid.uuid4().hex[:6]}",
         "--reason", "typo", "--broker", worker.broker_url, "--wait-s", "30"],
        capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr  # the console writes to stderr
    assert out.returncode == 1, text
    assert "unknown_task" in text and "nothing changed" in text


def test_delete_over_http_cancels_a_long_task_with_exactly_one_result(worker) -> None:
    """The issue's acceptance check, as a new user would: POST, DELETE, poll to cancelled."""
    import httpx
    from helpers.gateway import running_gateway

    with running_gateway(worker.broker_url) as base:
        body = long_task("unused")
        del body["task_id"]
        r = httpx.post(f"{base}/v1/tasks", json=body)
        assert r.status_code == 202, r.text
        task_id = r.json()["task_id"]
        busy_child(worker.proc.pid)
        r = httpx.delete(f"{base}/v1/tasks/{task_id}")
        assert r.status_code == 202 and r.json()["status"] == "cancelling", r.text
        deadline = time.monotonic() + 60
        while (state := httpx.get(f"{base}/v1/tasks/{task_id}").json())["status"] != "cancelled":
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
    assert state["result"]["status"] == "cancelled" and state["result"]["reason"] == "cancelled"
    assert len(results_counted(worker.broker_url, {task_id}, timeout_s=10)[task_id]) == 1
