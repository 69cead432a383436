"""The ``qstream`` command line: broker, worker, executor, submit, status, demo, predictor eval,
simulate, report."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from qstream.cli_predictor import predictor_app
from qstream.cli_sim import register as register_sim_commands
from qstream.cli_status import register as register_status_command
from qstream.config import SASL_MECHANISMS, SECURITY_PROTOCOLS, KafkaSecurity, WorkerConfig
from qstream.core.policies import POLICY_NAMES
from qstream.errors import QStreamError
from qstream.secrets import Credentials, Secret, install_redaction, load_secrets

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="qstream: event-driven orchestration of quantum-classical workflows on Kafka.")
console = Console(stderr=True)

LIVE_POLICIES = tuple(p for p in POLICY_NAMES if p != "oracle")
"""Policies a live worker runs; ``oracle`` needs the future and exists only in ``simulate``."""
PolicyOpt = Annotated[str, typer.Option(
    "--policy", help="predictive-realloc | predictive | qonductor | best-fidelity | shortest-queue | "
                     "round-robin | random")]
OtelOpt = Annotated[str | None, typer.Option(
    "--otel-exporter", help="OpenTelemetry spans: none | console | otlp[:URL] | memory:PATH "
                            "(default: $QSTREAM_OTEL_EXPORTER or none)")]
OtelMetricsOpt = Annotated[str | None, typer.Option(
    "--otel-metrics-exporter", help="OpenTelemetry metrics (SLIs): none | console | otlp[:URL] | "
                                    "memory:PATH (default: $QSTREAM_OTEL_METRICS_EXPORTER or none)")]
FaultsOpt = Annotated[str | None, typer.Option(
    "--faults", help="injected backend faults, e.g. 'cpu_statevector:fail=0.3,timeout=0.1;"
                     "braket_local:outage=0-120' (default: $QSTREAM_FAULTS or none)")]
BrokerOpt = Annotated[str, typer.Option(
    "--broker", help="kafka://HOST:PORT (Apache Kafka or the embedded broker) or tansu://HOST:PORT")]
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


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


def _secrets(secrets_file: Path | None, loglevel: str | None = None) -> dict[str, Secret]:
    """Load the secrets and set up logging with their redaction (exits on a ConfigError)."""
    if loglevel is not None:
        logging.basicConfig(level=loglevel,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        secrets = load_secrets(secrets_file)
    except QStreamError as exc:
        _fail(exc)
    install_redaction(secrets.values())
    return secrets


def _kafka(secrets: dict[str, Secret], protocol: str | None, mechanism: str | None,
           username: str | None, cafile: str | None, certfile: str | None,
           keyfile: str | None, check_hostname: bool | None) -> KafkaSecurity:
    return KafkaSecurity.from_env(
        secrets, security_protocol=protocol, sasl_mechanism=mechanism, sasl_username=username,
        ssl_cafile=cafile, ssl_certfile=certfile, ssl_keyfile=keyfile,
        ssl_check_hostname=check_hostname)


def _check_policy(policy: str) -> str:
    if policy not in LIVE_POLICIES:
        raise typer.BadParameter(
            f"unknown policy {policy!r}; choose one of {', '.join(LIVE_POLICIES)}"
            + (" (oracle exists only in `qstream simulate`)" if policy == "oracle" else ""))
    return policy


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1; 0 picks a free one")] = 9092,
) -> None:
    """Run the embedded Kafka-protocol broker (tansu) in the foreground."""
    from qstream.broker import EmbeddedBroker

    try:
        b = EmbeddedBroker(port).start()
    except QStreamError as exc:
        _fail(exc)
    stop = False

    def _on_signal(*_: Any) -> None:
        nonlocal stop
        stop = True

    # Handlers before the address line: a supervisor may signal as soon as it reads it.
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(b.bootstrap, flush=True)
    try:
        while not stop and b.process is not None and b.process.poll() is None:
            time.sleep(0.2)
    finally:
        b.stop()
    code = b.process.returncode if b.process is not None else 0
    if not stop:
        console.print(f"[red]broker exited unexpectedly with code {code}")
        raise typer.Exit(1)


def _config(broker: str, fleet: str | None, time_scale: float, policy: str, seed: int,
            realloc_margin: float, local_executors: bool = True,
            otel_exporter: str | None = None, faults: str | None = None,
            otel_metrics_exporter: str | None = None, *,
            kafka: KafkaSecurity, credentials: Credentials) -> WorkerConfig:
    return WorkerConfig.from_env(
        broker=broker, kafka=kafka, credentials=credentials,
        fleet=tuple(n.strip() for n in fleet.split(",") if n.strip()) if fleet else None,
        time_scale=time_scale, policy=_check_policy(policy), seed=seed,
        realloc_margin=realloc_margin, local_executors=local_executors,
        otel_exporter=otel_exporter, faults=faults,
        otel_metrics_exporter=otel_metrics_exporter)


@app.command()
def worker(
    broker: BrokerOpt = "kafka://127.0.0.1:9092",
    fleet: Annotated[str | None, typer.Option(help="comma-separated backend names")] = None,
    time_scale: Annotated[float, typer.Option(help="emulated seconds per wall second")] = 60.0,
    policy: PolicyOpt = "predictive-realloc",
    realloc_margin: Annotated[float, typer.Option(help="relative cost gain needed to move")] = 0.10,
    executors: Annotated[bool, typer.Option(help="run the fleet's executors in this worker")] = True,
    seed: int = 0,
    loglevel: str = "WARNING",
    otel_exporter: OtelOpt = None,
    faults: FaultsOpt = None,
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

    secrets = _secrets(secrets_file, loglevel)
    try:
        kafka = _kafka(secrets, kafka_security_protocol, kafka_sasl_mechanism, kafka_sasl_username,
                       kafka_ssl_cafile, kafka_ssl_certfile, kafka_ssl_keyfile,
                       kafka_ssl_check_hostname)
        run_worker(_config(broker, fleet, time_scale, policy, seed, realloc_margin, executors,
                           otel_exporter, faults, otel_metrics_exporter, kafka=kafka,
                           credentials=Credentials.from_secrets(secrets)), loglevel=loglevel)
    except QStreamError as exc:
        _fail(exc)


@app.command()
def executor(
    backends: Annotated[str, typer.Option(help="comma-separated backend names to execute")],
    broker: BrokerOpt = "kafka://127.0.0.1:9092",
    time_scale: float = 60.0,
    seed: int = 0,
    loglevel: str = "WARNING",
    otel_exporter: OtelOpt = None,
    faults: FaultsOpt = None,
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

    secrets = _secrets(secrets_file, loglevel)
    names = [n.strip() for n in backends.split(",") if n.strip()]
    try:
        kafka = _kafka(secrets, kafka_security_protocol, kafka_sasl_mechanism, kafka_sasl_username,
                       kafka_ssl_cafile, kafka_ssl_certfile, kafka_ssl_keyfile,
                       kafka_ssl_check_hostname)
        run_executor(_config(broker, None, time_scale, "predictive-realloc", seed, 0.1,
                             otel_exporter=otel_exporter, faults=faults,
                             otel_metrics_exporter=otel_metrics_exporter, kafka=kafka,
                             credentials=Credentials.from_secrets(secrets)), names,
                     loglevel=loglevel)
    except QStreamError as exc:
        _fail(exc)


@app.command()
def submit(
    files: Annotated[list[Path], typer.Argument(help="OpenQASM 2 or 3 files, one circuit each",
                                                exists=True, dir_okay=False, readable=True)],
    broker: BrokerOpt = "kafka://127.0.0.1:9092",
    shots: Annotated[int, typer.Option(min=1)] = 1000,
    priority: Annotated[int, typer.Option(min=0, max=9)] = 5,
    deadline_s: Annotated[float | None, typer.Option("--deadline-s")] = None,
    task_id: Annotated[str | None, typer.Option(help="default: a new UUID")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the result and print it")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout-s")] = 600.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw result JSON")] = False,
    otel_exporter: OtelOpt = None,
    secrets_file: SecretsFileOpt = None,
    kafka_security_protocol: ProtocolOpt = None,
    kafka_sasl_mechanism: MechanismOpt = None,
    kafka_sasl_username: UsernameOpt = None,
    kafka_ssl_cafile: CafileOpt = None,
    kafka_ssl_certfile: CertfileOpt = None,
    kafka_ssl_keyfile: KeyfileOpt = None,
    kafka_ssl_check_hostname: CheckHostnameOpt = None,
) -> None:
    """Publish one task built from QASM files; with --wait, print the result counts."""
    from qstream.client import Client
    from qstream.stream import tracing
    from qstream.stream.worker import resolve_broker

    secrets = _secrets(secrets_file)
    try:
        kafka = _kafka(secrets, kafka_security_protocol, kafka_sasl_mechanism, kafka_sasl_username,
                       kafka_ssl_cafile, kafka_ssl_certfile, kafka_ssl_keyfile,
                       kafka_ssl_check_hostname)
        tracing.configure(otel_exporter or os.environ.get("QSTREAM_OTEL_EXPORTER") or "none",
                          "qstream-client")
    except QStreamError as exc:
        _fail(exc)

    task: dict[str, Any] = {
        "schema": "qstream.task.v1", "task_id": task_id or str(uuid.uuid4()),
        "circuits": [{"name": f.stem, "qasm": f.read_text(encoding="utf-8")} for f in files],
        "shots": shots, "priority": priority,
    }
    if deadline_s is not None:
        task["deadline_s"] = deadline_s

    async def go(url: str) -> dict[str, Any] | None:
        async with Client(url, kafka=kafka) as client:
            await client.submit(task)
            console.print(f"submitted task {task['task_id']}")
            if not wait:
                return None
            found = await client.wait_results([task["task_id"]], timeout_s)
            return found.get(task["task_id"])

    try:
        result = asyncio.run(go(resolve_broker(broker, kafka=kafka)))
    except QStreamError as exc:
        _fail(exc)
        return
    finally:
        tracing.shutdown()
    if not wait:
        return
    if result is None:
        console.print(f"[red]no result within {timeout_s:.0f} s")
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_result(result)
    raise typer.Exit(0 if result["status"] == "completed" else 1)


def _print_result(result: dict[str, Any]) -> None:
    out = Console()
    if result["status"] != "completed":
        out.print(f"[red]task {result['task_id']} failed:[/red] {result['error']}")
        return
    m = result["metrics"]
    fidelity = "n/a" if m["est_fidelity"] is None else f"{m['est_fidelity']:.3f}"
    out.print(f"task {result['task_id']} completed: queue {m['queue_s']:.1f} s, "
              f"run {m['run_s']:.2f} s, cost {m['cost_usd']:.4f} USD, "
              f"est. fidelity {fidelity}")
    for r in result["results"]:
        table = Table(title=f"{r['name']}: {r['shots']} shots on {', '.join(r['backends'])}")
        table.add_column("bitstring")
        table.add_column("counts", justify="right")
        if r.get("mitigated"):
            table.add_column("mitigated p", justify="right")
        probs = (r.get("mitigated") or {}).get("probabilities", {})
        top = sorted(r["counts"].items(), key=lambda kv: -kv[1])[:16]
        for bits, n in top:
            row = [bits, str(n)]
            if r.get("mitigated"):
                row.append(f"{probs.get(bits, 0.0):.4f}")
            table.add_row(*row)
        if len(r["counts"]) > 16:
            table.caption = f"top 16 of {len(r['counts'])} outcomes"
        out.print(table)


@app.command()
def demo(
    tasks: Annotated[int, typer.Option(min=1)] = 50,
    policy: PolicyOpt = "predictive-realloc",
    json_path: Annotated[Path | None, typer.Option("--json", help="write the summary as JSON")] = None,
    results: Annotated[Path | None, typer.Option(help="write every result message as JSON lines")] = None,
    time_scale: Annotated[float, typer.Option(help="emulated seconds per wall second")] = 60.0,
    rate: Annotated[float, typer.Option(help="task submissions per second")] = 2.0,
    timeout_s: Annotated[float, typer.Option("--timeout-s")] = 540.0,
    seed: int = 7,
    secrets_file: SecretsFileOpt = None,
) -> None:
    """Start broker, worker and fleet; run MQT Bench tasks; print a summary."""
    from qstream.demo import run_demo

    _check_policy(policy)
    _secrets(secrets_file)
    try:
        summary = run_demo(tasks, policy=policy, json_path=json_path, results_path=results,
                           time_scale=time_scale, rate_per_s=rate, timeout_s=timeout_s,
                           seed=seed, console=Console(), secrets_file=secrets_file)
    except QStreamError as exc:
        _fail(exc)
        return
    got = summary["tasks_completed"] + summary["tasks_failed"]
    raise typer.Exit(0 if got == summary["tasks_submitted"] else 1)


app.add_typer(predictor_app, name="predictor")
register_sim_commands(app)
register_status_command(app)
