"""``qstream broker``: the embedded Kafka-protocol broker (tansu) in the foreground."""

from __future__ import annotations

import signal
import time
from typing import Annotated, Any

import typer

from qstream.cli._common import console, fail
from qstream.errors import QStreamError

app = typer.Typer()


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1; 0 picks a free one")] = 9092,
) -> None:
    """Run the embedded Kafka-protocol broker (tansu) in the foreground."""
    from qstream.broker import EmbeddedBroker

    try:
        b = EmbeddedBroker(port).start()
    except QStreamError as exc:
        fail(exc)
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
