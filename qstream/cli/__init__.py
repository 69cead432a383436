"""The ``qstream`` command line: broker, worker, executor, submit, cancel, gateway, estimate,
demo, simulate, report, status, predictor eval, health, backends.

One module per command; each exposes a Typer ``app`` (a single command, or the named
``predictor`` group), registered below in one loop. What they share (the console,
``fail``, the option types, secrets and Kafka security) is :mod:`qstream.cli._common`.
"""

from __future__ import annotations

import typer

from qstream.cli import (
    backends,
    broker,
    cancel,
    demo,
    estimate,
    executor,
    gateway,
    health,
    predictor,
    report,
    simulate,
    status,
    submit,
    worker,
)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="qstream: event-driven orchestration of quantum-classical workflows on Kafka.")

for _command in (backends, broker, worker, executor, submit, cancel, gateway, estimate, demo, simulate,
                 report, status, predictor, health):
    app.add_typer(_command.app)
