"""Worker settings: limits, fleet, time scale, scheduler knobs, Kafka security.

:class:`WorkerConfig` is one pydantic-settings model. :meth:`WorkerConfig.from_env`
reads every field from a ``QSTREAM_<FIELD>`` environment variable with its real type
(``QSTREAM_POOL_WORKERS=4`` is the int 4, ``QSTREAM_FLEET=a,b`` the tuple ``('a', 'b')``,
bools accept only ``1/0, true/false, yes/no, on/off``); the scheduler's knobs nest under
``QSTREAM_SCHEDULER__<KNOB>`` (pydantic-settings' ``env_nested_delimiter``) and the
admission limits keep their flat names (``QSTREAM_MAX_SHOTS``, ...).

Precedence, highest first: a command-line option (an override that is not None), the
environment, the secrets file (secrets only, see :mod:`qstream.secrets`), the default.
Constructing a model directly (``WorkerConfig(time_scale=1)``) reads no environment.

Defaults are written once: the worker's here, the scheduler's in
:class:`qstream.core.scheduler.SchedulerConfig` (:data:`SchedulerSettings` is derived
from its fields). Every invalid value raises :class:`~qstream.errors.ConfigError`
naming the variable (or field) and the value.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    InstanceOf,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from qstream.config_env import (
    ENV_PREFIX,
    NESTED,
    config_error,
    env_values,
    fold_shortcuts,
    lookup,
    merge,
)
from qstream.config_tenants import TenantSettings
from qstream.core.policies import POLICY_NAMES
from qstream.core.scheduler import SchedulerConfig
from qstream.errors import ConfigError
from qstream.secrets import KAFKA_PASSWORD_VAR, Credentials, Secret, load_secrets

LIVE_POLICIES = tuple(p for p in POLICY_NAMES if p != "oracle")
"""Policies a live worker runs; ``oracle`` needs the future and exists only in ``simulate``."""


_INSIDE: ContextVar[bool] = ContextVar("qstream_settings_inside", default=False)
_ENV_NAMES: ContextVar[Mapping[tuple[str, ...], str] | None] = ContextVar(
    "qstream_settings_env_names", default=None)
"""Where :meth:`WorkerConfig.from_env` took each value from, for the error messages."""


class _Settings(BaseSettings):
    """Base of the settings models: frozen, unknown fields refused, and no implicit source.

    Direct construction validates only what it is given (a ``ValidationError`` becomes
    :class:`ConfigError`); the environment is read by :meth:`WorkerConfig.from_env`.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED,
                                      env_ignore_empty=True, frozen=True, extra="forbid",
                                      validate_default=True)

    def __init__(self, **values: Any) -> None:
        if _INSIDE.get():  # a nested model: the outermost one reports every problem
            super().__init__(**values)
            return
        inside = _INSIDE.set(True)
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise config_error(exc, _ENV_NAMES.get()) from None
        finally:
            _INSIDE.reset(inside)

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class Limits(_Settings):
    """Admission limits; input beyond them goes to ``qstream.dlq`` with reason ``limit``.

    Environment: ``QSTREAM_MAX_MESSAGE_BYTES``, ``QSTREAM_MAX_SHOTS``,
    ``QSTREAM_MAX_CIRCUITS``, ``QSTREAM_MAX_QUBITS``.

    Attributes
    ----------
    max_message_bytes:
        Largest task message accepted (1 MiB, Kafka's default ``message.max.bytes``).
    max_shots:
        Largest ``shots`` per task.
    max_circuits:
        Most circuits a task runs: its circuits, each circuit with observables counted
        once per measurement group.
    max_qubits:
        Widest circuit accepted; None means the widest backend of the fleet.

    Raises
    ------
    ConfigError
        On a value that is not an integer >= 1.
    """

    max_message_bytes: int = Field(1_048_576, ge=1)
    max_shots: int = Field(1_000_000, ge=1)
    max_circuits: int = Field(64, ge=1)
    max_qubits: int | None = Field(None, ge=1)


def _scheduler_settings() -> type[BaseModel]:
    """A pydantic model of the numeric fields of :class:`SchedulerConfig`, same names, types
    and defaults; each value is checked by ``SchedulerConfig`` itself."""
    hints = typing.get_type_hints(SchedulerConfig)
    knobs: dict[str, Any] = {
        f.name: (hints[f.name], f.default) for f in dataclasses.fields(SchedulerConfig)
        if hints[f.name] in (int, float) and f.default is not dataclasses.MISSING}

    def check(cls: type[BaseModel], value: Any, info: Any) -> Any:
        try:
            SchedulerConfig(**{info.field_name: value})
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    return create_model(
        "SchedulerSettings", __config__=ConfigDict(frozen=True, extra="forbid"),
        __doc__="The scheduler's knobs (:class:`qstream.core.scheduler.SchedulerConfig`).",
        __validators__={"check": field_validator(*knobs)(check)}, **knobs)


if TYPE_CHECKING:
    SchedulerSettings = BaseModel
else:
    SchedulerSettings = _scheduler_settings()
"""The knobs of :class:`SchedulerConfig` as settings: ``realloc_margin``,
``realloc_min_gain``, ``split_min_shots``, ``max_splits``, ``split_gain``, ``hedge_factor``,
``hedge_min_s`` (meaning, units and defaults in ``SchedulerConfig``)."""
SHORTCUTS: dict[str, tuple[str, str]] = {"realloc_margin": ("scheduler", "realloc_margin")}
"""Top-level names kept for nested settings: ``QSTREAM_REALLOC_MARGIN`` and
``--realloc-margin`` set ``scheduler.realloc_margin``."""


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


class WorkerConfig(_Settings):
    """Everything a ``qstream worker`` needs; read it with :meth:`from_env`.

    Attributes
    ----------
    broker:
        ``kafka://HOST:PORT[,HOST:PORT]`` for Apache Kafka or the embedded broker (tansu
        is detected behind it), ``tansu://HOST:PORT`` for the embedded broker (enables
        :mod:`qstream.stream.tansu_compat` without asking).
    app_id:
        Faust app id, which is also the consumer group.
    fleet:
        Backend names; None is the default fleet. ``QSTREAM_FLEET=a,b``.
    local_executors:
        Run every backend's executor in this worker. Set False when executors run
        as separate ``qstream executor`` processes.
    time_scale:
        Emulated seconds per wall second of the emulated devices' clock (> 0).
    seed:
        Seed of the emulated devices' randomness.
    pool_workers:
        Processes of the simulation pool; None lets the pool decide.
    classical_slots:
        CPU slots of the pipeline worker's classical executor (``cpu_solvers``):
        classical solves that run at once, each in a process of its own pool.
    classical_memory_gib:
        Memory one classical solve may use on that executor, GiB; a solve predicted
        to need more is never placed there (another solver is chosen, or the task
        fails with the reason).
    policy:
        Scheduling policy name, one of :data:`LIVE_POLICIES` (see :mod:`qstream.core.policies`).
    scheduler:
        The scheduler's knobs (:data:`SchedulerSettings`), e.g.
        ``QSTREAM_SCHEDULER__MAX_SPLITS=1``; ``realloc_margin`` (relative cost improvement
        needed to move a pending sub-task, in [0, 1)) may also be given at the top level
        (``QSTREAM_REALLOC_MARGIN``, ``--realloc-margin``).
    realloc_interval_s, status_interval_s:
        Wall seconds between reallocation passes and between backend status events.
    snapshot_every:
        Learned observations between two predictor snapshots.
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
    drift:
        Emulated IBM devices replay the packaged daily calibration series during the
        run (:mod:`qstream.core.calibration_drift`); ``QSTREAM_DRIFT=1``.
    drift_day_s:
        Emulated seconds per calibration snapshot (default one day, 86,400; a demo
        compresses it, e.g. 600 at ``time_scale`` 60 is a new snapshot every 10 wall s).
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
    result_cloudevents:
        Which result records carry binary-mode CloudEvent headers
        (``dev.qstream.task.completed`` / ``failed`` / ``cancelled``, subject = task id):
        ``cloudevent_tasks`` (default: those of tasks submitted as CloudEvents) or
        ``all``. ``QSTREAM_RESULT_CLOUDEVENTS``.
    health_file:
        Heartbeat file for liveness and readiness probes (``qstream health``); None
        (default) writes none. See :mod:`qstream.stream.health`.
    health_interval_s:
        Wall seconds between two heartbeats (> 0).
    done_retention_s:
        How long a finished task's record is kept (wall seconds), so that a
        redelivered or resubmitted record of it is recognised and not run again.
    limits:
        Admission limits (:class:`Limits`).
    tenants:
        Per-tenant window budget, concurrency limit and weight, tenant name ->
        :class:`~qstream.config_tenants.TenantSettings` (``"*"``: every tenant not
        named); ``QSTREAM_TENANTS`` as JSON.
    kafka:
        SASL/TLS settings of every Kafka client (:class:`KafkaSecurity`).
    credentials:
        Cloud credentials for the fleet (:class:`qstream.secrets.Credentials`); their
        ``repr`` shows ``'***'``.
    ibm_mode:
        How ``ibm:<device>`` backends submit (:mod:`qstream.backends.ibm_runtime`):
        ``"job"`` (one job per sub-task) or ``"batch"`` (one ``Batch`` per device).
        ``QSTREAM_IBM_MODE``.

    Raises
    ------
    ConfigError
        On any invalid value.
    """

    broker: str = "kafka://127.0.0.1:9092"
    app_id: str = "qstream"
    fleet: Annotated[tuple[str, ...] | None, NoDecode] = None
    local_executors: bool = True
    time_scale: float = Field(60.0, gt=0, allow_inf_nan=False)
    seed: int = 0
    pool_workers: int | None = None
    classical_slots: int = Field(1, ge=1, le=256)
    classical_memory_gib: float = Field(4.0, gt=0, allow_inf_nan=False)
    policy: str = "predictive-realloc"
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    realloc_interval_s: float = 1.0
    status_interval_s: float = 1.0
    snapshot_every: int = 10
    otel_exporter: str = "none"
    otel_metrics_exporter: str = "none"
    faults: str = ""
    drift: bool = False
    drift_day_s: float = Field(86_400.0, gt=0, allow_inf_nan=False)
    retry_attempts: int = Field(3, ge=1)
    retry_initial_s: float = Field(0.05, ge=0)
    retry_max_s: float = 1.0
    breaker_failures: int = 5
    breaker_window: int = 20
    breaker_failure_rate: float = 0.5
    breaker_cooldown_s: float = 5.0
    done_retention_s: float = 86_400.0
    health_file: str | None = None
    health_interval_s: float = Field(5.0, gt=0, allow_inf_nan=False)
    result_cloudevents: Literal["cloudevent_tasks", "all"] = "cloudevent_tasks"
    limits: Limits = Field(default_factory=Limits)
    tenants: dict[str, TenantSettings] = Field(default_factory=dict)
    kafka: InstanceOf[KafkaSecurity] = Field(default_factory=lambda: KafkaSecurity())
    credentials: InstanceOf[Credentials] = Field(default_factory=lambda: Credentials())
    ibm_mode: Literal["job", "batch"] = "job"

    @model_validator(mode="before")
    @classmethod
    def _fold_shortcuts(cls, data: Any) -> Any:
        return fold_shortcuts(data, SHORTCUTS) if isinstance(data, Mapping) else data

    @field_validator("fleet", mode="before")
    @classmethod
    def _split_fleet(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = tuple(n.strip() for n in value.split(",") if n.strip())
        return value or None  # an empty list of names is the default fleet

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(f"broker must look like kafka://HOST:PORT or tansu://HOST:PORT, "
                             f"got {value!r}")
        return value

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: str) -> str:
        if value not in LIVE_POLICIES:
            raise ValueError(f"unknown policy {value!r}; choose one of {', '.join(LIVE_POLICIES)}"
                             + (" (oracle exists only in `qstream simulate`)"
                                if value == "oracle" else ""))
        return value

    @field_validator("otel_exporter", "otel_metrics_exporter")
    @classmethod
    def _check_exporter(cls, value: str) -> str:
        try:
            return check_otel_exporter(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _check_retry(self) -> WorkerConfig:
        if not self.retry_initial_s <= self.retry_max_s:
            raise ValueError(f"need 0 <= retry_initial_s <= retry_max_s, got "
                             f"{self.retry_initial_s} and {self.retry_max_s}")
        return self

    @property
    def bootstrap(self) -> str:
        """``HOST:PORT[,HOST:PORT]`` without the scheme."""
        return self.broker.split("://", 1)[1]

    def with_(self, **changes: Any) -> WorkerConfig:
        """A copy with ``changes`` applied and validated.

        Raises
        ------
        ConfigError
            On an invalid value.
        """
        return type(self)(**{**dict(self), **changes})

    def describe(self) -> str:
        """One log line of the effective settings; Kafka security and credentials are left
        out (see :meth:`KafkaSecurity.describe` and :meth:`Credentials.presence`).

        >>> WorkerConfig(time_scale=1).describe().split()[:4]
        ['broker=kafka://127.0.0.1:9092', 'app_id=qstream', 'fleet=None', 'local_executors=True']
        """
        def flat(model: BaseModel, prefix: str = "") -> list[str]:
            out = []
            for name, value in dict(model).items():
                if isinstance(value, BaseModel):
                    out.extend(flat(value, f"{prefix}{name}."))
                elif name not in ("kafka", "credentials"):
                    shown = value if isinstance(value, str) else repr(value)
                    out.append(f"{prefix}{name}={shown}")
            return out
        return " ".join(flat(self))

    @classmethod
    def from_env(cls, *, secrets_file: str | os.PathLike[str] | None = None,
                 **overrides: Any) -> WorkerConfig:
        """The settings from ``QSTREAM_*`` variables, under ``overrides``.

        Parameters
        ----------
        secrets_file:
            TOML secrets file (None: ``$QSTREAM_SECRETS_FILE``), for ``kafka`` and
            ``credentials`` unless ``overrides`` gives them.
        overrides:
            Field values that win over the environment (the CLI's options); None values
            are ignored, so an option that is not given leaves the environment in force.

        Raises
        ------
        ConfigError
            On an invalid value (naming its variable when it came from the environment)
            or secrets file.
        """
        given = fold_shortcuts({k: v for k, v in overrides.items() if v is not None},
                               SHORTCUTS)
        env, names = env_values(cls, skip=("limits", "kafka", "credentials"),
                                shortcuts=SHORTCUTS, flat={"limits": Limits})
        values = merge(env, given)
        names = {path: var for path, var in names.items() if lookup(given, path) is None}
        if "kafka" not in given or "credentials" not in given:
            secrets = load_secrets(secrets_file)
            values.setdefault("kafka", KafkaSecurity.from_env(secrets))
            values.setdefault("credentials", Credentials.from_secrets(secrets))
        token = _ENV_NAMES.set(names)
        try:
            return cls(**values)
        finally:
            _ENV_NAMES.reset(token)


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
