"""``qstream status``: the SLIs of a running deployment, live in the terminal.

It reads the public topics (telemetry, results, reallocations) without a consumer
group, feeds :class:`~qstream.core.sli.SLIAggregator` and shows fleet-wide SLIs
and one row per backend, refreshed every ``--interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from qstream.cli._common import BrokerOpt, broker_url, fail, secrets
from qstream.config import KafkaSecurity
from qstream.errors import QStreamError

app = typer.Typer()


def fmt_duration(value_s: float | None) -> str:
    """Seconds as a short human string: ``0.42 s``, ``12.0 s``, ``3.5 min``, ``2.1 h``, ``907 d``.

    >>> fmt_duration(None), fmt_duration(0.42), fmt_duration(210), fmt_duration(7.8e7)
    ('-', '0.42 s', '3.5 min', '903 d')
    """
    if value_s is None:
        return "-"
    if value_s < 10:
        return f"{value_s:.2f} s"
    if value_s < 120:
        return f"{value_s:.1f} s"
    if value_s < 7200:
        return f"{value_s / 60:.1f} min"
    if value_s < 172800:
        return f"{value_s / 3600:.1f} h"
    return f"{value_s / 86400:.0f} d"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.1f}%"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render(snap: dict[str, Any], source: str = "") -> Group:
    """The fleet table and the per-backend table of a :meth:`SLIAggregator.snapshot`."""
    t, ex, shots = snap["tasks"], snap["executions"], snap["shots"]
    jct, queue, cost = snap["jct_s"], snap["queue_wait_s"], snap["cost_usd"]
    fleet = Table(title=f"qstream SLIs{' at ' + source if source else ''}", show_header=True)
    fleet.add_column("SLI")
    fleet.add_column("value", justify="right")
    fleet.add_column("detail")
    realloc = sum(snap["reallocations"].values())
    rows = [
        ("job success rate", _pct(t["success_rate"]),
         f"{t['completed']} completed, {t['failed']} failed"),
        ("JCT p50 / p95", f"{fmt_duration(jct['p50'])} / {fmt_duration(jct['p95'])}",
         f"{jct['count']} tasks, wall time"),
        ("queue wait p50 / p95", f"{fmt_duration(queue['p50'])} / {fmt_duration(queue['p95'])}",
         f"{queue['count']} executions, backend time"),
        ("retry rate", _pct(ex["retry_rate"]),
         f"{ex['retries']} retries, {ex['total']} executions ({ex['failed']} failed), "
         f"{ex['failovers']} failovers"),
        ("shot utilisation", _pct(shots["utilization"]),
         f"{shots['delivered']} delivered / {shots['executed']} executed"),
        ("cost per task (mean, p95)", f"{_usd(cost['mean'])} USD",
         f"p95 {_usd(cost['p95'])} USD, total {_usd(cost['sum'])} USD"),
        ("reallocations", str(realloc),
         ", ".join(f"{k}: {v}" for k, v in snap["reallocations"].items()) or "-"),
    ]
    for row in rows:
        fleet.add_row(*row)
    per = Table(title="per backend")
    for col, justify in (("backend", "left"), ("exec", "right"), ("failed", "right"),
                         ("retries", "right"), ("queue p50", "right"), ("queue p95", "right"),
                         ("pred. err run", "right"), ("pred. err queue", "right"),
                         ("calib. age", "right"), ("cost USD", "right"), ("pending", "right"),
                         ("anomalies", "left"), ("state", "left")):
        per.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, b in snap["backends"].items():
        state = b["breaker"] or ("-" if b["operational"] is None else "")
        if b["operational"] is False:
            state = f"{state} down".strip()
        elif b["operational"] and not b["breaker"]:
            state = "up"
        pe = b["predictor_error"]
        last = b.get("last_anomaly")
        anomalies = (f"{b['anomalies']} (last {last['signal']} z={last['score']:.1f}, "
                     f"{last['action']})" if last else str(b.get("anomalies", 0)))
        per.add_row(name, str(b["executions"]), str(b["failed"]), str(b["retries"]),
                    fmt_duration(b["queue_wait_s"]["p50"]), fmt_duration(b["queue_wait_s"]["p95"]),
                    _pct(pe["run_s"]["p50"]), _pct(pe["queue_s"]["p50"]),
                    fmt_duration(b["calibration_age_s"]), _usd(b["cost_usd"]),
                    "-" if b["pending_jobs"] is None else str(b["pending_jobs"]), anomalies,
                    state)
    per.caption = ("pred. err: median |predicted - actual| / actual of the dispatch-time "
                   "prediction; queue times in backend (emulated) seconds")
    tenants = snap.get("tenants") or {}
    if not tenants:
        return Group(fleet, per)
    by_tenant = Table(title="spend per tenant")
    for col, justify in (("tenant", "left"), ("tasks", "right"), ("failed", "right"),
                         ("spend USD", "right")):
        by_tenant.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, t in tenants.items():
        by_tenant.add_row(name, str(int(t["tasks"])), str(int(t["failed"])), _usd(t["spend_usd"]))
    return Group(fleet, per, by_tenant)


def _dump(snap: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(snap).decode() + "\n")
    sys.stdout.flush()


@app.command()
def status(
    broker: BrokerOpt = None,
    interval: Annotated[float, typer.Option(min=0.1, help="refresh period, seconds")] = 2.0,
    once: Annotated[bool, typer.Option(
        "--once", help="read up to the current end of the topics, print one snapshot, exit")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print snapshots as JSON (one object per line) instead of tables")] = False,
    from_now: Annotated[bool, typer.Option(
        "--from-now", help="ignore the history: count only messages from now on")] = False,
    timeout_s: Annotated[float, typer.Option(
        "--timeout-s", min=0.1, help="seconds to wait for the broker to answer")] = 10.0,
    secrets_file: Annotated[Path | None, typer.Option(
        "--secrets-file", help="TOML secrets file (Kafka SASL password); SASL/TLS settings "
                               "come from QSTREAM_KAFKA_* variables")] = None,
) -> None:
    """Show the SLIs (success rate, JCT, queue wait, retries, shot utilisation, calibration
    age, cost, predictor error) of the deployment on BROKER, live; Ctrl-C stops.
    """
    from qstream.core.sli import SLIAggregator
    from qstream.stream import sli_reader
    from qstream.stream.worker import resolve_broker

    # aiokafka logs every failed connection attempt; the error below says it once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    sli = SLIAggregator()
    found = secrets(secrets_file)
    broker = broker_url(broker)
    try:
        kafka = KafkaSecurity.from_env(found)
        url = resolve_broker(broker, timeout_s, kafka=kafka)
        if once:
            asyncio.run(sli_reader.read_to_end(url, sli, from_now=from_now, timeout_s=timeout_s,
                                               kafka=kafka))
            snap = sli.snapshot(time.time())
            if as_json:
                _dump(snap)
            else:
                Console(width=200).print(render(snap, broker))
            return
        if as_json:
            asyncio.run(sli_reader.follow(url, sli, lambda: _dump(sli.snapshot(time.time())),
                                          interval_s=interval, from_now=from_now,
                                          timeout_s=timeout_s, kafka=kafka))
            return
        out = Console()
        with Live(render(sli.snapshot(time.time()), broker), console=out,
                  auto_refresh=False) as live:
            def tick() -> None:
                live.update(render(sli.snapshot(time.time()), broker), refresh=True)
            asyncio.run(sli_reader.follow(url, sli, tick, interval_s=interval,
                                          from_now=from_now, timeout_s=timeout_s,
                                          kafka=kafka))
    except QStreamError as exc:
        fail(exc)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None

