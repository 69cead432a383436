"""A submitted task as a typed value: what ``qstream.task.v1`` says, parsed once.

The codec edge (:func:`qstream.stream.codec.decode_task`) validates a record
against the JSON Schema and hands the message to :meth:`Task.from_message`; from
then on the partition agent and the core see only this frozen value (cost
weights are a :class:`~qstream.core.cost.CostWeights`, never a dict again).

Examples
--------
>>> task = Task.from_message({
...     "schema": "qstream.task.v1", "task_id": "t1", "shots": 100,
...     "circuits": [{"name": "bell", "qasm": "OPENQASM 2.0;"}],
...     "weights": {"error": 2.0}})
>>> task.weights, task.priority, task.circuits[0].name
(CostWeights(time=1.0, error=2.0, cost=1.0), 5, 'bell')
>>> Task.from_message({"schema": "qstream.task.v1", "task_id": "t2", "shots": 1,
...     "circuits": [{"name": "c", "qasm": "x"}],
...     "weights": {"time": 0, "error": 0, "cost": 0}})
Traceback (most recent call last):
...
qstream.errors.TaskContentError: at least one of the weights time, error, cost must be > 0

A problem task carries a problem instead of circuits (exactly one of the two):

>>> p = Task.from_message({"schema": "qstream.task.v1", "task_id": "p1",
...     "problem": {"kind": "maxcut", "num_nodes": 2, "edges": [[0, 1]]},
...     "algorithms": ["qaoa"], "max_iterations": 5})
>>> p.problem.kind, p.shots, p.algorithms, p.circuits
('maxcut', 1000, ('qaoa',), ())
>>> Task.from_message({"schema": "qstream.task.v1", "task_id": "p2", "shots": 1,
...     "circuits": [{"name": "c", "qasm": "x"}],
...     "problem": {"kind": "maxcut", "num_nodes": 2, "edges": [[0, 1]]}})
Traceback (most recent call last):
...
qstream.errors.TaskContentError: a task carries either circuits or a problem, not both
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qstream.core.cost import CostWeights
from qstream.core.problems import Problem, problem_from_dict
from qstream.errors import TaskContentError

DEFAULT_PRIORITY = 5
"""``priority`` of a task that gives none (the schema's documented ``default``)."""

DEFAULT_PROBLEM_SHOTS = 1000
"""``shots`` of a problem task that gives none: shots per circuit of its quantum loop
(the schema's documented default; the same as the selection's
:class:`~qstream.core.selection.QuantumSettings`)."""

DEFAULT_TENANT = "default"
"""Tenant of a task that names none (``qstream.task.v1`` ``tenant``)."""


@dataclass(frozen=True, slots=True)
class CircuitRequest:
    """One entry of a task's ``circuits``.

    Attributes
    ----------
    name:
        The circuit's name, unique within its task (checked by the partitioner).
    qasm:
        OpenQASM 2 or 3 source, parsed later (never executed).
    depends_on:
        Names of circuits of the same task that must complete first.
    observables:
        Pauli observables to estimate on the circuit's state, or None (a circuit
        whose counts are wanted). Each observable is a tuple of ``(label,
        coefficient)`` terms, labels over ``IXYZ`` with the rightmost character on
        qubit 0 (qiskit's ``SparsePauliOp.from_list`` convention).
    """

    name: str
    qasm: str
    depends_on: tuple[str, ...] = ()
    observables: tuple[tuple[tuple[str, float], ...], ...] | None = None

    @classmethod
    def from_message(cls, circuit: dict[str, Any]) -> CircuitRequest:
        """Type one schema-valid entry of ``circuits``.

        >>> CircuitRequest.from_message({"name": "a", "qasm": "...",
        ...                              "observables": [[["ZI", 1], ["IZ", -0.5]]]}).observables
        ((('ZI', 1.0), ('IZ', -0.5)),)
        """
        observables = circuit.get("observables")
        return cls(
            name=circuit["name"], qasm=circuit["qasm"],
            depends_on=tuple(circuit.get("depends_on", ())),
            observables=None if observables is None else tuple(
                tuple((str(label), float(c)) for label, c in terms) for terms in observables))


@dataclass(frozen=True, slots=True)
class Task:
    """A schema-valid ``qstream.task.v1`` message, typed.

    Attributes
    ----------
    task_id:
        Client-chosen id; also the record key.
    circuits:
        The circuits, in the order results are reported.
    shots:
        Shots per circuit (>= 1).
    priority:
        0..9, higher runs first.
    deadline_s:
        Seconds after submission by which the task should finish, or None.
    weights:
        Cost weights on time, error and money.
    budget_usd:
        The most the task may spend, USD, or None (enforced by the scheduler).
    tenant:
        Who the task runs for (:data:`DEFAULT_TENANT` when the message names none).
    backends:
        Allow-list of backend names, or None for any.
    kinds:
        Allowed backend kinds (``qpu``, ``simulator``, ``classical``), or None for any.
    submitted_at:
        Client submission time, Unix seconds, or None.
    metadata:
        Opaque client data.
    problem:
        The optimisation problem of a problem task (then ``circuits`` is empty), or None.
    algorithms:
        Problem tasks: allowed algorithms (``qaoa``, ``vqe``, ``exact``, ...), or None for any.
    max_iterations:
        Problem tasks: most optimiser iterations of a quantum loop, or None (default).
    accuracy_target:
        Problem tasks: wanted approximation ratio in [0, 1], or None.
    optimizer:
        Problem tasks: ``"cobyla"`` or ``"spsa"`` (the loop's classical optimiser).
    """

    task_id: str
    circuits: tuple[CircuitRequest, ...]
    shots: int
    priority: int = DEFAULT_PRIORITY
    deadline_s: float | None = None
    weights: CostWeights = field(default_factory=CostWeights)
    budget_usd: float | None = None
    tenant: str = DEFAULT_TENANT
    backends: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    submitted_at: float | None = None
    metadata: dict[str, Any] | None = None
    problem: Problem | None = None
    algorithms: tuple[str, ...] | None = None
    max_iterations: int | None = None
    accuracy_target: float | None = None
    optimizer: str = "cobyla"

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Task:
        """Type a message that already passed the ``qstream.task.v1`` schema.

        Raises
        ------
        qstream.errors.TaskContentError
            ``reason="zero_weights"`` when every cost weight is 0 (the one rule on
            weights the schema cannot state); ``circuits_or_problem`` when the task
            has both ``circuits`` and a ``problem``, or neither; ``invalid_problem``
            for a problem :func:`~qstream.core.problems.problem_from_dict` rejects.
        """
        has_circuits, has_problem = "circuits" in message, "problem" in message
        if has_circuits == has_problem:
            raise TaskContentError(
                "a task carries either circuits or a problem, not both" if has_circuits else
                "a task carries either circuits (with shots) or a problem; it has neither",
                reason="circuits_or_problem")
        problem = problem_from_dict(message["problem"]) if has_problem else None
        algorithms = message.get("algorithms")
        max_iterations = message.get("max_iterations")
        target = message.get("accuracy_target")
        backends = message.get("backends")
        kinds = message.get("kinds")
        deadline = message.get("deadline_s")
        budget = message.get("budget_usd")
        submitted = message.get("submitted_at")
        return cls(
            task_id=message["task_id"],
            circuits=tuple(CircuitRequest.from_message(c) for c in message.get("circuits", ())),
            shots=int(message.get("shots", DEFAULT_PROBLEM_SHOTS)),
            priority=int(message.get("priority", DEFAULT_PRIORITY)),
            deadline_s=None if deadline is None else float(deadline),
            weights=CostWeights.from_dict(message.get("weights")),
            budget_usd=None if budget is None else float(budget),
            tenant=str(message.get("tenant", DEFAULT_TENANT)),
            backends=None if backends is None else tuple(backends),
            kinds=None if kinds is None else tuple(kinds),
            submitted_at=None if submitted is None else float(submitted),
            metadata=message.get("metadata"),
            problem=problem,
            algorithms=None if algorithms is None else tuple(algorithms),
            max_iterations=None if max_iterations is None else int(max_iterations),
            accuracy_target=None if target is None else float(target),
            optimizer=str(message.get("optimizer", "cobyla")),
        )
