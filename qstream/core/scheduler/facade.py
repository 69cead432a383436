"""The :class:`Scheduler`: one object over the fleet, the ledger, the scorer and the moves."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from qstream.core.backend_spec import BackendSpec
from qstream.core.estimators import Estimator
from qstream.core.policies import CostPolicy, PlacementPolicy
from qstream.core.scheduler import batch, budget, moves, placing
from qstream.core.scheduler.budget import Budgets
from qstream.core.scheduler.fairness import FairShare, TenantShare
from qstream.core.scheduler.fleet import Fleet
from qstream.core.scheduler.ledger import Ledger
from qstream.core.scheduler.scoring import Scorer
from qstream.core.scheduler.types import Decision, Hedge, Placement, Reallocation, SchedulerConfig
from qstream.core.subtask import SubTask

_DEFAULT_CONFIG = SchedulerConfig()


class Scheduler:
    """Places sub-tasks on backends, releases them by credit, moves pending ones.

    Parameters
    ----------
    specs:
        The fleet (order breaks cost ties).
    predictor:
        The estimator that scores backends (an :class:`~qstream.core.estimators.Estimator`:
        qstream's online :class:`~qstream.core.predictor.Predictor`, shared with
        the telemetry learner, or a baseline's). The scheduler only calls
        ``predict``, ``version``, ``backend_version`` and ``set_spec``.
    config:
        Tuning.
    policy:
        The placement rule (:mod:`qstream.core.policies`); default: cheapest by
        weighted cost, with reallocation and hedging (``predictive-realloc``).
    record_changes:
        Record the ids whose placement or completion changed (:meth:`drain_changed`).
    tenants:
        Tenant -> its :class:`~qstream.core.scheduler.fairness.TenantShare` (weight,
        ``max_concurrent``) for fair sharing at release; others get ``default_share``.
    default_share:
        The share of a tenant ``tenants`` does not name (default: weight 1, no limit).

    Attributes
    ----------
    predictor, config, policy:
        As given; assigning one takes effect at the next call.

    Raises
    ------
    ConfigError
        On an empty fleet, duplicate names or a capacity < 1.

    Examples
    --------
    >>> from qstream.core.backend_spec import BackendSpec
    >>> from qstream.core.features import CircuitFeatures
    >>> from qstream.core.predictor import Predictor
    >>> from qstream.core.subtask import SubTask
    >>> fleet = [BackendSpec("slow", "simulator", 20, 10**6, job_overhead_s=30.0),
    ...          BackendSpec("fast", "simulator", 20, 10**6, job_overhead_s=3.0)]
    >>> sched = Scheduler(fleet, Predictor(fleet))
    >>> s = SubTask("t/c0/s0", "t", 0, "ghz", "...", 1000, CircuitFeatures(5, 6, 4, 5, 5, 5))
    >>> [d.backend for d in sched.submit(s, now_s=0.0)]
    ['fast']
    >>> [(sub.subtask_id, b) for sub, b in sched.release(now_s=0.0)]
    [('t/c0/s0', 'fast')]
    >>> sched.complete("t/c0/s0", now_s=3.5)   # no hedge copies to cancel
    []
    >>> sched.in_flight()
    {'slow': [], 'fast': []}
    """

    def __init__(
        self,
        specs: Sequence[BackendSpec],
        predictor: Estimator,
        config: SchedulerConfig = _DEFAULT_CONFIG,
        policy: PlacementPolicy | None = None,
        *,
        record_changes: bool = False,
        tenants: Mapping[str, TenantShare] | None = None,
        default_share: TenantShare | None = None,
    ) -> None:
        self._fleet = Fleet(specs)
        self._budgets = Budgets()
        self._fair = FairShare(tenants, default_share)
        self._ledger = Ledger(self._fleet.names, record_changes=record_changes)
        self._scorer = Scorer(
            self._fleet, self._ledger, predictor, config,
            policy if policy is not None else CostPolicy(
                "predictive-realloc", reallocates=True, hedges=True),
            self._fair,
        )

    # The scorer holds these; a caller may swap one (a restored predictor, say).
    @property
    def predictor(self) -> Estimator:
        return self._scorer.predictor

    @predictor.setter
    def predictor(self, predictor: Estimator) -> None:
        self._scorer.predictor = predictor

    @property
    def config(self) -> SchedulerConfig:
        return self._scorer.config

    @config.setter
    def config(self, config: SchedulerConfig) -> None:
        self._scorer.config = config

    @property
    def policy(self) -> PlacementPolicy:
        return self._scorer.policy

    @policy.setter
    def policy(self, policy: PlacementPolicy) -> None:
        self._scorer.policy = policy

    # -- fleet state -------------------------------------------------------------------

    def set_pending_jobs(self, backend: str, pending_jobs: int) -> None:
        """Record the external pending jobs observed on a device (drives queue-wait predictions).

        Raises
        ------
        SchedulerLookupError
            On an unknown backend.
        """
        self._fleet.set_pending_jobs(backend, pending_jobs)

    def pending_jobs(self, backend: str) -> int:
        """External pending jobs last observed on ``backend`` (0 if unknown)."""
        return self._fleet.pending_jobs.get(backend, 0)

    def is_operational(self, backend: str) -> bool:
        """Whether ``backend`` is up (device status and circuit breaker); False if unknown."""
        return self._fleet.operational.get(backend, False)

    def set_operational(self, backend: str, operational: bool) -> None:
        """Mark a backend up or down; a down backend gets no new work and releases nothing.

        Sub-tasks pending on it move away at the next :meth:`reallocate`; those in
        flight are left to finish or fail (then :meth:`requeue`).

        Raises
        ------
        SchedulerLookupError
            On an unknown backend.
        """
        self._fleet.set_operational(backend, operational)

    def update_spec(self, spec: BackendSpec) -> None:
        """Replace a known backend's spec (new calibration, capacity, max_shots).

        Also hands it to the predictor (:meth:`Predictor.set_spec`), so priors for
        learning and for predicting stay the same.

        Raises
        ------
        SchedulerLookupError
            On an unknown backend.
        ConfigError
            On a capacity < 1.
        """
        self._fleet.replace_spec(spec)
        self.predictor.set_spec(spec)
        self._scorer.forget(spec.name)
        self._fleet.epoch += 1

    # -- placing -----------------------------------------------------------------------

    def submit(self, subtask: SubTask, now_s: float) -> list[Decision]:
        """Queue a sub-task on its cheapest capable backend, maybe split across several.

        Candidates are the backends the sub-task allows that can run its circuit
        and its shots. If none is operational but some are down, it is parked on
        the cheapest down one (released when it comes back or moved by
        :meth:`reallocate`) rather than failed.

        A sub-task with ``shots >= split_min_shots`` is split into ``k`` in
        2..``max_splits`` near-equal parts, each placed greedily at its cheapest
        backend, when that shortens the predicted completion time (the slowest
        part) by ``split_gain`` at no more than ``1 + split_gain`` times the cost
        (time of the slowest part, shot-weighted error, summed price); see
        :mod:`qstream.core.scheduler.splits`. Parts get ids ``{subtask_id}.{j}``;
        the original id counts as completed when all its parts have.

        Returns
        -------
        list of Decision
            One, or one per part (``split_of`` set). Empty if the id was already
            submitted (at-least-once redelivery).

        Raises
        ------
        CapacityError
            No allowed backend can run it; the message lists each backend's reason.
        """
        t0 = time.perf_counter()
        return placing.submit(self._ledger, self._scorer, subtask, now_s, t0, self._budgets)

    def requeue(self, subtask_id: str, now_s: float, *, exclude: Sequence[str] = ()) -> Decision:
        """Place a failed in-flight (or still pending) sub-task again, avoiding ``exclude``.

        Its credit is returned and it keeps its place in the priority order (it
        is not sent to the back of the queue).

        Raises
        ------
        SchedulerLookupError
            If the id is not pending or in flight (unknown or completed).
        CapacityError
            If no other backend can run it; the sub-task is then dropped from the
            scheduler and its task should fail.
        """
        t0 = time.perf_counter()
        return placing.requeue(self._ledger, self._scorer, subtask_id, now_s, exclude, t0,
                               self._budgets)

    # -- credits -----------------------------------------------------------------------

    def release(self, now_s: float) -> list[tuple[SubTask, str]]:
        """Move pending sub-tasks in flight on operational backends with free credit.

        Per backend, highest priority first, then earliest absolute deadline
        (``submitted_at_s + deadline_s``), then first submitted; a sub-task whose
        ``depends_on`` have not all completed is skipped without using a credit.

        Returns
        -------
        list of (SubTask, backend)
            In that same priority order across backends.
        """
        self._ledger.tick(now_s)
        return self._ledger.release(self._fleet, now_s, self._fair, self._budgets)

    def complete(self, subtask_id: str, now_s: float, backend: str | None = None) -> list[str]:
        """Record a sub-task as completed and return its credits.

        Idempotent: unknown or already completed ids are ignored. Completing a
        sub-task that is still pending (its result came from elsewhere) removes
        it from its queue.

        Parameters
        ----------
        backend:
            Where the winning copy ran, when known.

        Returns
        -------
        list of str
            Backends still running a copy of it (hedges, or the original when a
            hedge won): cancel those. Empty for a sub-task that was never hedged.
        """
        self._ledger.tick(now_s)
        return self._ledger.complete(subtask_id, backend)

    def fail_copy(self, subtask_id: str, backend: str, now_s: float) -> bool:
        """Drop one failed copy of a hedged sub-task; True if another copy still runs.

        When it returns False nothing changed: the caller should :meth:`requeue`
        (the only copy failed).
        """
        self._ledger.tick(now_s)
        return self._ledger.fail_copy(subtask_id, backend)

    def forget_task(self, task_id: str) -> None:
        """Drop the completion records of a finished task (bounds memory).

        Call it after the task's result is published; its sub-tasks must no
        longer be pending or in flight.
        """
        self._ledger.forget_task(task_id)
        self._budgets.forget(task_id)

    # -- budgets and tenants ---------------------------------------------------------

    def record_spend(self, task_id: str, usd: float) -> bool:
        """Add ``usd`` of actual spend (one execution's ``price_usd``) to ``task_id``.

        Returns True when this spend took the task past its budget: from now on
        none of its pending sub-tasks is released or hedged; the caller fails the
        task (see :mod:`qstream.core.scheduler.budget`).

        Raises
        ------
        ValueError
            If ``usd`` is negative or not finite.
        """
        return self._budgets.record_spend(task_id, usd)

    def spent_usd(self, task_id: str) -> float:
        """Actual spend recorded for ``task_id`` (USD)."""
        return self._budgets.spent(task_id)

    def restore_spend(self, spent: Mapping[str, float]) -> None:
        """Set each task's actual spend after a takeover (with :meth:`restore`)."""
        for task_id, usd in spent.items():
            self._budgets.set_spent(task_id, usd)

    def is_over_budget(self, task_id: str) -> bool:
        """Whether ``task_id``'s actual spend passed its budget."""
        return self._budgets.is_stopped(task_id)

    def remaining_usd(self, subtask: SubTask) -> float | None:
        """What ``subtask``'s task may still spend besides its other held sub-tasks (USD).

        None when it has no budget.
        """
        self._budgets.register(subtask.task_id, subtask.budget_usd)
        return placing.remaining_usd(self._ledger, self._budgets, subtask)

    def cheapest(self, subtask: SubTask) -> tuple[str, float] | None:
        """The capable backend with the lowest predicted price of ``subtask``, and that price.

        Operational or not (admission checks a task against the whole fleet);
        None when no backend can run it.
        """
        up, down, _ = self._fleet.candidates(subtask)
        prices = [(self._scorer.price_usd(b, subtask), self._fleet.rank[b], b)
                  for b in up + down]
        if not prices:
            return None
        price, _, backend = min(prices)
        return backend, price

    def check_budget(self, subtasks: Sequence[SubTask]) -> None:
        """Raise if the cheapest placements of ``subtasks`` (one task) exceed its budget.

        Admission's check: each sub-task at its cheapest capable backend, summed,
        against the budget minus what the task already spent. When they fit, each
        sub-task's cheapest price is reserved until it is submitted, so that the
        sub-tasks placed first leave the later ones their cheapest placement
        (:mod:`qstream.core.scheduler.budget`).

        Raises
        ------
        BudgetError
            Naming the cheapest option (backend and summed price) and the budget.
        """
        if not subtasks or subtasks[0].budget_usd is None:
            return
        s0 = subtasks[0]
        assert s0.budget_usd is not None
        total = 0.0
        names: list[str] = []
        prices: list[float] = []
        for s in subtasks:
            found = self.cheapest(s)
            prices.append(0.0 if found is None else found[1])
            if found is None:
                continue  # a capacity problem, reported by submit
            names.append(found[0])
            total += found[1]
        left = s0.budget_usd - self._budgets.spent(s0.task_id)
        if total > left + budget.FIT_EPS_USD:
            where = ", ".join(sorted(set(names)))
            raise budget.BudgetError(
                f"task {s0.task_id!r} does not fit its budget: the cheapest option is "
                f"{where} at {total:.4g} USD predicted for its {len(subtasks)} sub-task(s); "
                f"the budget is {s0.budget_usd:.4g} USD ({max(left, 0.0):.4g} USD remains)",
                backend=names[0] if len(set(names)) == 1 else where, price_usd=total,
                remaining_usd=max(left, 0.0))
        self._budgets.register(s0.task_id, s0.budget_usd)
        self._budgets.reserve(s0.task_id, {s.subtask_id: price for s, price in zip(
            subtasks, prices, strict=True)})

    # -- moves -------------------------------------------------------------------------

    def reallocate(self, now_s: float) -> list[Reallocation]:
        """Re-score every pending sub-task and move those cheaper elsewhere by the margin.

        See :func:`qstream.core.scheduler.moves.reallocate` for the sweep and why
        it does not ping-pong. In-flight sub-tasks are never touched.

        Returns
        -------
        list of Reallocation
            In sweep order; empty when nothing moved.
        """
        return moves.reallocate(self._ledger, self._scorer, now_s, self._budgets)

    def hedge(self, now_s: float) -> list[Hedge]:
        """Start backup copies of stragglers on idle backends (policies that hedge only).

        See :func:`qstream.core.scheduler.moves.hedge` for what a straggler is
        and where its copy goes.

        Returns
        -------
        list of Hedge
            Copies to start now; each is in flight on its ``to_backend``.
        """
        return moves.hedge(self._ledger, self._scorer, now_s, self._budgets)

    # -- batch assignment hook (batch policies such as ``anneal``) --------------------

    def batch_problem(self, now_s: float,
                      max_items: int = batch.DEFAULT_MAX_ITEMS) -> batch.BatchProblem | None:
        """The joint assignment of this release (see :mod:`qstream.core.scheduler.batch`).

        None when no operational backend has a free credit or no eligible pending
        sub-task can use one. Changes nothing.
        """
        self._ledger.tick(now_s)
        return batch.build_problem(self._ledger, self._scorer, self._fleet, self._fair,
                                   self._budgets, now_s, max_items)

    def apply_batch(self, plan: batch.BatchPlan, now_s: float) -> list[tuple[SubTask, str]]:
        """Move and release what ``plan`` assigns, each re-checked against the current state.

        Returns
        -------
        list of (SubTask, backend)
            Released now, in release order; call :meth:`release` after it for the
            credits the plan left free.
        """
        self._ledger.tick(now_s)
        return batch.apply_plan(self._ledger, self._scorer, self._fleet, self._fair, plan, now_s)

    # -- views -------------------------------------------------------------------------

    def pending(self) -> dict[str, list[str]]:
        """Pending (unreleased) sub-task ids per backend, in release order."""
        return self._ledger.pending_ids()

    def in_flight(self) -> dict[str, list[str]]:
        """Released, not yet completed sub-task ids per backend, in release order."""
        return self._ledger.inflight_ids()

    def backlog_s(self, backend: str) -> float:
        """Predicted local wait (s) before a new sub-task would start on ``backend``.

        In-flight work counts by its remaining predicted time as of the latest
        ``now_s`` the scheduler has seen.

        Raises
        ------
        SchedulerLookupError
            On an unknown backend.
        """
        spec = self._fleet.spec(backend)
        pending = sum(e.dur_s for e in self._ledger.pending[backend].values())
        load_s = self._scorer.inflight_load_s(backend, self._ledger.now_s)
        return (load_s + pending) / spec.capacity

    def is_completed(self, subtask_id: str) -> bool:
        """Whether ``subtask_id`` (or every split of it) has completed."""
        return subtask_id in self._ledger.completed

    # -- recovery ----------------------------------------------------------------------

    def placement(self, subtask_id: str) -> Placement | None:
        """The sub-task's current placement, or None if it is not pending or in flight."""
        return self._ledger.placement(subtask_id)

    def split_of(self, subtask_id: str) -> str | None:
        """The id ``subtask_id`` is a shot split of, while that split is unfinished."""
        return self._ledger.split_parent.get(subtask_id)

    def drain_changed(self) -> set[str]:
        """Ids whose :meth:`placement` or completion changed since the last call.

        Always empty unless the scheduler was built with ``record_changes=True``.
        """
        return self._ledger.drain_changed()

    def restore(self, placements: Sequence[Placement], completed: Sequence[str],
                now_s: float) -> None:
        """Rebuild pending and in-flight state after a worker failover.

        A worker that takes over the scheduler reads back what its predecessor
        wrote (each sub-task's :meth:`placement` and the completed ids) and
        restores it here, before anything new is submitted: pending sub-tasks
        keep their backend and release order, in-flight ones keep their credit,
        release time and hedge copies, and split parts still map to their
        parent. Predicted durations are recomputed with the current estimator.

        Raises
        ------
        ConfigError
            If the scheduler already holds sub-tasks.
        SchedulerLookupError
            If a placement names an unknown backend.

        Examples
        --------
        >>> from qstream.core.backend_spec import BackendSpec
        >>> from qstream.core.features import CircuitFeatures
        >>> from qstream.core.predictor import Predictor
        >>> from qstream.core.subtask import SubTask
        >>> fleet = [BackendSpec("sim", "simulator", 20, 10**6, capacity=1)]
        >>> old = Scheduler(fleet, Predictor(fleet))
        >>> f = CircuitFeatures(3, 4, 2, 3, 3, 3)
        >>> for i in range(2):
        ...     _ = old.submit(SubTask(f"t/c{i}/s0", "t", i, "ghz", "...", 100, f), now_s=0.0)
        >>> old.release(now_s=1.0)[0][0].subtask_id
        't/c0/s0'
        >>> new = Scheduler(fleet, Predictor(fleet))   # the worker that takes over
        >>> new.restore([old.placement("t/c0/s0"), old.placement("t/c1/s0")], [], now_s=5.0)
        >>> new.in_flight(), new.pending(), new.release(now_s=5.0)   # no free credit
        ({'sim': ['t/c0/s0']}, {'sim': ['t/c1/s0']}, [])
        >>> _ = new.complete("t/c0/s0", now_s=6.0)
        >>> [s.subtask_id for s, _ in new.release(now_s=6.0)]
        ['t/c1/s0']
        """
        self._ledger.restore(placements, completed, now_s, self._fleet, self._scorer.dur_s,
                             self._scorer.price_usd)
        for p in placements:
            self._budgets.register(p.subtask.task_id, p.subtask.budget_usd)
