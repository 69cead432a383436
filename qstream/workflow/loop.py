"""The steps of a hybrid loop: circuits of an iteration, its objective, the optimiser step.

A quantum loop is ask/tell (:mod:`qstream.core.optimizers`): the optimiser *asks* for
parameter points, one circuit per point is run as an ordinary circuit task, the
circuit task's result gives each point's objective, and the optimiser is *told*.
Then the next points are asked, until the optimiser is done; a final step runs the
best parameters once more.

- **QAOA** (maxcut, qubo): the ``QAOAAnsatz`` of the problem's cost Hamiltonian
  (:func:`qstream.quantum.ansatz.qaoa_circuit`), measured in the Z basis. A point's
  value is the mean of the problem's objective over the shots, as a minimisation
  (``-cut`` for MaxCut, the QUBO value for a QUBO): the sampled expectation of the cost
  Hamiltonian plus its offset (Farhi, Goldstone & Gutmann, arXiv:1411.4028). Every
  sampled bitstring is a candidate answer: the best one seen, in the final sampling
  run or before, is the answer.
- **VQE** (ground_state): a hardware-efficient ansatz
  (:func:`qstream.quantum.ansatz.vqe_circuit`) carrying the Hamiltonian as an
  observable (Estimator semantics: one measured copy per qubit-wise commuting group,
  built by the partition agent); a point's value is the estimated energy. The final
  step re-estimates the energy at the best parameters, so the reported energy and its
  standard error are not biased low by taking the minimum of noisy estimates.

Examples
--------
>>> from qstream.core.problems import MaxCut
>>> ring = MaxCut(3, ((0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0)))
>>> result = {"results": [{"name": "p0", "counts": {"011": 3, "000": 1}}]}
>>> ev = evaluate_step(ring, "qaoa", result, 1)
>>> ev.values, ev.objectives, ev.best_bitstring, ev.best_objective
([-1.5], [1.5], '011', 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qiskit import QuantumCircuit

from qstream.core.optimizers import from_state, make_optimizer
from qstream.core.problems import GroundState, MaxCut, Problem, Qubo, bits_from_string
from qstream.core.problems.conversions import ground_state_from_problem
from qstream.errors import QStreamError
from qstream.quantum.ansatz import (
    bound_qasm,
    qaoa_circuit,
    qaoa_initial_point,
    vqe_circuit,
    vqe_initial_point,
)
from qstream.workflow.state import WorkflowState

QUANTUM_ALGORITHMS = ("qaoa", "vqe")
"""Algorithms that run as hybrid loops."""

VQE_INITIAL_SCALE = 0.1
"""Half-width of VQE's seeded uniform start, radians: near ``|0...0>``, where a
hardware-efficient ansatz starts away from a barren plateau (Grant et al., "An
initialization strategy for addressing barren plateaus", Quantum 3, 214, 2019)."""


class WorkflowStepError(QStreamError):
    """A step's result cannot advance its loop: a circuit is missing or has no usable data."""


@dataclass(frozen=True, slots=True)
class StepCircuit:
    """One circuit of a step: ``name``, OpenQASM 2 ``qasm``, and ``observables`` (VQE) or None."""

    name: str
    qasm: str
    observables: tuple[tuple[tuple[str, float], ...], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``circuits`` entry of a ``qstream.task.v1`` message."""
        out: dict[str, Any] = {"name": self.name, "qasm": self.qasm}
        if self.observables is not None:
            out["observables"] = [[list(t) for t in terms] for terms in self.observables]
        return out


@dataclass(frozen=True, slots=True)
class StepEvaluation:
    """What one step's result says.

    Attributes
    ----------
    values:
        Per point, the value the optimiser minimises.
    objectives:
        Per point, the objective in the problem's sense (expected cut, QUBO value or energy).
    std_errors:
        Per point, the standard error of the objective (VQE), else None.
    best_bitstring, best_objective:
        Best sampled assignment of the step and its objective (QAOA), else None.
    """

    values: list[float]
    objectives: list[float]
    std_errors: list[float | None]
    best_bitstring: str | None = None
    best_objective: float | None = None


def maximises(problem: Problem) -> bool:
    """Whether the problem's objective is maximised (MaxCut) rather than minimised."""
    return isinstance(problem, MaxCut)


def objective_of(problem: MaxCut | Qubo, bitstring: str) -> float:
    """The problem's objective at a wire bitstring (variable 0 rightmost)."""
    bits = bits_from_string(bitstring)
    return problem.cut_value(bits) if isinstance(problem, MaxCut) else problem.value(bits)


def better(problem: Problem, a: float, b: float | None) -> bool:
    """Whether objective ``a`` is better than ``b`` (None: no value yet)."""
    if b is None:
        return True
    return a > b if maximises(problem) else a < b


def build_ansatz(problem: Problem, algorithm: str, reps: int) -> QuantumCircuit:
    """The parametrised circuit of the loop (QAOA of the cost Hamiltonian, or VQE).

    Raises
    ------
    WorkflowStepError
        If ``algorithm`` is not a quantum loop for this problem kind.
    """
    if algorithm == "qaoa" and isinstance(problem, MaxCut | Qubo):
        return qaoa_circuit(ground_state_from_problem(problem).hamiltonian.pauli_terms, reps)
    if algorithm == "vqe" and isinstance(problem, GroundState):
        return vqe_circuit(problem.num_qubits, reps)
    raise WorkflowStepError(f"{algorithm} does not solve {problem.kind} problems")


def start_loop(state: WorkflowState, problem: Problem, ansatz: QuantumCircuit) -> list[list[float]]:
    """Create the loop's optimiser in ``state`` and return the first points to evaluate."""
    if state.algorithm == "qaoa":
        x0 = qaoa_initial_point(state.reps)
    else:
        x0 = vqe_initial_point(ansatz, seed=state.seed, scale=VQE_INITIAL_SCALE)
    optimizer = make_optimizer(state.optimizer_name, x0, max_iterations=state.max_iterations,
                               seed=state.seed)
    state.phase = "loop"
    state.optimizer = optimizer.state()
    return optimizer.ask()


def step_circuits(problem: Problem, algorithm: str, ansatz: QuantumCircuit,
                  points: Sequence[Sequence[float]]) -> list[StepCircuit]:
    """One circuit per parameter point, named ``p0``, ``p1``, ...

    QAOA circuits are measured in the Z basis; VQE circuits carry the Hamiltonian as
    their one observable and no measurements.
    """
    if algorithm == "qaoa":
        basis = "Z" * ansatz.num_qubits
        return [StepCircuit(f"p{i}", bound_qasm(ansatz, p, measure=basis))
                for i, p in enumerate(points)]
    assert isinstance(problem, GroundState)
    return [StepCircuit(f"p{i}", bound_qasm(ansatz, p, measure=None), (problem.pauli_terms,))
            for i, p in enumerate(points)]


def _entries(result: dict[str, Any], points: int) -> list[dict[str, Any]]:
    by_name = {r["name"]: r for r in result.get("results", ())}
    missing = [f"p{i}" for i in range(points) if f"p{i}" not in by_name]
    if missing:
        raise WorkflowStepError(f"step result lacks circuits {', '.join(missing)}")
    return [by_name[f"p{i}"] for i in range(points)]


def evaluate_step(problem: Problem, algorithm: str, result: dict[str, Any],
                  points: int) -> StepEvaluation:
    """Each point's value and objective from a step's ``qstream.result.v1``.

    Raises
    ------
    WorkflowStepError
        A circuit is missing, has no counts (QAOA) or no observable estimate (VQE).
    """
    entries = _entries(result, points)
    if algorithm == "vqe":
        values, errors = [], []
        for e in entries:
            obs = e.get("observables") or []
            if not obs:
                raise WorkflowStepError(f"circuit {e['name']} has no observable estimate")
            values.append(float(obs[0]["value"]))
            errors.append(float(obs[0]["std_error"]))
        return StepEvaluation(values, list(values), list(errors))
    assert isinstance(problem, MaxCut | Qubo)
    sign = -1.0 if maximises(problem) else 1.0
    values, objectives = [], []
    best_bits: str | None = None
    best_obj: float | None = None
    for e in entries:
        counts = e.get("counts") or {}
        shots = sum(counts.values())
        if shots == 0:
            raise WorkflowStepError(f"circuit {e['name']} has no counts")
        total = 0.0
        for bits, n in counts.items():
            obj = objective_of(problem, bits)
            total += obj * n
            if better(problem, obj, best_obj):
                best_bits, best_obj = bits, obj
        mean = total / shots
        objectives.append(mean)
        values.append(sign * mean)
    return StepEvaluation(values, objectives, [None] * len(entries), best_bits, best_obj)


def advance(state: WorkflowState, problem: Problem, ev: StepEvaluation) -> list[list[float]]:
    """Tell the optimiser one iteration's values; return the next points ([] when done).

    Appends the iteration's best objective (problem sense) to ``state.history``,
    counts the iteration, keeps the best sampled bitstring, and stores the optimiser's
    new state.
    """
    assert state.optimizer is not None
    optimizer = from_state(state.optimizer)
    optimizer.tell(ev.values)
    i = min(range(len(ev.values)), key=lambda k: ev.values[k])
    state.history.append(float(ev.objectives[i]))
    state.iteration += 1
    note_sample(state, problem, ev)
    state.optimizer = optimizer.state()
    return [] if optimizer.done else optimizer.ask()


def note_sample(state: WorkflowState, problem: Problem, ev: StepEvaluation) -> None:
    """Keep the step's best sampled bitstring in ``state.best`` when it beats the best so far."""
    if ev.best_bitstring is not None and ev.best_objective is not None and better(
            problem, ev.best_objective, state.best.get("objective")):
        state.best.update(bitstring=ev.best_bitstring, objective=float(ev.best_objective))


def best_parameters(state: WorkflowState) -> list[float]:
    """The evaluated point with the lowest optimiser value (the final step's parameters)."""
    assert state.optimizer is not None
    optimizer = from_state(state.optimizer)
    if optimizer.best_x is None:
        raise WorkflowStepError(f"task {state.task_id}: no iteration has completed")
    return [float(v) for v in optimizer.best_x]


def finish_final(state: WorkflowState, problem: Problem, ev: StepEvaluation,
                 parameters: Sequence[float]) -> None:
    """Record the final step: the best sample (QAOA) or the re-estimated energy (VQE)."""
    state.best["parameters"] = [float(v) for v in parameters]
    if state.algorithm == "vqe":
        state.best.update(objective=float(ev.objectives[0]), std_error=ev.std_errors[0])
    else:
        note_sample(state, problem, ev)
    if not math.isfinite(float(state.best.get("objective", math.nan))):
        raise WorkflowStepError(f"task {state.task_id}: the final step gave no objective")
