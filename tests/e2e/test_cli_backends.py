"""``qstream backends``: what a fleet would start, checked without submitting anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _backends(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qstream", "backends", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_mixed_local_fleet_starts() -> None:
    proc = _backends("--json", "--fleet", "ibm:fake_manila,braket:local,ibm_perth_emu,"
                                          "cpu_statevector")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = {c["name"]: c for c in json.loads(proc.stdout)}
    assert [report[n]["kind"] for n in report] == ["ibm", "braket", "emulated", "local"]
    assert all(c["ok"] for c in report.values())
    assert "5 qubits, operational, pending jobs 0" in report["ibm:fake_manila"]["detail"]
    assert "median 2q error" in report["ibm:fake_manila"]["detail"]
    assert "26 qubits" in report["braket:local"]["detail"]
    assert report["ibm:fake_manila"]["credentials"] == "none needed (local mode)"


def test_production_names_report_the_problem(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "QSTREAM_IBM_TOKEN": "", "QISKIT_IBM_TOKEN": "", "AWS_ACCESS_KEY_ID": "",
           "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}
    fleet = "ibm:ibm_brisbane,braket:arn:aws:braket:::device/quantum-simulator/amazon/sv1," \
            "cpu_statevector"
    proc = _backends("--json", "--fleet", fleet, env=env)
    assert proc.returncode == 1
    ibm, braket, cpu = json.loads(proc.stdout)
    assert cpu["ok"] and not ibm["ok"] and not braket["ok"]
    assert ibm["credentials"] == "IBM token: not set (qiskit's saved account)"
    assert "cannot open the IBM Quantum service (AccountNotFoundError" in ibm["detail"]
    assert braket["credentials"] == "AWS keys: not set (boto3 standard chain)"
    assert "cannot open the device" in braket["detail"]
    table = _backends("--fleet", fleet, env=env)  # the human form says the same
    assert table.returncode == 1 and "nothing submitted" in table.stderr
    assert "NO" in table.stderr and "yes" in table.stderr
