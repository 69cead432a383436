"""Service level indicators of a qstream deployment, from its public messages alone.

:class:`SLIAggregator` is fed the messages qstream publishes, as decoded dicts:
``qstream.telemetry.v1`` events, ``qstream.result.v1`` results and
``qstream.reallocation.v1`` decisions. It keeps the SLIs the design asks for and
returns, per message, the metric samples of :data:`~qstream.core.metric_catalog.METRICS`
that the message yields, so the OpenTelemetry edge and ``qstream status`` share
one definition.

Definitions (``now_s`` and every ``at`` are seconds since the Unix epoch):

- **Job success rate** = completed / (completed + failed) over the first result
  of each task id (Beyer et al., *Site Reliability Engineering*, 2016, ch. 4:
  availability as the ratio of good to total events).
- **JCT** (result ``metrics.jct_s``, wall seconds) and **queue wait** (execution
  ``queue_s`` of successful executions, the backend's emulated seconds)
  distributions: explicit-bucket histograms and p50/p95 (ch. 4 recommends
  percentiles over means for latency SLIs).
- **Retry rate** = retries / tries, where every ``retry`` event is one failed try
  that was retried and every ``execution`` event ends the tries of one placement,
  so tries = executions + retries; in [0, 1].
- **Shot utilisation** = shots delivered / shots executed. Delivered: the sum of
  ``results[].shots`` of *completed* results. Executed: the ``shots`` of every
  execution event, successful or failed, hedge losers and duplicate executions
  (a redelivered sub-task that ran twice under a new attempt) included. Shots of
  transient tries that were retried are not counted: retry events carry no shot
  count (the emulated faults fail before running). While tasks are in flight
  their executed shots are counted and their delivered ones not yet, so the
  ratio is only final when the system is idle. In [0, 1] then.
- **Calibration age** per backend = the latest ``backend_status``
  ``calibration_age_s`` plus ``now_s - at`` (seconds); None when the backend
  reports none (simulators have no calibration).
- **Cost per task**: result ``metrics.cost_usd`` (USD), failed tasks included.
- **Spend per tenant**: the sum of result ``metrics.cost_usd`` by result ``tenant``
  (``default`` when absent), USD.
- **Predictor error** per backend and target (``run_s``, ``queue_s``): relative
  error |predicted - actual| / actual. The prediction is the one the ``dispatch``
  event scored *for the backend the execution ran on*: dispatch events carry the
  scores of every capable backend, so a sub-task moved by a reallocation, a hedge
  or a failover is still matched, against the prediction made at dispatch time
  (later re-scorings are not published). An execution event's own ``predicted``
  field, when not null, takes precedence. Executions whose dispatch event was not
  seen (read from the middle of the topic, evicted, or dispatched by another
  process) and actual values of 0 (relative error undefined) are skipped.

Memory is bounded: the join state (predictions per sub-task) and the
deduplication keys keep the ``max_tracked`` most recent entries each (FIFO
eviction), quantiles use the last ``window`` values, and at most ``max_backends``
backends are tracked.

Examples
--------
>>> agg = SLIAggregator()
>>> _ = agg.observe({"schema": "qstream.telemetry.v1", "event": "dispatch", "at": 0.0,
...     "subtask_id": "t/0", "task_id": "t", "backend": "a", "decision_latency_ms": 1.0,
...     "scores": [{"backend": "a", "queue_s": 10.0, "run_s": 2.0}]})
>>> samples = agg.observe({"schema": "qstream.telemetry.v1", "event": "execution", "at": 1.0,
...     "backend": "a", "subtask_id": "t/0", "task_id": "t", "attempt": 0, "shots": 100,
...     "success": True, "queue_s": 8.0, "run_s": 2.5, "price_usd": 0.5})
>>> [(s.name, s.value, s.attributes.get("target")) for s in samples if "predictor" in s.name]
[('qstream.predictor.error', 0.25, 'queue_s'), ('qstream.predictor.error', 0.2, 'run_s')]
>>> _ = agg.observe({"schema": "qstream.result.v1", "task_id": "t", "status": "completed",
...     "results": [{"name": "c", "shots": 100}], "error": None,
...     "metrics": {"cost_usd": 0.5, "jct_s": 3.0}})
>>> agg.success_rate(), agg.shot_utilization(), agg.retry_rate()
(1.0, 1.0, 0.0)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from qstream.core.distribution import RATIO_BOUNDS, SECONDS_BOUNDS, USD_BOUNDS, Distribution
from qstream.errors import ConfigError

TARGETS = ("queue_s", "run_s")
"""Predicted quantities whose error is tracked."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement for the metric ``name`` (see :data:`~qstream.core.metric_catalog.METRICS`).

    Attributes
    ----------
    name:
        Metric name.
    value:
        Counter increment or histogram value, in the metric's unit.
    attributes:
        Attribute key -> value.
    """

    name: str
    value: float
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class BackendSLI:
    """What the aggregator knows about one backend.

    Counts are events seen; ``cost_usd`` is the sum of ``price_usd`` of its
    successful executions, USD; ``calibration_age_s`` is as reported at ``status_at``.
    """

    executions: int = 0
    failed: int = 0
    retries: int = 0
    failovers: int = 0
    shots_executed: int = 0
    cost_usd: float = 0.0
    queue_wait: Distribution = field(default_factory=lambda: Distribution(SECONDS_BOUNDS))
    predictor_error: dict[str, Distribution] = field(
        default_factory=lambda: {t: Distribution(RATIO_BOUNDS) for t in TARGETS})
    calibration_age_s: float | None = None
    status_at: float | None = None
    pending_jobs: int | None = None
    operational: bool | None = None
    breaker: str | None = None
    anomalies: int = 0
    last_anomaly: dict[str, Any] | None = None


class _Bounded:
    """An insertion-ordered set of at most ``cap`` keys; the oldest is evicted first."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.keys: OrderedDict[Hashable, Any] = OrderedDict()

    def add(self, key: Hashable, value: Any = None) -> bool:
        """Insert ``key``; False if it was already there."""
        if key in self.keys:
            return False
        self.keys[key] = value
        while len(self.keys) > self.cap:
            self.keys.popitem(last=False)
        return True


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def relative_error(predicted: float, actual: float) -> float | None:
    """|predicted - actual| / actual; None when ``actual <= 0`` or either is not finite.

    Examples
    --------
    >>> relative_error(12.0, 10.0)
    0.2
    >>> relative_error(1.0, 0.0) is None
    True
    """
    if not (math.isfinite(predicted) and math.isfinite(actual)) or actual <= 0:
        return None
    return abs(predicted - actual) / actual


class SLIAggregator:
    """Fleet-wide and per-backend SLIs from qstream's public messages (see module docstring).

    Parameters
    ----------
    window:
        Values the p50/p95 quantiles use, most recent first (>= 1).
    max_tracked:
        Entries kept in each join/deduplication map (>= 1).
    max_backends:
        Backends tracked; events of further backends are ignored (>= 1).

    Raises
    ------
    ConfigError
        If a limit is below 1.
    """

    def __init__(self, *, window: int = 10_000, max_tracked: int = 50_000,
                 max_backends: int = 256) -> None:
        if min(window, max_tracked, max_backends) < 1:
            raise ConfigError("window, max_tracked and max_backends must be >= 1")
        self.window = window
        self.max_backends = max_backends
        self.completed = 0
        self.failed = 0
        self.executions = 0
        self.failed_executions = 0
        self.retries = 0
        self.failovers = 0
        self.shots_executed = 0
        self.shots_delivered = 0
        self.reallocations: dict[str, int] = {}
        self.jct = Distribution(SECONDS_BOUNDS, window)
        self.queue_wait = Distribution(SECONDS_BOUNDS, window)
        self.cost = Distribution(USD_BOUNDS, window)
        self.backends: dict[str, BackendSLI] = {}
        self.messages: dict[str, int] = {}
        self._results = _Bounded(max_tracked)
        self._executions = _Bounded(max_tracked)
        self._retries = _Bounded(max_tracked)
        self._failovers = _Bounded(max_tracked)
        self._predictions = _Bounded(max_tracked)  # subtask_id -> {backend: {target: s}}
        # tenant -> {"tasks", "failed", "spend_usd"} from results (at most max_backends tenants).
        self.tenants: dict[str, dict[str, float]] = {}

    # -- ingestion -----------------------------------------------------------------------
    def observe(self, message: dict[str, Any]) -> list[Sample]:
        """Take one message; return the metric samples it yields (empty if none).

        Unknown schemas and events are counted under ``messages["ignored"]``; a
        message missing a field it needs is ignored the same way (the aggregator
        never raises on input, because a monitor must survive anything on a topic).
        """
        kind = str(message.get("schema", ""))
        if kind == "qstream.telemetry.v1":
            kind = f"telemetry.{message.get('event')}"
        handler = _HANDLERS.get(kind)
        if handler is None:
            self._count("ignored")
            return []
        try:
            samples = handler(self, message)
        except (KeyError, TypeError, ValueError):
            self._count("ignored")
            return []
        self._count(kind)
        return samples

    def _count(self, kind: str) -> None:
        self.messages[kind] = self.messages.get(kind, 0) + 1

    def backend(self, name: str) -> BackendSLI | None:
        """The state of backend ``name``, created on first sight (None past ``max_backends``)."""
        b = self.backends.get(name)
        if b is None and len(self.backends) < self.max_backends:
            b = self.backends[name] = BackendSLI(
                queue_wait=Distribution(SECONDS_BOUNDS, self.window),
                predictor_error={t: Distribution(RATIO_BOUNDS, self.window) for t in TARGETS})
        return b

    def _on_result(self, m: dict[str, Any]) -> list[Sample]:
        # Read every field first: a malformed message must change nothing.
        status, task_id = str(m["status"]), str(m["task_id"])
        metrics = m.get("metrics") or {}
        jct_s = None if metrics.get("jct_s") is None else float(metrics["jct_s"])
        cost_usd = None if metrics.get("cost_usd") is None else float(metrics["cost_usd"])
        shots = sum(int(r.get("shots", 0)) for r in m.get("results") or ())
        if status not in ("completed", "failed") or not self._results.add(task_id):
            return []
        attrs = {"status": status}
        samples = [Sample("qstream.tasks", 1, attrs)]
        if status == "completed":
            self.completed += 1
            self.shots_delivered += shots
            samples.append(Sample("qstream.shots.delivered", shots))
        else:
            self.failed += 1
        if jct_s is not None:
            self.jct.add(jct_s)
            samples.append(Sample("qstream.task.jct", jct_s, attrs))
        if cost_usd is not None:
            self.cost.add(cost_usd)
            samples.append(Sample("qstream.task.cost", cost_usd, attrs))
        samples.extend(self._tenant_spend(str(m.get("tenant") or "default"), status, cost_usd))
        return samples

    def _tenant_spend(self, tenant: str, status: str, cost_usd: float | None) -> list[Sample]:
        """Spend per tenant: each result's ``metrics.cost_usd`` under its ``tenant``."""
        t = self.tenants.get(tenant)
        if t is None:
            if len(self.tenants) >= self.max_backends:
                return []
            t = self.tenants[tenant] = {"tasks": 0, "failed": 0, "spend_usd": 0.0}
        t["tasks"] += 1
        t["failed"] += status == "failed"
        if not cost_usd:
            return []
        t["spend_usd"] += cost_usd
        return [Sample("qstream.tenant.spend_usd", cost_usd, {"tenant": tenant})]

    def _on_dispatch(self, m: dict[str, Any]) -> list[Sample]:
        predictions = {str(s["backend"]): {t: float(s[t]) for t in TARGETS if t in s}
                       for s in m["scores"]}
        sid = str(m["subtask_id"])
        self._predictions.keys.pop(sid, None)  # a re-dispatch replaces the old scores
        self._predictions.add(sid, predictions)
        return []

    def _on_execution(self, m: dict[str, Any]) -> list[Sample]:
        name, sid, attempt = str(m["backend"]), str(m["subtask_id"]), int(m["attempt"])
        ok, shots = bool(m["success"]), int(m["shots"])
        actual = {t: float(m[t]) for t in TARGETS} if ok else {}
        price_usd = float(m.get("price_usd") or 0.0)
        if not self._executions.add((sid, attempt, name)):
            return []  # redelivered telemetry of an execution already counted
        outcome = "success" if ok else "failed"
        attrs = {"backend": name, "outcome": outcome}
        self.executions += 1
        self.shots_executed += shots
        samples = [Sample("qstream.executions", 1, attrs),
                   Sample("qstream.shots.executed", shots, attrs)]
        b = self.backend(name)
        if b is not None:
            b.executions += 1
            b.shots_executed += shots
        if not ok:
            self.failed_executions += 1
            if b is not None:
                b.failed += 1
            return samples
        queue_s = actual["queue_s"]
        self.queue_wait.add(queue_s)
        samples.append(Sample("qstream.subtask.queue_wait", queue_s, {"backend": name}))
        if b is None:
            return samples
        b.queue_wait.add(queue_s)
        b.cost_usd += price_usd
        predicted = m.get("predicted") or (self._predictions.keys.get(sid) or {}).get(name)
        for target in TARGETS:
            if not predicted or predicted.get(target) is None:
                continue
            err = relative_error(float(predicted[target]), actual[target])
            if err is not None:
                b.predictor_error[target].add(err)
                samples.append(Sample("qstream.predictor.error", err,
                                      {"backend": name, "target": target}))
        return samples

    def _on_retry(self, m: dict[str, Any]) -> list[Sample]:
        name = str(m["backend"])
        if not self._retries.add((str(m["subtask_id"]), int(m["attempt"]), name, int(m["retry"]))):
            return []
        self.retries += 1
        b = self.backend(name)
        if b is not None:
            b.retries += 1
        return [Sample("qstream.execution.retries", 1, {"backend": name})]

    def _on_failover(self, m: dict[str, Any]) -> list[Sample]:
        name = str(m["from_backend"])
        if not self._failovers.add((str(m["subtask_id"]), int(m["attempt"]))):
            return []
        self.failovers += 1
        b = self.backend(name)
        if b is not None:
            b.failovers += 1
        return [Sample("qstream.execution.failovers", 1, {"backend": name})]

    def _on_status(self, m: dict[str, Any]) -> list[Sample]:
        b = self.backend(str(m["backend"]))
        if b is None:
            return []
        at = float(m["at"])
        if b.status_at is not None and at < b.status_at:
            return []  # an older report read late
        b.status_at = at
        b.pending_jobs = int(m["pending_jobs"])
        b.operational = bool(m["operational"])
        age = m.get("calibration_age_s")
        b.calibration_age_s = float(age) if age is not None else None
        return []

    def _on_breaker(self, m: dict[str, Any]) -> list[Sample]:
        b = self.backend(str(m["backend"]))
        if b is not None:
            b.breaker = str(m["state"])
        return []

    def _on_anomaly(self, m: dict[str, Any]) -> list[Sample]:
        name = str(m["backend"])
        signal = str(m["signal"])
        b = self.backend(name)
        if b is None:
            return []
        b.anomalies += 1
        b.last_anomaly = {"signal": signal, "score": float(m["score"]),
                          "action": str(m["action"]), "at": float(m["at"])}
        return [Sample("qstream.anomalies", 1, {"backend": name, "signal": signal})]

    def _on_reallocation(self, m: dict[str, Any]) -> list[Sample]:
        # Hedges say "straggler: <detail>"; keep the attribute's cardinality low.
        reason = str(m["reason"]).split(":", 1)[0].strip() or "unknown"
        self.reallocations[reason] = self.reallocations.get(reason, 0) + 1
        return [Sample("qstream.reallocations", 1, {"reason": reason})]

    # -- SLIs ----------------------------------------------------------------------------
    def success_rate(self) -> float | None:
        """completed / (completed + failed), in [0, 1]; None before any result."""
        return _ratio(self.completed, self.completed + self.failed)

    def retry_rate(self) -> float | None:
        """retries / (executions + retries), in [0, 1]; None before any try."""
        return _ratio(self.retries, self.executions + self.retries)

    def shot_utilization(self) -> float | None:
        """shots delivered / shots executed; None before any executed shot."""
        return _ratio(self.shots_delivered, self.shots_executed)

    def calibration_age_s(self, backend: str, now_s: float) -> float | None:
        """Calibration age of ``backend`` at ``now_s`` (epoch s), seconds; None if unknown.

        Examples
        --------
        >>> agg = SLIAggregator()
        >>> _ = agg.observe({"schema": "qstream.telemetry.v1", "event": "backend_status",
        ...     "at": 100.0, "backend": "a", "pending_jobs": 3, "operational": True,
        ...     "calibration_age_s": 3600.0})
        >>> agg.calibration_age_s("a", 160.0), agg.calibration_age_s("b", 160.0)
        (3660.0, None)
        """
        b = self.backends.get(backend)
        if b is None or b.calibration_age_s is None or b.status_at is None:
            return None
        return b.calibration_age_s + max(0.0, now_s - b.status_at)

    def snapshot(self, now_s: float) -> dict[str, Any]:
        """Every SLI as a JSON-ready dict at ``now_s`` (epoch seconds).

        Keys: ``tasks`` (completed, failed, success_rate), ``jct_s``, ``queue_wait_s``
        and ``cost_usd`` (distribution summaries, see
        :meth:`~qstream.core.distribution.Distribution.summary`), ``executions``
        (total, failed, retries, retry_rate, failovers), ``shots`` (executed,
        delivered, utilization), ``reallocations`` (by reason), ``backends`` (per
        backend, sorted by name), ``messages`` (per kind, ``ignored``) and ``tenants``
        (per tenant: results ``tasks``, ``failed``, ``spend_usd`` summed from their
        ``metrics.cost_usd``).
        """
        backends: dict[str, Any] = {}
        for name in sorted(self.backends):
            b = self.backends[name]
            backends[name] = {
                "executions": b.executions, "failed": b.failed, "retries": b.retries,
                "failovers": b.failovers, "shots_executed": b.shots_executed,
                "cost_usd": b.cost_usd,
                "queue_wait_s": {"count": b.queue_wait.count, "p50": b.queue_wait.p50(),
                                 "p95": b.queue_wait.p95()},
                "predictor_error": {t: {"count": d.count, "mean": d.mean(), "p50": d.p50()}
                                    for t, d in b.predictor_error.items()},
                "calibration_age_s": self.calibration_age_s(name, now_s),
                "pending_jobs": b.pending_jobs, "operational": b.operational,
                "breaker": b.breaker,
                "anomalies": b.anomalies, "last_anomaly": b.last_anomaly,
            }
        return {
            "at": now_s,
            "tasks": {"completed": self.completed, "failed": self.failed,
                      "success_rate": self.success_rate()},
            "jct_s": self.jct.summary(),
            "queue_wait_s": self.queue_wait.summary(),
            "cost_usd": self.cost.summary(),
            "executions": {"total": self.executions, "failed": self.failed_executions,
                           "retries": self.retries, "retry_rate": self.retry_rate(),
                           "failovers": self.failovers},
            "shots": {"executed": self.shots_executed, "delivered": self.shots_delivered,
                      "utilization": self.shot_utilization()},
            "reallocations": dict(sorted(self.reallocations.items())),
            "backends": backends,
            "messages": dict(sorted(self.messages.items())),
            "tenants": {name: dict(v) for name, v in sorted(self.tenants.items())},
        }


_HANDLERS = {
    "qstream.result.v1": SLIAggregator._on_result,
    "qstream.reallocation.v1": SLIAggregator._on_reallocation,
    "telemetry.dispatch": SLIAggregator._on_dispatch,
    "telemetry.execution": SLIAggregator._on_execution,
    "telemetry.retry": SLIAggregator._on_retry,
    "telemetry.failover": SLIAggregator._on_failover,
    "telemetry.backend_status": SLIAggregator._on_status,
    "telemetry.breaker": SLIAggregator._on_breaker,
    "telemetry.anomaly": SLIAggregator._on_anomaly,
}
