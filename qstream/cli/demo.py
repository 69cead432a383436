"""``qstream demo``: broker + worker + emulated fleet + MQT Bench tasks, end to end.

The demo starts the embedded broker and a ``qstream worker`` subprocess, waits until
the worker reports backend status, publishes the tasks at ``rate_per_s`` and
collects every result, decision and reallocation from the public topics, exactly
as an outside client would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qstream.cli._common import PolicyOpt, SecretsFileOpt, TimeScaleOpt, check_policy, fail, secrets
from qstream.config import KafkaSecurity, WorkerConfig
from qstream.errors import QStreamError
from qstream.secrets import Credentials

if TYPE_CHECKING:  # the Kafka client is imported when the demo runs, not by every command
    from qstream.client import Client

app = typer.Typer()

WORKLOADS = ("mixed", "circuits")
"""``qstream demo --workload`` values."""


@app.command()
def demo(
    tasks: Annotated[int, typer.Option(min=1)] = 50,
    policy: PolicyOpt = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the summary as JSON")] = None,
    results: Annotated[Path | None, typer.Option(help="write every result message as JSON lines")] = None,
    time_scale: TimeScaleOpt = None,
    rate: Annotated[float, typer.Option(help="task submissions per second")] = 2.0,
    timeout_s: Annotated[float, typer.Option("--timeout-s")] = 540.0,
    seed: int = 7,
    workload: Annotated[str, typer.Option(
        help="mixed: MQT Bench circuit tasks with every fifth task a problem (MaxCut, QUBO, "
             "ground state); circuits: circuit tasks only")] = "mixed",
    secrets_file: SecretsFileOpt = None,
) -> None:
    """Start broker, worker and fleet; run MQT Bench tasks and problems; print a summary."""
    if workload not in WORKLOADS:
        fail(QStreamError(f"unknown workload {workload!r}; use one of {', '.join(WORKLOADS)}"))
    check_policy(policy)
    secrets(secrets_file)
    try:
        summary = run_demo(tasks, policy=policy, json_path=json_path, results_path=results,
                           time_scale=time_scale, rate_per_s=rate, timeout_s=timeout_s,
                           seed=seed, console=Console(), secrets_file=secrets_file,
                           workload=workload)
    except QStreamError as exc:
        fail(exc)
    got = summary["tasks_completed"] + summary["tasks_failed"]
    raise typer.Exit(0 if got == summary["tasks_submitted"] else 1)


@dataclass
class DemoRun:
    """What the demo observed on the public topics."""

    submitted_at: dict[str, float] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    received_at: dict[str, float] = field(default_factory=dict)
    decision_latency_ms: list[float] = field(default_factory=list)
    executions: Counter[str] = field(default_factory=Counter)
    reallocations: int = 0
    hedges: int = 0
    subtasks: int = 0
    first_submit: float = 0.0
    last_result: float = 0.0
    dispatches: list[tuple[float, str]] = field(default_factory=list)
    """(wall at, backend) of every first dispatch of one of our sub-tasks."""
    dispatch_scores: list[list[dict[str, Any]]] = field(default_factory=list)
    """The ``scores`` (per candidate backend: cost terms and predictions) of each of
    :attr:`dispatches`, in the same order."""
    calibrations: list[tuple[float, str, dict[str, float]]] = field(default_factory=list)
    """(wall at, backend, calibration) each time a backend publishes a new snapshot."""
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    breaker_opens: int = 0


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarize(run: DemoRun, n_tasks: int, policy: str, time_scale: float,
              deadlines: dict[str, float] | None = None) -> dict[str, Any]:
    """The summary the demo prints and writes with ``--json``.

    Top-level times are wall seconds. ``metrics`` carries the simulator's metric
    names (:data:`qstream.sim.metrics.METRICS`) in *emulated* seconds (wall x
    ``time_scale``), the clock of the emulated devices and of the simulator, so a
    live run and ``qstream simulate`` can be put side by side.
    """
    completed = [r for r in run.results.values() if r["status"] == "completed"]
    jct = [run.received_at[t] - run.submitted_at[t] for t in run.results if t in run.submitted_at]
    span = max(run.last_result - run.first_submit, 1e-9)
    fidelities = [r["metrics"]["est_fidelity"] for r in completed
                  if r["metrics"].get("est_fidelity") is not None]
    done_jct = [(t, (run.received_at[t] - run.submitted_at[t]) * time_scale)
                for t, r in run.results.items() if r["status"] == "completed" and t in run.submitted_at]
    deadlines = deadlines or {}
    late = sum(1 for t, d in deadlines.items()
               if run.results.get(t, {}).get("status") != "completed"
               or (run.received_at[t] - run.submitted_at[t]) * time_scale > d)
    metrics = {
        "throughput_tasks_per_s": len(completed) / (span * time_scale),
        "jct_mean_s": float(np.mean([j for _, j in done_jct])) if done_jct else None,
        "jct_p95_s": _pct([j for _, j in done_jct], 95),
        "makespan_s": span * time_scale,
        "error_rate_mean": 1.0 - float(np.mean(fidelities)) if fidelities else None,
        "cost_usd": float(sum(r["metrics"]["cost_usd"] for r in run.results.values())),
        "deadline_miss_rate": late / len(deadlines) if deadlines else 0.0,
        "reallocations": run.reallocations,
        "hedges": run.hedges,
        "decision_ms_per_subtask": (float(np.mean(run.decision_latency_ms))
                                    if run.decision_latency_ms else None),
        "tasks_completed": len(completed),
        "tasks_failed": len(run.results) - len(completed),
        "subtasks": run.subtasks,
        "anomalies": float(len(run.anomalies)),
        "breaker_opens": float(run.breaker_opens),
    }
    return {
        "policy": policy,
        "time_scale": time_scale,
        "tasks_submitted": n_tasks,
        "tasks_completed": len(completed),
        "tasks_failed": len(run.results) - len(completed),
        "tasks_missing": n_tasks - len(run.results),
        "subtasks": run.subtasks,
        "reallocations": run.reallocations,
        "throughput_tasks_per_s": len(run.results) / span,
        "jct_s": {"p50": _pct(jct, 50), "p95": _pct(jct, 95)},
        "decision_latency_ms": {"p50": _pct(run.decision_latency_ms, 50),
                                "p99": _pct(run.decision_latency_ms, 99)},
        "mean_est_fidelity": float(np.mean(fidelities)) if fidelities else None,
        "cost_usd": float(sum(r["metrics"]["cost_usd"] for r in run.results.values())),
        "backends": dict(sorted(run.executions.items())),
        "problems": problem_summary(run.results.values()),
        "wall_s": span,
        "metrics": metrics,
        "timeline": {"dispatches": run.dispatches, "dispatch_scores": run.dispatch_scores,
                     "calibrations": run.calibrations, "anomalies": run.anomalies},
    }


def problem_summary(results: Any) -> dict[str, Any]:
    """Problem tasks of a run: how many, per algorithm, moves, and their approximation ratios."""
    solutions = [r["solution"] for r in results if r.get("solution")]
    ratios = [s["approximation_ratio"] for s in solutions if s.get("approximation_ratio") is not None]
    return {
        "completed": len(solutions),
        "algorithms": dict(sorted(Counter(s["algorithm"] for s in solutions).items())),
        "iterations": int(sum(s["iterations"] for s in solutions)),
        "moves": int(sum(len(s.get("moves") or ()) for s in solutions)),
        "approximation_ratio": {"mean": float(np.mean(ratios)) if ratios else None,
                                "min": float(min(ratios)) if ratios else None},
    }


def render(summary: dict[str, Any], console: Console) -> None:
    table = Table(title=f"qstream demo — policy {summary['policy']}", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")

    def fmt(v: Any, unit: str = "") -> str:
        return "n/a" if v is None else (f"{v:.3f}{unit}" if isinstance(v, float) else f"{v}{unit}")

    rows = [
        ("tasks completed / failed / submitted",
         f"{summary['tasks_completed']} / {summary['tasks_failed']} / {summary['tasks_submitted']}"),
        ("sub-tasks", fmt(summary["subtasks"])),
        ("throughput", fmt(summary["throughput_tasks_per_s"], " tasks/s")),
        ("JCT p50 / p95", f"{fmt(summary['jct_s']['p50'], ' s')} / {fmt(summary['jct_s']['p95'], ' s')}"),
        ("decision latency p50 / p99",
         f"{fmt(summary['decision_latency_ms']['p50'], ' ms')} / "
         f"{fmt(summary['decision_latency_ms']['p99'], ' ms')}"),
        ("reallocations / hedges",
         f"{fmt(summary['reallocations'])} / {fmt(summary['metrics']['hedges'])}"),
        ("mean est. fidelity", fmt(summary["mean_est_fidelity"])),
        ("total cost", fmt(summary["cost_usd"], " USD")),
    ]
    for name, value in rows:
        table.add_row(name, value)
    for backend, n in summary["backends"].items():
        table.add_row(f"  sub-tasks on {backend}", str(n))
    problems = summary["problems"]
    if problems["completed"]:
        ratio = problems["approximation_ratio"]
        table.add_row("problems solved / loop iterations / moves",
                      f"{problems['completed']} / {problems['iterations']} / {problems['moves']}")
        table.add_row("approximation ratio mean / min",
                      f"{fmt(ratio['mean'])} / {fmt(ratio['min'])}")
        for algorithm, n in problems["algorithms"].items():
            table.add_row(f"  problems solved by {algorithm}", str(n))
    console.print(table)


async def _drive(client: Client, tasks: list[dict[str, Any]], rate_per_s: float,
                 timeout_s: float, console: Console, ready_timeout_s: float,
                 worker: subprocess.Popen[bytes]) -> DemoRun:
    from qstream.stream import topics as T

    run = DemoRun()
    wanted = {t["task_id"] for t in tasks}
    ready = asyncio.Event()
    done = asyncio.Event()
    progress = Progress(TextColumn("[bold]tasks"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                        console=console, transient=False)
    bar = progress.add_task("tasks", total=len(tasks), status="waiting for worker")

    def ours(task_id: Any) -> bool:
        # A problem task's loop steps run as circuit tasks "{task_id}/w{step}".
        return isinstance(task_id, str) and (task_id in wanted
                                             or task_id.rsplit("/w", 1)[0] in wanted)

    async def listen() -> None:
        async for topic, msg in client.stream(T.RESULTS, T.TELEMETRY, T.REALLOCATIONS):
            now = time.time()
            if topic == T.TELEMETRY:
                event = msg.get("event")
                if event == "backend_status":
                    ready.set()
                    cal = msg.get("calibration")
                    seen = [c for _, b, c in run.calibrations if b == msg["backend"]]
                    if cal is not None and (not seen or seen[-1] != cal):
                        run.calibrations.append((now, msg["backend"], cal))
                elif event == "anomaly":
                    run.anomalies.append(msg)
                elif event == "breaker" and msg.get("state") == "open":
                    run.breaker_opens += 1
                elif event == "dispatch" and ours(msg.get("task_id")):
                    run.decision_latency_ms.append(msg["decision_latency_ms"])
                    run.subtasks += 1
                    run.dispatches.append((now, msg["backend"]))
                    run.dispatch_scores.append(msg.get("scores") or [])
                elif event == "execution" and ours(msg.get("task_id")) and msg["success"]:
                    run.executions[msg["backend"]] += 1
            elif topic == T.REALLOCATIONS and msg.get("task_id") in wanted:
                if str(msg.get("reason", "")).startswith("straggler"):
                    run.hedges += 1
                else:
                    run.reallocations += 1
            elif topic == T.RESULTS and msg.get("task_id") in wanted:
                if msg["task_id"] not in run.results:
                    run.results[msg["task_id"]] = msg
                    run.received_at[msg["task_id"]] = now
                    run.last_result = now
                    failed = sum(r["status"] == "failed" for r in run.results.values())
                    progress.update(bar, advance=1, status=f"{failed} failed")
                if len(run.results) == len(wanted):
                    done.set()
                    return

    with progress:
        listener = asyncio.create_task(listen())
        try:
            deadline = time.monotonic() + ready_timeout_s
            while not ready.is_set():
                if worker.poll() is not None:
                    raise QStreamError(f"worker exited with code {worker.returncode} at start")
                if time.monotonic() > deadline:
                    raise QStreamError(f"worker not ready within {ready_timeout_s:.0f} s")
                await asyncio.sleep(0.1)
            progress.update(bar, status="running")
            run.first_submit = time.time()
            for task in tasks:
                run.submitted_at[task["task_id"]] = time.time()
                await client.submit(task)
                await asyncio.sleep(1.0 / rate_per_s if rate_per_s > 0 else 0)
            remaining = timeout_s - (time.time() - run.first_submit)
            try:
                await asyncio.wait_for(done.wait(), max(remaining, 1.0))
            except TimeoutError:
                console.print(f"[red]timed out: {len(wanted) - len(run.results)} tasks "
                              "without a result")
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
    return run


def run_demo(n_tasks: int = 50, *, policy: str | None = None,
             json_path: Path | None = None, results_path: Path | None = None,
             time_scale: float | None = None, rate_per_s: float = 2.0, timeout_s: float = 540.0,
             seed: int = 7, console: Console | None = None,
             secrets_file: Path | None = None, workload: str = "mixed") -> dict[str, Any]:
    """Run the demo end to end and return its summary (see :func:`summarize`).

    ``policy`` and ``time_scale`` default to the worker settings (``$QSTREAM_POLICY``,
    ``$QSTREAM_TIME_SCALE``, then :class:`~qstream.config.WorkerConfig`'s defaults).
    The demo's broker is the embedded one, always PLAINTEXT: ``QSTREAM_KAFKA_*``
    settings are not passed to its worker. ``secrets_file`` is passed on to the worker
    (for its credentials and their redaction from its log).

    Raises
    ------
    QStreamError
        If the settings are invalid, or the broker or the worker cannot start.
    """
    from qstream.broker import EmbeddedBroker
    from qstream.workload import demo_tasks, mixed_tasks

    settings = WorkerConfig.from_env(kafka=KafkaSecurity(), credentials=Credentials(),
                                     policy=policy, time_scale=time_scale)
    policy, time_scale = settings.policy, settings.time_scale
    console = console or Console()
    console.print(f"generating {n_tasks} tasks ({workload}) from MQT Bench ...")
    tasks = (mixed_tasks if workload == "mixed" else demo_tasks)(n_tasks, seed=seed)
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory(prefix="qstream-demo-") as tmp:
        console.print(f"embedded broker (tansu) at {broker.bootstrap}")
        log_path = Path(os.environ.get("QSTREAM_DEMO_LOG", Path(tmp) / "worker.log"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("QSTREAM_KAFKA_")}
        extra = ["--secrets-file", str(secrets_file)] if secrets_file is not None else []
        with open(log_path, "wb") as log_file:
            worker = subprocess.Popen(
                [sys.executable, "-m", "qstream", "worker", "--broker", broker.url,
                 "--policy", policy, "--time-scale", str(time_scale), "--seed", str(seed),
                 *extra],
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, env=env)
            try:
                run = asyncio.run(_run_client(broker.url, tasks, rate_per_s, timeout_s,
                                              console, worker))
            finally:
                _stop(worker)
        if worker.returncode not in (0, -signal.SIGTERM) and len(run.results) < n_tasks:
            console.print(Path(log_path).read_text(errors="replace")[-3000:])
    deadlines = {t["task_id"]: float(t["deadline_s"]) for t in tasks if "deadline_s" in t}
    summary = summarize(run, n_tasks, policy, time_scale, deadlines)
    render(summary, console)
    if json_path is not None:
        json_path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    if results_path is not None:
        with open(results_path, "wb") as fh:
            for task_id in sorted(run.results):
                fh.write(orjson.dumps(run.results[task_id]) + b"\n")
    return summary


async def _run_client(url: str, tasks: list[dict[str, Any]], rate_per_s: float,
                      timeout_s: float, console: Console,
                      worker: subprocess.Popen[bytes]) -> DemoRun:
    from qstream.client import Client
    from qstream.stream import topics as T

    public = [T.TopicSpec(name) for name in
              (T.TASKS, T.RESULTS, T.DLQ, T.TELEMETRY, T.REALLOCATIONS)]
    await T.ensure_topics(url.split("://", 1)[1], public)
    async with Client(url) as client:
        return await _drive(client, tasks, rate_per_s, timeout_s, console,
                            ready_timeout_s=120.0, worker=worker)


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout_s)
