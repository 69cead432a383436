"""Worker configuration: limits, fleet, time scale, scheduling knobs.

Every field can be set from the CLI; :meth:`WorkerConfig.from_env` also reads
``QSTREAM_*`` environment variables for container deployments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from qstream.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Limits:
    """Admission limits; input beyond them goes to ``qstream.dlq`` with reason ``limit``.

    Attributes
    ----------
    max_message_bytes:
        Largest task message accepted (1 MiB, Kafka's default ``message.max.bytes``).
    max_shots:
        Largest ``shots`` per task.
    max_circuits:
        Most circuits per task.
    max_qubits:
        Widest circuit accepted; None means the widest backend of the fleet.
    """

    max_message_bytes: int = 1_048_576
    max_shots: int = 1_000_000
    max_circuits: int = 64
    max_qubits: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "max_shots", "max_circuits"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_qubits is not None and self.max_qubits < 1:
            raise ConfigError(f"max_qubits must be >= 1, got {self.max_qubits}")

    @classmethod
    def from_env(cls) -> Limits:
        """Read ``QSTREAM_MAX_MESSAGE_BYTES``, ``QSTREAM_MAX_SHOTS``, ``QSTREAM_MAX_CIRCUITS``
        and ``QSTREAM_MAX_QUBITS``; unset ones keep their defaults.

        Raises
        ------
        ConfigError
            On a value that is not a positive integer.
        """
        values: dict[str, int] = {}
        for f in fields(cls):
            raw = os.environ.get(f"QSTREAM_{f.name.upper()}")
            if raw is None:
                continue
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise ConfigError(f"QSTREAM_{f.name.upper()} must be an integer, got {raw!r}") \
                    from None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything a ``qstream worker`` needs.

    Attributes
    ----------
    broker:
        ``kafka://HOST:PORT[,HOST:PORT]`` for Apache Kafka, ``tansu://HOST:PORT`` for
        the embedded broker (enables :mod:`qstream.stream.tansu_compat`).
    app_id:
        Faust app id, which is also the consumer group.
    fleet:
        Backend names; None is the default fleet.
    local_executors:
        Run every backend's executor in this worker. Set False when executors run
        as separate ``qstream executor`` processes.
    time_scale:
        Emulated seconds per wall second of the emulated devices' clock.
    policy:
        Scheduling policy name (see :mod:`qstream.core.policies`).
    realloc_margin:
        Relative cost improvement needed to move a pending sub-task, in [0, 1).
    otel_exporter:
        Where OpenTelemetry spans go: ``none`` (default, no-op tracer), ``console``,
        ``otlp`` / ``otlp:URL`` (OTLP/HTTP) or ``memory:PATH`` (JSON lines at exit,
        for tests); see :mod:`qstream.stream.tracing`.
    otel_metrics_exporter:
        Where OpenTelemetry metrics (the SLIs) go, same values as ``otel_exporter``
        (``memory:PATH`` writes one JSON document at exit); see
        :mod:`qstream.stream.metrics`.
    faults:
        Injected backend faults, e.g. ``"cpu_statevector:fail=0.3;braket_local:outage=0-120"``
        (grammar in :mod:`qstream.backends.faults`); empty means none.
    retry_attempts:
        Tries per execution on one backend (>= 1) for transient errors, before
        the sub-task fails over to another backend.
    retry_initial_s, retry_max_s:
        Exponential backoff with jitter between tries, wall seconds: the n-th wait
        is ``min(retry_initial_s * 2**(n-1) + U(0, retry_initial_s), retry_max_s)``
        (tenacity's ``wait_exponential_jitter``).
    breaker_failures:
        A backend's circuit breaker opens after this many consecutive failed
        executions (see :mod:`qstream.core.circuit_breaker`).
    breaker_window, breaker_failure_rate:
        ... or when at least ``breaker_window`` outcomes were seen and the failed
        share of the last ``breaker_window`` reaches ``breaker_failure_rate``.
    breaker_cooldown_s:
        Wall seconds an open breaker waits before it lets a probe through.
    """

    broker: str = "tansu://127.0.0.1:9092"
    app_id: str = "qstream"
    fleet: tuple[str, ...] | None = None
    local_executors: bool = True
    time_scale: float = 60.0
    seed: int = 0
    pool_workers: int | None = None
    policy: str = "predictive-realloc"
    realloc_margin: float = 0.10
    realloc_interval_s: float = 1.0
    status_interval_s: float = 1.0
    snapshot_every: int = 10
    otel_exporter: str = "none"
    otel_metrics_exporter: str = "none"
    faults: str = ""
    retry_attempts: int = 3
    retry_initial_s: float = 0.05
    retry_max_s: float = 1.0
    breaker_failures: int = 5
    breaker_window: int = 20
    breaker_failure_rate: float = 0.5
    breaker_cooldown_s: float = 5.0
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if "://" not in self.broker:
            raise ConfigError(
                f"broker must look like kafka://HOST:PORT or tansu://HOST:PORT, got {self.broker!r}")
        if self.time_scale <= 0:
            raise ConfigError(f"time_scale must be > 0, got {self.time_scale}")
        if not 0.0 <= self.realloc_margin < 1.0:
            raise ConfigError(f"realloc_margin must be in [0, 1), got {self.realloc_margin}")
        check_otel_exporter(self.otel_exporter)
        check_otel_exporter(self.otel_metrics_exporter)
        if self.retry_attempts < 1:
            raise ConfigError(f"retry_attempts must be >= 1, got {self.retry_attempts}")
        if not 0.0 <= self.retry_initial_s <= self.retry_max_s:
            raise ConfigError(f"need 0 <= retry_initial_s <= retry_max_s, got "
                              f"{self.retry_initial_s} and {self.retry_max_s}")

    @property
    def bootstrap(self) -> str:
        """``HOST:PORT[,HOST:PORT]`` without the scheme."""
        return self.broker.split("://", 1)[1]

    def with_(self, **changes: Any) -> WorkerConfig:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, **overrides: Any) -> WorkerConfig:
        """Read ``QSTREAM_<FIELD>`` variables (e.g. ``QSTREAM_TIME_SCALE=120``)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"QSTREAM_{f.name.upper()}")
            if f.name == "limits":
                values["limits"] = Limits.from_env()
                continue
            if raw is None:
                continue
            if f.name == "fleet":
                values[f.name] = tuple(n.strip() for n in raw.split(",") if n.strip())
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("bool", bool):
                values[f.name] = raw.lower() in ("1", "true", "yes")
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


OTEL_EXPORTERS = ("none", "console", "otlp", "otlp:URL", "memory:PATH")
"""Accepted ``otel_exporter`` values."""


def check_otel_exporter(spec: str) -> str:
    """Return ``spec`` if it names an OpenTelemetry exporter.

    Raises
    ------
    ConfigError
        If it does not (see :data:`OTEL_EXPORTERS`).

    Examples
    --------
    >>> check_otel_exporter("memory:/tmp/spans.jsonl")
    'memory:/tmp/spans.jsonl'
    """
    if spec in ("none", "console", "otlp") or (
            spec.startswith(("otlp:", "memory:")) and len(spec.split(":", 1)[1]) > 0):
        return spec
    raise ConfigError(f"unknown OpenTelemetry exporter {spec!r}; "
                      f"use one of {', '.join(OTEL_EXPORTERS)}")
