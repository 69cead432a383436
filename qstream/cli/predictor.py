"""``qstream predictor ...``: evaluate qstream's predictors on a user's job trace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qstream.cli._common import console as _err
from qstream.cli._common import fail
from qstream.errors import ConfigError, QStreamError

app = typer.Typer(name="predictor", add_completion=False, no_args_is_help=True,
                  help="Evaluate the queue-wait and run-time predictors on a job trace.")
#: Skipped rows printed one by one; the rest are counted (all are in --json).
_MAX_WARNINGS = 20
_TARGETS = ("run_s", "queue_s")


@app.callback()
def _predictor() -> None:
    """Evaluate the queue-wait and run-time predictors on a job trace."""


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{100.0 * value:.1f}%"
    if kind == "int":
        return str(int(value))
    return f"{value:.4g}" if kind == "g" else f"{value:.1f}"


_COLUMNS = (("n", "n", "int"), ("mae_s", "MAE s", "g"), ("median_ape", "median APE", "pct"),
            ("within_20pct", "within 20%", "pct"), ("off_by_2x", "off by 2x", "pct"),
            ("interval_coverage", "80% PI cover", "pct"), ("learn_predict_us", "µs/event", "f"))


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"{report['target']} on {report['trace']}: prequential, "
                        f"warm-up {report['warmup']} scored rows")
    table.add_column("window")
    table.add_column("model")
    for _, title, _kind in _COLUMNS:
        table.add_column(title, justify="right")
    for window in ("second_half", "all_after_warmup"):
        for name, metrics in report[window].items():
            table.add_row(window.replace("_", " "), name,
                          *(_fmt(metrics.get(key), kind) for key, _, kind in _COLUMNS))
    hgb = report["second_half"].get("offline_hgb")
    notes = []
    if hgb is not None:
        if hgb.get("skipped"):
            notes.append(f"offline_hgb not fitted: {hgb['skipped']}")
        else:
            notes.append(f"offline_hgb: fit {hgb['fit_s']:.2f} s on {hgb['n_train']} labels; µs/event is "
                         f"batch predict per row ({hgb['predict_one_us']:.0f} µs one row at a time)")
    if report["n_completion_time_assumed"]:
        notes.append(f"{report['n_completion_time_assumed']} run_s labels without queue_s learned at "
                     "submitted_at + run_s (a lower bound)")
    unknown = report["rows_unknown_features"]
    if unknown["n"]:
        notes.append(f"{unknown['n']} rows with unknown shots, num_qubits or depth: {unknown['used']} "
                     f"used (predicted from the known features), {unknown['learned_only']} learned "
                     f"only, {unknown['skipped']} skipped (no {report['target']})")
    table.caption = "\n".join(notes) or None
    return table


@app.command("eval")
def eval_trace(
    trace: Annotated[Path, typer.Option("--trace", help="job-trace CSV (see qstream/core/trace.py)")],
    target: Annotated[str, typer.Option(help="run_s | queue_s")] = "run_s",
    warmup: Annotated[int, typer.Option(min=0, help="first N scored rows left out of the metrics")] = 0,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the report as JSON")] = None,
) -> None:
    """Replay a job trace in time order: predict each job at submission, learn each
    label only once it could have been observed; compare qstream's online model
    with the running median, the last value known on the backend and an offline
    gradient-boosted baseline.
    """
    if target not in _TARGETS:
        raise typer.BadParameter(f"unknown target {target!r}; choose run_s or queue_s",
                                 param_hint="--target")
    # Heavy imports (river, numpy, scikit-learn) only when the command runs.
    from qstream.core.trace import read_trace
    from qstream.core.trace_eval import Target, evaluate_trace
    from qstream.offline_model import HGBBaseline

    try:
        read = read_trace(trace)
        for err in read.errors[:_MAX_WARNINGS]:
            _err.print(f"[yellow]warning:[/yellow] {escape(str(trace))}:{err.line}: skipped: "
                       f"{escape(err.reason)}", highlight=False)
        if len(read.errors) > _MAX_WARNINGS:
            _err.print(f"[yellow]warning:[/yellow] ... and {len(read.errors) - _MAX_WARNINGS} more "
                       "skipped rows" + (" (all in --json)" if json_path else ""))
        evaluation = evaluate_trace(read.jobs, cast(Target, target), warmup=warmup,
                                    offline=HGBBaseline(), columns=read.columns)
        report = evaluation.report(read, str(trace))
        if json_path is not None:
            try:
                json_path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
            except OSError as exc:
                raise ConfigError(f"cannot write {json_path}: {exc.strerror or exc}") from exc
    except QStreamError as exc:
        fail(exc)
    out = Console()
    if not out.is_terminal:  # piped or captured: do not wrap at rich's default 80 columns
        out = Console(width=160)
    out.print(_table(report))


_KINDS = ("pending-jobs", "regime-change")


@app.command("make-trace")
def make_trace(
    out: Annotated[Path, typer.Option("--out", help="trace CSV to write")],
    kind: Annotated[str, typer.Option(help="pending-jobs | regime-change")] = "pending-jobs",
    jobs: Annotated[int, typer.Option(min=1, help="jobs in the trace")] = 4000,
    seed: Annotated[int, typer.Option(help="seed of every draw")] = 0,
    unknown_share: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="share of rows with empty shots, num_qubits and depth")] = 1.0 / 3.0,
    regime_backend: Annotated[str, typer.Option(
        help="regime-change: the backend whose queue jumps")] = "ibm_hanoi",
    regime_factor: Annotated[float, typer.Option(help="regime-change: the jump factor")] = 10.0,
) -> None:
    """Write a job trace built from the real IBM pending-jobs series (2023-11).

    pending-jobs: every backend of the series, queue wait behind its real pending
    jobs. regime-change: the same on four backends, and from mid-trace on the
    regime backend's queue is REGIME_FACTOR times longer. Reproducible from
    the arguments; see qstream/core/trace_synth.py.
    """
    if kind not in _KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}; choose {' or '.join(_KINDS)}",
                                 param_hint="--kind")
    from qstream.core.trace import write_trace
    from qstream.core.trace_synth import pending_jobs_trace

    try:
        if kind == "pending-jobs":
            trace = pending_jobs_trace(jobs, seed=seed, unknown_share=unknown_share)
        else:
            others = tuple(b for b in REGIME_OTHERS if b != regime_backend)[:3]
            trace = pending_jobs_trace(jobs, seed=seed, unknown_share=unknown_share,
                                       backends=(regime_backend, *others),
                                       regime_backend=regime_backend, regime_factor=regime_factor)
        n = write_trace(trace, out)
    except QStreamError as exc:
        fail(exc)
    _err.print(f"wrote {n} jobs to {escape(str(out))}", highlight=False)


#: The other backends of a regime-change trace (three are used): quiet to busy queues.
REGIME_OTHERS = ("ibm_algiers", "ibm_cairo", "ibm_nazca", "ibm_brisbane")
