"""Shared fixtures: a real embedded broker (tansu) and a real qstream worker process.

Nothing here is mocked. Integration and e2e tests talk Kafka protocol to a tansu
broker started by the session fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qstream.broker import EmbeddedBroker
from qstream.client import Client
from qstream.stream import topics as T

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
# Time scale of the test worker: 600 emulated s per wall s keeps IBM-like queue
# waits (minutes) to a fraction of a second.
TEST_TIME_SCALE = 600.0


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    broker_url: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its simulator processes (its session's process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout_s)
        # A worker that was SIGKILLed leaves its simulator processes behind; they are
        # in its session's process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return int(self.proc.returncode)


async def wait_ready(url: str, timeout_s: float = 120.0, after: float = 0.0) -> None:
    """Wait for a backend_status telemetry event published after ``after`` (epoch s)."""
    await T.ensure_topics(url.split("://", 1)[1], [T.TopicSpec(T.TELEMETRY)])
    async with Client(url) as client:
        async def seen() -> None:
            async for _, msg in client.stream(T.TELEMETRY):
                if msg.get("event") == "backend_status" and msg.get("at", 0) >= after:
                    return
        await asyncio.wait_for(seen(), timeout_s)


def start_worker(url: str, log_path: Path, *extra: str) -> WorkerProcess:
    started = time.time()
    log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the process for its life
    proc = subprocess.Popen(
        [sys.executable, "-m", "qstream", "worker", "--broker", url,
         "--time-scale", str(TEST_TIME_SCALE), "--loglevel", "INFO", *extra],
        stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    handle = WorkerProcess(proc, log_path, url)
    try:
        asyncio.run(wait_ready(url, after=started))
    except Exception:
        handle.stop()
        raise AssertionError(f"worker did not become ready:\n{handle.log()[-4000:]}") from None
    return handle


@pytest.fixture(scope="session")
def worker(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[WorkerProcess]:
    handle = start_worker(broker.url, tmp_path_factory.mktemp("worker") / "worker.log")
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def worker_factory():
    """Start extra workers (tests that restart or kill them)."""
    return start_worker


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n 2 --dist loadgroup``, the default in pyproject.toml) every
    integration test runs on one worker, one after another, as before: their kill, outage
    and timing checks were written for that. The unit, contract and e2e (CLI) tests run on
    the other worker beside them, with a broker and worker of their own where they need
    one (session fixtures are per xdist worker)."""
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.xdist_group("broker"))
