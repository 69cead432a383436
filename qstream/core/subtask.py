"""A sub-task: one circuit (or one shot split of it) to run on one backend."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from qstream.core.cost import CostWeights
from qstream.core.features import CircuitFeatures
from qstream.core.task import DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class SubTask:
    """The unit the scheduler places on a backend.

    Attributes
    ----------
    subtask_id:
        ``"{task_id}/c{circuit_index}/s{split_index}"``; unique within a task.
    task_id:
        The parent task.
    circuit_index:
        Index of the circuit in the task's ``circuits`` list.
    circuit_name:
        The circuit's ``name``.
    qasm:
        OpenQASM 2 or 3 source, passed through unchanged.
    shots:
        Shots this sub-task runs (>= 1); the shots of all splits of a circuit sum
        to the task's shots.
    features:
        Logical circuit shape.
    weights:
        The task's cost weights.
    priority:
        0..9, higher runs first among pending sub-tasks.
    deadline_s:
        Seconds after submission by which the task should finish, or None.
    allowed_backends:
        Backend names the task allows, or None for any capable backend.
    depends_on:
        Sub-task ids that must complete first.
    submitted_at_s:
        Task submission time, seconds since the epoch (the clock of the scheduler).
    split_index:
        Index of this shot split among its circuit's splits.
    budget_usd:
        The task's budget (USD) the scheduler enforces across all its sub-tasks
        (:mod:`qstream.core.scheduler.budget`), or None for no budget.
    tenant:
        The task's tenant: fair sharing and concurrency limits at release
        (:mod:`qstream.core.scheduler.fairness`).
    """

    subtask_id: str
    task_id: str
    circuit_index: int
    circuit_name: str
    qasm: str
    shots: int
    features: CircuitFeatures
    weights: CostWeights = field(default_factory=CostWeights)
    priority: int = 5
    deadline_s: float | None = None
    allowed_backends: tuple[str, ...] | None = None
    depends_on: tuple[str, ...] = ()
    submitted_at_s: float = 0.0
    split_index: int = 0
    budget_usd: float | None = None
    tenant: str = DEFAULT_TENANT

    def with_shots(self, shots: int, split_index: int) -> SubTask:
        """Return a shot split of this sub-task with its own id."""
        return replace(
            self,
            shots=shots,
            split_index=split_index,
            subtask_id=f"{self.task_id}/c{self.circuit_index}/s{split_index}",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the body of a ``qstream.subtask.v1`` message)."""
        return {
            "subtask_id": self.subtask_id,
            "task_id": self.task_id,
            "circuit_index": self.circuit_index,
            "circuit_name": self.circuit_name,
            "qasm": self.qasm,
            "shots": self.shots,
            "features": self.features.to_dict(),
            "weights": self.weights.to_dict(),
            "priority": self.priority,
            "deadline_s": self.deadline_s,
            "allowed_backends": list(self.allowed_backends) if self.allowed_backends else None,
            "depends_on": list(self.depends_on),
            "submitted_at_s": self.submitted_at_s,
            "split_index": self.split_index,
            "budget_usd": self.budget_usd,
            "tenant": self.tenant,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubTask:
        allowed = data.get("allowed_backends")
        return cls(
            subtask_id=data["subtask_id"],
            task_id=data["task_id"],
            circuit_index=int(data["circuit_index"]),
            circuit_name=data["circuit_name"],
            qasm=data["qasm"],
            shots=int(data["shots"]),
            features=CircuitFeatures.from_dict(data["features"]),
            weights=CostWeights.from_dict(data.get("weights")),
            priority=int(data.get("priority", 5)),
            deadline_s=data.get("deadline_s"),
            allowed_backends=tuple(allowed) if allowed else None,
            depends_on=tuple(data.get("depends_on", ())),
            submitted_at_s=float(data.get("submitted_at_s", 0.0)),
            split_index=int(data.get("split_index", 0)),
            budget_usd=None if data.get("budget_usd") is None else float(data["budget_usd"]),
            tenant=str(data.get("tenant") or DEFAULT_TENANT),
        )
