"""`qstream health` and the heartbeat file (qstream.stream.health)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qstream.cli import app
from qstream.config import WorkerConfig
from qstream.errors import ConfigError
from qstream.stream.health import beat, check


def test_probe_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    path = tmp_path / "hb"
    monkeypatch.delenv("QSTREAM_HEALTH_FILE", raising=False)
    assert runner.invoke(app, ["health"]).exit_code == 2  # no file named
    assert runner.invoke(app, ["health", "--file", str(path)]).exit_code == 1  # none yet
    beat(path)
    assert runner.invoke(app, ["health", "--file", str(path)]).exit_code == 0
    monkeypatch.setenv("QSTREAM_HEALTH_FILE", str(path))
    assert runner.invoke(app, ["health"]).exit_code == 0
    beat(path, now_s=time.time() - 60)
    stale = runner.invoke(app, ["health", "--max-age-s", "30"])
    assert stale.exit_code == 1
    assert "last heartbeat" in stale.output


def test_garbage_in_the_file_is_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "hb"
    path.write_text("not a time")
    assert "does not hold a time" in (check(path, 30) or "")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSTREAM_HEALTH_FILE", "/tmp/qstream-health")
    monkeypatch.setenv("QSTREAM_HEALTH_INTERVAL_S", "2.5")
    config = WorkerConfig.from_env()
    assert (config.health_file, config.health_interval_s) == ("/tmp/qstream-health", 2.5)
    monkeypatch.setenv("QSTREAM_HEALTH_INTERVAL_S", "0")
    with pytest.raises(ConfigError, match="QSTREAM_HEALTH_INTERVAL_S"):
        WorkerConfig.from_env()
