"""`qstream gateway` and `qstream estimate` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from qstream.broker import free_port

QASM_DIR = Path(__file__).resolve().parent.parent / "data" / "qasm"


def estimate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QSTREAM_BROKER"}
    return subprocess.run([sys.executable, "-m", "qstream", "estimate", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_offline_estimate_uses_priors_and_says_so() -> None:
    proc = estimate(str(QASM_DIR / "bell_qasm3.qasm"), "--shots", "500", "--json")
    assert proc.returncode == 0, proc.stderr
    body = orjson.loads(proc.stdout)
    assert body["predictor"]["source"] == "priors" and "priors" in body["predictor"]["note"]
    (sub,) = body["subtasks"]
    assert sub["shots"] == 500 and sub["backend"] == sub["candidates"][0]["backend"]
    assert len(sub["candidates"]) >= 4
    table = estimate(str(QASM_DIR / "bell_qasm3.qasm"))
    assert table.returncode == 0 and "choice:" in table.stdout and "*" in table.stdout


def test_estimate_reads_the_live_backend_status_from_the_broker(worker) -> None:
    proc = estimate(str(QASM_DIR / "bell_qasm3.qasm"), "--broker", worker.broker_url, "--json")
    assert proc.returncode == 0, proc.stderr
    body = orjson.loads(proc.stdout)
    assert "no backend_status" not in body["predictor"]["note"]  # pending jobs are known
    queue = {c["backend"]: c["queue_s"] for c in body["subtasks"][0]["candidates"]}
    assert queue["ibm_perth_emu"] > 0  # its emulated queue holds hundreds of jobs


def test_an_invalid_file_fails_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.qasm"
    bad.write_text("OPENQASM 2.0; qreg q[1]; foo q[0];")
    proc = estimate(str(bad))
    assert proc.returncode == 2 and "foo" in proc.stderr


def test_gateway_command_serves_openapi_and_becomes_ready(broker) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qstream", "gateway", "--broker",
                             broker.url.replace("tansu://", "kafka://"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "not ready within 60 s"
            time.sleep(0.1)
        spec = httpx.get(f"{base}/openapi.json").json()
        assert spec["info"]["title"] == "qstream gateway" and "/v1/tasks" in spec["paths"]
    finally:
        proc.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert proc.wait(30) in (0, -signal.SIGTERM)
