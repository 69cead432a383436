"""What the agents of one worker process share: a small composition of its parts.

Agents (``qstream.agents.*``) are thin: decode, call the core, send. They share

- the fleet (``specs``), the predictor, the policy and the scheduler;
- the :class:`~qstream.stream.ledger.TaskLedger` (task and sub-task records);
- the :class:`~qstream.stream.outbox.Outbox` (every send);
- the :class:`~qstream.stream.fleet_health.FleetHealth` (breakers, device status);
- counters, tracer, and (for executors) the backends and their process pool.

A runtime depends only on the small interfaces of :mod:`qstream.stream.ports`
(topics, tables, a producer), never on Faust: :mod:`qstream.stream.app` fills
them with Faust objects, :mod:`qstream.stream.testing` with in-memory ones. The
scheduler and predictor are only touched from the event loop, so they need no locks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from qstream.config import WorkerConfig
from qstream.config_tenants import shares
from qstream.core.anomaly import FleetMonitor
from qstream.core.backend_spec import BackendSpec, CalibrationSummary
from qstream.core.estimators import CalibrationEstimator, Estimator
from qstream.core.policies import PREDICTOR_POLICIES, make_policy
from qstream.core.predictor import Predictor
from qstream.core.scheduler import Hedge, Reallocation, Scheduler, SchedulerConfig
from qstream.core.subtask import SubTask
from qstream.errors import ConfigError
from qstream.stream import topics as T
from qstream.stream import tracing
from qstream.stream.budgets import TenantSpend
from qstream.stream.counters import Counters
from qstream.stream.fleet_health import FleetHealth
from qstream.stream.ledger import TaskLedger
from qstream.stream.outbox import Outbox
from qstream.stream.ports import Message, Producer, SnapshotTable, Table, Topic
from qstream.stream.stops import Executions
from qstream.stream.workflows import WorkflowStore

log = logging.getLogger("qstream.worker")

SNAPSHOT_KEY = b"predictor"


class Runtime:
    """What the agents of one worker share.

    Parameters
    ----------
    config:
        Worker configuration.
    specs:
        The fleet's backend specs (capabilities, priors).
    topics:
        Topic name -> topic, for every topic this worker sends to.
    producer:
        The producer behind ``topics``.
    ledger:
        Task state. Built with its three tables for the pipeline worker (its
        scheduler, task and predictor state is restored after a failover); without
        tables for an executor-only process, which holds no such state.
    snapshots:
        The predictor snapshot table; None for an executor-only process.
    group:
        Consumer group id (a span attribute of every ``process`` span).
    workflows:
        The ``workflows`` table of problem tasks (see :mod:`qstream.stream.workflows`);
        None for an executor-only process.
    """

    def __init__(self, config: WorkerConfig, specs: list[BackendSpec], *,
                 topics: Mapping[str, Topic], producer: Producer, ledger: TaskLedger,
                 snapshots: SnapshotTable | None = None, group: str | None = None,
                 workflows: Table | None = None) -> None:
        self.config = config
        self.specs = specs
        self.spec_by_name = {s.name: s for s in specs}
        self.group = group
        self.metrics = Counters()
        self.predictor = Predictor(specs)
        # Online anomaly detectors per backend, fed by the learn agent (qstream.core.anomaly).
        self.anomalies = FleetMonitor()
        # (perf_counter at its start, wall seconds it took) of the last reallocation pass.
        self.realloc_pass: tuple[float, float] = (0.0, 0.0)
        # Calibration each backend last published (backend_status); the spec may differ
        # while a suspected drift inflates its errors.
        self.published_calibration: dict[str, CalibrationSummary | None] = {
            s.name: s.calibration for s in specs}
        self.policy = make_policy(config.policy, seed=config.seed)
        if self.policy.name == "anneal":
            from qstream.solvers.assignment import annealer

            self.policy.solver = annealer()  # type: ignore[attr-defined]
        self.scheduler = self._new_scheduler()
        # Each tenant's spend over its window (qstream.stream.budgets).
        self.tenant_spend = TenantSpend(config.tenants)
        self.ledger = ledger
        self.stateful = ledger.durable
        self.snapshots = snapshots
        # True while this worker holds the control topics' partitions and has
        # restored their state; timers of a standby worker do nothing.
        self.owner = not self.stateful
        self.tracer = tracing.tracer()
        self.outbox = Outbox(topics, producer, ledger, self.metrics, self.tracer,
                             all_results_as_cloudevents=config.result_cloudevents == "all")
        self.health = FleetHealth(specs, config, self.outbox)
        # "subtask_id#attempt" of the execution events learned from (bounded).
        self.seen_executions: OrderedDict[str, None] = OrderedDict()
        self.backends: dict[str, Any] = {}
        self.pool: Any = None
        # Executions running in this process and the stop requests seen (qstream.stream.stops).
        self.executions = Executions()
        # Sub-tasks sent to their backend again after a takeover: two copies may run.
        self.resent: set[str] = set()
        self.workflows = WorkflowStore(workflows, config)
        # Run after a takeover's state is restored (the agents' own recovery: workflows).
        self.recovery_hooks: list[Callable[[Runtime], Awaitable[None]]] = []
        # True while a batch policy's release-time plan is being solved in the executor.
        self._planning = False

    def _new_scheduler(self) -> Scheduler:
        tenants, default_share = shares(self.config.tenants)
        return Scheduler(self.specs, self._estimator(),
                         SchedulerConfig(**self.config.scheduler.model_dump()),
                         self.policy, record_changes=True, tenants=tenants,
                         default_share=default_share)

    def _estimator(self) -> Estimator:
        # The online predictor always learns from telemetry (so its state and
        # changelog are the same whatever the policy); only qstream's own policies
        # score with it. The static baselines score with calibration priors, as
        # they would in production.
        if self.policy.name in PREDICTOR_POLICIES:
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

    # -- state across parts ---------------------------------------------------------------
    def sync_state(self) -> None:
        """Write what changed to the changelog (only while this worker owns the state)."""
        self.ledger.sync_state(self.scheduler, persist=self.owner)

    def forget_task(self, task_id: str, *, cancel: bool = False) -> None:
        """Drop a finished task from the scheduler and the ledger (see
        :meth:`TaskLedger.forget_task`)."""
        self.ledger.forget_task(task_id, self.scheduler, self.now_s(), cancel=cancel)

    def clear_state(self) -> None:
        """Forget all in-memory task and scheduler state (this worker lost ownership)."""
        self.scheduler = self._new_scheduler()
        self.ledger.clear_state()
        self.workflows.clear()

    # -- processing one record ------------------------------------------------------------
    async def process(self, message: Message,
                      handler: Callable[[Message], Awaitable[None]], what: str) -> None:
        """Run ``handler(message)`` for one consumed record, traced, never raising.

        One bad record must never stop an agent: anything the handler raises is
        logged and the record goes to the DLQ with reason ``internal``. The state
        the handler changed is then synced to the changelog.
        """
        topic = getattr(message, "topic", what)
        with self.tracer.start_as_current_span(
                f"process {topic}", context=tracing.extract(message.headers),
                kind=tracing.PROCESS, attributes=tracing.process_attributes(message, self.group)):
            try:
                await handler(message)
            except Exception as exc:
                log.exception("%s failed", what)
                trace.get_current_span().record_exception(exc)
                await self.outbox.send_dlq(reason="internal",
                                           error=f"{type(exc).__name__}: {exc}", message=message)
            finally:
                self.sync_state()

    # -- predictor state ------------------------------------------------------------------
    def restore_predictor(self) -> None:
        """Load the predictor from the snapshot table (after table recovery)."""
        data = self.snapshots.get(SNAPSHOT_KEY) if self.snapshots is not None else None
        if data:
            self.predictor = Predictor.restore(data, self.specs)
            log.info("predictor restored: %d observations", self.predictor.n_learned)
        if self.policy.name in PREDICTOR_POLICIES:
            self.scheduler.predictor = self.predictor
        self.workflows.restore_model(self.snapshots)

    def save_snapshot(self) -> None:
        """Write the predictor snapshot to the changelog-backed table."""
        assert self.snapshots is not None, "an executor-only process keeps no predictor"
        self.snapshots[SNAPSHOT_KEY] = self.predictor.snapshot()

    # -- dispatch -------------------------------------------------------------------------
    async def release(self) -> int:
        """Send every sub-task the scheduler releases to its backend's exec topic.

        Under a batch policy (``anneal``) the release-time assignment is solved
        first, in the default executor so that the anneal never blocks the event
        loop; its plan is re-checked against the state when applied
        (:meth:`Scheduler.apply_batch`), and a release that arrives while a plan is
        being solved releases greedily.
        """
        released = await self._batch_release()
        released += self.scheduler.release(self.now_s())
        await self.health.probes_released({b for _, b in released}, self.scheduler)
        for subtask, backend in released:
            await self.send_exec(subtask, backend)
        return len(released)

    async def _batch_release(self) -> list[tuple[SubTask, str]]:
        plan_batch = getattr(self.policy, "plan_batch", None)
        if plan_batch is None or self._planning:
            return []
        problem = self.scheduler.batch_problem(self.now_s())
        if problem is None:
            return []
        self._planning = True
        try:
            plan = await asyncio.get_running_loop().run_in_executor(None, plan_batch, problem)
        finally:
            self._planning = False
        if plan.reason is not None:
            log.info("batch assignment fell back to %s: %s", plan.method, plan.reason)
        self.metrics.batch_plans += 1
        self.metrics.batch_solve_ms.append(plan.solve_ms)
        return self.scheduler.apply_batch(plan, self.now_s())

    async def send_exec(self, subtask: SubTask, backend: str) -> None:
        """Send ``subtask`` to ``backend``'s exec topic under its current attempt number."""
        message = subtask.to_dict()
        message.update(schema="qstream.subtask.v1", backend=backend,
                       attempt=self.ledger.attempt(subtask.subtask_id), released_at=time.time())
        await self.outbox.send(T.exec_topic(backend), subtask.task_id, message,
                               context=self.ledger.trace_context(subtask.subtask_id))

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
                    self.resent.add(sid)
                    sent += 1
        return sent

    # -- stopping executions (qstream.stream.stops) ---------------------------------------
    async def request_stop(self, request: dict[str, Any]) -> int:
        """Stop the executions a stop request covers, here and in every executor process.

        ``request`` is a :func:`qstream.stream.stops.stop_request`. It is applied to
        this process's executions at once and published on ``qstream.stops``, which
        every executor process follows. Returns how many were stopped here.
        """
        stopped = len(self.executions.stop(request))
        await self.outbox.send(T.STOPS, request["task_id"], request)
        return stopped

    async def stop_abandoned(self, subtask_id: str, task_id: str, backends: list[str] | None,
                             why: str) -> None:
        """Stop the copies of a sub-task whose result is no longer needed.

        ``backends`` None: every copy; else the copies on those backends. The
        executor that stops one answers with an ``abandoned_copy`` telemetry event.
        """
        from qstream.stream.stops import stop_request

        for backend in backends if backends is not None else [None]:
            request = stop_request(task_id, "abandoned_copy", subtask_id=subtask_id,
                                   backend=backend, message=why)
            await self.request_stop(request)

    async def stop_in_flight(self, task_id: str, why: str) -> int:
        """Stop every in-flight copy of ``task_id``'s sub-tasks (abandoned: the task failed,
        or a loop step was withdrawn); returns how many sub-tasks were in flight."""
        from qstream.stream.ledger import task_of

        in_flight = sorted({sid for ids in self.scheduler.in_flight().values() for sid in ids
                            if task_of(sid) == task_id})
        for sid in in_flight:
            await self.stop_abandoned(sid, task_id, None, f"{sid} is not needed: {why}")
        return len(in_flight)

    async def start_hedges(self, hedges: list[Hedge]) -> None:
        """Send a backup copy of each straggler to its new backend, as a new attempt.

        The first copy to finish completes the sub-task (post-processing keeps
        one result per sub-task id); the loser's telemetry is still learned from.
        """
        for h in hedges:
            sid = h.subtask.subtask_id
            record = self.ledger.record(sid)
            record.attempt += 1
            attempt = record.attempt
            self.metrics.hedges += 1
            message = h.subtask.to_dict()
            message.update(schema="qstream.subtask.v1", backend=h.to_backend, attempt=attempt,
                           released_at=time.time())
            # A child span in the sub-task's trace: the backup copy runs under it.
            with self.tracer.start_as_current_span(
                    "qstream.hedge", context=self.ledger.trace_context(sid),
                    attributes=_move_attributes(sid, h.subtask.task_id, h.from_backend,
                                                h.to_backend, h.old_cost, h.new_cost,
                                                h.reason, attempt=attempt)):
                await self.outbox.send(T.exec_topic(h.to_backend), h.subtask.task_id, message)
                await self.outbox.send(T.REALLOCATIONS, h.subtask.task_id, {
                    "schema": "qstream.reallocation.v1", "subtask_id": sid,
                    "task_id": h.subtask.task_id, "from_backend": h.from_backend,
                    "to_backend": h.to_backend, "old_cost": h.old_cost,
                    "new_cost": h.new_cost, "reason": h.reason, "at": time.time(),
                })

    async def publish_reallocations(self, moves: list[Reallocation]) -> None:
        """Publish each move on ``qstream.reallocations``, traced in its sub-task's trace."""
        for move in moves:
            self.metrics.reallocations += 1
            # A child span in the sub-task's trace; its later release hangs under it.
            with self.tracer.start_as_current_span(
                    "qstream.reallocate", context=self.ledger.trace_context(move.subtask_id),
                    attributes=_move_attributes(move.subtask_id, move.task_id,
                                                move.from_backend, move.to_backend,
                                                move.old_cost, move.new_cost, move.reason)):
                record = self.ledger.records.get(move.subtask_id)
                if record is not None and record.trace_context is not None:
                    record.trace_context = otel_context.get_current()
                await self.outbox.send(T.REALLOCATIONS, move.task_id, {
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
