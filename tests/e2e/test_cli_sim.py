"""`qstream simulate` and `qstream report` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from typer.testing import CliRunner

from qstream.cli import app
from qstream.core.policies import POLICY_NAMES
from qstream.core.trace import read_trace, write_trace

EXAMPLE_TRACE = Path(__file__).resolve().parents[2] / "examples" / "traces" / \
    "emulated_ibm_random_load0.5.csv"


def qstream(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qstream", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_simulate_writes_rows_with_policy_and_load(tmp_path: Path) -> None:
    out, trace = tmp_path / "sim.json", tmp_path / "trace.csv"
    proc = qstream("simulate", "--tasks", "30", "--seeds", "2", "--load", "0.5,0.95",
                   "--policy", "round-robin,predictive-realloc,oracle", "--samples",
                   "--json", str(out), "--trace-out", str(trace))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = orjson.loads(out.read_bytes())
    assert len(data["rows"]) == 2 * 2 * 3
    assert {(r["policy"], r["load"]) for r in data["rows"]} == {
        (p, lf) for p in ("round-robin", "predictive-realloc", "oracle") for lf in (0.5, 0.95)}
    for row in data["rows"]:
        assert row["metrics"]["tasks_completed"] == 30
        assert len(row["jct_s"]) == 30 and row["pred_actual_s"]
    for s in data["summary"]:
        assert {"policy", "load", "metrics"} <= set(s)
        ci = s["metrics"]["jct_mean_s"]
        assert ci["n"] == 2 and ci["lo"] <= ci["mean"] <= ci["hi"]
    assert "predictive-realloc" in proc.stdout and "JCT mean s" in proc.stdout
    jobs = read_trace(trace)
    assert not jobs.errors and len(jobs.jobs) >= 30


def test_simulate_replays_a_job_trace_and_reports_bad_rows(tmp_path: Path) -> None:
    jobs = read_trace(EXAMPLE_TRACE).jobs[:40]
    path = tmp_path / "t.csv"
    with open(path, "w", newline="") as fh:
        write_trace(jobs, fh)
    with open(path, "a", newline="") as fh:
        fh.write("not-a-time,ibm_x,1,100,5,10,,,,,DONE\r\n")
    proc = qstream("simulate", "--trace", str(path), "--seeds", "1",
                   "--policy", "shortest-queue,predictive", "--json", str(tmp_path / "o.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the malformed row, by line number (the console wraps a long path: join its lines)
    assert "t.csv:42:" in proc.stderr.replace("\n", "")
    rows = orjson.loads((tmp_path / "o.json").read_bytes())["rows"]
    assert [r["metrics"]["tasks_completed"] for r in rows] == [40, 40]


def test_simulate_runs_the_detectors_and_counts_anomalies(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["simulate", "--tasks", "150", "--seeds", "1", "--load", "0.5", "--policy",
            "best-fidelity", "--fail", "ibm_hanoi_emu:0.4:1.0:1.0"]
    r = runner.invoke(app, [*args, "--json", str(tmp_path / "on.json")])
    assert r.exit_code == 0, r.output
    [row] = orjson.loads((tmp_path / "on.json").read_bytes())["rows"]
    assert row["metrics"]["anomalies"] == len(row["anomalies"]) >= 1
    assert {(a["backend"], a["signal"], a["action"]) for a in row["anomalies"]} >= {
        ("ibm_hanoi_emu", "failure", "open_breaker")}
    assert row["metrics"]["breaker_opens"] >= 1
    assert "anomalies" in r.output and "breaker opens" in r.output
    r = runner.invoke(app, [*args, "--no-detectors", "--json", str(tmp_path / "off.json")])
    assert r.exit_code == 0, r.output
    [row] = orjson.loads((tmp_path / "off.json").read_bytes())["rows"]
    assert row["metrics"]["anomalies"] == 0 and row["anomalies"] == []


def test_simulate_rejects_bad_options_clearly() -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["simulate", "--policy", "fifo"])
    assert r.exit_code == 2 and "unknown policy fifo" in r.output
    r = runner.invoke(app, ["simulate", "--outage", "ibm_hanoi_emu:0.1"])
    assert r.exit_code == 2 and "BACKEND:START:END" in r.output
    r = runner.invoke(app, ["simulate", "--load", "-1"])
    assert r.exit_code == 2 and "positive" in r.output
    r = runner.invoke(app, ["simulate", "--tasks", "5", "--seeds", "1", "--policy", "random",
                            "--outage", "nope:0.1:0.2"])
    assert r.exit_code == 2 and "unknown backend 'nope'" in r.output
    r = runner.invoke(app, ["simulate", "--tasks", "5", "--seeds", "1", "--policy", "random",
                            "--fail", "ibm_hanoi_emu:0.1:0.2:2"])
    assert r.exit_code == 2 and "fail probability must be in (0, 1]" in r.output


def test_report_writes_markdown_and_plots(tmp_path: Path) -> None:
    proc = qstream("report", "--out", str(tmp_path), "--tasks", "12", "--seeds", "2",
                   "--workers", "1")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    md = (tmp_path / "report.md").read_text()
    assert "## Targets" in md and "| shortest-queue | jct_mean_s | <= 0.5 |" in md
    for scenario in ("load-0.5", "load-0.8", "load-0.95", "drift", "outage"):
        assert f"Scenario `{scenario}`" in md
    for png in ("jct_cdf.png", "throughput_vs_load.png", "error_vs_cost.png",
                "predicted_vs_actual.png"):
        assert (tmp_path / png).stat().st_size > 10_000
        assert f"![{png}]({png})" in md
    results = orjson.loads((tmp_path / "results.json").read_bytes())
    assert len(results["rows"]) == 5 * 2 * len(POLICY_NAMES)
    assert {r["policy"] for r in results["rows"]} >= {"ahmo", "anneal"}
    assert all({"policy", "load"} <= set(r) for r in results["rows"])
