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
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if "://" not in self.broker:
            raise ConfigError(
                f"broker must look like kafka://HOST:PORT or tansu://HOST:PORT, got {self.broker!r}")
        if self.time_scale <= 0:
            raise ConfigError(f"time_scale must be > 0, got {self.time_scale}")
        if not 0.0 <= self.realloc_margin < 1.0:
            raise ConfigError(f"realloc_margin must be in [0, 1), got {self.realloc_margin}")

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
            if raw is None or f.name == "limits":
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
