"""The catalogue of qstream's metrics: names, instruments, units, attributes, definitions.

One table is the single source for the OpenTelemetry instruments
(:mod:`qstream.stream.metrics`), the samples :class:`~qstream.core.sli.SLIAggregator`
emits and the README's list. Names and units follow the OpenTelemetry semantic
conventions' naming guidelines: dot-separated lowercase names, UCUM units
(``s``, ``1`` for ratios, ``{shot}`` annotations for counts, ``USD`` for money as
an annotation-free custom unit), no unit in the name.

The SLIs themselves come from SRE practice: success rate and latency
distributions (Beyer et al., *Site Reliability Engineering*, O'Reilly 2016,
ch. 4 "Service Level Objectives"), plus the hybrid quantum-classical ones the
design names (calibration freshness, shot utilisation, cost per job).

Examples
--------
>>> METRICS["qstream.task.jct"].unit, METRICS["qstream.task.jct"].instrument
('s', 'histogram')
>>> sorted(m.name for m in METRICS.values() if m.instrument == "gauge")[:2]
['qstream.backend.calibration_age', 'qstream.execution.retry_rate']
"""

from __future__ import annotations

from dataclasses import dataclass

from qstream.core.distribution import RATIO_BOUNDS, SECONDS_BOUNDS, USD_BOUNDS


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric.

    Attributes
    ----------
    name:
        OpenTelemetry instrument name.
    instrument:
        ``counter`` (monotonic sum), ``histogram`` or ``gauge`` (observed at
        collection time from the aggregator's state).
    unit:
        UCUM unit string.
    attributes:
        Attribute keys every sample carries.
    description:
        What one sample measures.
    bounds:
        Explicit histogram bucket bounds (histograms only), in ``unit``.
    """

    name: str
    instrument: str
    unit: str
    attributes: tuple[str, ...]
    description: str
    bounds: tuple[float, ...] = ()


_ALL = (
    MetricSpec("qstream.tasks", "counter", "{task}", ("status",),
               "Tasks finished: one per task's first result message, status completed|failed."),
    MetricSpec("qstream.task.jct", "histogram", "s", ("status",),
               "Job completion time: submission to result (result metrics.jct_s), wall seconds.",
               SECONDS_BOUNDS),
    MetricSpec("qstream.task.cost", "histogram", "USD", ("status",),
               "Money a task spent on every backend part it used (result metrics.cost_usd).",
               USD_BOUNDS),
    MetricSpec("qstream.tenant.spend_usd", "counter", "USD", ("tenant",),
               "Money spent per tenant: each result's metrics.cost_usd under its tenant."),
    MetricSpec("qstream.executions", "counter", "{execution}", ("backend", "outcome"),
               "Executions of sub-tasks (one per execution telemetry event, deduplicated by "
               "sub-task, attempt and backend), outcome success|failed."),
    MetricSpec("qstream.subtask.queue_wait", "histogram", "s", ("backend",),
               "Device queue wait of each successful execution (telemetry queue_s), the "
               "backend's emulated seconds (wall seconds x time scale on emulated devices).",
               SECONDS_BOUNDS),
    MetricSpec("qstream.execution.retries", "counter", "{retry}", ("backend",),
               "Tries that failed transiently and were retried on the same backend "
               "(retry telemetry events)."),
    MetricSpec("qstream.execution.failovers", "counter", "{failover}", ("backend",),
               "Sub-tasks placed again elsewhere after failing on backend (failover events)."),
    MetricSpec("qstream.reallocations", "counter", "{reallocation}", ("reason",),
               "Reallocation decisions: reason 'straggler' for hedges, else the given reason."),
    MetricSpec("qstream.shots.executed", "counter", "{shot}", ("backend", "outcome"),
               "Shots of every execution: hedge losers, duplicates and failed ones included."),
    MetricSpec("qstream.shots.delivered", "counter", "{shot}", (),
               "Shots in the results of completed tasks (sum of results[].shots)."),
    MetricSpec("qstream.predictor.error", "histogram", "1", ("backend", "target"),
               "Relative error |predicted - actual| / actual of the dispatch-time prediction for "
               "the backend a sub-task ran on; target run_s|queue_s.", RATIO_BOUNDS),
    MetricSpec("qstream.anomalies", "counter", "{anomaly}", ("backend", "signal"),
               "Sustained anomalies found by the online detectors (anomaly telemetry events; "
               "signal run_s|queue_s|error|failure; detectors in qstream/core/anomaly.py)."),
    MetricSpec("qstream.task.success_rate", "gauge", "1", (),
               "completed / (completed + failed) over every task result seen."),
    MetricSpec("qstream.execution.retry_rate", "gauge", "1", (),
               "retries / tries, tries = executions + retries."),
    MetricSpec("qstream.shots.utilization", "gauge", "1", (),
               "shots delivered / shots executed."),
    MetricSpec("qstream.backend.calibration_age", "gauge", "s", ("backend",),
               "Seconds since the backend's calibration snapshot (backend_status "
               "calibration_age_s, aged by the time since the event)."),
)

METRICS: dict[str, MetricSpec] = {m.name: m for m in _ALL}
"""Every metric by name (insertion order is the README's order)."""
