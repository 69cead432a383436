"""The durable state of one problem task (a workflow instance), as a JSON-ready value.

One :class:`WorkflowState` per problem task lives in the changelog-backed
``workflows`` table, keyed by task id. Every event that advances the workflow
(:mod:`qstream.agents.workflow`) reads it, changes it and writes it back before the
next step's work is sent, so a worker that takes over after a SIGKILL resumes from
the last completed iteration.

A workflow emits *steps*: a batch of circuits (one loop iteration or the final
sampling run) sent as an ordinary circuit task ``{task_id}/w{step}``, or one
classical solve. ``step`` counts every emission, so a step that is retried elsewhere
(its backend failed, or the loop moved) gets a new id and its late results are
recognised as stale.

Examples
--------
>>> s = WorkflowState(task_id="t", problem={"kind": "maxcut", "num_nodes": 2,
...                   "edges": [[0, 1, 1.0]]}, algorithm="qaoa", backend="sim", shots=100)
>>> s.step_task_id(), s.remaining_iterations()
('t/w0', 20)
>>> WorkflowState.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PHASES = ("loop", "final", "classical", "publishing")
"""``loop``: optimiser iterations; ``final``: the final sampling / energy run; ``classical``:
a classical solve; ``publishing``: the result is being published."""

STEP_SEPARATOR = "/w"
"""A step's circuit task id is ``{task_id}/w{step}``."""


@dataclass
class WorkflowState:
    """One problem task's progress (see module docstring).

    Attributes
    ----------
    task_id:
        The problem task.
    problem:
        The problem, as ``Problem.to_dict()``.
    algorithm:
        Current algorithm (``qaoa``, ``vqe`` or a classical solver); changes when the
        rest of the loop switches to a classical solver.
    backend:
        Current backend of the loop (or classical executor).
    shots:
        Shots per circuit.
    phase:
        One of :data:`PHASES`.
    weights:
        The task's cost weights (``CostWeights.to_dict()``).
    optimizer_name, optimizer:
        The loop's optimiser and its ``Optimizer.state()`` (None before the loop starts).
    max_iterations:
        Iteration budget of the loop.
    reps:
        QAOA depth ``p`` or VQE entangling layers.
    iteration:
        Completed optimiser iterations.
    history:
        Objective after each completed iteration (problem sense: cut, QUBO value or energy).
    step:
        Emissions so far; the current step is ``step`` (its id :meth:`step_task_id`).
    step_points:
        Parameter points the current step evaluates (one circuit each).
    step_sent_at:
        Wall time the current step was sent, Unix seconds.
    best:
        Best answer so far: ``bitstring``, ``objective`` (problem sense), ``parameters``,
        ``std_error``.
    failed_backends:
        Backends whose steps failed for this task (not chosen again).
    moves:
        Mid-run moves: ``{"at_iteration", "from", "to", "reason"}``.
    backends_used:
        Backends and executors that ran steps, in first-use order.
    selection:
        The selection decision (``Selection.to_dict()``).
    algorithms, accuracy_target, kinds, allowed_backends:
        The task's allow-lists and target (re-selection honours them).
    seed:
        Seed of the optimiser, initial point and classical solvers.
    submitted_at:
        Task submission time, Unix seconds (for the result's JCT).
    spent_usd, queue_s, run_s:
        Price (USD), queue wait and run time (seconds) of the finished steps.
    predicted_queue_s:
        Predicted queue wait per job on the loop's backend at the last decision, seconds
        (the "rose from" of a move's reason).
    solve_details:
        What the classical solver reported (parameters, library status).
    answer:
        The task's ``qstream.result.v1`` once built (phase ``publishing``), else None.
    budget_usd:
        The task's budget (USD), or None: the selection never chooses a configuration
        predicted to cost more than what remains of it, each step runs under the
        remaining budget, and the loop stops (reason ``budget``) once spend reaches it.
    tenant:
        The task's tenant (its steps run under it).
    fail_reason:
        The result's ``reason`` when it failed for a known cause (``budget``), else None.
    """

    task_id: str
    problem: dict[str, Any]
    algorithm: str
    backend: str
    shots: int
    phase: str = "loop"
    weights: dict[str, float] = field(default_factory=dict)
    optimizer_name: str = "cobyla"
    optimizer: dict[str, Any] | None = None
    max_iterations: int = 20
    reps: int = 1
    iteration: int = 0
    history: list[float] = field(default_factory=list)
    step: int = 0
    step_points: list[list[float]] = field(default_factory=list)
    step_sent_at: float = 0.0
    best: dict[str, Any] = field(default_factory=dict)
    failed_backends: list[str] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    backends_used: list[str] = field(default_factory=list)
    selection: dict[str, Any] = field(default_factory=dict)
    algorithms: list[str] | None = None
    accuracy_target: float | None = None
    kinds: list[str] | None = None
    allowed_backends: list[str] | None = None
    seed: int = 0
    submitted_at: float = 0.0
    spent_usd: float = 0.0
    queue_s: float = 0.0
    run_s: float = 0.0
    predicted_queue_s: float = 0.0
    solve_details: dict[str, Any] = field(default_factory=dict)
    answer: dict[str, Any] | None = None
    budget_usd: float | None = None
    tenant: str = "default"
    fail_reason: str | None = None

    def step_task_id(self, step: int | None = None) -> str:
        """Circuit task id of step ``step`` (default: the current one)."""
        return f"{self.task_id}{STEP_SEPARATOR}{self.step if step is None else step}"

    def remaining_iterations(self) -> int:
        """Loop iterations still to run (0 outside the loop)."""
        return max(self.max_iterations - self.iteration, 0) if self.phase == "loop" else 0

    def use(self, backend: str) -> None:
        """Note that ``backend`` ran (or runs) a step of this task."""
        if backend not in self.backends_used:
            self.backends_used.append(backend)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``workflows`` table value)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkflowState:
        """Inverse of :meth:`to_dict` (unknown keys are ignored, for forward compatibility)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

