"""The CLI as a user runs it: `qstream demo` and `qstream submit --wait`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from qstream.sim.metrics import METRICS

QASM_DIR = Path(__file__).resolve().parent.parent / "data" / "qasm"


def test_demo_ten_tasks_all_complete(tmp_path: Path) -> None:
    summary_path, results_path = tmp_path / "out.json", tmp_path / "results.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "qstream", "demo", "--tasks", "10", "--json", str(summary_path),
         "--results", str(results_path), "--time-scale", "300", "--rate", "5"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = orjson.loads(summary_path.read_bytes())
    for key in ("tasks_submitted", "tasks_completed", "tasks_failed", "subtasks",
                "reallocations", "throughput_tasks_per_s", "jct_s", "decision_latency_ms",
                "mean_est_fidelity", "cost_usd", "backends"):
        assert key in summary
    assert summary["tasks_submitted"] == summary["tasks_completed"] == 10
    assert summary["tasks_failed"] == 0
    assert summary["decision_latency_ms"]["p50"] is not None
    assert sum(summary["backends"].values()) >= summary["subtasks"] >= 10
    # The simulator's metric names, so live and simulated runs line up.
    assert set(summary["metrics"]) == set(METRICS)
    assert summary["metrics"]["tasks_completed"] == 10
    assert 0.0 <= summary["metrics"]["error_rate_mean"] <= 1.0
    assert summary["metrics"]["jct_mean_s"] > 0
    # The default workload is mixed: every fifth task is a problem, with its answer.
    problems = summary["problems"]
    assert problems["completed"] == 2 and sum(problems["algorithms"].values()) == 2

    results = [orjson.loads(line) for line in results_path.read_bytes().splitlines()]
    assert len(results) == 10
    solved = [r["solution"] for r in results if "solution" in r]
    assert len(solved) == 2 and all(s["selection"]["candidates"] for s in solved)
    for result in results:
        for circuit in result["results"]:
            assert sum(circuit["counts"].values()) == circuit["shots"]
    ghz = next(r for r in results if r["task_id"].endswith("-00000"))["results"][0]
    assert ghz["name"] == "ghz_5"
    probs = ghz["mitigated"]["probabilities"]
    assert probs.get("00000", 0.0) + probs.get("11111", 0.0) >= 0.5


def test_submit_wait_prints_counts(worker, tmp_path: Path) -> None:
    proc = subprocess.run(
        # kafka:// on purpose: the CLI detects tansu behind it and applies its workarounds.
        [sys.executable, "-m", "qstream", "submit", "--broker",
         worker.broker_url.replace("tansu://", "kafka://"),
         str(QASM_DIR / "bell_qasm3.qasm"), str(QASM_DIR / "legacy_qelib1.qasm"),
         "--shots", "400", "--wait", "--json"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = orjson.loads(proc.stdout)
    assert result["status"] == "completed"
    assert [r["name"] for r in result["results"]] == ["bell_qasm3", "legacy_qelib1"]
    assert all(sum(r["counts"].values()) == 400 for r in result["results"])


def test_submit_wait_reports_failure_reason(worker) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "qstream", "submit", "--broker", worker.broker_url,
         str(QASM_DIR / "invalid.qasm"), "--wait"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "failed" in proc.stdout and "hadamard" in proc.stdout


def test_demo_runs_a_baseline_policy_live(tmp_path: Path) -> None:
    summary_path = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "qstream", "demo", "--tasks", "4", "--policy", "shortest-queue",
         "--json", str(summary_path), "--time-scale", "300", "--rate", "5"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = orjson.loads(summary_path.read_bytes())
    assert summary["policy"] == "shortest-queue"
    assert summary["metrics"]["tasks_completed"] == 4
    assert summary["metrics"]["reallocations"] == 0  # a static policy never moves work


def test_demo_refuses_the_oracle_live() -> None:
    proc = subprocess.run([sys.executable, "-m", "qstream", "demo", "--policy", "oracle"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "only in `qstream simulate`" in proc.stdout + proc.stderr


def test_submit_problem_wait_prints_the_solution_and_the_selection(worker, tmp_path: Path) -> None:
    problem = tmp_path / "ring.json"
    problem.write_bytes(orjson.dumps({"kind": "maxcut", "num_nodes": 6,
                                      "edges": [[i, (i + 1) % 6] for i in range(6)]}))
    base = [sys.executable, "-m", "qstream", "submit", "--broker", worker.broker_url,
            "--problem", str(problem), "--wait"]
    proc = subprocess.run([*base, "--json", "--algorithms", "qaoa", "--max-iterations", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sol = orjson.loads(proc.stdout)["solution"]
    assert sol["algorithm"] == "qaoa" and sol["iterations"] == 5 and sol["optimum"] == 6.0
    proc = subprocess.run(base, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "maxcut solved by exact on cpu_solvers: objective 6" in proc.stdout
    assert "exact@cpu_solvers *" in proc.stdout  # the chosen row of the candidates table


def test_submit_refuses_qasm_files_and_a_problem_together(tmp_path: Path) -> None:
    problem = tmp_path / "p.json"
    problem.write_text('{"kind": "maxcut", "num_nodes": 2, "edges": [[0, 1]]}')
    proc = subprocess.run(
        [sys.executable, "-m", "qstream", "submit", str(QASM_DIR / "bell_qasm3.qasm"),
         "--problem", str(problem)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "either QASM files or --problem" in proc.stdout + proc.stderr
