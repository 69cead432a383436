"""The cost of a sub-task on a backend: predictions (cached), local waits, the policy's pick.

Placement is list scheduling by earliest finish time, weighted by the task's
cost weights (HEFT: Topcuoglu, Hariri and Wu, "Performance-effective and
low-complexity task scheduling for heterogeneous computing", IEEE TPDS 13(3),
2002). The cost of sub-task ``s`` on backend ``b`` is::

    time_s = wait_s(b) + queue_s + run_s
    cost   = weighted_cost(time_s, error, price_usd, s.weights, scales)

where ``queue_s``, ``run_s``, ``error`` and ``price_usd`` come from
:meth:`Predictor.predict` and ``wait_s(b)`` is the local backlog: the predicted
``queue_s + run_s`` still to go of the sub-tasks in flight on ``b`` plus those
pending on ``b`` ahead of ``s``, divided by ``b``'s capacity. With several
tenants pending, "ahead" is what start-time fair queuing would release first
(:meth:`Scorer.ahead_s`), so a tenant arriving behind a flood is not scored as if
it waited for all of it (:mod:`qstream.core.scheduler.fairness`).
"""

from __future__ import annotations

from qstream.core.cost import cost_terms
from qstream.core.estimators import Estimator
from qstream.core.features import CircuitFeatures
from qstream.core.policies import FleetView, PlacementPolicy
from qstream.core.prediction import Prediction
from qstream.core.scheduler.fairness import FairShare
from qstream.core.scheduler.fleet import Fleet
from qstream.core.scheduler.ledger import Entry, Key, Ledger
from qstream.core.scheduler.sweep import ShapeTable
from qstream.core.scheduler.types import BackendScore, SchedulerConfig
from qstream.core.subtask import SubTask
from qstream.errors import ConfigError

#: Per-backend prediction caches are dropped beyond this many entries (bounds memory
#: when shots vary freely; a refill costs one predict per entry).
_CACHE_LIMIT = 4096


class Scorer:
    """Scores sub-tasks on backends against the fleet state and the ledger's backlog.

    Parameters
    ----------
    fleet, ledger:
        The state it reads (it changes neither).
    predictor:
        The estimator; only ``predict``, ``version`` and ``backend_version`` are called.
    config:
        Tuning (its ``scales`` enter the cost).
    policy:
        The placement rule that picks among the scores.
    fair:
        The tenants' fair-queuing state the ledger releases by (read only);
        None: one queue in release-key order.

    Notes
    -----
    Predictions are cached per backend by ``(features, shots)``; a backend's table
    is dropped when its ``backend_version`` or pending jobs change, when its spec
    is replaced (:meth:`forget`) or beyond ``_CACHE_LIMIT`` entries.
    """

    def __init__(self, fleet: Fleet, ledger: Ledger, predictor: Estimator,
                 config: SchedulerConfig, policy: PlacementPolicy,
                 fair: FairShare | None = None) -> None:
        self.fleet = fleet
        self.fair = fair
        self.ledger = ledger
        self.predictor = predictor
        self.config = config
        self.policy = policy
        # backend -> (backend_version, pending_jobs, {(features, shots): Prediction})
        self._cache: dict[str, tuple[int, int, dict[tuple[CircuitFeatures, int], Prediction]]] = {}
        # Per-shape predictions and capability for the reallocation sweep.
        self.shapes = ShapeTable()

    def forget(self, backend: str) -> None:
        """Drop ``backend``'s cached predictions (its spec changed)."""
        self._cache.pop(backend, None)
        self.shapes.forget(backend)

    def predict(self, backend: str, features: CircuitFeatures, shots: int) -> Prediction:
        """The (cached) prediction for ``shots`` shots of ``features`` on ``backend``."""
        version = self.predictor.backend_version(backend)
        pending_jobs = self.fleet.pending_jobs[backend]
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
            pred = self.predictor.predict(self.fleet.specs[backend], features, shots, pending_jobs)
            table[(features, shots)] = pred
        return pred

    def dur_s(self, backend: str, s: SubTask) -> float:
        """Predicted ``queue_s + run_s`` (s) of ``s`` on ``backend``."""
        prediction = self.predict(backend, s.features, s.shots)
        return prediction.queue_s + prediction.run_s

    def price_usd(self, backend: str, s: SubTask) -> float:
        """Predicted price (USD) of ``s`` on ``backend``."""
        return self.predict(backend, s.features, s.shots).price_usd

    def score(
        self, s: SubTask, backend: str, wait_s: float, shots: int | None = None
    ) -> BackendScore:
        """Cost of ``s`` (or of ``shots`` of it) on ``backend`` after ``wait_s`` s of local wait."""
        pred = self.predict(backend, s.features, s.shots if shots is None else shots)
        terms = cost_terms(
            wait_s + pred.queue_s + pred.run_s, pred.error, pred.price_usd, s.weights,
            self.config.scales,
        )
        return BackendScore(backend, pred, wait_s, terms)

    def order(self, score: BackendScore) -> tuple[float, int]:
        """Sort key of a score: cost, then fleet order."""
        return (score.total, self.fleet.rank[score.backend])

    def view(self) -> FleetView:
        """What a policy may see of the fleet: rank, own outstanding work, pending jobs."""
        pending, inflight = self.ledger.pending, self.ledger.inflight
        return FleetView(
            rank=self.fleet.rank,
            outstanding={b: len(pending[b]) + len(inflight[b]) for b in self.fleet.specs},
            pending_jobs=self.fleet.pending_jobs,
            specs=self.fleet.specs,
        )

    def choose(self, s: SubTask, scores: list[BackendScore]) -> BackendScore:
        """The policy's pick among ``scores``.

        Raises
        ------
        ConfigError
            If the policy names a backend that is not among the candidates.
        """
        name = self.policy.choose(s, scores, self.view())
        for score in scores:
            if score.backend == name:
                return score
        raise ConfigError(
            f"policy {self.policy.name!r} chose {name!r}, not a candidate of {s.subtask_id!r}"
        )

    def inflight_load_s(self, backend: str, now_s: float) -> float:
        """Remaining predicted time (s) of the sub-tasks in flight on ``backend``, summed.

        HEFT's processor "available time"; an overrunning one counts 0, its credit
        is still held.
        """
        total = 0.0
        for e in self.ledger.inflight[backend].values():
            released = e.released_at_s if e.released_at_s is not None else now_s
            total += max(e.dur_s - (now_s - released), 0.0)
        return total

    def ahead_s(self, backend: str, key: Key, tenant: str | None = None) -> float:
        """Predicted time (s) of the sub-tasks pending on ``backend`` released before ``key``.

        Without ``tenant`` (or with one tenant pending), those with a lower release
        key: the correctly rounded sum of their ``dur_s``, from the ledger's
        :class:`~qstream.core.scheduler.queue.PendingQueue` in O(pending / block +
        block). Otherwise as start-time fair queuing would release them: the ``j``-th
        pending sub-task (by key, from 0) of tenant ``t`` is projected to start tag
        ``max(v, F_t) + j / w_t``, and goes first if that is below the projected tag
        of a sub-task of ``tenant`` with key ``key`` (ties: by key). Tenants' limits
        and their work on other backends are not projected.
        """
        fair = self.fair
        tenants = self.ledger.pending_tenants[backend]
        if tenant is None or fair is None or not (tenants.keys() - {tenant}):
            return self.ledger.queues[backend].ahead_s(key)
        queue = self.ledger.pending[backend].values()
        by_tenant: dict[str, list[Entry]] = {}
        for e in queue:
            by_tenant.setdefault(e.subtask.tenant, []).append(e)
        own = [e for e in by_tenant.pop(tenant, []) if e.key < key]
        tag = fair.start_tag(tenant) + len(own) / fair.share(tenant).weight
        total = sum(e.dur_s for e in own)
        for t, entries in by_tenant.items():
            base, weight = fair.start_tag(t), fair.share(t).weight
            for j, e in enumerate(sorted(entries, key=lambda e: e.key)):
                other = base + j / weight
                if other > tag or (other == tag and e.key > key):
                    break
                total += e.dur_s
        return total

    def wait_s(self, backend: str, key: Key, now_s: float, tenant: str | None = None) -> float:
        """Local wait (s) of a sub-task of ``tenant`` with release key ``key`` on ``backend``."""
        cap = self.fleet.specs[backend].capacity
        return (self.inflight_load_s(backend, now_s) + self.ahead_s(backend, key, tenant)) / cap

    def info(self) -> tuple[int, int]:
        """The info token: (predictor version, fleet epoch)."""
        return (self.predictor.version(), self.fleet.epoch)
