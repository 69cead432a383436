"""Worker configuration: limits, fleet, time scale, scheduling knobs, Kafka security.

Every field can be set from the CLI; :meth:`WorkerConfig.from_env` also reads
``QSTREAM_*`` environment variables for container deployments. Secrets (the Kafka
SASL password, cloud credentials) come only from the environment or a secrets file
(see :mod:`qstream.secrets`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from qstream.errors import ConfigError
from qstream.secrets import KAFKA_PASSWORD_VAR, Credentials, Secret, load_secrets


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


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
"""Kafka's ``security.protocol`` values qstream supports."""
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
"""SASL mechanisms qstream supports (GSSAPI and OAUTHBEARER are not wired up)."""


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How every Kafka client of qstream authenticates and encrypts: the Faust worker and
    the plain aiokafka producers, consumers and admin clients (mapping in
    :mod:`qstream.stream.security`).

    Attributes
    ----------
    security_protocol:
        ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``
        (Kafka's ``security.protocol``).
    sasl_mechanism:
        ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``; used with ``SASL_*``.
    sasl_username:
        SASL user; required with ``SASL_*``.
    sasl_password:
        SASL password; required with ``SASL_*``. Only from ``QSTREAM_KAFKA_SASL_PASSWORD``
        in the environment or the secrets file, never a command-line option.
    ssl_cafile:
        PEM file of the CA certificates that sign the brokers' certificates; None uses
        the system's trust store.
    ssl_certfile, ssl_keyfile:
        PEM client certificate and its private key, for brokers that require mutual TLS.
    ssl_check_hostname:
        Check that the broker's certificate names the host connected to.

    Raises
    ------
    ConfigError
        On an unknown protocol or mechanism, SASL without a username or password, TLS
        files with a protocol that does not use TLS, or a TLS file that does not exist.
    """

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(f"unknown Kafka security protocol {self.security_protocol!r}; use "
                              f"one of {', '.join(SECURITY_PROTOCOLS)}")
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError(f"unknown SASL mechanism {self.sasl_mechanism!r}; use one of "
                              f"{', '.join(SASL_MECHANISMS)}")
        if self.uses_sasl:
            if not self.sasl_username:
                raise ConfigError(f"{self.security_protocol} needs a SASL username: set "
                                  "--kafka-sasl-username or QSTREAM_KAFKA_SASL_USERNAME")
            if self.sasl_password is None:
                raise ConfigError(f"{self.security_protocol} needs a SASL password: set "
                                  f"{KAFKA_PASSWORD_VAR} in the environment or the secrets file")
        files = {"ssl_cafile": self.ssl_cafile, "ssl_certfile": self.ssl_certfile,
                 "ssl_keyfile": self.ssl_keyfile}
        for name, path in files.items():
            if path is None:
                continue
            if not self.uses_ssl:
                # Refuse rather than silently talk plaintext to a broker the user meant
                # to reach over TLS.
                raise ConfigError(f"{name} is set but the Kafka security protocol is "
                                  f"{self.security_protocol}; use SSL or SASL_SSL")
            if not os.path.isfile(path):
                raise ConfigError(f"{name} {path!r} does not exist or is not a file")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ConfigError("ssl_keyfile is set without ssl_certfile; give the client "
                              "certificate too")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def describe(self) -> str:
        """One log line of the settings; the password shows only as set or not.

        >>> KafkaSecurity().describe()
        'Kafka security: PLAINTEXT'
        """
        parts = [f"Kafka security: {self.security_protocol}"]
        if self.uses_sasl:
            parts.append(f"SASL {self.sasl_mechanism} as {self.sasl_username!r} (password: set)")
        if self.uses_ssl:
            parts.append(f"CA {self.ssl_cafile or 'system'}, client cert "
                         f"{self.ssl_certfile or 'none'}, check hostname {self.ssl_check_hostname}")
        return ", ".join(parts)

    @classmethod
    def from_env(cls, secrets: Mapping[str, Secret] | None = None,
                 environ: Mapping[str, str] | None = None, **overrides: Any) -> KafkaSecurity:
        """Read ``QSTREAM_KAFKA_SECURITY_PROTOCOL``, ``QSTREAM_KAFKA_SASL_MECHANISM``,
        ``QSTREAM_KAFKA_SASL_USERNAME``, ``QSTREAM_KAFKA_SSL_CAFILE``,
        ``QSTREAM_KAFKA_SSL_CERTFILE``, ``QSTREAM_KAFKA_SSL_KEYFILE`` and
        ``QSTREAM_KAFKA_SSL_CHECK_HOSTNAME``; the password comes from ``secrets``
        (:func:`qstream.secrets.load_secrets`; None loads them).

        Parameters
        ----------
        overrides:
            Field values that win over the environment (the CLI's options); None
            values are ignored.

        Raises
        ------
        ConfigError
            On an invalid setting (see the class).
        """
        env = os.environ if environ is None else environ
        secrets = load_secrets(environ=env) if secrets is None else secrets
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"QSTREAM_KAFKA_{f.name.upper()}")
            if f.name == "sasl_password" or not raw:
                continue
            if f.name == "ssl_check_hostname":
                values[f.name] = _parse_bool(f"QSTREAM_KAFKA_{f.name.upper()}", raw)
            elif f.name in ("security_protocol", "sasl_mechanism"):
                values[f.name] = raw.strip().upper()
            else:
                values[f.name] = raw
        values.update({k: v.upper() if k in ("security_protocol", "sasl_mechanism") else v
                       for k, v in overrides.items() if v is not None})
        return cls(sasl_password=secrets.get(KAFKA_PASSWORD_VAR), **values)


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


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
    done_retention_s:
        How long a finished task's record is kept (wall seconds), so that a
        redelivered or resubmitted record of it is recognised and not run again.
    kafka:
        SASL/TLS settings of every Kafka client (:class:`KafkaSecurity`).
    credentials:
        Cloud credentials for the fleet (:class:`qstream.secrets.Credentials`); their
        ``repr`` shows ``'***'``.
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
    done_retention_s: float = 86_400.0
    limits: Limits = field(default_factory=Limits)
    kafka: KafkaSecurity = field(default_factory=KafkaSecurity)
    credentials: Credentials = field(default_factory=Credentials)

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
    def from_env(cls, *, secrets_file: str | os.PathLike[str] | None = None,
                 **overrides: Any) -> WorkerConfig:
        """Read ``QSTREAM_<FIELD>`` variables (e.g. ``QSTREAM_TIME_SCALE=120``).

        ``kafka`` and ``credentials``, unless given in ``overrides``, come from
        :meth:`KafkaSecurity.from_env` and :meth:`Credentials.from_secrets` with the
        secrets of ``secrets_file`` (None: ``$QSTREAM_SECRETS_FILE``) and the environment.

        Raises
        ------
        ConfigError
            On an invalid value or secrets file.
        """
        values: dict[str, Any] = {}
        secrets = None
        if overrides.get("kafka") is None or overrides.get("credentials") is None:
            secrets = load_secrets(secrets_file)
        for f in fields(cls):
            raw = os.environ.get(f"QSTREAM_{f.name.upper()}")
            if f.name == "limits":
                values["limits"] = Limits.from_env()
                continue
            if f.name == "kafka":
                values["kafka"] = KafkaSecurity.from_env(secrets) if secrets is not None else None
                continue
            if f.name == "credentials":
                values["credentials"] = (Credentials.from_secrets(secrets)
                                         if secrets is not None else None)
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
