"""Shared state of one worker process: fleet, predictor, scheduler, topics and send helpers.

Agents (``qstream.agents.*``) are thin: decode, call the core, send. What they share
lives here. The scheduler and predictor are only touched from the event loop, so
they need no locks.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import faust
from opentelemetry import context as otel_context
from opentelemetry import trace

from qstream.config import WorkerConfig
from qstream.core.assembly import TaskAssembly
from qstream.core.backend_spec import BackendSpec
from qstream.core.circuit_breaker import CircuitBreaker
from qstream.core.estimators import CalibrationEstimator, Estimator
from qstream.core.policies import make_policy
from qstream.core.predictor import Predictor
from qstream.core.scheduler import Hedge, Reallocation, Scheduler, SchedulerConfig
from qstream.core.subtask import SubTask
from qstream.errors import ConfigError
from qstream.stream import codec, metrics, tracing
from qstream.stream import topics as T
from qstream.stream.messages import dlq_entry

log = logging.getLogger("qstream.worker")

SNAPSHOT_KEY = b"predictor"


@dataclass
class Metrics:
    """Counters the worker logs on shutdown and exposes to tests."""

    tasks_accepted: int = 0
    tasks_rejected: int = 0
    results_sent: int = 0
    dlq_sent: int = 0
    decisions: int = 0
    reallocations: int = 0
    hedges: int = 0
    learned: int = 0
    decision_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


class Runtime:
    """What the agents of one worker share.

    Parameters
    ----------
    app:
        The Faust app the agents bind to.
    config:
        Worker configuration.
    specs:
        The fleet's backend specs (capabilities, priors).
    """

    def __init__(self, app: faust.App, config: WorkerConfig, specs: list[BackendSpec]) -> None:
        self.app = app
        self.config = config
        self.specs = specs
        self.spec_by_name = {s.name: s for s in specs}
        self.metrics = Metrics()
        self.predictor = Predictor(specs)
        self.policy = make_policy(config.policy, seed=config.seed)
        self.scheduler = Scheduler(
            specs, self._estimator(),
            SchedulerConfig(realloc_margin=config.realloc_margin),
            self.policy,
        )
        self.restored = False
        # Tasks being processed: duplicates of these are rejected, see README "Guarantees".
        self.active_tasks: set[str] = set()
        # Recently finished task ids (bounded), so a redelivered plan is not re-run.
        self.finished_tasks: OrderedDict[str, None] = OrderedDict()
        self.assemblies: dict[str, TaskAssembly] = {}
        self.subtasks: dict[str, SubTask] = {}
        self.task_subtasks: dict[str, set[str]] = {}
        self.attempts: dict[str, int] = {}
        self.failed_backends: dict[str, list[str]] = {}
        # Each failed execution's error per sub-task, for the failed result's message.
        self.failure_reasons: dict[str, list[str]] = {}
        # One circuit breaker per backend (wall-clock time); a backend is operational
        # for the scheduler when its device says so and its breaker lets work through.
        self.breakers = {s.name: CircuitBreaker(
            config.breaker_failures, config.breaker_window, config.breaker_failure_rate,
            config.breaker_cooldown_s) for s in specs}
        self.breaker_changes: dict[str, int] = {s.name: 0 for s in specs}
        self.device_up: dict[str, bool] = {s.name: True for s in specs}
        self.seen_executions: OrderedDict[str, None] = OrderedDict()
        self.backends: dict[str, Any] = {}
        # Trace context of each placed sub-task (its decision span), so its release,
        # reallocation or hedge joins the sub-task's trace. Dropped in forget_task.
        self.tracer = tracing.tracer()
        self.trace_contexts: dict[str, otel_context.Context] = {}
        self.pool: Any = None
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                               "key_serializer": "raw", "value_serializer": "raw"}
        self.topics: dict[str, faust.TopicT] = {
            name: app.topic(name, partitions=1, **raw)
            for name in (T.TASKS, T.RESULTS, T.DLQ, T.TELEMETRY, T.REALLOCATIONS,
                         T.SUBTASKS, T.SUBTASK_RESULTS)
        }
        for spec in specs:
            name = T.exec_topic(spec.name)
            self.topics[name] = app.topic(name, partitions=1, **raw)
        self.snapshots = app.Table(
            # bytes keys: with the raw serializer a str key comes back as bytes after
            # changelog recovery and would no longer match.
            "predictor", partitions=1, key_type=bytes, value_type=bytes,
            changelog_topic=app.topic(T.PREDICTOR_CHANGELOG, partitions=1, compacting=True,
                                      internal=True, **raw),
        )

    def _estimator(self) -> Estimator:
        # The online predictor always learns from telemetry (so its state and
        # changelog are the same whatever the policy); only qstream's own policies
        # score with it. The static baselines score with calibration priors, as
        # they would in production.
        if self.policy.name in ("predictive", "predictive-realloc"):
            return self.predictor
        if self.policy.name == "oracle":
            raise ConfigError(
                "the oracle policy knows the true future run times; it exists only in "
                "`qstream simulate`, not in a live worker")
        return CalibrationEstimator()

    # -- time ---------------------------------------------------------------------------
    def now_s(self) -> float:
        """Scheduler clock: emulated seconds (wall seconds x time scale)."""
        return time.time() * self.config.time_scale

    # -- backend health -------------------------------------------------------------------
    async def sync_breaker(self, backend: str) -> None:
        """Apply ``backend``'s device status and breaker to the scheduler.

        Operational = the device says it is up AND its breaker is closed, or
        half-open with its one probe not yet sent. A breaker state change is
        published as a ``breaker`` telemetry event.
        """
        breaker = self.breakers.get(backend)
        if breaker is None:
            return
        now = time.monotonic()
        state = breaker.state(now)
        if breaker.changes != self.breaker_changes[backend]:
            self.breaker_changes[backend] = breaker.changes
            reason = breaker.reason if state != "half_open" else \
                f"cooldown of {breaker.cooldown_s:g} s over; one probe may go through"
            log.warning("circuit breaker of %s is %s: %s", backend, state, reason)
            await self.send(T.TELEMETRY, None, {
                "schema": "qstream.telemetry.v1", "event": "breaker", "at": time.time(),
                "backend": backend, "state": state, "reason": reason})
        self.scheduler.set_operational(
            backend, self.device_up[backend] and breaker.allows_work(now))

    async def record_outcome(self, backend: str, success: bool) -> None:
        """Feed one execution outcome to ``backend``'s breaker."""
        breaker = self.breakers.get(backend)
        if breaker is not None:
            breaker.record(success, time.monotonic())
            await self.sync_breaker(backend)

    # -- sending --------------------------------------------------------------------------
    async def send(self, topic: str, key: str | None, message: dict[str, Any],
                   headers: Any = None, *, context: otel_context.Context | None = None,
                   attributes: dict[str, Any] | None = None) -> None:
        """Validate ``message`` against its schema, then publish it.

        The send is traced as a ``send <topic>`` PRODUCER span, a child of ``context``
        (default: the current span); its W3C trace context goes into the record headers.
        """
        value = codec.encode(message)
        with self.tracer.start_as_current_span(
                f"send {topic}", context=context, kind=tracing.SEND,
                attributes={**tracing.send_attributes(topic, key), **(attributes or {})}):
            out = tracing.inject(headers)
            await self.topics[topic].send(
                key=key.encode("utf-8") if key is not None else None, value=value,
                headers=out or headers)
        metrics.observe(topic, message)  # SLI metrics of what this process publishes

    async def send_result(self, result: dict[str, Any]) -> None:
        task_id = result["task_id"]
        await self.send(T.RESULTS, task_id, result,
                        attributes={"qstream.task_id": task_id,
                                    "qstream.task.status": result["status"]})
        self.metrics.results_sent += 1
        self.active_tasks.discard(task_id)
        self.finished_tasks[task_id] = None
        while len(self.finished_tasks) > 100_000:
            self.finished_tasks.popitem(last=False)

    async def send_dlq(self, *, reason: str, error: str, message: Any,
                       task_id: str | None = None) -> None:
        """Publish a ``qstream.dlq.v1`` entry for the Faust ``message`` that was rejected."""
        entry = dlq_entry(
            reason=reason, error=error, original=message.value, topic=message.topic,
            partition=message.partition, offset=message.offset, key=message.key,
            task_id=task_id,
        )
        await self.send(T.DLQ, task_id, entry)
        self.metrics.dlq_sent += 1
        log.warning("dlq %s at %s[%d]@%d: %s", reason, message.topic, message.partition,
                    message.offset, error)

    def track(self, subtask: SubTask) -> None:
        self.subtasks[subtask.subtask_id] = subtask
        self.task_subtasks.setdefault(subtask.task_id, set()).add(subtask.subtask_id)

    def forget_task(self, task_id: str, *, cancel: bool = False) -> None:
        """Drop a finished task's state; ``cancel`` also withdraws its unfinished sub-tasks."""
        subtask_ids = self.task_subtasks.pop(task_id, set())
        if cancel:
            # A failed task's other sub-tasks would only waste backend time.
            for subtask_id in subtask_ids:
                self.scheduler.complete(subtask_id, self.now_s())
        self.scheduler.forget_task(task_id)
        for subtask_id in subtask_ids:
            self.subtasks.pop(subtask_id, None)
            self.trace_contexts.pop(subtask_id, None)
            self.attempts.pop(subtask_id, None)
            self.failed_backends.pop(subtask_id, None)
            self.failure_reasons.pop(subtask_id, None)

    async def consume(self, stream: Any, handler: Any, what: str) -> None:
        """Feed every record of a Faust ``stream`` to ``handler(message)``.

        One bad record must never stop an agent: anything the handler raises is
        logged and the record goes to the DLQ with reason ``internal``.
        """
        group = str(self.app.conf.id)
        async for event in stream.events():
            message = event.message
            topic = getattr(message, "topic", what)
            with self.tracer.start_as_current_span(
                    f"process {topic}", context=tracing.extract(message.headers),
                    kind=tracing.PROCESS, attributes=tracing.process_attributes(message, group)):
                try:
                    await handler(message)
                except Exception as exc:
                    log.exception("%s failed", what)
                    trace.get_current_span().record_exception(exc)
                    await self.send_dlq(reason="internal",
                                        error=f"{type(exc).__name__}: {exc}", message=message)

    def trace_context(self, subtask_id: str) -> otel_context.Context:
        """The sub-task's trace context; an empty one (a new trace) if it has none.

        Empty rather than the current span's: a release or move often happens while
        processing another task's record, which must not adopt it.
        """
        ctx = self.trace_contexts.get(subtask_id)
        return otel_context.Context() if ctx is None else ctx

    # -- predictor state ------------------------------------------------------------------
    def ensure_restored(self) -> None:
        """Restore the predictor from the snapshot table once, after table recovery."""
        if self.restored:
            return
        self.restored = True
        data = self.snapshots.get(SNAPSHOT_KEY)
        if data:
            self.predictor = Predictor.restore(data, self.specs)
            if self.policy.name in ("predictive", "predictive-realloc"):
                self.scheduler.predictor = self.predictor
            log.info("predictor restored: %d observations", self.predictor.n_learned)

    def save_snapshot(self) -> None:
        """Write the predictor snapshot to the changelog-backed table (inside an agent)."""
        self.snapshots[SNAPSHOT_KEY] = self.predictor.snapshot()

    # -- dispatch -------------------------------------------------------------------------
    async def release(self) -> int:
        """Send every sub-task the scheduler releases to its backend's exec topic."""
        released = self.scheduler.release(self.now_s())
        for backend in {b for _, b in released}:
            breaker = self.breakers.get(backend)
            if breaker is not None and breaker.state(time.monotonic()) == "half_open":
                breaker.try_probe(time.monotonic())  # this release is the probe
                await self.sync_breaker(backend)
        for subtask, backend in released:
            message = subtask.to_dict()
            message.update(schema="qstream.subtask.v1", backend=backend,
                           attempt=self.attempts.get(subtask.subtask_id, 0),
                           released_at=time.time())
            await self.send(T.exec_topic(backend), subtask.task_id, message,
                            context=self.trace_context(subtask.subtask_id))
        return len(released)

    async def start_hedges(self, hedges: list[Hedge]) -> None:
        """Send a backup copy of each straggler to its new backend, as a new attempt.

        The first copy to finish completes the sub-task (post-processing keeps
        one result per sub-task id); the loser's telemetry is still learned from.
        """
        for h in hedges:
            sid = h.subtask.subtask_id
            attempt = self.attempts.get(sid, 0) + 1
            self.attempts[sid] = attempt
            self.metrics.hedges += 1
            message = h.subtask.to_dict()
            message.update(schema="qstream.subtask.v1", backend=h.to_backend, attempt=attempt,
                           released_at=time.time())
            # A child span in the sub-task's trace: the backup copy runs under it.
            with self.tracer.start_as_current_span(
                    "qstream.hedge", context=self.trace_context(sid),
                    attributes=_move_attributes(sid, h.subtask.task_id, h.from_backend,
                                                h.to_backend, h.old_cost, h.new_cost,
                                                h.reason, attempt=attempt)):
                await self.send(T.exec_topic(h.to_backend), h.subtask.task_id, message)
                await self.send(T.REALLOCATIONS, h.subtask.task_id, {
                    "schema": "qstream.reallocation.v1", "subtask_id": sid,
                    "task_id": h.subtask.task_id, "from_backend": h.from_backend,
                    "to_backend": h.to_backend, "old_cost": h.old_cost,
                    "new_cost": h.new_cost, "reason": h.reason, "at": time.time(),
                })

    async def publish_reallocations(self, moves: list[Reallocation]) -> None:
        for move in moves:
            self.metrics.reallocations += 1
            # A child span in the sub-task's trace; its later release hangs under it.
            with self.tracer.start_as_current_span(
                    "qstream.reallocate", context=self.trace_context(move.subtask_id),
                    attributes=_move_attributes(move.subtask_id, move.task_id,
                                                move.from_backend, move.to_backend,
                                                move.old_cost, move.new_cost, move.reason)):
                if move.subtask_id in self.trace_contexts:
                    self.trace_contexts[move.subtask_id] = otel_context.get_current()
                await self.send(T.REALLOCATIONS, move.task_id, {
                    "schema": "qstream.reallocation.v1",
                    "subtask_id": move.subtask_id, "task_id": move.task_id,
                    "from_backend": move.from_backend, "to_backend": move.to_backend,
                    "old_cost": move.old_cost, "new_cost": move.new_cost,
                    "reason": move.reason, "at": time.time(),
                })


def _move_attributes(subtask_id: str, task_id: str, from_backend: str, to_backend: str,
                     old_cost: float, new_cost: float, reason: str,
                     attempt: int | None = None) -> dict[str, Any]:
    """Span attributes of a reallocation or hedge (ids, names and numbers only)."""
    attrs: dict[str, Any] = {
        "qstream.subtask_id": subtask_id, "qstream.task_id": task_id,
        "qstream.from_backend": from_backend, "qstream.to_backend": to_backend,
        "qstream.cost.old": float(old_cost), "qstream.cost.new": float(new_cost),
        "qstream.reason": reason,
    }
    if attempt is not None:
        attrs["qstream.attempt"] = attempt
    return attrs
