"""The discrete-event loop: the live scheduler and policy against the simulated world.

Events, in simulation seconds, from one heap:

- ``arrive``: a task is partitioned (one sub-task per circuit, as
  :func:`~qstream.core.partition.partition_task`) and every sub-task is
  submitted to the :class:`~qstream.core.scheduler.Scheduler`;
- ``ready``: a released job reaches the head of the device's external queue;
  on a QPU it then waits for qstream's previous job on that device (one runs at
  a time, as the live executor's device lock); during an outage it waits for
  the outage to end;
- ``finish``: the job completes (or fails, in a ``fail`` burst, and fails over);
  the observation is scored by the anomaly detectors against the estimator's
  prediction, then goes to the estimator (if it learns);
  :meth:`Scheduler.complete` returns the credit and names hedge copies to cancel;
- ``tick`` every ``status_interval_s``: external pending jobs and the
  operational flag of each backend are reported to the scheduler (the live
  ``backend_status`` timer), a new calibration day is published, then
  reallocation and hedging run (for the policies that do them).

Detectors and circuit breakers run as in the live pipeline (:mod:`qstream.sim.health`):
an ``error`` anomaly lowers the backend's placement, a run-time, queue-wait or failure
anomaly (and repeated failures) opens its breaker. ``RunResult.anomalies`` lists them.

After every event the scheduler releases what its credits allow. Reallocation
also runs after a learned observation, at most once per ``realloc_interval_s``
(the live worker runs it after every learn and on a 1 s wall timer, 60
simulated seconds at the demo's time scale).
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qstream.core.ahmo.policy import Outcome
from qstream.core.backend_spec import BackendSpec
from qstream.core.estimators import Estimator
from qstream.core.observation import ExecutionObservation
from qstream.core.policies import PlacementPolicy
from qstream.core.predictor import Predictor
from qstream.core.scheduler import Decision, Scheduler, SchedulerConfig
from qstream.core.subtask import SubTask
from qstream.core.trace import TraceJob
from qstream.errors import CapacityError
from qstream.sim.health import SimHealth
from qstream.sim.workload import SimTask
from qstream.sim.world import World

_ARRIVE, _READY, _FINISH, _TICK = 0, 1, 2, 3
TRACE_EPOCH_S = 1_700_143_140.0
"""2023-11-16T13:59:00Z, the first sample of the packaged pending-jobs series."""


@dataclass(slots=True)
class _Exec:
    """One execution of one sub-task copy on one backend."""

    subtask: SubTask
    backend: str
    released_s: float
    pending_jobs: int
    predicted_s: float
    state: str = "queued"  # queued -> waiting -> running -> done | failed | cancelled
    start_s: float = 0.0
    run_s: float = 0.0


@dataclass(slots=True)
class _TaskState:
    task: SimTask
    remaining: set[str]
    error_shots: float = 0.0
    shots: int = 0
    price_usd: float = 0.0
    done_s: float | None = None
    failed: bool = False


@dataclass(slots=True)
class RunResult:
    """Everything one simulation run measured.

    ``jct_s`` holds the JCT of every completed task (for CDFs); ``pred_actual_s``
    pairs the device time (queue wait + run time) predicted at release with the
    one observed, for every completed execution; ``jct_by_tenant`` the same JCTs
    by the task's tenant.
    """

    policy: str
    tasks: int
    completed: int
    failed: int
    subtasks: int
    executions: int
    makespan_s: float
    jct_s: list[float]
    errors: list[float]
    cost_usd: float
    deadline_tasks: int
    deadline_missed: int
    reallocations: int
    hedges: int
    decision_ms: list[float]
    pred_actual_s: list[tuple[float, float]] = field(default_factory=list)
    jct_by_tenant: dict[str, list[float]] = field(default_factory=dict)
    wall_s: float = 0.0
    events: int = 0
    starts: list[tuple[float, str]] = field(default_factory=list)
    """(simulation s, backend) of every execution started (drift and share analyses)."""
    batch_ms: list[float] = field(default_factory=list)
    """Wall ms of every release-time plan of a batch policy (``anneal``)."""
    batch_released: int = 0
    """Sub-tasks released by those plans (the rest by greedy release)."""
    anomalies: list[tuple[float, str, str, str]] = field(default_factory=list)
    """(simulation s, backend, signal, action) of every sustained anomaly."""
    breaker_opens: int = 0
    """Times a circuit breaker opened."""
    failed_executions: int = 0
    """Executions that failed (a ``fail`` burst, or a release to a device that was down)."""


class Simulation:
    """One run of one policy on one workload in one world.

    Parameters
    ----------
    specs:
        The fleet.
    world:
        Ground truth (its seed fixes all randomness of the run).
    tasks:
        The workload, any order (sorted by ``submit_s``).
    policy, estimator:
        What the scheduler uses (:func:`qstream.sim.policies.build`). The
        estimator learns from every completed execution if it is a
        :class:`~qstream.core.predictor.Predictor`.
    config:
        Scheduler tuning (the live defaults unless given).
    status_interval_s, realloc_interval_s:
        Simulated seconds between status ticks, and the least between two
        reallocation sweeps triggered by learning.
    detectors:
        Run the anomaly detectors and their actions (False: a control without them;
        circuit breakers still open on failures).
    """

    def __init__(
        self,
        specs: Sequence[BackendSpec],
        world: World,
        tasks: Sequence[SimTask],
        policy: PlacementPolicy,
        estimator: Estimator,
        *,
        config: SchedulerConfig | None = None,
        status_interval_s: float = 60.0,
        realloc_interval_s: float = 60.0,
        on_truth_change: Any = None,
        detectors: bool = True,
    ) -> None:
        self.specs = list(specs)
        self.spec = {s.name: s for s in specs}
        self.world = world
        self.tasks = sorted(tasks, key=lambda t: t.submit_s)
        self.policy = policy
        self.estimator = estimator
        self.learner = estimator if isinstance(estimator, Predictor) else None
        self.scheduler = Scheduler(self.specs, estimator, config or SchedulerConfig(), policy)
        self.health = SimHealth(self.specs, self.scheduler, detectors=detectors)
        self.status_interval_s = status_interval_s
        self.realloc_interval_s = realloc_interval_s
        self.on_truth_change = on_truth_change
        # A policy that learns from outcomes (ahmo) gets each completed sub-task's.
        self._observe = getattr(policy, "observe", None)
        self.now_s = 0.0
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self._execs: dict[int, _Exec] = {}
        self._copies: dict[tuple[str, str], int] = {}  # (subtask_id, backend) -> exec id
        self._device_busy: dict[str, int | None] = dict.fromkeys(self.spec)
        self._device_fifo: dict[str, deque[int]] = {b: deque() for b in self.spec}
        self._attempt: dict[str, int] = {}
        self._task_of: dict[str, _TaskState] = {}
        self._states: list[_TaskState] = []
        self._open_tasks = 0
        self._arrived = 0
        self._last_realloc_s = -math.inf
        self._day = -1
        self._fault_epoch: tuple[bool, ...] | None = None
        self.result = RunResult(
            policy=policy.name, tasks=len(self.tasks), completed=0, failed=0, subtasks=0,
            executions=0, makespan_s=0.0, jct_s=[], errors=[], cost_usd=0.0, deadline_tasks=0,
            deadline_missed=0, reallocations=0, hedges=0, decision_ms=[],
        )

    # -- event heap -------------------------------------------------------------------------

    def _push(self, at_s: float, kind: int, payload: Any) -> None:
        heapq.heappush(self._heap, (at_s, self._seq, kind, payload))
        self._seq += 1

    # -- run --------------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run to the last task's completion (or failure) and return the measurements."""
        wall0 = time.perf_counter()
        for i, task in enumerate(self.tasks):
            self._push(task.submit_s, _ARRIVE, i)
        if self.tasks:
            self._push(self.tasks[0].submit_s, _TICK, None)
        events = 0
        while self._heap:
            at_s, _, kind, payload = heapq.heappop(self._heap)
            self.now_s = at_s
            events += 1
            if kind == _ARRIVE:
                self._arrive(self.tasks[payload])
            elif kind == _READY:
                self._ready(payload)
            elif kind == _FINISH:
                self._finish(payload)
            else:
                self._tick()
                if self._open_tasks or self._arrived < len(self.tasks):
                    self._push(at_s + self.status_interval_s, _TICK, None)
                continue
            self._release()
        r = self.result
        r.wall_s = time.perf_counter() - wall0
        r.events = events
        r.anomalies = [(a.at_s, a.backend, a.signal, a.action) for a in self.health.anomalies]
        r.breaker_opens = self.health.breaker_opens
        done = [s.done_s for s in self._states if s.done_s is not None]
        if done and self.tasks:
            r.makespan_s = max(done) - self.tasks[0].submit_s
        return r

    def trace_jobs(self, epoch_s: float = TRACE_EPOCH_S) -> list[TraceJob]:
        """Completed executions as job-trace rows (one circuit per job), in submission order.

        ``submitted_at`` is the release time, ``epoch_s`` + simulation seconds.
        """
        jobs: list[TraceJob] = []
        for e in sorted(self._execs.values(), key=lambda e: e.released_s):
            if e.state != "done":
                continue
            f = e.subtask.features
            jobs.append(TraceJob(
                line=len(jobs) + 2, submitted_at_s=epoch_s + e.released_s, backend=e.backend,
                n_circuits=1, shots=e.subtask.shots, num_qubits=f.num_qubits, depth=f.depth,
                two_qubit_gates=f.two_qubit_gates, gates=f.gates,
                queue_s=round(e.start_s - e.released_s, 3), run_s=round(e.run_s, 3)))
        return jobs

    def executions(self) -> list[tuple[str, str, str]]:
        """Every execution so far as ``(subtask_id, backend, state)``; ``state`` is
        ``queued``, ``waiting``, ``running``, ``done``, ``failed`` or ``cancelled``."""
        return [(e.subtask.subtask_id, e.backend, e.state) for e in self._execs.values()]

    # -- handlers ---------------------------------------------------------------------------

    def _arrive(self, task: SimTask) -> None:
        self._arrived += 1
        allowed = None
        if task.kinds is not None:
            allowed = tuple(s.name for s in self.specs if s.kind in task.kinds)
        subtasks = [
            SubTask(
                subtask_id=f"{task.task_id}/c{i}/s0", task_id=task.task_id, circuit_index=i,
                circuit_name=task.names[i] if i < len(task.names) else f"c{i}", qasm="",
                shots=task.shots, features=f, weights=task.weights, priority=task.priority,
                deadline_s=task.deadline_s, allowed_backends=allowed, submitted_at_s=task.submit_s,
                budget_usd=task.budget_usd, tenant=task.tenant,
            )
            for i, f in enumerate(task.circuits)
        ]
        state = _TaskState(task, remaining=set())
        self._states.append(state)
        self._open_tasks += 1
        if task.deadline_s is not None:
            self.result.deadline_tasks += 1
        for s in subtasks:
            try:
                decisions = self.scheduler.submit(s, self.now_s)
            except CapacityError:
                self._fail_task(state)
                return
            self._record(decisions)
            for d in decisions:
                state.remaining.add(d.subtask.subtask_id)
                self._task_of[d.subtask.subtask_id] = state

    def _record(self, decisions: list[Decision]) -> None:
        for d in decisions:
            self.result.decision_ms.append(d.decision_latency_ms)
        self.result.subtasks += len(decisions)

    def _release(self) -> None:
        released: list[tuple[SubTask, str]] = []
        plan_batch = getattr(self.policy, "plan_batch", None)
        if plan_batch is not None:
            problem = self.scheduler.batch_problem(self.now_s)
            if problem is not None:
                plan = plan_batch(problem)
                self.result.batch_ms.append(plan.solve_ms)
                batch = self.scheduler.apply_batch(plan, self.now_s)
                self.result.batch_released += len(batch)
                released += batch
        released += self.scheduler.release(self.now_s)
        for s, backend in released:
            self._start_copy(s, backend)
        if released:
            self.health.released((b for _, b in released), self.now_s)

    def _start_copy(self, s: SubTask, backend: str) -> None:
        sid = s.subtask_id
        attempt = self._attempt.get(sid, 0)
        if not self.world.operational(backend, self.now_s):
            self.result.failed_executions += 1
            self.health.failed(backend, self.now_s)
            self._failed_copy(sid, backend)
            return
        pending = self.world.pending_jobs(backend, self.now_s)
        pred = self.estimator.predict(self.health.spec[backend], s.features, s.shots, pending)
        ex = _Exec(s, backend, self.now_s, pending, pred.queue_s + pred.run_s)
        eid = self._seq
        self._execs[eid] = ex
        self._copies[(sid, backend)] = eid
        self.result.executions += 1
        self.result.starts.append((self.now_s, backend))
        queue_s = self.world.sample_queue_s(backend, pending, self.now_s,
                                            key=f"{sid}/{attempt}/{backend}")
        self._push(self.now_s + queue_s, _READY, eid)

    def _ready(self, eid: int) -> None:
        ex = self._execs[eid]
        if ex.state != "queued":
            return
        b = ex.backend
        if not self.world.operational(b, self.now_s):
            # The device's queue is frozen while it is down; the job keeps its place.
            self._push(self.world.outage_end_s(b, self.now_s), _READY, eid)
            return
        if self.spec[b].kind == "qpu" and self._device_busy[b] is not None:
            ex.state = "waiting"
            self._device_fifo[b].append(eid)
            return
        self._run(eid)

    def _run(self, eid: int) -> None:
        ex = self._execs[eid]
        s = ex.subtask
        ex.state = "running"
        ex.start_s = self.now_s
        ex.run_s = self.world.sample_run_s(
            ex.backend, s.features, s.shots, ex.released_s,
            key=f"{s.subtask_id}/{self._attempt.get(s.subtask_id, 0)}/{ex.backend}")
        if self.spec[ex.backend].kind == "qpu":
            self._device_busy[ex.backend] = eid
        self._push(self.now_s + ex.run_s, _FINISH, eid)

    def _free_device(self, backend: str, eid: int) -> None:
        if self._device_busy.get(backend) != eid:
            return
        self._device_busy[backend] = None
        fifo = self._device_fifo[backend]
        while fifo:
            nxt = fifo.popleft()
            if self._execs[nxt].state == "waiting":
                self._run(nxt)
                break

    def _finish(self, eid: int) -> None:
        ex = self._execs[eid]
        if ex.state != "running":
            return
        b = ex.backend
        s = ex.subtask
        sid = s.subtask_id
        key = f"{sid}/{self._attempt.get(sid, 0)}/{b}"
        self._free_device(b, eid)
        self._copies.pop((sid, b), None)
        if self.world.fails(b, self.now_s, key):
            ex.state = "failed"
            self.result.failed_executions += 1
            self.health.failed(b, self.now_s)
            self._failed_copy(sid, b)
            return
        ex.state = "done"
        queue_s = ex.start_s - ex.released_s
        price = self.spec[b].pricing.price_usd(s.shots, ex.run_s)
        error = self.world.expected_error(b, s.features, ex.start_s)
        state = self._task_of.get(sid)
        if state is not None:
            state.price_usd += price
            if s.budget_usd is not None and self.scheduler.record_spend(s.task_id, price):
                self._over_budget(state)
        self.result.pred_actual_s.append((ex.predicted_s, queue_s + ex.run_s))
        obs = ExecutionObservation(
            backend=b, features=s.features, shots=s.shots, pending_jobs=ex.pending_jobs,
            queue_s=queue_s, run_s=ex.run_s,
            error=self.world.sample_error(b, s.features, s.shots, ex.start_s, key),
            price_usd=price, at_s=self.now_s)
        # As the live learn agent: score against the prediction, then learn from it.
        pred = self.estimator.predict(self.health.spec[b], s.features, s.shots, ex.pending_jobs)
        found = self.health.observe(obs, pred)
        if self.learner is not None:
            self.learner.learn(obs)
        if self._observe is not None:
            # What a live worker would see: the observed (shot-noisy) error, not the truth.
            self._observe(sid, Outcome(time_s=self.now_s - s.submitted_at_s, error=obs.error,
                                       price_usd=price))
        for other in self.scheduler.complete(sid, self.now_s, backend=b):
            self._cancel(sid, other)
        self.health.succeeded(b, self.now_s, found, pred.error)
        if state is not None and sid in state.remaining:
            state.remaining.discard(sid)
            state.error_shots += error * s.shots
            state.shots += s.shots
            if not state.remaining and not state.failed:
                self._complete_task(state)
        if self.learner is not None and self.now_s - self._last_realloc_s >= self.realloc_interval_s:
            self._reallocate()

    def _cancel(self, sid: str, backend: str) -> None:
        eid = self._copies.pop((sid, backend), None)
        if eid is None:
            return
        ex = self._execs[eid]
        if ex.state == "running":
            # Billed for the QPU time it used before the cancel.
            used_s = self.now_s - ex.start_s
            state = self._task_of.get(sid)
            if state is not None:
                state.price_usd += self.spec[backend].pricing.price_usd(0, used_s)
            self._free_device(backend, eid)
        ex.state = "cancelled"

    def _failed_copy(self, sid: str, backend: str) -> None:
        if self.scheduler.fail_copy(sid, backend, self.now_s):
            return
        self._attempt[sid] = self._attempt.get(sid, 0) + 1
        try:
            d = self.scheduler.requeue(sid, self.now_s, exclude=(backend,))
        except CapacityError:
            state = self._task_of.get(sid)
            if state is not None:
                self._fail_task(state)
            return
        self.result.decision_ms.append(d.decision_latency_ms)

    def _over_budget(self, state: _TaskState) -> None:
        """Actual spend passed the task's budget: withdraw its unfinished sub-tasks, fail it."""
        for sid in sorted(state.remaining):
            for other in self.scheduler.complete(sid, self.now_s):
                self._cancel(sid, other)
        self._fail_task(state)

    def _complete_task(self, state: _TaskState) -> None:
        state.done_s = self.now_s
        self._open_tasks -= 1
        r = self.result
        r.completed += 1
        jct = self.now_s - state.task.submit_s
        r.jct_s.append(jct)
        r.jct_by_tenant.setdefault(state.task.tenant, []).append(jct)
        r.errors.append(state.error_shots / state.shots if state.shots else 0.0)
        r.cost_usd += state.price_usd
        if state.task.deadline_s is not None and jct > state.task.deadline_s:
            r.deadline_missed += 1

    def _fail_task(self, state: _TaskState) -> None:
        if state.failed or state.done_s is not None:
            return
        state.failed = True
        self._open_tasks -= 1
        self.result.failed += 1
        self.result.cost_usd += state.price_usd
        if state.task.deadline_s is not None:
            self.result.deadline_missed += 1

    def _reallocate(self) -> None:
        self._last_realloc_s = self.now_s
        self.result.reallocations += len(self.scheduler.reallocate(self.now_s))

    def _tick(self) -> None:
        now = self.now_s
        for b in self.spec:
            self.scheduler.set_pending_jobs(b, self.world.pending_jobs(b, now))
            self.health.set_device_up(b, self.world.operational(b, now), now)
        day = self.world.day(now)
        if day != self._day:
            self._day = day
            for b in self.spec:
                self.health.publish(self.world.published_spec(b, now))
            if self.on_truth_change is not None:
                self.on_truth_change()
        epoch = self.world.fault_epoch(now)
        if epoch != self._fault_epoch:
            self._fault_epoch = epoch
            if self.on_truth_change is not None:
                self.on_truth_change()
        self._reallocate()
        for h in self.scheduler.hedge(now):
            self.result.hedges += 1
            self._start_copy(h.subtask, h.to_backend)
        self._release()
