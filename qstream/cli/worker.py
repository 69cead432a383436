"""``qstream worker``: the pipeline worker (partition, dispatch, learn, reallocate,
post-process, execute)."""

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
    PolicyOpt,
    ProtocolOpt,
    SecretsFileOpt,
    SeedOpt,
    TimeScaleOpt,
    UsernameOpt,
    check_policy,
    default_of,
    fail,
    kafka,
    secrets,
    worker_config,
)
from qstream.errors import QStreamError

app = typer.Typer()


@app.command()
def worker(
    broker: BrokerOpt = None,
    fleet: Annotated[str | None, typer.Option(
        help="comma-separated backend names (default: $QSTREAM_FLEET or the default fleet)")] = None,
    time_scale: TimeScaleOpt = None,
    policy: PolicyOpt = None,
    realloc_margin: Annotated[float | None, typer.Option(
        help=f"relative cost gain needed to move (default: {default_of('realloc_margin')})")] = None,
    executors: Annotated[bool | None, typer.Option(
        "--executors/--no-executors",
        help=f"run the fleet's executors in this worker (default: "
             f"{default_of('local_executors')})")] = None,
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
    """Run the pipeline worker (partition, dispatch, learn, reallocate, post-process, execute)."""
    from qstream.stream.worker import run_worker

    check_policy(policy)
    found = secrets(secrets_file, loglevel)
    try:
        security = kafka(found, kafka_security_protocol, kafka_sasl_mechanism,
                         kafka_sasl_username, kafka_ssl_cafile, kafka_ssl_certfile,
                         kafka_ssl_keyfile, kafka_ssl_check_hostname)
        config = worker_config(
            found, security, broker=broker, fleet=fleet, time_scale=time_scale, policy=policy,
            realloc_margin=realloc_margin, local_executors=executors, seed=seed,
            otel_exporter=otel_exporter, faults=faults, drift=drift, drift_day_s=drift_day_s,
            otel_metrics_exporter=otel_metrics_exporter)
        run_worker(config, loglevel=loglevel)
    except QStreamError as exc:
        fail(exc)
