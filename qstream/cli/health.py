"""``qstream health``: is a worker's or executor's heartbeat fresh? (a Kubernetes exec probe)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from qstream.cli._common import console

app = typer.Typer()


@app.command()
def health(
    file: Annotated[Path | None, typer.Option(
        "--file", help="heartbeat file of the worker or executor "
                       "(default: $QSTREAM_HEALTH_FILE)")] = None,
    max_age_s: Annotated[float, typer.Option(
        "--max-age-s", min=0.0, help="oldest heartbeat accepted, seconds")] = 30.0,
) -> None:
    """Exit 0 if the heartbeat file (QSTREAM_HEALTH_FILE of a worker or executor) is fresh,
    1 with the reason if not, 2 if no file is named."""
    from qstream.stream.health import check

    path = file or os.environ.get("QSTREAM_HEALTH_FILE")
    if not path:
        console.print("[red]error:[/red] give --file or set QSTREAM_HEALTH_FILE")
        raise typer.Exit(2)
    problem = check(path, max_age_s)
    if problem is not None:
        console.print(f"unhealthy: {problem}")
        raise typer.Exit(1)
