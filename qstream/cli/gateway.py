"""``qstream gateway``: serve the HTTP API (FastAPI on uvicorn) over a Kafka broker."""

from __future__ import annotations

from typing import Annotated

import typer

from qstream.cli._common import (
    BrokerOpt,
    CafileOpt,
    CertfileOpt,
    CheckHostnameOpt,
    KeyfileOpt,
    MechanismOpt,
    PolicyOpt,
    ProtocolOpt,
    SecretsFileOpt,
    UsernameOpt,
    check_policy,
    fail,
    kafka,
    secrets,
    worker_config,
)
from qstream.errors import QStreamError

app = typer.Typer()


@app.command()
def gateway(
    broker: BrokerOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to listen on (0: any)")] = 8000,
    fleet: Annotated[str | None, typer.Option(
        help="comma-separated backend names, as the worker's "
             "(default: $QSTREAM_FLEET or the default fleet)")] = None,
    policy: PolicyOpt = None,
    loglevel: str = "WARNING",
    secrets_file: SecretsFileOpt = None,
    kafka_security_protocol: ProtocolOpt = None,
    kafka_sasl_mechanism: MechanismOpt = None,
    kafka_sasl_username: UsernameOpt = None,
    kafka_ssl_cafile: CafileOpt = None,
    kafka_ssl_certfile: CertfileOpt = None,
    kafka_ssl_keyfile: KeyfileOpt = None,
    kafka_ssl_check_hostname: CheckHostnameOpt = None,
) -> None:
    """Serve the HTTP API: submit, follow, cancel and estimate tasks (docs at /docs)."""
    import uvicorn

    from qstream.gateway.app import create_app
    from qstream.gateway.service import Gateway
    from qstream.stream.worker import resolve_broker

    check_policy(policy)
    found = secrets(secrets_file, loglevel)
    try:
        security = kafka(found, kafka_security_protocol, kafka_sasl_mechanism,
                         kafka_sasl_username, kafka_ssl_cafile, kafka_ssl_certfile,
                         kafka_ssl_keyfile, kafka_ssl_check_hostname)
        config = worker_config(found, security, broker=broker, fleet=fleet, policy=policy)
        config = config.with_(broker=resolve_broker(config.broker, kafka=security))
        web = create_app(Gateway(config))
    except QStreamError as exc:
        fail(exc)
    uvicorn.run(web, host=host, port=port, log_level=loglevel.lower())
