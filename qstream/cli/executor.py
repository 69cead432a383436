"""``qstream executor``: executors for some backends only (scale execution out)."""

from __future__ import annotations

from typing import Annotated

import typer

from qstream.cli._common import (
    BrokerOpt,
    CafileOpt,
    CertfileOpt,
    CheckHostnameOpt,
    DriftDayOpt,
    DriftOpt,
    FaultsOpt,
    KeyfileOpt,
    MechanismOpt,
    OtelMetricsOpt,
    OtelOpt,
    ProtocolOpt,
    SecretsFileOpt,
    SeedOpt,
    TimeScaleOpt,
    UsernameOpt,
    fail,
    kafka,
    secrets,
    worker_config,
)
from qstream.errors import QStreamError

app = typer.Typer()


@app.command()
def executor(
    backends: Annotated[str, typer.Option(help="comma-separated backend names to execute")],
    broker: BrokerOpt = None,
    time_scale: TimeScaleOpt = None,
    seed: SeedOpt = None,
    loglevel: str = "WARNING",
    otel_exporter: OtelOpt = None,
    faults: FaultsOpt = None,
    drift: DriftOpt = None,
    drift_day_s: DriftDayOpt = None,
    secrets_file: SecretsFileOpt = None,
    kafka_security_protocol: ProtocolOpt = None,
    kafka_sasl_mechanism: MechanismOpt = None,
    kafka_sasl_username: UsernameOpt = None,
    kafka_ssl_cafile: CafileOpt = None,
    kafka_ssl_certfile: CertfileOpt = None,
    kafka_ssl_keyfile: KeyfileOpt = None,
    kafka_ssl_check_hostname: CheckHostnameOpt = None,
    otel_metrics_exporter: OtelMetricsOpt = None,
) -> None:
    """Run executors for some backends only (scale execution out across machines)."""
    from qstream.stream.worker import run_executor

    found = secrets(secrets_file, loglevel)
    names = [n.strip() for n in backends.split(",") if n.strip()]
    try:
        security = kafka(found, kafka_security_protocol, kafka_sasl_mechanism,
                         kafka_sasl_username, kafka_ssl_cafile, kafka_ssl_certfile,
                         kafka_ssl_keyfile, kafka_ssl_check_hostname)
        config = worker_config(found, security, broker=broker, time_scale=time_scale, seed=seed,
                               otel_exporter=otel_exporter, faults=faults, drift=drift,
                               drift_day_s=drift_day_s,
                               otel_metrics_exporter=otel_metrics_exporter)
        run_executor(config, names, loglevel=loglevel)
    except QStreamError as exc:
        fail(exc)
