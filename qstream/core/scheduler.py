"""The dispatcher's brain: cost-based placement, credit-based release, reallocation.

Placement is list scheduling by earliest finish time, weighted by the task's
cost weights (HEFT: Topcuoglu, Hariri and Wu, "Performance-effective and
low-complexity task scheduling for heterogeneous computing", IEEE TPDS 13(3),
2002). The cost of sub-task ``s`` on backend ``b`` is::

    time_s = wait_s(b) + queue_s + run_s
    cost   = weighted_cost(time_s, error, price_usd, s.weights, scales)

where ``queue_s``, ``run_s``, ``error`` and ``price_usd`` come from
:meth:`Predictor.predict` and ``wait_s(b)`` is the local backlog: the predicted
``queue_s + run_s`` still to go of the sub-tasks in flight on ``b`` plus those
pending on ``b`` ahead of ``s``, divided by ``b``'s capacity.

Credits: a backend holds at most ``spec.capacity`` sub-tasks in flight; the
rest stay *pending* inside qstream, where :meth:`Scheduler.reallocate` can
still move them when predictions change. Pending sub-tasks are released highest
priority first, then earliest absolute deadline, then first submitted, and
never before all their ``depends_on`` have completed.

Everything takes ``now_s`` explicitly; the wall clock is read only to measure
decision latency.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from qstream.core.backend_spec import BackendSpec
from qstream.core.cost import CostScales, CostTerms, cost_terms, weighted_cost
from qstream.core.estimators import Estimator
from qstream.core.features import CircuitFeatures
from qstream.core.partition import split_shots
from qstream.core.policies import CostPolicy, FleetView, PlacementPolicy
from qstream.core.prediction import Prediction
from qstream.core.subtask import SubTask
from qstream.errors import CapacityError, ConfigError

_Key = tuple[float, float, int]
#: Per-backend prediction caches are dropped beyond this many entries (bounds memory
#: when shots vary freely; a refill costs one predict per entry).
_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """Tuning of the scheduler.

    Attributes
    ----------
    realloc_margin:
        Move a pending sub-task only if its new cost < ``(1 - margin) *`` current
        cost; the hysteresis that keeps noisy predictions from moving work.
    realloc_min_gain:
        ... and only if the cost falls by at least this much in absolute terms
        (0.01 = 0.6 s of waiting at unit time weight): a relative margin alone
        lets near-free sub-tasks shuttle between near-free backends.
    split_min_shots:
        Consider splitting a sub-task's shots across backends at or above this.
    max_splits:
        Most parts one sub-task is split into (1 disables splitting).
    split_gain:
        Split only if the predicted completion time improves by at least this
        fraction, at no more than ``(1 + split_gain)`` times the cost.
    hedge_factor:
        A sub-task in flight for more than this many times its predicted
        ``queue_s + run_s`` is a straggler (see :meth:`Scheduler.hedge`).
    hedge_min_s:
        ... and only after at least this many seconds in flight, so a sub-task
        predicted to take 0.1 s is not hedged after 0.3 s.
    scales:
        Reference scales of the cost function.

    Raises
    ------
    ConfigError
        On a margin or gain outside [0, 1), ``max_splits < 1`` or
        ``split_min_shots < 2``.
    """

    realloc_margin: float = 0.10
    realloc_min_gain: float = 0.01
    split_min_shots: int = 8000
    max_splits: int = 4
    split_gain: float = 0.25
    hedge_factor: float = 2.0
    hedge_min_s: float = 60.0
    scales: CostScales = field(default_factory=CostScales)

    def __post_init__(self) -> None:
        if not 0.0 <= self.realloc_margin < 1.0:
            raise ConfigError(f"realloc_margin must be in [0, 1), got {self.realloc_margin}")
        if not 0.0 <= self.split_gain < 1.0:
            raise ConfigError(f"split_gain must be in [0, 1), got {self.split_gain}")
        if self.max_splits < 1:
            raise ConfigError(f"max_splits must be >= 1, got {self.max_splits}")
        if self.split_min_shots < 2:
            raise ConfigError(f"split_min_shots must be >= 2, got {self.split_min_shots}")
        if not self.hedge_factor > 1.0 or self.hedge_min_s < 0.0:
            raise ConfigError(
                f"hedge_factor must be > 1 and hedge_min_s >= 0, got {self.hedge_factor}, "
                f"{self.hedge_min_s}"
            )


@dataclass(frozen=True, slots=True)
class BackendScore:
    """The cost of one sub-task on one backend, with its parts.

    Attributes
    ----------
    backend:
        Backend name.
    prediction:
        Predicted device queue wait, run time, error and price.
    wait_s:
        Predicted local wait (qstream backlog) before the sub-task would be released.
    terms:
        Weighted cost terms; :attr:`total` is the cost.
    """

    backend: str
    prediction: Prediction
    wait_s: float
    terms: CostTerms

    @property
    def total(self) -> float:
        """The weighted cost (lower is better)."""
        return self.terms.total

    @property
    def time_s(self) -> float:
        """Predicted completion time: local wait + device queue wait + run time."""
        return self.wait_s + self.prediction.queue_s + self.prediction.run_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "prediction": self.prediction.to_dict(),
            "wait_s": self.wait_s,
            "time_s": self.time_s,
            "terms": {"time": self.terms.time, "error": self.terms.error,
                      "cost": self.terms.cost},
            "total": self.total,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a sub-task was queued and why.

    Attributes
    ----------
    subtask:
        The sub-task placed (a shot split of the submitted one when ``split_of``).
    backend:
        The backend it is pending on.
    scores:
        Its score on every candidate backend, cheapest first.
    decision_latency_ms:
        Wall time the decision took (``time.perf_counter``).
    at_s:
        Scheduler time of the decision.
    split_of:
        The submitted sub-task's id when the scheduler split its shots.
    """

    subtask: SubTask
    backend: str
    scores: tuple[BackendScore, ...]
    decision_latency_ms: float
    at_s: float
    split_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "subtask_id": self.subtask.subtask_id,
            "task_id": self.subtask.task_id,
            "backend": self.backend,
            "shots": self.subtask.shots,
            "scores": [s.to_dict() for s in self.scores],
            "decision_latency_ms": self.decision_latency_ms,
            "at_s": self.at_s,
            "split_of": self.split_of,
        }


@dataclass(frozen=True, slots=True)
class Reallocation:
    """A pending sub-task moved from one backend to another.

    ``old_cost`` is the cost on ``from_backend`` at the time of the move (also when
    it moved because that backend went down), ``new_cost`` the cost on ``to_backend``.
    """

    subtask_id: str
    task_id: str
    from_backend: str
    to_backend: str
    old_cost: float
    new_cost: float
    reason: str
    at_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "subtask_id": self.subtask_id,
            "task_id": self.task_id,
            "from_backend": self.from_backend,
            "to_backend": self.to_backend,
            "old_cost": self.old_cost,
            "new_cost": self.new_cost,
            "reason": self.reason,
            "at_s": self.at_s,
        }


@dataclass(frozen=True, slots=True)
class Hedge:
    """A backup copy of a straggling in-flight sub-task, started on another backend.

    The copy runs under the same ``subtask_id``; the first copy to complete wins
    and :meth:`Scheduler.complete` names the backends whose copies to cancel.
    (Speculative backup tasks: Dean and Ghemawat, "MapReduce: simplified data
    processing on large clusters", OSDI 2004.)
    """

    subtask: SubTask
    from_backend: str
    to_backend: str
    old_cost: float
    new_cost: float
    reason: str
    at_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "subtask_id": self.subtask.subtask_id,
            "task_id": self.subtask.task_id,
            "from_backend": self.from_backend,
            "to_backend": self.to_backend,
            "old_cost": self.old_cost,
            "new_cost": self.new_cost,
            "reason": self.reason,
            "at_s": self.at_s,
        }


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the scheduler holds one sub-task: what a changelog stores to rebuild it.

    Attributes
    ----------
    subtask:
        The sub-task (a split part has its own id and ``split_of`` set).
    backend:
        The backend it is pending on, or in flight on.
    released_at_s:
        When it was released (scheduler clock, s); None while pending.
    order:
        Its submission order; ties in priority and deadline release the lower first.
    split_of:
        The id of the sub-task it is a shot split of, or None.
    copies:
        Hedge copies in flight: backend -> release time (s).
    """

    subtask: SubTask
    backend: str
    released_at_s: float | None
    order: int
    split_of: str | None = None
    copies: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :meth:`from_dict` inverts it."""
        return {"subtask": self.subtask.to_dict(), "backend": self.backend,
                "released_at_s": self.released_at_s, "order": self.order,
                "split_of": self.split_of, "copies": dict(self.copies)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Placement:
        released = data.get("released_at_s")
        return cls(SubTask.from_dict(data["subtask"]), str(data["backend"]),
                   None if released is None else float(released), int(data["order"]),
                   data.get("split_of"),
                   {str(b): float(t) for b, t in (data.get("copies") or {}).items()})


@dataclass(slots=True)
class _Entry:
    """A sub-task the scheduler holds, pending or in flight."""

    subtask: SubTask
    backend: str
    key: _Key
    dur_s: float  # predicted queue_s + run_s on `backend`
    released_at_s: float | None = None
    # (backend it was last moved away from, info token at that move): no move back
    # there until the predictor or the fleet state changed.
    moved_from: tuple[str, tuple[int, int]] | None = None
    # Backends running a hedge copy -> when it was released there.
    copies: dict[str, float] = field(default_factory=dict)


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
        config: SchedulerConfig = SchedulerConfig(),
        policy: PlacementPolicy | None = None,
        *,
        record_changes: bool = False,
    ) -> None:
        if not specs:
            raise ConfigError("the scheduler needs at least one backend")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate backend names in {names}")
        for s in specs:
            if s.capacity < 1:
                raise ConfigError(f"backend {s.name!r} has capacity {s.capacity}; must be >= 1")
        self.predictor = predictor
        self.config = config
        self.policy: PlacementPolicy = policy if policy is not None else CostPolicy(
            "predictive-realloc", reallocates=True, hedges=True)
        self._specs: dict[str, BackendSpec] = {s.name: s for s in specs}
        self._rank: dict[str, int] = {n: i for i, n in enumerate(names)}
        self._pending_jobs: dict[str, int] = dict.fromkeys(names, 0)
        self._operational: dict[str, bool] = dict.fromkeys(names, True)
        self._entries: dict[str, _Entry] = {}
        self._pending: dict[str, dict[str, _Entry]] = {n: {} for n in names}
        self._inflight: dict[str, dict[str, _Entry]] = {n: {} for n in names}
        self._completed: set[str] = set()
        self._split_children: dict[str, set[str]] = {}
        self._split_parent: dict[str, str] = {}
        self._seq = 0
        self._epoch = 0
        # Ids whose placement or completion changed since drain_changed(); a live
        # worker writes them to its changelog so a successor can restore().
        self._record_changes = record_changes
        self._changed: set[str] = set()
        self._now_s = 0.0
        # backend -> (backend_version, pending_jobs, {(features, shots): Prediction})
        self._cache: dict[str, tuple[int, int, dict[tuple[CircuitFeatures, int], Prediction]]] = {}

    # -- fleet state -------------------------------------------------------------------

    def _spec(self, backend: str) -> BackendSpec:
        try:
            return self._specs[backend]
        except KeyError:
            raise ConfigError(
                f"unknown backend {backend!r}; known: {sorted(self._specs)}"
            ) from None

    def set_pending_jobs(self, backend: str, pending_jobs: int) -> None:
        """Record the external pending jobs observed on a device (drives queue-wait predictions).

        Raises
        ------
        ConfigError
            On an unknown backend.
        """
        self._spec(backend)
        pending_jobs = max(int(pending_jobs), 0)
        if self._pending_jobs[backend] != pending_jobs:
            self._pending_jobs[backend] = pending_jobs
            self._epoch += 1

    def set_operational(self, backend: str, operational: bool) -> None:
        """Mark a backend up or down; a down backend gets no new work and releases nothing.

        Sub-tasks pending on it move away at the next :meth:`reallocate`; those in
        flight are left to finish or fail (then :meth:`requeue`).
        """
        self._spec(backend)
        if self._operational[backend] != bool(operational):
            self._operational[backend] = bool(operational)
            self._epoch += 1

    def update_spec(self, spec: BackendSpec) -> None:
        """Replace a known backend's spec (new calibration, capacity, max_shots).

        Also hands it to the predictor (:meth:`Predictor.set_spec`), so priors for
        learning and for predicting stay the same.
        """
        self._spec(spec.name)
        if spec.capacity < 1:
            raise ConfigError(f"backend {spec.name!r} has capacity {spec.capacity}; must be >= 1")
        self._specs[spec.name] = spec
        self.predictor.set_spec(spec)
        self._cache.pop(spec.name, None)
        self._epoch += 1

    # -- scoring -----------------------------------------------------------------------

    def _predict(self, backend: str, features: CircuitFeatures, shots: int) -> Prediction:
        version = self.predictor.backend_version(backend)
        pending_jobs = self._pending_jobs[backend]
        cached = self._cache.get(backend)
        if (
            cached is None
            or cached[0] != version
            or cached[1] != pending_jobs
            or len(cached[2]) > _CACHE_LIMIT
        ):
            cached = (version, pending_jobs, {})
            self._cache[backend] = cached
        table = cached[2]
        pred = table.get((features, shots))
        if pred is None:
            pred = self.predictor.predict(self._specs[backend], features, shots, pending_jobs)
            table[(features, shots)] = pred
        return pred

    def _score(
        self, s: SubTask, backend: str, wait_s: float, shots: int | None = None
    ) -> BackendScore:
        pred = self._predict(backend, s.features, s.shots if shots is None else shots)
        terms = cost_terms(
            wait_s + pred.queue_s + pred.run_s, pred.error, pred.price_usd, s.weights,
            self.config.scales,
        )
        return BackendScore(backend, pred, wait_s, terms)

    def _order(self, score: BackendScore) -> tuple[float, int]:
        return (score.total, self._rank[score.backend])

    def _view(self) -> FleetView:
        return FleetView(
            rank=self._rank,
            outstanding={b: len(self._pending[b]) + len(self._inflight[b]) for b in self._specs},
            pending_jobs=self._pending_jobs,
        )

    def _choose(self, s: SubTask, scores: list[BackendScore]) -> BackendScore:
        name = self.policy.choose(s, scores, self._view())
        for score in scores:
            if score.backend == name:
                return score
        raise ConfigError(
            f"policy {self.policy.name!r} chose {name!r}, not a candidate of {s.subtask_id!r}"
        )

    def _inflight_load_s(self, backend: str, now_s: float) -> float:
        # Remaining predicted time of each in-flight sub-task (HEFT's processor
        # "available time"); an overrunning one counts 0, its credit is still held.
        total = 0.0
        for e in self._inflight[backend].values():
            released = e.released_at_s if e.released_at_s is not None else now_s
            total += max(e.dur_s - (now_s - released), 0.0)
        return total

    def _ahead_s(self, backend: str, key: _Key) -> float:
        return sum(e.dur_s for e in self._pending[backend].values() if e.key < key)

    def _wait_s(self, backend: str, key: _Key, now_s: float) -> float:
        cap = self._specs[backend].capacity
        return (self._inflight_load_s(backend, now_s) + self._ahead_s(backend, key)) / cap

    def _candidates(
        self, s: SubTask, exclude: Sequence[str] = ()
    ) -> tuple[list[str], list[str], list[str]]:
        """Return (operational, down, reasons-why-not) backends for ``s``."""
        up: list[str] = []
        down: list[str] = []
        why: list[str] = []
        allowed = s.allowed_backends
        for name, spec in self._specs.items():
            if allowed is not None and name not in allowed:
                why.append(f"{name}: not in allowed_backends")
            elif name in exclude:
                why.append(f"{name}: excluded")
            elif (reason := spec.can_run(s.features)) is not None:
                why.append(f"{name}: {reason}")
            elif s.shots > spec.max_shots:
                why.append(f"{name}: {s.shots} shots > max_shots {spec.max_shots}")
            elif self._operational[name]:
                up.append(name)
            else:
                down.append(name)
        return up, down, why

    def _key(self, s: SubTask, seq: int) -> _Key:
        deadline = s.submitted_at_s + s.deadline_s if s.deadline_s is not None else math.inf
        return (-float(s.priority), deadline, seq)

    def _info(self) -> tuple[int, int]:
        return (self.predictor.version(), self._epoch)

    # -- bookkeeping -------------------------------------------------------------------

    def _add_pending(self, s: SubTask, backend: str, key: _Key, dur_s: float) -> None:
        e = _Entry(s, backend, key, dur_s)
        self._entries[s.subtask_id] = e
        self._pending[backend][s.subtask_id] = e
        self._changed_id(s.subtask_id)

    def _changed_id(self, subtask_id: str) -> None:
        if self._record_changes:
            self._changed.add(subtask_id)

    def drain_changed(self) -> set[str]:
        """Ids whose :meth:`placement` or completion changed since the last call.

        Always empty unless the scheduler was built with ``record_changes=True``.
        """
        out, self._changed = self._changed, set()
        return out

    def _known(self, subtask_id: str) -> bool:
        return (
            subtask_id in self._entries
            or subtask_id in self._completed
            or subtask_id in self._split_children
        )

    # -- submit ------------------------------------------------------------------------

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
        (time of the slowest part, shot-weighted error, summed price). Parts get
        ids ``{subtask_id}.{j}``; the original id counts as completed when all
        its parts have.

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
        self._now_s = max(self._now_s, now_s)
        if self._known(subtask.subtask_id):
            return []
        up, down, why = self._candidates(subtask)
        pool = up or down
        if not pool:
            raise CapacityError(
                f"no backend can run sub-task {subtask.subtask_id!r}: {'; '.join(why)}"
            )
        seq = self._seq
        self._seq += 1
        key = self._key(subtask, seq)
        waits = {b: self._wait_s(b, key, now_s) for b in pool}
        scores = sorted((self._score(subtask, b, waits[b]) for b in pool), key=self._order)
        best = self._choose(subtask, scores)

        plan = None
        if (up and self.policy.splits and subtask.shots >= self.config.split_min_shots
                and self.config.max_splits >= 2):
            plan = self._plan_split(subtask, up, waits, best)
        if plan is None:
            self._add_pending(
                subtask, best.backend, key, best.prediction.queue_s + best.prediction.run_s
            )
            latency_ms = (time.perf_counter() - t0) * 1e3
            return [Decision(subtask, best.backend, tuple(scores), latency_ms, now_s)]

        children: set[str] = set()
        placed: list[tuple[SubTask, BackendScore, tuple[BackendScore, ...]]] = []
        for j, (shots, part_scores) in enumerate(plan):
            child = replace(subtask, shots=shots, subtask_id=f"{subtask.subtask_id}.{j}")
            chosen = part_scores[0]
            self._add_pending(
                child, chosen.backend, key, chosen.prediction.queue_s + chosen.prediction.run_s
            )
            self._split_parent[child.subtask_id] = subtask.subtask_id
            children.add(child.subtask_id)
            placed.append((child, chosen, part_scores))
        self._split_children[subtask.subtask_id] = children
        latency_ms = (time.perf_counter() - t0) * 1e3
        return [
            Decision(child, chosen.backend, part_scores, latency_ms, now_s,
                     split_of=subtask.subtask_id)
            for child, chosen, part_scores in placed
        ]

    def _plan_split(
        self, s: SubTask, pool: list[str], waits: dict[str, float], best: BackendScore
    ) -> list[tuple[int, tuple[BackendScore, ...]]] | None:
        """Best accepted split of ``s`` as [(shots, scores cheapest first)], or None."""
        cfg = self.config
        best_plan: list[tuple[int, tuple[BackendScore, ...]]] | None = None
        best_cost = math.inf
        for k in range(2, cfg.max_splits + 1):
            if s.shots < k:
                break
            extra_s = dict.fromkeys(pool, 0.0)  # load this split already put on each backend
            plan: list[tuple[int, tuple[BackendScore, ...]]] = []
            finish_s = 0.0
            error_shots = 0.0
            price_usd = 0.0
            # Parts differ by at most one shot; scoring all at the largest part's
            # count costs one prediction per backend and k, and errs on the slow side.
            rep = -(-s.shots // k)
            for shots in split_shots(s.shots, k):
                part = sorted(
                    (
                        self._score(s, b, waits[b] + extra_s[b] / self._specs[b].capacity, rep)
                        for b in pool
                    ),
                    key=self._order,
                )
                chosen = part[0]
                extra_s[chosen.backend] += chosen.prediction.queue_s + chosen.prediction.run_s
                finish_s = max(finish_s, chosen.time_s)
                error_shots += chosen.prediction.error * shots
                price_usd += chosen.prediction.price_usd
                plan.append((shots, tuple(part)))
            cost = weighted_cost(finish_s, error_shots / s.shots, price_usd, s.weights, cfg.scales)
            if (
                finish_s <= (1.0 - cfg.split_gain) * best.time_s
                and cost <= (1.0 + cfg.split_gain) * best.total
                and cost < best_cost
            ):
                best_plan, best_cost = plan, cost
        return best_plan

    # -- release / complete / requeue --------------------------------------------------

    def _deps_done(self, s: SubTask) -> bool:
        return all(d in self._completed for d in s.depends_on)

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
        self._now_s = max(self._now_s, now_s)
        out: list[_Entry] = []
        for name, spec in self._specs.items():
            queue = self._pending[name]
            free = spec.capacity - len(self._inflight[name])
            if free <= 0 or not queue or not self._operational[name]:
                continue
            for e in sorted(queue.values(), key=lambda e: e.key):
                if free <= 0:
                    break
                if not self._deps_done(e.subtask):
                    continue
                del queue[e.subtask.subtask_id]
                e.released_at_s = now_s
                self._inflight[name][e.subtask.subtask_id] = e
                self._changed_id(e.subtask.subtask_id)
                out.append(e)
                free -= 1
        out.sort(key=lambda e: e.key)
        return [(e.subtask, e.backend) for e in out]

    def _mark_completed(self, subtask_id: str) -> None:
        self._completed.add(subtask_id)
        self._changed_id(subtask_id)
        parent = self._split_parent.pop(subtask_id, None)
        if parent is not None:
            siblings = self._split_children[parent]
            siblings.discard(subtask_id)
            if not siblings:
                del self._split_children[parent]
                self._completed.add(parent)
                self._changed_id(parent)

    def _remove(self, e: _Entry) -> None:
        sid = e.subtask.subtask_id
        self._changed_id(sid)
        del self._entries[sid]
        self._inflight[e.backend].pop(sid, None)
        self._pending[e.backend].pop(sid, None)
        for b in e.copies:
            self._inflight[b].pop(sid, None)

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
        self._now_s = max(self._now_s, now_s)
        e = self._entries.get(subtask_id)
        if e is None:
            return []
        holders = [e.backend, *e.copies] if e.released_at_s is not None else list(e.copies)
        self._remove(e)
        self._mark_completed(subtask_id)
        return [b for b in holders if b != backend] if backend is not None else (
            list(e.copies))

    def fail_copy(self, subtask_id: str, backend: str, now_s: float) -> bool:
        """Drop one failed copy of a hedged sub-task; True if another copy still runs.

        When it returns False nothing changed: the caller should :meth:`requeue`
        (the only copy failed).
        """
        self._now_s = max(self._now_s, now_s)
        e = self._entries.get(subtask_id)
        if e is None or not e.copies:
            return False
        self._changed_id(subtask_id)
        if backend in e.copies:
            del e.copies[backend]
            self._inflight[backend].pop(subtask_id, None)
            return True
        if backend != e.backend:
            return False
        # The original failed: promote a hedge copy to be the sub-task's home.
        self._inflight[backend].pop(subtask_id, None)
        new_home, released_at = next(iter(e.copies.items()))
        del e.copies[new_home]
        e.backend = new_home
        e.released_at_s = released_at
        return True

    def requeue(self, subtask_id: str, now_s: float, *, exclude: Sequence[str] = ()) -> Decision:
        """Place a failed in-flight (or still pending) sub-task again, avoiding ``exclude``.

        Its credit is returned and it keeps its place in the priority order (it
        is not sent to the back of the queue).

        Raises
        ------
        ConfigError
            If the id is not pending or in flight (unknown or completed).
        CapacityError
            If no other backend can run it; the sub-task is then dropped from the
            scheduler and its task should fail.
        """
        t0 = time.perf_counter()
        self._now_s = max(self._now_s, now_s)
        e = self._entries.get(subtask_id)
        if e is None:
            raise ConfigError(f"sub-task {subtask_id!r} is neither pending nor in flight")
        self._remove(e)
        s = e.subtask
        up, down, why = self._candidates(s, exclude)
        pool = up or down
        if not pool:
            raise CapacityError(
                f"no backend left for sub-task {subtask_id!r}: {'; '.join(why)}"
            )
        scores = sorted(
            (self._score(s, b, self._wait_s(b, e.key, now_s)) for b in pool), key=self._order
        )
        best = self._choose(s, scores)
        self._add_pending(s, best.backend, e.key, best.prediction.queue_s + best.prediction.run_s)
        latency_ms = (time.perf_counter() - t0) * 1e3
        return Decision(s, best.backend, tuple(scores), latency_ms, now_s)

    def forget_task(self, task_id: str) -> None:
        """Drop the completion records of a finished task (bounds memory).

        Call it after the task's result is published; its sub-tasks must no
        longer be pending or in flight.
        """
        prefix = f"{task_id}/"
        self._completed = {c for c in self._completed if not c.startswith(prefix)}

    # -- reallocation ------------------------------------------------------------------

    def reallocate(self, now_s: float) -> list[Reallocation]:
        """Re-score every pending sub-task and move those cheaper elsewhere by the margin.

        One sweep over the pending sub-tasks in release order (priority,
        deadline, FIFO). Each sees, on every backend, the in-flight load plus the
        sub-tasks ahead of it as already (re)placed in this sweep: exactly the
        wait it would have there. It moves when the cheapest operational
        candidate costs less than ``(1 - realloc_margin)`` times its current
        cost, or when its backend is down or can no longer run it. O(pending x
        backends) predictions, most of them cache hits.

        No ping-pong: a sweep right after a sweep moves nothing (every sub-task
        already sits at its argmin given what is ahead of it), and a sub-task
        never moves back to the backend it last left until the predictor or the
        fleet state (pending jobs, operational, specs) changed. In-flight
        sub-tasks are never touched.

        Returns
        -------
        list of Reallocation
            In sweep order; empty when nothing moved.
        """
        self._now_s = max(self._now_s, now_s)
        if not self.policy.reallocates:
            return []
        info = self._info()
        ahead = {b: self._inflight_load_s(b, now_s) for b in self._specs}
        entries = sorted(
            (e for q in self._pending.values() for e in q.values()), key=lambda e: e.key
        )
        moves: list[Reallocation] = []
        for e in entries:
            s = e.subtask
            cur = e.backend
            up, _, _ = self._candidates(s)
            cur_score = self._score(s, cur, ahead[cur] / self._specs[cur].capacity)
            cur_ok = cur in up
            best = cur_score if cur_ok else None
            for b in up:
                if b == cur:
                    continue
                if e.moved_from is not None and e.moved_from == (b, info):
                    continue
                score = self._score(s, b, ahead[b] / self._specs[b].capacity)
                if best is None or self._order(score) < self._order(best):
                    best = score
            if best is not None and best.backend != cur and (
                not cur_ok
                or (best.total < (1.0 - self.config.realloc_margin) * cur_score.total
                    and cur_score.total - best.total >= self.config.realloc_min_gain)
            ):
                if not self._operational[cur]:
                    reason = f"{cur} is not operational"
                elif not cur_ok:
                    reason = f"{cur} can no longer run it"
                else:
                    reason = (
                        f"cheaper on {best.backend}: cost {cur_score.total:.4g} -> "
                        f"{best.total:.4g}, predicted time {cur_score.time_s:.4g} s -> "
                        f"{best.time_s:.4g} s, error {cur_score.prediction.error:.3g} -> "
                        f"{best.prediction.error:.3g}, price {cur_score.prediction.price_usd:.4g}"
                        f" -> {best.prediction.price_usd:.4g} USD"
                    )
                del self._pending[cur][s.subtask_id]
                self._pending[best.backend][s.subtask_id] = e
                e.backend = best.backend
                e.moved_from = (cur, info)
                self._changed_id(s.subtask_id)
                moves.append(
                    Reallocation(s.subtask_id, s.task_id, cur, best.backend, cur_score.total,
                                 best.total, reason, now_s)
                )
                chosen = best
            else:
                chosen = cur_score
            e.dur_s = chosen.prediction.queue_s + chosen.prediction.run_s
            ahead[e.backend] += e.dur_s
        return moves

    # -- hedging -----------------------------------------------------------------------

    def hedge(self, now_s: float) -> list[Hedge]:
        """Start backup copies of stragglers on idle backends (policies that hedge only).

        A straggler is an in-flight sub-task, not yet hedged, that has been in
        flight for more than ``hedge_factor`` times its predicted ``queue_s +
        run_s`` and at least ``hedge_min_s``. It gets one copy on the cheapest
        other operational backend that can run it, has a free credit and no
        pending work of its own (a hedge only uses idle capacity, never a credit
        a queued sub-task is waiting for), if that backend's predicted
        completion time is at most the straggler's expected remaining time,
        taken as the larger of its original prediction and the time it has
        already been in flight: a heavy-tailed wait that has lasted ``t`` is
        expected to last about ``t`` more (for a Pareto tail of shape 2, exactly
        ``t``; Harchol-Balter and Downey, "Exploiting process lifetime
        distributions for dynamic load balancing", ACM TOCS 15(3), 1997).

        Returns
        -------
        list of Hedge
            Copies to start now; each is in flight on its ``to_backend``.
        """
        self._now_s = max(self._now_s, now_s)
        if not self.policy.hedges:
            return []
        cfg = self.config
        free = {
            b: spec.capacity - len(self._inflight[b])
            for b, spec in self._specs.items()
            if self._operational[b] and not self._pending[b]
        }
        if not any(v > 0 for v in free.values()):
            return []
        out: list[Hedge] = []
        stragglers = sorted(
            (e for q in self._inflight.values() for e in q.values()
             if not e.copies and e.released_at_s is not None
             and now_s - e.released_at_s > max(cfg.hedge_factor * e.dur_s, cfg.hedge_min_s)),
            key=lambda e: e.key,
        )
        seen: set[str] = set()
        for e in stragglers:
            s = e.subtask
            if s.subtask_id in seen:
                continue
            seen.add(s.subtask_id)
            up, _, _ = self._candidates(s, exclude=(e.backend,))
            options = [
                self._score(s, b, self._inflight_load_s(b, now_s) / self._specs[b].capacity)
                for b in up if free.get(b, 0) > 0
            ]
            if not options:
                continue
            best = min(options, key=self._order)
            waited = now_s - (e.released_at_s or now_s)
            if best.time_s > max(e.dur_s, waited):
                continue
            free[best.backend] -= 1
            e.copies[best.backend] = now_s
            self._inflight[best.backend][s.subtask_id] = e
            self._changed_id(s.subtask_id)
            # Its cost where it is: as if it needed its whole predicted time again.
            old = self._score(s, e.backend, e.dur_s)
            out.append(Hedge(
                s, e.backend, best.backend, old.total, best.total,
                f"straggler: in flight {waited:.4g} s on {e.backend}, predicted {e.dur_s:.4g} s; "
                f"{best.backend} predicts {best.time_s:.4g} s", now_s,
            ))
        return out

    # -- views -------------------------------------------------------------------------

    def pending(self) -> dict[str, list[str]]:
        """Pending (unreleased) sub-task ids per backend, in release order."""
        return {
            b: [e.subtask.subtask_id for e in sorted(q.values(), key=lambda e: e.key)]
            for b, q in self._pending.items()
        }

    def in_flight(self) -> dict[str, list[str]]:
        """Released, not yet completed sub-task ids per backend, in release order."""
        return {b: list(q) for b, q in self._inflight.items()}

    def backlog_s(self, backend: str) -> float:
        """Predicted local wait (s) before a new sub-task would start on ``backend``.

        In-flight work counts by its remaining predicted time as of the latest
        ``now_s`` the scheduler has seen.

        Raises
        ------
        ConfigError
            On an unknown backend.
        """
        spec = self._spec(backend)
        pending = sum(e.dur_s for e in self._pending[backend].values())
        return (self._inflight_load_s(backend, self._now_s) + pending) / spec.capacity

    def is_completed(self, subtask_id: str) -> bool:
        """Whether ``subtask_id`` (or every split of it) has completed."""
        return subtask_id in self._completed

    # -- recovery ----------------------------------------------------------------------

    def placement(self, subtask_id: str) -> Placement | None:
        """The sub-task's current placement, or None if it is not pending or in flight."""
        e = self._entries.get(subtask_id)
        if e is None:
            return None
        return Placement(e.subtask, e.backend, e.released_at_s, e.key[2],
                         self._split_parent.get(subtask_id), dict(e.copies))

    def split_of(self, subtask_id: str) -> str | None:
        """The id ``subtask_id`` is a shot split of, while that split is unfinished."""
        return self._split_parent.get(subtask_id)

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
            If the scheduler already holds sub-tasks, or a placement names an
            unknown backend.

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
        if self._entries:
            raise ConfigError("restore() needs an empty scheduler; it already holds "
                              f"{len(self._entries)} sub-tasks")
        self._now_s = max(self._now_s, now_s)
        self._completed.update(completed)
        for p in sorted(placements, key=lambda p: p.order):
            s = p.subtask
            self._spec(p.backend)
            prediction = self._predict(p.backend, s.features, s.shots)
            e = _Entry(s, p.backend, self._key(s, p.order),
                       prediction.queue_s + prediction.run_s, p.released_at_s)
            self._entries[s.subtask_id] = e
            if p.released_at_s is None:
                self._pending[p.backend][s.subtask_id] = e
            else:
                self._inflight[p.backend][s.subtask_id] = e
            for b, at_s in p.copies.items():
                self._spec(b)
                e.copies[b] = at_s
                self._inflight[b][s.subtask_id] = e
            if p.split_of is not None:
                self._split_parent[s.subtask_id] = p.split_of
                self._split_children.setdefault(p.split_of, set()).add(s.subtask_id)
            self._seq = max(self._seq, p.order + 1)
