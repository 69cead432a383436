"""Worker configuration from the environment, admission limits included."""

from __future__ import annotations

import pytest

from qstream.config import Limits, WorkerConfig
from qstream.errors import ConfigError


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSTREAM_MAX_SHOTS", "5000")
    monkeypatch.setenv("QSTREAM_MAX_QUBITS", "12")
    cfg = WorkerConfig.from_env()
    assert cfg.limits == Limits(max_shots=5000, max_qubits=12)
    assert cfg.limits.max_message_bytes == 1_048_576  # unset: the default


@pytest.mark.parametrize(("name", "value", "match"), [
    ("QSTREAM_MAX_SHOTS", "lots", "must be an integer"),
    ("QSTREAM_MAX_CIRCUITS", "0", "max_circuits must be >= 1"),
    ("QSTREAM_MAX_QUBITS", "-3", "max_qubits must be >= 1"),
])
def test_bad_limits_are_rejected_clearly(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                         match: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=match):
        WorkerConfig.from_env()
