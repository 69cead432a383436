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
from qstream.stream.crash_points import crash_point
from qstream.stream.durable import JsonTable
from qstream.stream.messages import dlq_entry

log = logging.getLogger("qstream.worker")

SNAPSHOT_KEY = b"predictor"


def task_of(subtask_id: str) -> str:
    """The task id of a sub-task id ``{task_id}/c{i}/s{j}[.{k}]`` (task ids may hold ``/``).

    >>> task_of("runs/42/c3/s0.1")
    'runs/42'
    """
    return subtask_id.rsplit("/", 2)[0]


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
    recoveries: int = 0
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
    stateful:
        True for the pipeline worker: its scheduler, task and predictor state is
        kept in changelog-backed tables and restored after a failover. False for
        an executor-only process, which holds no such state.
    """

    def __init__(self, app: faust.App, config: WorkerConfig, specs: list[BackendSpec],
                 *, stateful: bool = True) -> None:
        self.app = app
        self.config = config
        self.specs = specs
        self.spec_by_name = {s.name: s for s in specs}
        self.metrics = Metrics()
        self.predictor = Predictor(specs)
        self.policy = make_policy(config.policy, seed=config.seed)
        self.scheduler = self._new_scheduler()
        self.stateful = stateful
        # True while this worker holds the control topics' partitions and has
        # restored their state; timers of a standby worker do nothing.
        self.owner = not stateful
        self.restored = False
        # Offset of the newest result this worker knows on qstream.results: a
        # failover scans for unconfirmed results only after it.
        self.results_end = -1
        self.assemblies: dict[str, TaskAssembly] = {}
        # Sub-task results that arrived before their task's plan (after a failover).
        self.orphan_parts: dict[str, list[dict[str, Any]]] = {}
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
        # "backend#attempt" of each failed execution handled per sub-task: a
        # redelivered failure event is recognised after a failover too.
        self.failed_attempts: dict[str, list[str]] = {}
        # Sub-task ids with durable records, per task (deleted with the task).
        self.persisted: dict[str, set[str]] = {}
        # Sub-tasks whose runtime bookkeeping (attempts, failures) changed.
        self.changed_subtasks: set[str] = set()
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
        if stateful:
            self.snapshots = app.Table(
                # bytes keys: with the raw serializer a str key comes back as bytes after
                # changelog recovery and would no longer match.
                "predictor", partitions=1, key_type=bytes, value_type=bytes,
                use_partitioner=True,
                changelog_topic=app.topic(T.PREDICTOR_CHANGELOG, partitions=1,
                                          compacting=True, internal=True, **raw),
            )
            self.task_table = JsonTable(app, "tasks", T.TASKS_CHANGELOG)
            self.subtask_table = JsonTable(app, "subtasks", T.SUBTASKS_CHANGELOG)
            self.part_table = JsonTable(app, "parts", T.PARTS_CHANGELOG)

    def _new_scheduler(self) -> Scheduler:
        return Scheduler(self.specs, self._estimator(),
                         SchedulerConfig(**self.config.scheduler.model_dump()),
                         self.policy, record_changes=True)

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
                   attributes: dict[str, Any] | None = None) -> Any:
        """Validate ``message`` against its schema, then publish it.

        The send is traced as a ``send <topic>`` PRODUCER span, a child of ``context``
        (default: the current span); its W3C trace context goes into the record headers.

        Returns
        -------
        Awaitable
            Resolves to the record's metadata (``.offset``) once the broker has it.
        """
        value = codec.encode(message)
        with self.tracer.start_as_current_span(
                f"send {topic}", context=context, kind=tracing.SEND,
                attributes={**tracing.send_attributes(topic, key), **(attributes or {})}):
            out = tracing.inject(headers)
            delivery = await self.topics[topic].send(
                key=key.encode("utf-8") if key is not None else None, value=value,
                headers=out or headers)
        metrics.observe(topic, message)  # SLI metrics of what this process publishes
        return delivery

    # -- tasks and results (durable) ------------------------------------------------------
    def task_record(self, task_id: str) -> dict[str, Any] | None:
        """The task's durable record: ``state`` active, publishing or done; None if unknown."""
        return self.task_table.get(task_id)

    def accept_task(self, task_id: str, source: str, plan: dict[str, Any]) -> None:
        """Record an accepted task (``source`` = topic/partition/offset of its record)."""
        self.task_table.put(task_id, {"state": "active", "source": source, "plan": plan,
                                      "at": time.time()})

    async def publish_result(self, result: dict[str, Any], *, source: str | None = None) -> None:
        """Publish a task's one ``qstream.result.v1``, effectively once across crashes.

        Write-ahead: the result is first recorded as ``publishing`` (with the
        offset of the newest result known so far) and flushed to the changelog;
        then it is sent and its delivery awaited; then the task is marked
        ``done`` with the result's offset. A worker that takes over finds any
        ``publishing`` record and scans ``qstream.results`` after that offset:
        the result is re-sent only if it is not there (:mod:`qstream.stream.recovery`).
        """
        task_id = result["task_id"]
        prev = self.task_record(task_id) or {}
        source = source or prev.get("source")
        self.task_table.put(task_id, {"state": "publishing", "source": source,
                                      "result": result, "after": self.results_end,
                                      "at": time.time()})
        await self.app.producer.flush()
        crash_point("result-recorded")
        await self.send_result_record(result, source)

    async def send_result_record(self, result: dict[str, Any], source: str | None) -> None:
        """Send ``result``, await its delivery, then mark its task ``done``."""
        task_id = result["task_id"]
        delivery = await self.send(T.RESULTS, task_id, result,
                                   attributes={"qstream.task_id": task_id,
                                               "qstream.task.status": result["status"]})
        offset = int((await delivery).offset)
        crash_point("result-sent")
        self.mark_done(task_id, source, offset, result["status"])
        self.metrics.results_sent += 1

    def mark_done(self, task_id: str, source: str | None, offset: int, status: str) -> None:
        self.results_end = max(self.results_end, offset)
        self.task_table.put(task_id, {"state": "done", "source": source, "offset": offset,
                                      "status": status, "at": time.time()})

    def record_part(self, data: dict[str, Any]) -> None:
        """Keep one received ``qstream.subtask_result.v1`` until its task is done."""
        self.part_table.put(data["subtask_id"], data)

    def sync_state(self) -> None:
        """Write every sub-task whose placement or completion changed to the changelog.

        Called after each record and timer tick; what a handler changed is thus
        in the producer buffer before the record's offset can be committed.
        """
        if not self.stateful or not self.owner:
            self.scheduler.drain_changed()
            return
        for sid in self.scheduler.drain_changed() | self.changed_subtasks:
            self.persist_subtask(sid)
        self.changed_subtasks.clear()

    def persist_subtask(self, sid: str) -> None:
        task_id = task_of(sid)
        placement = self.scheduler.placement(sid)
        if placement is not None:
            self.subtask_table.put(sid, {
                "task_id": task_id, "state": "placed", "placement": placement.to_dict(),
                "attempt": self.attempts.get(sid, 0),
                "failed": self.failed_attempts.get(sid, []),
                "failed_backends": self.failed_backends.get(sid, []),
                "reasons": self.failure_reasons.get(sid, [])})
        elif self.scheduler.is_completed(sid):
            self.subtask_table.put(sid, {"task_id": task_id, "state": "completed"})
        else:
            self.subtask_table.delete(sid)
            return
        self.persisted.setdefault(task_id, set()).add(sid)

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
        """Drop a finished task's state; ``cancel`` also withdraws its unfinished sub-tasks.

        Its durable sub-task records and parts are deleted too; the task's own
        record stays (``done``) so redelivered input for it is recognised.
        """
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
            self.failed_attempts.pop(subtask_id, None)
        if self.stateful:
            for sid in self.persisted.pop(task_id, set()) | subtask_ids:
                self.subtask_table.delete(sid)
                self.part_table.delete(sid)

    def clear_state(self) -> None:
        """Forget all in-memory task and scheduler state (this worker lost ownership)."""
        self.scheduler = self._new_scheduler()
        self.assemblies.clear()
        self.orphan_parts.clear()
        self.subtasks.clear()
        self.task_subtasks.clear()
        self.attempts.clear()
        self.failed_backends.clear()
        self.failure_reasons.clear()
        self.failed_attempts.clear()
        self.trace_contexts.clear()
        self.persisted.clear()
        self.changed_subtasks.clear()

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
                finally:
                    self.sync_state()

    def trace_context(self, subtask_id: str) -> otel_context.Context:
        """The sub-task's trace context; an empty one (a new trace) if it has none.

        Empty rather than the current span's: a release or move often happens while
        processing another task's record, which must not adopt it.
        """
        ctx = self.trace_contexts.get(subtask_id)
        return otel_context.Context() if ctx is None else ctx

    # -- predictor state ------------------------------------------------------------------
    def restore_predictor(self) -> None:
        """Load the predictor from the snapshot table (after table recovery)."""
        data = self.snapshots.get(SNAPSHOT_KEY)
        if data:
            self.predictor = Predictor.restore(data, self.specs)
            log.info("predictor restored: %d observations", self.predictor.n_learned)
        if self.policy.name in ("predictive", "predictive-realloc"):
            self.scheduler.predictor = self.predictor

    def save_snapshot(self) -> None:
        """Write the predictor snapshot to the changelog-backed table."""
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
            await self.send_exec(subtask, backend)
        return len(released)

    async def send_exec(self, subtask: SubTask, backend: str) -> None:
        """Send ``subtask`` to ``backend``'s exec topic under its current attempt number."""
        message = subtask.to_dict()
        message.update(schema="qstream.subtask.v1", backend=backend,
                       attempt=self.attempts.get(subtask.subtask_id, 0), released_at=time.time())
        await self.send(T.exec_topic(backend), subtask.task_id, message,
                        context=self.trace_context(subtask.subtask_id))

    async def resend_in_flight(self) -> int:
        """After a takeover, send every restored in-flight sub-task to its backend again.

        Why: the exec record of a sub-task the dead worker was running is not
        reliably redelivered. faust-streaming 0.15.3 was seen to commit exec
        offsets past records that never ran: the ``result-sent`` scenario of
        tests/integration/test_crash_points.py, run 10 times next to a CPU hog,
        lost a sub-task 4 times without this. Sending it again costs a
        second execution when the record is also redelivered; the copies share
        the attempt number (and so the simulator seed), and the first result wins.
        """
        sent = 0
        for backend, sids in self.scheduler.in_flight().items():
            for sid in sids:
                placement = self.scheduler.placement(sid)
                if placement is not None and placement.backend == backend:
                    await self.send_exec(placement.subtask, backend)
                    sent += 1
        return sent

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
