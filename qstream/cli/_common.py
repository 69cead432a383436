"""What every ``qstream`` command shares: the consoles, :func:`fail`, the option types,
secrets and Kafka security from the options, and the help text of a setting's default.

Options that set a :class:`~qstream.config.WorkerConfig` field default to None: a value
that is not given leaves ``$QSTREAM_<FIELD>`` (then the model's default) in force. Their
help shows both, e.g. "(default: $QSTREAM_TIME_SCALE or 60)", from the model itself.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from qstream.config import (
    LIVE_POLICIES,
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    SHORTCUTS,
    KafkaSecurity,
    SchedulerSettings,
    WorkerConfig,
)
from qstream.config_env import env_var
from qstream.errors import QStreamError
from qstream.secrets import Secret, install_redaction, load_secrets

console = Console(stderr=True)
"""Progress, warnings and errors (stderr); results go to stdout."""


def fail(exc: Exception) -> NoReturn:
    """Print ``error: <exc>`` on stderr and exit with code 2."""
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


def default_of(name: str) -> str:
    """``$QSTREAM_<NAME> or <default>`` of a :class:`WorkerConfig` field or shortcut.

    >>> default_of("time_scale"), default_of("realloc_margin")
    ('$QSTREAM_TIME_SCALE or 60', '$QSTREAM_REALLOC_MARGIN or 0.1')
    """
    if name in SHORTCUTS:
        value = SchedulerSettings.model_fields[SHORTCUTS[name][1]].default
    else:
        value = WorkerConfig.model_fields[name].default
    shown = {True: "on", False: "off", None: "none"}.get(value, value) \
        if isinstance(value, bool | None) else value
    return f"${env_var((name,))} or {shown:g}" if isinstance(shown, float) else \
        f"${env_var((name,))} or {shown}"


def broker_url(given: str | None) -> str:
    """``--broker``, else ``$QSTREAM_BROKER``, else the worker's default broker."""
    return given or os.environ.get(env_var(("broker",))) or WorkerConfig.model_fields[
        "broker"].default


def check_policy(policy: str | None) -> str | None:
    """``policy`` if a live worker runs it (None passes: the setting decides)."""
    if policy is not None and policy not in LIVE_POLICIES:
        raise typer.BadParameter(
            f"unknown policy {policy!r}; choose one of {', '.join(LIVE_POLICIES)}"
            + (" (oracle exists only in `qstream simulate`)" if policy == "oracle" else ""))
    return policy


PolicyOpt = Annotated[str | None, typer.Option(
    "--policy", help="predictive-realloc | predictive | qonductor | best-fidelity | shortest-queue | "
                     f"round-robin | random (default: {default_of('policy')})")]
TimeScaleOpt = Annotated[float | None, typer.Option(
    help=f"emulated seconds per wall second (default: {default_of('time_scale')})")]
SeedOpt = Annotated[int | None, typer.Option(help=f"(default: {default_of('seed')})")]
OtelOpt = Annotated[str | None, typer.Option(
    "--otel-exporter", help="OpenTelemetry spans: none | console | otlp[:URL] | memory:PATH "
                            f"(default: {default_of('otel_exporter')})")]
OtelMetricsOpt = Annotated[str | None, typer.Option(
    "--otel-metrics-exporter", help="OpenTelemetry metrics (SLIs): none | console | otlp[:URL] | "
                                    f"memory:PATH (default: {default_of('otel_metrics_exporter')})")]
FaultsOpt = Annotated[str | None, typer.Option(
    "--faults", help="injected backend faults, e.g. 'cpu_statevector:fail=0.3,timeout=0.1;"
                     "braket_local:outage=0-120' (default: $QSTREAM_FAULTS or none)")]
DriftOpt = Annotated[bool | None, typer.Option(
    "--drift/--no-drift", help="emulated IBM devices replay the daily calibration series "
                               f"(default: {default_of('drift')})")]
DriftDayOpt = Annotated[float | None, typer.Option(
    "--drift-day-s", help="emulated seconds per calibration snapshot "
                          f"(default: {default_of('drift_day_s')})")]
BrokerOpt = Annotated[str | None, typer.Option(
    "--broker", help="kafka://HOST:PORT (Apache Kafka or the embedded broker) or tansu://HOST:PORT "
                     f"(default: {default_of('broker')})")]
SecretsFileOpt = Annotated[Path | None, typer.Option(
    "--secrets-file", help="TOML file of credentials (IBM, AWS, Kafka SASL password), mode 600; "
                           "environment variables override it (default: $QSTREAM_SECRETS_FILE)")]
_KAFKA = "Kafka security"
ProtocolOpt = Annotated[str | None, typer.Option(
    "--kafka-security-protocol", rich_help_panel=_KAFKA,
    help=f"{' | '.join(SECURITY_PROTOCOLS)} (default: $QSTREAM_KAFKA_SECURITY_PROTOCOL or PLAINTEXT)")]
MechanismOpt = Annotated[str | None, typer.Option(
    "--kafka-sasl-mechanism", rich_help_panel=_KAFKA,
    help=f"{' | '.join(SASL_MECHANISMS)} (default: $QSTREAM_KAFKA_SASL_MECHANISM or PLAIN); the "
         "password comes only from $QSTREAM_KAFKA_SASL_PASSWORD or the secrets file")]
UsernameOpt = Annotated[str | None, typer.Option(
    "--kafka-sasl-username", rich_help_panel=_KAFKA,
    help="SASL user (default: $QSTREAM_KAFKA_SASL_USERNAME)")]
CafileOpt = Annotated[str | None, typer.Option(
    "--kafka-ssl-cafile", rich_help_panel=_KAFKA,
    help="PEM CA bundle for the brokers' certificates (default: $QSTREAM_KAFKA_SSL_CAFILE or "
         "the system trust store)")]
CertfileOpt = Annotated[str | None, typer.Option(
    "--kafka-ssl-certfile", rich_help_panel=_KAFKA,
    help="PEM client certificate for mutual TLS (default: $QSTREAM_KAFKA_SSL_CERTFILE)")]
KeyfileOpt = Annotated[str | None, typer.Option(
    "--kafka-ssl-keyfile", rich_help_panel=_KAFKA,
    help="PEM private key of the client certificate (default: $QSTREAM_KAFKA_SSL_KEYFILE)")]
CheckHostnameOpt = Annotated[bool | None, typer.Option(
    "--kafka-ssl-check-hostname/--no-kafka-ssl-check-hostname", rich_help_panel=_KAFKA,
    help="check that the broker certificate names the host (default: "
         "$QSTREAM_KAFKA_SSL_CHECK_HOSTNAME or on)")]


def secrets(secrets_file: Path | None, loglevel: str | None = None) -> dict[str, Secret]:
    """Load the secrets and set up logging with their redaction (exits on a ConfigError)."""
    if loglevel is not None:
        logging.basicConfig(level=loglevel,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        found = load_secrets(secrets_file)
    except QStreamError as exc:
        fail(exc)
    install_redaction(found.values())
    return found


def kafka(found: dict[str, Secret], protocol: str | None, mechanism: str | None,
          username: str | None, cafile: str | None, certfile: str | None,
          keyfile: str | None, check_hostname: bool | None) -> KafkaSecurity:
    """Kafka security from the ``--kafka-*`` options over ``QSTREAM_KAFKA_*`` (raises
    :class:`~qstream.errors.ConfigError`)."""
    return KafkaSecurity.from_env(
        found, security_protocol=protocol, sasl_mechanism=mechanism, sasl_username=username,
        ssl_cafile=cafile, ssl_certfile=certfile, ssl_keyfile=keyfile,
        ssl_check_hostname=check_hostname)


def worker_config(found: dict[str, Secret], kafka_security: KafkaSecurity,
                  **options: Any) -> WorkerConfig:
    """:meth:`WorkerConfig.from_env` under the given options (None: not given)."""
    from qstream.secrets import Credentials

    return WorkerConfig.from_env(kafka=kafka_security, credentials=Credentials.from_secrets(found),
                                 **options)
