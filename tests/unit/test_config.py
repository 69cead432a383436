"""Worker configuration from the environment, admission limits included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qstream.config import Limits, WorkerConfig
from qstream.core.scheduler import SchedulerConfig
from qstream.errors import ConfigError
from qstream.secrets import SECRET_NAMES, Secret


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


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ``QSTREAM_*`` variable (nor a secret) from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("QSTREAM_") or name in SECRET_NAMES:
            monkeypatch.delenv(name)
    return monkeypatch


def test_values_from_the_environment_have_real_types(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("QSTREAM_POOL_WORKERS", "4")
    clean_env.setenv("QSTREAM_SEED", "11")
    clean_env.setenv("QSTREAM_TIME_SCALE", "1")
    clean_env.setenv("QSTREAM_LOCAL_EXECUTORS", "false")
    clean_env.setenv("QSTREAM_FLEET", "ibm_perth_emu, cpu_statevector")
    cfg = WorkerConfig.from_env()
    assert cfg.pool_workers == 4 and type(cfg.pool_workers) is int
    assert cfg.seed == 11 and type(cfg.seed) is int
    assert cfg.time_scale == 1.0 and type(cfg.time_scale) is float
    assert cfg.local_executors is False
    assert cfg.fleet == ("ibm_perth_emu", "cpu_statevector")


@pytest.mark.parametrize(("name", "value"), [
    ("QSTREAM_SEED", "x"), ("QSTREAM_POOL_WORKERS", "4.5"), ("QSTREAM_TIME_SCALE", "fast"),
    ("QSTREAM_TIME_SCALE", "0"), ("QSTREAM_LOCAL_EXECUTORS", "maybe"),
    ("QSTREAM_LOCAL_EXECUTORS", "2"), ("QSTREAM_POLICY", "oracle"),
    ("QSTREAM_OTEL_EXPORTER", "jaeger"), ("QSTREAM_BROKER", "127.0.0.1:9092"),
])
def test_a_bad_variable_is_a_config_error_naming_it_and_its_value(
        clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        WorkerConfig.from_env()
    assert f"{name}={value!r}" in str(info.value)


def test_scheduler_knobs_nest_and_default_to_the_schedulers_own(
        clean_env: pytest.MonkeyPatch) -> None:
    defaults = SchedulerConfig()
    knobs = WorkerConfig.from_env().scheduler
    assert SchedulerConfig(**knobs.model_dump()) == defaults
    assert set(knobs.model_dump()) == {"realloc_margin", "realloc_min_gain", "split_min_shots",
                                       "max_splits", "split_gain", "hedge_factor", "hedge_min_s"}
    clean_env.setenv("QSTREAM_SCHEDULER__REALLOC_MARGIN", "0.2")
    clean_env.setenv("QSTREAM_SCHEDULER__MAX_SPLITS", "1")
    clean_env.setenv("QSTREAM_SCHEDULER__HEDGE_MIN_S", "5")
    built = SchedulerConfig(**WorkerConfig.from_env().scheduler.model_dump())
    assert built == SchedulerConfig(realloc_margin=0.2, max_splits=1, hedge_min_s=5.0)
    assert type(built.max_splits) is int
    clean_env.setenv("QSTREAM_SCHEDULER__MAX_SPLITS", "0")  # checked by SchedulerConfig
    with pytest.raises(ConfigError, match=r"QSTREAM_SCHEDULER__MAX_SPLITS='0': max_splits must"):
        WorkerConfig.from_env()
    clean_env.setenv("QSTREAM_SCHEDULER__MAX_SPLITS", "1")
    clean_env.setenv("QSTREAM_SCHEDULER__MAX_SPLTS", "1")
    with pytest.raises(ConfigError, match="QSTREAM_SCHEDULER__MAX_SPLTS='1': max_splts is not"):
        WorkerConfig.from_env()


def test_realloc_margin_shortcut(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("QSTREAM_REALLOC_MARGIN", "0.3")
    assert WorkerConfig.from_env().scheduler.realloc_margin == 0.3
    assert WorkerConfig.from_env(realloc_margin=0.05).scheduler.realloc_margin == 0.05
    assert WorkerConfig(realloc_margin=0.2).scheduler.realloc_margin == 0.2
    clean_env.setenv("QSTREAM_REALLOC_MARGIN", "1.5")
    with pytest.raises(ConfigError, match=r"QSTREAM_REALLOC_MARGIN='1.5': realloc_margin must"):
        WorkerConfig.from_env()
    clean_env.setenv("QSTREAM_SCHEDULER__REALLOC_MARGIN", "0.2")
    with pytest.raises(ConfigError, match="disagree"):
        WorkerConfig.from_env()


def test_precedence_option_over_environment_over_default(clean_env: pytest.MonkeyPatch) -> None:
    default = WorkerConfig.model_fields["time_scale"].default
    assert WorkerConfig.from_env(time_scale=None).time_scale == default == 60.0
    clean_env.setenv("QSTREAM_TIME_SCALE", "1")
    clean_env.setenv("QSTREAM_SCHEDULER__MAX_SPLITS", "2")
    # An option that is not given (None) leaves the environment in force ...
    cfg = WorkerConfig.from_env(time_scale=None, broker=None, realloc_margin=None)
    assert cfg.time_scale == 1.0 and cfg.broker == WorkerConfig.model_fields["broker"].default
    # ... a given one wins, also for one knob of a nested model.
    cfg = WorkerConfig.from_env(time_scale=5.0, realloc_margin=0.25)
    assert cfg.time_scale == 5.0
    assert (cfg.scheduler.realloc_margin, cfg.scheduler.max_splits) == (0.25, 2)
    # A bad option is reported as the field, not as the variable it replaced.
    with pytest.raises(ConfigError) as info:
        WorkerConfig.from_env(time_scale=-1.0)
    assert "QSTREAM_TIME_SCALE" not in str(info.value)
    assert "time_scale must be > 0, got -1.0" in str(info.value)
    # Direct construction reads no environment.
    assert WorkerConfig().time_scale == default


def test_secrets_file_is_below_the_environment(clean_env: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text('QSTREAM_KAFKA_SASL_PASSWORD = "from-the-file-1a2b"\n'
                    'QSTREAM_IBM_TOKEN = "ibm-from-the-file-3c4d"\n')
    path.chmod(0o600)
    clean_env.setenv("QSTREAM_SECRETS_FILE", str(path))
    clean_env.setenv("QSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    clean_env.setenv("QSTREAM_KAFKA_SASL_USERNAME", "svc")
    cfg = WorkerConfig.from_env()
    assert cfg.kafka.sasl_password == Secret("from-the-file-1a2b")
    assert cfg.credentials.ibm_token == Secret("ibm-from-the-file-3c4d")
    clean_env.setenv("QSTREAM_KAFKA_SASL_PASSWORD", "from-the-env-5e6f")
    cfg = WorkerConfig.from_env()
    assert cfg.kafka.sasl_password == Secret("from-the-env-5e6f")
    assert cfg.credentials.ibm_token == Secret("ibm-from-the-file-3c4d")
    text = repr(cfg) + str(cfg) + cfg.describe()
    assert "from-the" not in text and "ibm-from" not in text


def test_with_validates_and_describe_lists_the_effective_settings(
        clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("QSTREAM_MAX_SHOTS", "5000")
    cfg = WorkerConfig.from_env().with_(broker="tansu://127.0.0.1:1", seed=3)
    assert (cfg.broker, cfg.bootstrap, cfg.seed, cfg.limits.max_shots) == (
        "tansu://127.0.0.1:1", "127.0.0.1:1", 3, 5000)
    with pytest.raises(ConfigError, match="retry_attempts must be >= 1"):
        cfg.with_(retry_attempts=0)
    line = cfg.describe().split()
    assert "broker=tansu://127.0.0.1:1" in line and "limits.max_shots=5000" in line
    assert "scheduler.max_splits=4" in line and "time_scale=60.0" in line
