"""``qstream submit``: publish one task built from QASM files or a problem file; with
``--wait``, print the result (counts, estimates, or the problem's solution and selection)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from qstream.cli._common import (
    BrokerOpt,
    CafileOpt,
    CertfileOpt,
    CheckHostnameOpt,
    KeyfileOpt,
    MechanismOpt,
    OtelOpt,
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
def submit(
    files: Annotated[list[Path] | None, typer.Argument(
        help="OpenQASM 2 or 3 files, one circuit each", exists=True, dir_okay=False,
        readable=True)] = None,
    problem: Annotated[Path | None, typer.Option(
        "--problem", exists=True, dir_okay=False, readable=True,
        help="a JSON problem ({\"kind\": \"maxcut\", ...}) or a whole qstream.task.v1 "
             "problem task, instead of QASM files")] = None,
    algorithms: Annotated[str | None, typer.Option(
        help="problem tasks: comma-separated allow-list, e.g. qaoa,exact")] = None,
    max_iterations: Annotated[int | None, typer.Option(min=1)] = None,
    accuracy_target: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    broker: BrokerOpt = None,
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
    """Publish one task built from QASM files or a problem file; with --wait, print the result."""
    from qstream.client import Client, check_size
    from qstream.stream import codec, tracing
    from qstream.stream.worker import resolve_broker

    found = secrets(secrets_file)
    try:
        security = kafka(found, kafka_security_protocol, kafka_sasl_mechanism,
                         kafka_sasl_username, kafka_ssl_cafile, kafka_ssl_certfile,
                         kafka_ssl_keyfile, kafka_ssl_check_hostname)
        tracing.configure(otel_exporter or os.environ.get("QSTREAM_OTEL_EXPORTER") or "none",
                          "qstream-client")
    except QStreamError as exc:
        fail(exc)

    try:
        task = build_task(files or [], problem, task_id=task_id, shots=shots, priority=priority,
                          algorithms=algorithms, max_iterations=max_iterations,
                          accuracy_target=accuracy_target)
    except QStreamError as exc:
        fail(exc)
    if deadline_s is not None:
        task["deadline_s"] = deadline_s
    try:
        limit = max_message_bytes()
        # Refuse before connecting; Client.submit checks the exact record again.
        check_size(task["task_id"], codec.encode({**task, "submitted_at": time.time()}), limit)
    except QStreamError as exc:
        fail(exc)

    async def go(url: str) -> dict[str, Any] | None:
        async with Client(url, kafka=security, compression_type=COMPRESSION,
                          max_message_bytes=limit) as client:
            await client.submit(task)
            console.print(f"submitted task {task['task_id']}")
            if not wait:
                return None
            found = await client.wait_results([task["task_id"]], timeout_s)
            return found.get(task["task_id"])

    try:
        result = asyncio.run(go(resolve_broker(broker_url(broker), kafka=security)))
    except QStreamError as exc:
        fail(exc)
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
        print_result(result)
    raise typer.Exit(0 if result["status"] == "completed" else 1)


COMPRESSION = "gzip"
"""Compression of submitted records: gzip is in the standard library (lz4 and zstd need
extra packages), and the embedded broker and Apache Kafka both store it (tested on the
embedded broker: tests/integration/test_embedded_broker_limits.py)."""


def max_message_bytes() -> int:
    """The task size limit (bytes, encoded, uncompressed): ``$QSTREAM_MAX_MESSAGE_BYTES`` or
    :class:`~qstream.config.Limits`' default, 1 MiB (what the workers admit).

    Raises
    ------
    qstream.errors.ConfigError
        If the variable is not an integer >= 1.
    """
    from pydantic_settings import EnvSettingsSource

    from qstream.config import Limits
    from qstream.errors import ConfigError

    try:
        return Limits(**EnvSettingsSource(Limits)()).max_message_bytes
    except ConfigError as exc:
        raise ConfigError(f"QSTREAM_MAX_MESSAGE_BYTES (or another QSTREAM_MAX_* limit): {exc}") \
            from None


def build_task(files: list[Path], problem: Path | None, *, task_id: str | None, shots: int,
               priority: int, algorithms: str | None, max_iterations: int | None,
               accuracy_target: float | None) -> dict[str, Any]:
    """The ``qstream.task.v1`` message of the command line (not yet validated: the worker
    validates, and rejects to the DLQ with a reason).

    Raises
    ------
    ValidationError
        Neither or both of QASM files and ``--problem``, or a problem file that is not JSON.
    """
    from qstream.errors import ValidationError

    if bool(files) == (problem is not None):
        raise ValidationError("give either QASM files or --problem FILE.json", reason="schema")
    if problem is None:
        return {"schema": "qstream.task.v1", "task_id": task_id or str(uuid.uuid4()),
                "circuits": [{"name": f.stem, "qasm": f.read_text(encoding="utf-8")}
                             for f in files],
                "shots": shots, "priority": priority}
    try:
        data = orjson.loads(problem.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"{problem}: not JSON: {exc}", reason="json") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{problem}: expected a JSON object", reason="not_object")
    task = dict(data) if "schema" in data else {
        "schema": "qstream.task.v1", "problem": data, "shots": shots, "priority": priority}
    if task_id or "task_id" not in task:
        task["task_id"] = task_id or str(uuid.uuid4())
    if algorithms:
        task["algorithms"] = [a.strip() for a in algorithms.split(",") if a.strip()]
    if max_iterations is not None:
        task["max_iterations"] = max_iterations
    if accuracy_target is not None:
        task["accuracy_target"] = accuracy_target
    return task


def print_solution(out: Console, result: dict[str, Any]) -> None:
    """A problem task's solution: the answer, then every candidate of the selection."""
    sol = result["solution"]
    ratio = sol.get("approximation_ratio")
    answer = sol.get("bitstring") or (f"{len(sol['parameters'])} parameters"
                                      if sol.get("parameters") else "")
    out.print(f"{sol['kind']} solved by {sol['algorithm']} on {', '.join(sol['backends'])}: "
              f"objective {sol['objective']:.6g}"
              + (f" ± {sol['std_error']:.2g}" if sol.get("std_error") else "")
              + (f", approximation ratio {ratio:.4f}" if ratio is not None else "")
              + f", {sol['iterations']} iterations; {answer}")
    for move in sol.get("moves") or ():
        out.print(f"  moved at iteration {move['at_iteration']}: {move['reason']}")
    selection = sol["selection"]
    table = Table(title=f"selection: {selection['reason']}")
    for column in ("configuration", "queue s", "run s", "accuracy", "USD", "cost"):
        table.add_column(column, justify="right")
    for c in selection["candidates"]:
        key = f"{c['solver']}@{c['backend']}"
        mark = " *" if key == selection["chosen"] else ""
        table.add_row(key + mark, f"{c['queue_s']:.3g}", f"{c['run_s']:.3g}",
                      f"{c['accuracy']:.3f}", f"{c['price_usd']:.3g}", f"{c['terms']['total']:.4g}")
    out.print(table)


def print_result(result: dict[str, Any]) -> None:
    """A result message as a summary line and one table per circuit: counts (top 16), or
    the estimates of a circuit with observables."""
    out = Console()
    if result["status"] != "completed":
        out.print(f"[red]task {result['task_id']} failed:[/red] {result['error']}")
        return
    if "solution" in result:
        print_solution(out, result)
        return
    m = result["metrics"]
    fidelity = "n/a" if m["est_fidelity"] is None else f"{m['est_fidelity']:.3f}"
    out.print(f"task {result['task_id']} completed: queue {m['queue_s']:.1f} s, "
              f"run {m['run_s']:.2f} s, cost {m['cost_usd']:.4f} USD, "
              f"est. fidelity {fidelity}")
    for r in result["results"]:
        table = Table(title=f"{r['name']}: {r['shots']} shots on {', '.join(r['backends'])}")
        if "observables" in r:
            for column in ("observable", "value", "std error", "shots"):
                table.add_column(column, justify="right")
            for i, o in enumerate(r["observables"]):
                table.add_row(str(i), f"{o['value']:.6f}", f"{o['std_error']:.6f}", str(o["shots"]))
            out.print(table)
            continue
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
