"""``qstream simulate``: the discrete-event simulator from the command line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from qstream.cli._common import console, fail
from qstream.core.policies import POLICY_NAMES
from qstream.errors import QStreamError

app = typer.Typer()
out = Console(width=220)


def _names(value: str, valid: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise typer.BadParameter(f"unknown {what} {', '.join(bad) or '(none)'}; "
                                 f"choose from {', '.join(valid)}")
    return names


def _floats(value: str, what: str) -> tuple[float, ...]:
    try:
        xs = tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"{what} must be comma-separated numbers, got {value!r}") from None
    if not xs or not all(math.isfinite(x) and x > 0 for x in xs):
        raise typer.BadParameter(f"{what} must be positive numbers, got {value!r}")
    return xs


def _fault(value: str, kind: str) -> tuple[str, str, float, float, float]:
    parts = value.split(":")
    factored = kind in ("slowdown", "drift", "fail")
    want = 4 if factored else 3
    if len(parts) != want:
        shape = "BACKEND:START:END:FACTOR" if factored else "BACKEND:START:END"
        raise typer.BadParameter(f"--{kind} takes {shape} (START/END as fractions of the "
                                 f"arrival span), got {value!r}")
    try:
        nums = [float(p) for p in parts[1:]]
    except ValueError:
        raise typer.BadParameter(f"--{kind} {value!r}: START, END (and FACTOR) must be numbers") \
            from None
    return (kind, parts[0], nums[0], nums[1], nums[2] if factored else 1.0)


SHOWN: tuple[tuple[str, str], ...] = (
    ("throughput_tasks_per_s", "tasks/s"), ("jct_mean_s", "JCT mean s"), ("jct_p95_s", "JCT p95 s"),
    ("makespan_s", "makespan s"), ("error_rate_mean", "error"), ("cost_usd", "cost USD"),
    ("deadline_miss_rate", "deadline miss"), ("reallocations", "reallocs"), ("hedges", "hedges"),
    ("decision_ms_per_subtask", "decision ms"), ("anomalies", "anomalies"),
    ("breaker_opens", "breaker opens"),
)


def fmt_pm(ci: dict[str, float], digits: int = 3) -> str:
    """``mean ±half-width`` of a 95% CI."""
    if ci["n"] == 0 or math.isnan(ci["mean"]):
        return "n/a"
    return f"{ci['mean']:.{digits}g} ±{(ci['hi'] - ci['lo']) / 2:.2g}"


def summary_table(summary: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("policy", no_wrap=True)
    for _, label in SHOWN:
        table.add_column(label, justify="right", no_wrap=True)
    for row in summary:
        table.add_row(row["policy"], *(fmt_pm(row["metrics"][m]) for m, _ in SHOWN))
    return table


@app.command()
def simulate(
    policy: Annotated[str, typer.Option(help="comma-separated policies (default: all eight)")] =
        ",".join(POLICY_NAMES),
    load: Annotated[str, typer.Option(help="load factor(s), comma-separated; ignored for --trace")] =
        "0.95",
    tasks: Annotated[int, typer.Option(min=1, help="tasks per run (MQT Bench mix)")] = 1000,
    seeds: Annotated[int, typer.Option(min=1, help="seeds 0..N-1; figures are mean and 95% CI")] = 5,
    arrival: Annotated[str, typer.Option(help="poisson | bursty")] = "poisson",
    trace: Annotated[Path | None, typer.Option(help="job-trace CSV to replay instead of the MQT mix",
                                               exists=True, dir_okay=False)] = None,
    drift: Annotated[bool, typer.Option(help="replay ibm_perth calibration drift")] = False,
    outage: Annotated[list[str] | None, typer.Option(
        help="BACKEND:START:END, START/END fractions of the arrival span (repeatable)")] = None,
    slowdown: Annotated[list[str] | None, typer.Option(
        help="BACKEND:START:END:FACTOR (repeatable)")] = None,
    drift_step: Annotated[list[str] | None, typer.Option(
        help="BACKEND:START:END:FACTOR: unannounced step of the gate and readout errors "
             "x FACTOR (repeatable)")] = None,
    fail_burst: Annotated[list[str] | None, typer.Option(
        "--fail", help="BACKEND:START:END:PROB: failure burst, each execution finishing in it fails "
             "with probability PROB (repeatable)")] = None,
    detectors: Annotated[bool, typer.Option(
        help="run the anomaly detectors and their actions (lower placement, open the "
             "breaker), as the live learn agent")] = True,
    fleet: Annotated[str | None, typer.Option(help="comma-separated backend names")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="write rows and summary as JSON")] =
        None,
    samples: Annotated[bool, typer.Option(help="also write per-task JCTs and predicted/actual "
                                               "device times in the JSON")] = False,
    trace_out: Annotated[Path | None, typer.Option(
        help="write the executions of the first policy, first seed and first load as a "
             "job-trace CSV (input for `qstream predictor eval`)")] = None,
) -> None:
    """Run policies in the discrete-event simulator and print mean [95% CI] per metric."""
    from qstream.backends.fleet import fleet_specs
    from qstream.sim.experiment import Scenario, run_scenario

    policies = _names(policy, POLICY_NAMES, "policy")
    loads = _floats(load, "--load")
    if arrival not in ("poisson", "bursty"):
        raise typer.BadParameter(f"--arrival must be poisson or bursty, got {arrival!r}")
    faults = tuple(_fault(v, "outage") for v in outage or ()) + tuple(
        _fault(v, "slowdown") for v in slowdown or ()) + tuple(
        _fault(v, "drift") for v in drift_step or ()) + tuple(
        _fault(v, "fail") for v in fail_burst or ())
    try:
        specs = fleet_specs([n.strip() for n in fleet.split(",")] if fleet else None)
        jobs: tuple[Any, ...] = ()
        if trace is not None:
            from qstream.core.trace import read_trace

            read = read_trace(trace)
            for err in read.errors:
                console.print(f"[yellow]warning:[/yellow] {trace}:{err.line}: {err.reason} (skipped)")
            jobs = tuple(read.jobs)
            loads = (1.0,)
        results: dict[str, Any] = {"rows": [], "summary": []}
        for lf in loads:
            scenario = Scenario(name="trace" if jobs else "mqt", load=lf, tasks=tasks,
                                arrival=arrival, drift=drift, faults=faults,  # type: ignore[arg-type]
                                trace=jobs, detectors=detectors)

            def keep(row: dict[str, Any], result: Any) -> None:
                if samples:
                    row["jct_s"] = result.jct_s
                    row["pred_actual_s"] = result.pred_actual_s

            res = run_scenario(scenario, specs, policies=policies, seeds=range(seeds), keep=keep,
                               progress=lambda msg: console.print(f"[dim]{msg}"))
            results["rows"].extend(res["rows"])
            results["summary"].extend(res["summary"])
            out.print(summary_table(res["summary"],
                                    f"load {lf} — mean [95% CI] over {seeds} seed(s)"))
        if trace_out is not None:
            _export_trace(trace_out, specs, policies[0], loads[0], tasks, arrival, drift, faults,
                          jobs)
    except QStreamError as exc:
        fail(exc)
    if json_path is not None:
        json_path.write_bytes(orjson.dumps(results, option=orjson.OPT_SERIALIZE_NUMPY))
        console.print(f"wrote {json_path}")


def _export_trace(path: Path, specs: Any, policy: str, load: float, tasks: int, arrival: str,
                  drift: bool, faults: Any, jobs: Any) -> None:
    from qstream.core.trace import write_trace
    from qstream.sim.experiment import Scenario, prepare, run_simulation

    scenario = Scenario(load=load, tasks=tasks, arrival=arrival, drift=drift,  # type: ignore[arg-type]
                        faults=faults, trace=jobs)
    _, _, sim = run_simulation(prepare(scenario, specs, 0), policy)
    n = write_trace(sim.trace_jobs(), path)
    console.print(f"wrote {n} jobs ({policy}, seed 0, load {load}) to {path}")
