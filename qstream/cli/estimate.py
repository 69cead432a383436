"""``qstream estimate``: predicted queue wait, run time, error, price and cost of QASM files
on every capable backend, and the choice qstream would make now; submits nothing.

The same computation as the gateway's ``POST /v1/estimate``
(:class:`qstream.gateway.estimate.Planner`). With a broker (``--broker`` or
``$QSTREAM_BROKER``) it reads the worker's predictor snapshot and the backends' latest
status from the topics; without one it uses the calibration priors and says so.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from qstream.cli._common import (
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
from qstream.config_env import env_var
from qstream.errors import QStreamError

app = typer.Typer()


@app.command()
def estimate(
    files: Annotated[list[Path], typer.Argument(
        help="OpenQASM 2 or 3 files, one circuit each", exists=True, dir_okay=False,
        readable=True)],
    shots: Annotated[int, typer.Option(min=1)] = 1000,
    broker: Annotated[str | None, typer.Option(
        "--broker", help="kafka://HOST:PORT to read the live predictor and backend status "
                         "from (default: $QSTREAM_BROKER; none: calibration priors only)")] = None,
    fleet: Annotated[str | None, typer.Option(
        help="comma-separated backend names (default: $QSTREAM_FLEET or the default fleet)")] = None,
    policy: PolicyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the estimate as JSON")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout-s")] = 60.0,
    secrets_file: SecretsFileOpt = None,
    kafka_security_protocol: ProtocolOpt = None,
    kafka_sasl_mechanism: MechanismOpt = None,
    kafka_sasl_username: UsernameOpt = None,
    kafka_ssl_cafile: CafileOpt = None,
    kafka_ssl_certfile: CertfileOpt = None,
    kafka_ssl_keyfile: KeyfileOpt = None,
    kafka_ssl_check_hostname: CheckHostnameOpt = None,
) -> None:
    """Estimate QASM files on every capable backend and show qstream's choice; submits nothing."""
    from qstream.backends.fleet import fleet_specs
    from qstream.gateway.estimate import Planner
    from qstream.gateway.follower import FleetState, Follower
    from qstream.gateway.service import parse_task
    from qstream.gateway.view import TaskIndex
    from qstream.stream import topics as T
    from qstream.stream.worker import resolve_broker

    check_policy(policy)
    found = secrets(secrets_file)
    url = broker or os.environ.get(env_var(("broker",)))
    try:
        security = kafka(found, kafka_security_protocol, kafka_sasl_mechanism,
                         kafka_sasl_username, kafka_ssl_cafile, kafka_ssl_certfile,
                         kafka_ssl_keyfile, kafka_ssl_check_hostname)
        config = worker_config(found, security, fleet=fleet, policy=policy)
        body = orjson.dumps({"circuits": [{"name": f.stem, "qasm": f.read_text(encoding="utf-8")}
                                          for f in files], "shots": shots})
        _, task = parse_task(body, max_bytes=config.limits.max_message_bytes)
        specs = fleet_specs(config.fleet)
        if url:
            url = resolve_broker(url, kafka=security)
            config = config.with_(broker=url)
    except QStreamError as exc:
        fail(exc)

    async def go() -> dict[str, Any]:
        state = FleetState()
        if url:
            reader = Follower(url, TaskIndex(), state, kafka=security,
                              topics=(T.TELEMETRY, T.PREDICTOR_CHANGELOG))
            await reader.start()
            await reader.read_to_end(timeout_s)
        return await Planner(config, specs).estimate(task, state)

    try:
        result = asyncio.run(go())
    except QStreamError as exc:
        fail(exc)
    if as_json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    print_estimate(result)


def print_estimate(result: dict[str, Any]) -> None:
    """One table per sub-task (cheapest first, the choice marked), then the totals."""
    out = Console()
    predictor = result["predictor"]
    out.print(f"predictor: {predictor['source']} ({predictor['note']}); policy {result['policy']}")
    for sub in result["subtasks"]:
        table = Table(title=f"{sub['circuit']} ({sub['shots']} shots)")
        for col in ("backend", "queue_s", "run_s", "error", "price_usd", "cost"):
            table.add_column(col, justify="left" if col == "backend" else "right")
        for c in sub["candidates"]:
            mark = " *" if c["backend"] == sub["backend"] else ""
            table.add_row(c["backend"] + mark, f"{c['queue_s']:.2f}", f"{c['run_s']:.3f}",
                          f"{c['error']:.3f}", f"{c['price_usd']:.4f}", f"{c['cost']['total']:.4f}")
        out.print(table)
    choice = result["choice"]
    out.print(f"choice: {', '.join(choice['backends'])}; price {choice['price_usd']:.4f} USD, "
              f"time {choice['time_s']:.2f} s, error {choice['error']:.3f} (* = chosen)")
