"""``qstream cancel TASK_ID``: publish a cancel request on ``qstream.control`` and print
the worker's answer (the ``cancel`` telemetry event: cancelled, already_finished or
unknown_task)."""

from __future__ import annotations

import asyncio
import getpass
import os
from typing import Annotated, Any

import typer

from qstream.cli._common import (
    BrokerOpt,
    CafileOpt,
    CertfileOpt,
    CheckHostnameOpt,
    KeyfileOpt,
    MechanismOpt,
    ProtocolOpt,
    SecretsFileOpt,
    UsernameOpt,
    broker_url,
    console,
    fail,
    kafka,
    secrets,
)
from qstream.errors import QStreamError

app = typer.Typer()


@app.command()
def cancel(
    task_id: Annotated[str, typer.Argument(help="the task to cancel")],
    reason: Annotated[str | None, typer.Option(help="why, copied into the result's error")] = None,
    broker: BrokerOpt = None,
    wait_s: Annotated[float, typer.Option(
        "--wait-s", help="seconds to wait for the worker's answer (0: do not wait)")] = 30.0,
    secrets_file: SecretsFileOpt = None,
    kafka_security_protocol: ProtocolOpt = None,
    kafka_sasl_mechanism: MechanismOpt = None,
    kafka_sasl_username: UsernameOpt = None,
    kafka_ssl_cafile: CafileOpt = None,
    kafka_ssl_certfile: CertfileOpt = None,
    kafka_ssl_keyfile: KeyfileOpt = None,
    kafka_ssl_check_hostname: CheckHostnameOpt = None,
) -> None:
    """Cancel a task: its pending work is withdrawn, running work stopped, and it ends
    with one 'cancelled' result. Exit status 0 when cancelled, 1 otherwise."""
    from qstream.client import Client
    from qstream.stream import topics as T
    from qstream.stream.worker import resolve_broker

    found = secrets(secrets_file)
    try:
        security = kafka(found, kafka_security_protocol, kafka_sasl_mechanism,
                         kafka_sasl_username, kafka_ssl_cafile, kafka_ssl_certfile,
                         kafka_ssl_keyfile, kafka_ssl_check_hostname)
    except QStreamError as exc:
        fail(exc)
    who = f"{_user()}@cli"

    async def go(url: str) -> dict[str, Any] | None:
        async with Client(url, kafka=security) as client:
            request = await client.cancel(task_id, reason=reason, requested_by=who)
            console.print(f"cancel requested for {task_id} (request {request['request_id']})")
            if wait_s <= 0:
                return None

            async def answer() -> dict[str, Any]:
                async for _, msg in client.stream(T.TELEMETRY):
                    if msg.get("event") == "cancel" and \
                            msg.get("request_id") == request["request_id"] and \
                            msg.get("subtask_id") is None:
                        return msg
                raise AssertionError("unreachable: the stream does not end")

            try:
                return await asyncio.wait_for(answer(), wait_s)
            except TimeoutError:
                return None

    try:
        event = asyncio.run(go(resolve_broker(broker_url(broker), kafka=security)))
    except QStreamError as exc:
        fail(exc)
    if wait_s <= 0:
        return
    if event is None:
        console.print(f"[yellow]no answer within {wait_s:.0f} s (is a worker running?)")
        raise typer.Exit(1)
    colour = "green" if event["outcome"] == "cancelled" else "yellow"
    console.print(f"[{colour}]{event['outcome']}[/{colour}]: {event.get('message', '')}")
    raise typer.Exit(0 if event["outcome"] == "cancelled" else 1)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"
