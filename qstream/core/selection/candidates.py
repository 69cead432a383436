"""Candidate configurations (solver x backend) for a problem, from the solver catalogue.

A :class:`Configuration` is one way to solve a problem: a solver on an executor. The
executors are small pure values (:class:`Executor`): a quantum device or simulator
(with its :class:`~qstream.core.backend_spec.BackendSpec`), or a classical executor
with declared CPU slots and memory. :func:`enumerate_candidates` lists every
configuration that can take the problem and records why each other one cannot: the
task's ``algorithms`` allow-list, the solver's problem kinds and size limit, the
device's qubit count, and, for classical executors, **memory** (a configuration whose
predicted peak memory, :func:`~qstream.core.selection.priors.classical_resources`,
exceeds the executor's ``memory_bytes`` is never a candidate).

The catalogue (:data:`SOLVER_CATALOGUE`) mirrors issue 10's solver list: QAOA for
MaxCut/QUBO and VQE for ground states on quantum backends; brute force / exact
diagonalisation (``exact``), simulated annealing, one-exchange local search and
Goemans–Williamson on classical executors (the classical ones are
:mod:`qstream.solvers`; their size limits are the core constants they share).

Examples
--------
>>> from qstream.core.problems import GroundState, MaxCut
>>> cpu = Executor("cpu", "classical", memory_bytes=10**8)
>>> dev = Executor.from_spec(BackendSpec("dev", "qpu", num_qubits=5, max_shots=10**5))
>>> triangle = MaxCut(3, ((0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0)))
>>> [c.configuration.key for c in enumerate_candidates(triangle, [cpu, dev]).candidates]
['qaoa@dev', 'exact@cpu', 'simulated_annealing@cpu', 'local_search@cpu', 'goemans_williamson@cpu']
>>> found = enumerate_candidates(triangle, [cpu, dev], algorithms=["exact", "qaoa"])
>>> [c.configuration.key for c in found.candidates], len(found.rejected)
(['qaoa@dev', 'exact@cpu'], 3)
>>> big = GroundState(20, (("Z" * 20, 1.0), ("X" * 20, 0.5)))
>>> found = enumerate_candidates(big, [cpu, dev])
>>> found.candidates
()
>>> [r.reason for r in found.rejected]  # doctest: +NORMALIZE_WHITESPACE
['vqe needs 20 qubits; dev has 5',
 'exact needs 0.26 GB of memory (predicted); cpu has 0.10 GB']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from qstream.core.backend_spec import BackendSpec
from qstream.core.problems import EXACT_MAX_QUBITS, EXACT_MAX_VARS, PROBLEM_KINDS, Problem
from qstream.core.problems.solver_costs import GW_MAX_NODES
from qstream.core.selection.priors import (
    DEFAULT_SETTINGS,
    classical_resources,
    qaoa_features,
    vqe_features,
)
from qstream.errors import TaskContentError

ExecutorKind = Literal["quantum", "classical"]

__all__ = ["SOLVER_CATALOGUE", "Candidate", "CandidateSet", "Configuration", "Executor",
           "ExecutorKind", "Rejection", "SolverInfo", "enumerate_candidates"]


@dataclass(frozen=True, slots=True)
class Executor:
    """Where a configuration runs, as the selection sees it.

    Attributes
    ----------
    name:
        Backend or executor name (``"ibm_hanoi_emu"``, ``"cpu_pool"``).
    kind:
        ``"quantum"`` (a QPU or a quantum simulator service) or ``"classical"``.
    qubits:
        Widest circuit a quantum executor takes (0 for classical ones).
    memory_bytes:
        Memory one solve may use on a classical executor (``None``: unlimited; unused
        for quantum ones).
    cpu_slots:
        Solves a classical executor runs at once.
    spec:
        The backend's :class:`BackendSpec` (required for quantum executors: queue,
        run time, error and price priors; optional for classical ones, whose CPU-second
        price then comes from ``spec.pricing``).
    """

    name: str
    kind: ExecutorKind
    qubits: int = 0
    memory_bytes: int | None = None
    cpu_slots: int = 1
    spec: BackendSpec | None = None

    @classmethod
    def from_spec(cls, spec: BackendSpec, *, memory_bytes: int | None = None) -> Executor:
        """Executor of a :class:`BackendSpec`: ``qpu``/``simulator`` are quantum (width
        ``num_qubits``), ``classical`` is classical with ``capacity`` CPU slots."""
        if spec.kind == "classical":
            return cls(spec.name, "classical", memory_bytes=memory_bytes,
                       cpu_slots=max(spec.capacity, 1), spec=spec)
        return cls(spec.name, "quantum", qubits=spec.num_qubits, spec=spec)


@dataclass(frozen=True, slots=True)
class Configuration:
    """One way to solve a problem: ``solver`` on ``backend`` (an executor of ``kind``)."""

    solver: str
    backend: str
    kind: ExecutorKind

    @property
    def key(self) -> str:
        """``"solver@backend"``, unique within a decision."""
        return f"{self.solver}@{self.backend}"

    def to_dict(self) -> dict[str, str]:
        return {"solver": self.solver, "backend": self.backend, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class SolverInfo:
    """A catalogue entry: which executors and problems a solver takes.

    ``max_size`` maps a problem kind to the largest size the solver takes (absent:
    no limit of its own; quantum solvers are limited by the device's qubits).
    """

    name: str
    kind: ExecutorKind
    problem_kinds: tuple[str, ...]
    max_size: dict[str, int] = field(default_factory=dict)


SOLVER_CATALOGUE: dict[str, SolverInfo] = {s.name: s for s in (
    SolverInfo("qaoa", "quantum", ("maxcut", "qubo")),
    SolverInfo("vqe", "quantum", ("ground_state",)),
    SolverInfo("exact", "classical", PROBLEM_KINDS,
               {"maxcut": EXACT_MAX_VARS, "qubo": EXACT_MAX_VARS, "ground_state": EXACT_MAX_QUBITS}),
    SolverInfo("simulated_annealing", "classical", ("maxcut", "qubo")),
    SolverInfo("local_search", "classical", ("maxcut",)),
    SolverInfo("goemans_williamson", "classical", ("maxcut",), {"maxcut": GW_MAX_NODES}),
)}
"""Solvers by name, quantum first, in the order candidates are listed."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A configuration together with the executor it runs on."""

    configuration: Configuration
    executor: Executor


@dataclass(frozen=True, slots=True)
class Rejection:
    """A configuration that is not a candidate, and why (human-readable)."""

    configuration: Configuration
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.configuration.to_dict(), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class CandidateSet:
    """What :func:`enumerate_candidates` found: the candidates and the rejections."""

    candidates: tuple[Candidate, ...]
    rejected: tuple[Rejection, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"candidates": [c.configuration.to_dict() for c in self.candidates],
                "rejected": [r.to_dict() for r in self.rejected]}


def _gb(n: float) -> str:
    """Bytes as GB; sizes beyond the float range as a power of two.

    >>> _gb(2.5e9), _gb(2**3000)
    ('2.50 GB', 'about 2^3000 bytes')
    """
    if isinstance(n, int) and n.bit_length() > 1000:
        return f"about 2^{n.bit_length() - 1} bytes"
    return f"{n / 1e9:.2f} GB"


def _why_not(problem: Problem, info: SolverInfo, executor: Executor) -> str | None:
    if problem.kind not in info.problem_kinds:
        return f"{info.name} solves {', '.join(info.problem_kinds)}, not {problem.kind}"
    reasons = []
    if executor.kind == "quantum":
        if problem.size > executor.qubits:
            reasons.append(f"{info.name} needs {problem.size} qubits; {executor.name} has "
                           f"{executor.qubits}")
        if executor.spec is None:
            reasons.append(f"quantum executor {executor.name} has no BackendSpec")
        elif not reasons:
            # A simulator (or emulated device) must also be able to simulate the ansatz
            # in its memory and time limits (qstream.core.sim_cost).
            features = (qaoa_features(problem, reps=DEFAULT_SETTINGS.qaoa_reps)
                        if info.name == "qaoa" else
                        vqe_features(problem.size, reps=DEFAULT_SETTINGS.vqe_reps))
            why = executor.spec.can_run(features, DEFAULT_SETTINGS.shots)
            if why is not None:
                reasons.append(f"{info.name} circuits: {why}")
        return "; ".join(reasons) or None
    if executor.memory_bytes is not None:
        memory = classical_resources(problem, info.name)[1]
        if memory > executor.memory_bytes:
            reasons.append(f"{info.name} needs {_gb(memory)} of memory (predicted); "
                           f"{executor.name} has {_gb(executor.memory_bytes)}")
    limit = info.max_size.get(problem.kind)
    if limit is not None and problem.size > limit:
        reasons.append(f"{info.name} takes at most {limit} for {problem.kind}, got {problem.size}")
    return "; ".join(reasons) or None


def enumerate_candidates(problem: Problem, executors: Sequence[Executor], *,
                         algorithms: Iterable[str] | None = None) -> CandidateSet:
    """Every configuration (catalogue solver x executor of its kind) that can take ``problem``.

    Parameters
    ----------
    problem:
        The problem to solve.
    executors:
        Quantum and classical executors.
    algorithms:
        The task's allow-list of solver names (``None``: all). A solver left out is
        recorded as rejected on every executor of its kind.

    Returns
    -------
    CandidateSet
        Candidates in catalogue order, then executor order; rejections with reasons.
        Solvers of another problem kind are left out silently.

    Raises
    ------
    qstream.errors.TaskContentError
        If ``algorithms`` names a solver not in :data:`SOLVER_CATALOGUE`.
    """
    allowed = None if algorithms is None else set(algorithms)
    if allowed is not None and allowed - set(SOLVER_CATALOGUE):
        raise TaskContentError(
            f"unknown algorithms {sorted(allowed - set(SOLVER_CATALOGUE))}; "
            f"known: {', '.join(SOLVER_CATALOGUE)}")
    candidates: list[Candidate] = []
    rejected: list[Rejection] = []
    for info in SOLVER_CATALOGUE.values():
        if problem.kind not in info.problem_kinds:
            continue
        for executor in executors:
            if executor.kind != info.kind:
                continue
            config = Configuration(info.name, executor.name, executor.kind)
            if allowed is not None and info.name not in allowed:
                rejected.append(Rejection(config, f"{info.name} is not in the task's algorithms"))
                continue
            reason = _why_not(problem, info, executor)
            if reason is None:
                candidates.append(Candidate(config, executor))
            else:
                rejected.append(Rejection(config, reason))
    return CandidateSet(tuple(candidates), tuple(rejected))
