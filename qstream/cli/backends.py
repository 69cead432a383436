"""``qstream backends``: what a fleet configuration would start, with a credential check.

For each name of ``--fleet`` (default: ``$QSTREAM_FLEET`` or the default fleet) it
builds the backend the way a worker would and reads its status: for ``ibm:`` and
``braket:`` names that connects to the provider (service, device metadata, queue) and
submits no job or task, so nothing is spent. A name that would not start is shown
with the reason (credential missing or refused, no connection, unknown device), never
with a credential value; the command then exits 1.
"""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from rich.table import Table

from qstream.cli._common import SecretsFileOpt, console, fail, secrets
from qstream.errors import QStreamError

app = typer.Typer()


@app.command()
def backends(
    fleet: Annotated[str | None, typer.Option(
        help="comma-separated backend names, e.g. 'ibm:ibm_brisbane,braket:arn:aws:braket:::"
             "device/quantum-simulator/amazon/sv1,ibm_perth_emu' (default: $QSTREAM_FLEET or "
             "the default fleet)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the checks as JSON")] = False,
    secrets_file: SecretsFileOpt = None,
    loglevel: Annotated[str, typer.Option(
        help="log level of the SDKs' and qstream's logs (stderr; credentials redacted)")] = "WARNING",
) -> None:
    """List the backends a fleet would start and check their credentials; submits nothing."""
    from qstream.backends.check import check_backend
    from qstream.backends.fleet import DEFAULT_FLEET
    from qstream.config import WorkerConfig
    from qstream.secrets import Credentials

    found = secrets(secrets_file, loglevel.upper())
    try:
        credentials = Credentials.from_secrets(found)
        config = WorkerConfig.from_env(credentials=credentials, fleet=fleet)
    except QStreamError as exc:
        fail(exc)
    names = config.fleet or DEFAULT_FLEET
    checks = [check_backend(n, credentials) for n in names]
    if as_json:
        sys.stdout.write(orjson.dumps([c.to_dict() for c in checks],
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        table = Table(title="qstream backends (nothing submitted)")
        for column in ("backend", "kind", "ok", "credentials", "detail"):
            table.add_column(column, overflow="fold")
        for c in checks:
            table.add_row(c.name, c.kind, "yes" if c.ok else "[red]NO[/red]", c.credentials,
                          c.detail)
        console.print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
