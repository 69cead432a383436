"""``qstream report``: the standard simulator scenarios as report.md and plots
(the scenarios and the rendering are :mod:`qstream.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from qstream.cli._common import console, fail
from qstream.errors import QStreamError

app = typer.Typer()
out = Console(width=220)


@app.command()
def report(
    out_dir: Annotated[Path, typer.Option("--out", help="directory for report.md and the PNG plots")],
    tasks: Annotated[int, typer.Option(min=1, help="tasks per run")] = 1000,
    seeds: Annotated[int, typer.Option(min=2, help="seeds per scenario (>= 2 for a CI)")] = 5,
    workers: Annotated[int, typer.Option(min=1, help="processes running seeds in parallel")] = 2,
) -> None:
    """Run the standard scenarios (loads 0.5/0.8/0.95, drift, outage) and write report.md + plots."""
    from qstream.report import write_report

    try:
        path = write_report(out_dir, tasks=tasks, seeds=seeds, workers=workers,
                            progress=lambda msg: console.print(f"[dim]{msg}"))
    except QStreamError as exc:
        fail(exc)
    out.print(f"wrote {path}")
