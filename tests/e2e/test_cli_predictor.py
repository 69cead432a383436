"""`qstream predictor eval` on a small trace, in process (typer's CliRunner)."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))
from helpers.trace import synthetic_jobs

from qstream.cli import app
from qstream.core.trace import write_trace

MODEL_KEYS = {"n", "mae_s", "median_ape", "within_20pct", "off_by_2x", "learn_predict_us"}


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    write_trace(synthetic_jobs(300, seed=4), path)
    with path.open("a", newline="") as f:  # two malformed rows: lines 302 and 303
        f.write("2024-05-01T09:00:00Z,ibm_alpha,0,100,5,10,,,,,\r\n")
        f.write("not-a-time,ibm_alpha,1,100,5,10,,,,5,DONE\r\n")
    return path


def test_eval_writes_json_and_reports_malformed_lines(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["predictor", "eval", "--trace", str(trace), "--target", "run_s",
                                      "--warmup", "20", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "302" in result.stderr and "n_circuits: 0 < 1" in result.stderr
    assert "303" in result.stderr and "not-a-time" in result.stderr
    assert "offline_hgb" in result.stdout and "running_median" in result.stdout
    assert "last_value" in result.stdout
    report = orjson.loads(out.read_bytes())
    assert {"trace", "target", "rows_read", "rows_skipped", "n_completion_time_assumed", "warmup",
            "second_half", "all_after_warmup"} <= set(report)
    assert report["target"] == "run_s" and report["warmup"] == 20 and report["rows_read"] == 302
    assert [e["line"] for e in report["rows_skipped"]] == [302, 303]
    assert set(report["second_half"]) == {"online", "running_median", "last_value", "offline_hgb"}
    assert set(report["all_after_warmup"]) == {"online", "running_median", "last_value"}
    for metrics in [*report["second_half"].values(), *report["all_after_warmup"].values()]:
        assert set(metrics) >= MODEL_KEYS
    second = report["second_half"]
    assert (second["online"]["n"] == second["offline_hgb"]["n"] == second["running_median"]["n"]
            == second["last_value"]["n"] > 100)
    assert second["offline_hgb"]["fit_s"] > 0 and second["offline_hgb"]["n_train"] > 100
    assert 0.0 <= second["online"]["interval_coverage"] <= 1.0


def test_eval_queue_target(trace: Path) -> None:
    result = CliRunner().invoke(app, ["predictor", "eval", "--trace", str(trace), "--target", "queue_s"])
    assert result.exit_code == 0, result.output
    assert "queue_s" in result.stdout


def test_eval_errors_exit_2_with_a_clear_message(trace: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad_target = runner.invoke(app, ["predictor", "eval", "--trace", str(trace), "--target", "cost"])
    assert bad_target.exit_code == 2
    assert "unknown target 'cost'" in bad_target.output
    missing = runner.invoke(app, ["predictor", "eval", "--trace", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2
    assert "cannot read trace" in missing.stderr
    no_header = tmp_path / "bad.csv"
    no_header.write_text("when,where\n1,2\n")
    bad = runner.invoke(app, ["predictor", "eval", "--trace", str(no_header)])
    assert bad.exit_code == 2
    assert "lacks required column(s) submitted_at" in bad.stderr
    no_run = tmp_path / "norun.csv"
    no_run.write_text("submitted_at,backend,n_circuits,shots,num_qubits,depth\n0,b,1,1,1,1\n")
    result = runner.invoke(app, ["predictor", "eval", "--trace", str(no_run)])
    assert result.exit_code == 2 and "no run_s column" in result.stderr


@pytest.mark.parametrize("kind", ["pending-jobs", "regime-change"])
def test_make_trace_is_reproducible_and_eval_counts_unknown_rows(kind: str, tmp_path: Path) -> None:
    runner = CliRunner()
    paths = [tmp_path / f"{kind}-{i}.csv" for i in range(2)]
    for path in paths:
        made = runner.invoke(app, ["predictor", "make-trace", "--kind", kind, "--jobs", "300",
                                   "--seed", "5", "--out", str(path)])
        assert made.exit_code == 0, made.output
        assert "wrote 300 jobs" in made.stderr
    assert paths[0].read_bytes() == paths[1].read_bytes()
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["predictor", "eval", "--trace", str(paths[0]), "--target", "queue_s",
                                 "--warmup", "20", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = orjson.loads(out.read_bytes())
    assert report["rows_skipped"] == [] and report["n_jobs"] == 300
    unknown = report["rows_unknown_features"]
    assert 60 < unknown["n"] < 140 and unknown["used"] == unknown["n"] and unknown["skipped"] == 0
    assert "unknown shots, num_qubits or depth" in result.stdout


def test_make_trace_rejects_an_unknown_kind_or_backend(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["predictor", "make-trace", "--kind", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown kind 'nope'" in bad.output
    bad = runner.invoke(app, ["predictor", "make-trace", "--kind", "regime-change", "--regime-backend",
                              "ibm_nowhere", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "ibm_nowhere" in bad.stderr
