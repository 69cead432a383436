"""Run a pipeline worker or an executor process in the foreground."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import faust

from qstream.backends.faults import parse_faults
from qstream.backends.fleet import fleet_specs
from qstream.config import KafkaSecurity, WorkerConfig
from qstream.stream import metrics, security, tansu_compat, tracing
from qstream.stream.topics import ensure_topics, pipeline_topics

log = logging.getLogger("qstream.worker")


def resolve_broker(broker: str, timeout_s: float = 15.0,
                   kafka: KafkaSecurity | None = None) -> str:
    """Return the broker URL with the right scheme.

    A ``kafka://`` URL that points at tansu (the embedded broker) is rewritten to
    ``tansu://`` so its workarounds apply; anything else is returned unchanged.

    Raises
    ------
    qstream.errors.BrokerAuthError
        If the broker refuses the SASL credentials of ``kafka`` or its TLS handshake fails.
    qstream.errors.BrokerError
        If no broker answers within ``timeout_s``.
    """
    if not broker.startswith("kafka://"):
        return broker
    bootstrap = broker.split("://", 1)[1]

    async def detect() -> str:
        try:
            return await tansu_compat.detect_flavour(bootstrap, timeout_s,
                                                     auth=security.client_settings(kafka))
        except Exception as exc:
            raise await security.connection_error(bootstrap, kafka, exc, timeout_s) from exc

    flavour = asyncio.run(detect())
    return f"tansu://{bootstrap}" if flavour == "tansu" else broker


def prepare(config: WorkerConfig) -> WorkerConfig:
    """Resolve the broker flavour, log the effective settings (no secrets) and create
    missing topics."""
    parse_faults(config.faults)  # a bad spec fails before anything connects
    log.info("%s; %s", config.kafka.describe(), config.credentials.presence())
    if config.kafka.security_protocol == "SASL_PLAINTEXT" and config.kafka.sasl_mechanism == "PLAIN":
        log.warning("SASL PLAIN over SASL_PLAINTEXT sends the Kafka password unencrypted; "
                    "use SASL_SSL or a SCRAM mechanism")
    config = config.with_(broker=resolve_broker(config.broker, kafka=config.kafka))
    log.info("effective settings: %s", config.describe())
    names = [s.name for s in fleet_specs(config.fleet, credentials=config.credentials,
                                         ibm_mode=config.ibm_mode)]
    created = asyncio.run(ensure_topics(config.bootstrap, pipeline_topics(names),
                                        auth=security.client_settings(config.kafka)))
    if created:
        log.info("created topics: %s", ", ".join(created))
    return config


def _run(app: faust.App, pool: object, loglevel: str) -> None:
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    # Faust's terminal spinner sets the root logger to DEBUG (faust.worker.Worker.
    # _setup_spinner_handler), so every aiokafka and Faust debug call built a log record:
    # 6% of the worker's CPU under load (py-spy). Without it the root level is `loglevel`.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    finally:
        shutdown = getattr(pool, "shutdown", None)
        if shutdown is not None:
            shutdown(wait=True, cancel_futures=True)
        tracing.shutdown()  # flush spans (the memory exporter writes its file here)
        metrics.shutdown()  # likewise for metrics


def run_worker(config: WorkerConfig, *, loglevel: str = "WARNING") -> None:
    """Run the pipeline worker until SIGINT/SIGTERM."""
    from qstream.stream.app import create_worker_app

    config = prepare(config)
    tracing.configure(config.otel_exporter, "qstream-worker")
    metrics.configure(config.otel_metrics_exporter, "qstream-worker")
    app, rt = create_worker_app(config)
    _run(app, rt.pool, loglevel)


def run_executor(config: WorkerConfig, backends: Sequence[str], *,
                 loglevel: str = "WARNING") -> None:
    """Run executors for ``backends`` only, until SIGINT/SIGTERM."""
    from qstream.stream.app import create_executor_app

    config = prepare(config)
    tracing.configure(config.otel_exporter, "qstream-executor")
    metrics.configure(config.otel_metrics_exporter, "qstream-executor")
    app, rt = create_executor_app(config, backends)
    _run(app, rt.pool, loglevel)
