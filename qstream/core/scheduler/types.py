"""The scheduler's public value types: its tuning, scores, decisions and moves.

All are frozen (except that a :class:`Placement`'s ``copies`` dict is its own copy)
and JSON-ready through ``to_dict``; none holds a reference into the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qstream.core.cost import CostScales, CostTerms
from qstream.core.prediction import Prediction
from qstream.core.subtask import SubTask
from qstream.errors import ConfigError


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
        ``queue_s + run_s`` is a straggler (see :meth:`~qstream.core.scheduler.Scheduler.hedge`).
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
    and :meth:`~qstream.core.scheduler.Scheduler.complete` names the backends whose copies to cancel.
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


