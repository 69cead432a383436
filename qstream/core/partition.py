"""Partition a task into sub-tasks: one per circuit, shot splits, dependencies.

The partitioner only checks *feasibility* against the fleet (is any allowed
backend wide enough, does any run dynamic circuits, how many shots one job may
hold); *where* each sub-task runs is the scheduler's decision.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from qstream.core.backend_spec import BackendSpec
from qstream.core.cost import CostWeights
from qstream.core.features import CircuitFeatures
from qstream.core.subtask import SubTask
from qstream.errors import CapacityError, TaskContentError

# CostWeights is frozen, so one shared default instance is safe.
_DEFAULT_WEIGHTS = CostWeights()


@dataclass(frozen=True, slots=True)
class CircuitInput:
    """One circuit of a task, as the partitioner sees it.

    Attributes
    ----------
    name:
        Unique within the task; ``depends_on`` refers to it.
    qasm:
        OpenQASM 2 or 3 source, passed through unchanged.
    features:
        Its logical shape (the edge parses the QASM).
    depends_on:
        Names of circuits of the same task that must complete first.
    """

    name: str
    qasm: str
    features: CircuitFeatures
    depends_on: tuple[str, ...] = ()


def split_shots(shots: int, parts: int) -> list[int]:
    """Split ``shots`` into ``parts`` near-equal positive integers summing to ``shots``.

    The first ``shots % parts`` parts get one extra shot, so parts differ by at
    most one.

    Raises
    ------
    TaskContentError
        If ``parts < 1`` or ``shots < parts`` (some part would get no shots).

    Examples
    --------
    >>> split_shots(10, 3)
    [4, 3, 3]
    >>> split_shots(5, 1)
    [5]
    """
    if parts < 1:
        raise TaskContentError(f"parts must be >= 1, got {parts}")
    if shots < parts:
        raise TaskContentError(f"cannot split {shots} shots into {parts} parts of >= 1 shot")
    base, extra = divmod(shots, parts)
    return [base + 1 if i < extra else base for i in range(parts)]


def _fleet_label(specs: Sequence[BackendSpec], allowed: bool) -> str:
    if allowed:
        return f"of the allowed backends [{', '.join(s.name for s in specs)}] the largest"
    return "the largest backend"


def _no_backend_reason(
    circuit: CircuitInput, candidates: Sequence[BackendSpec], allowed: bool
) -> str:
    f = circuit.features
    widest = max(s.num_qubits for s in candidates)
    if f.num_qubits > widest:
        return (
            f"circuit {circuit.name!r} needs {f.num_qubits} qubits; "
            f"{_fleet_label(candidates, allowed)} has {widest}"
        )
    # Wide enough somewhere, so the circuit is dynamic and no wide-enough backend runs it.
    wide = [s.name for s in candidates if s.num_qubits >= f.num_qubits]
    dynamic = [s.name for s in candidates if s.supports_dynamic]
    where = "allowed backend" if allowed else "backend"
    hint = (
        f"; [{', '.join(dynamic)}] support it but are too narrow"
        if dynamic
        else "; remove mid-circuit measurement, reset and classical control"
    )
    return (
        f"circuit {circuit.name!r} uses mid-circuit measurement, reset or classical "
        f"control, and no {where} with >= {f.num_qubits} qubits "
        f"([{', '.join(wide)}]) supports it{hint}"
    )


def _check_acyclic(deps: dict[str, tuple[str, ...]]) -> None:
    # Iterative DFS with three colours; reports one cycle in dependency order.
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(deps, white)
    for root in deps:
        if colour[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                colour[node] = grey
                path.append(node)
            children = deps[node]
            if i < len(children):
                stack.append((node, i + 1))
                child = children[i]
                if colour[child] == grey:
                    cycle = [*path[path.index(child):], child]
                    raise TaskContentError(
                        f"circuit dependencies form a cycle: {' -> '.join(cycle)}",
                        reason="dependencies")
                if colour[child] == white:
                    stack.append((child, 0))
            else:
                colour[node] = black
                path.pop()


def partition_task(
    task_id: str,
    circuits: Sequence[CircuitInput],
    shots: int,
    specs: Sequence[BackendSpec],
    *,
    weights: CostWeights = _DEFAULT_WEIGHTS,
    priority: int = 5,
    deadline_s: float | None = None,
    allowed_backends: Sequence[str] | None = None,
    submitted_at_s: float = 0.0,
) -> list[SubTask]:
    """Partition a task into sub-tasks, in circuit order.

    One sub-task per circuit. If ``shots`` exceeds the largest ``max_shots``
    among the allowed backends capable of the circuit, it is split into
    ``ceil(shots / max_shots)`` near-equal shot splits (:func:`split_shots`),
    ids ``{task_id}/c{i}/s{k}``. A circuit's ``depends_on`` names become the ids
    of every split of the named circuits.

    Parameters
    ----------
    task_id:
        The task's id.
    circuits:
        The task's circuits, in the order results are reported.
    shots:
        Shots per circuit (>= 1).
    specs:
        The fleet.
    weights, priority, deadline_s, submitted_at_s:
        Copied onto every sub-task; ``priority`` in 0..9, ``deadline_s`` > 0.
    allowed_backends:
        Restrict the task to these backend names; ``None`` allows all.

    Returns
    -------
    list of SubTask
        Splits of circuit 0 first, then circuit 1, ...

    Raises
    ------
    TaskContentError
        No circuits, duplicate circuit names, ``shots < 1``, ``priority`` outside
        0..9, ``deadline_s <= 0``, an unknown or empty ``allowed_backends``, an
        unknown ``depends_on`` name, or a dependency cycle.
    CapacityError
        A circuit that no (allowed) backend can run; the message says why.

    Examples
    --------
    >>> from qstream.core.backend_spec import BackendSpec
    >>> from qstream.core.features import CircuitFeatures
    >>> fleet = [BackendSpec("a", "qpu", 27, 10_000), BackendSpec("b", "qpu", 7, 100_000)]
    >>> ghz = CircuitFeatures(5, 6, 4, 5, 5, 5)
    >>> subs = partition_task("t1", [CircuitInput("ghz5", "...", ghz)], 250_000, fleet)
    >>> [(s.subtask_id, s.shots) for s in subs]
    [('t1/c0/s0', 83334), ('t1/c0/s1', 83333), ('t1/c0/s2', 83333)]
    >>> wide = CircuitFeatures(200, 6, 4, 5, 5, 5)
    >>> partition_task("t2", [CircuitInput("big", "...", wide)], 100, fleet)
    Traceback (most recent call last):
    ...
    qstream.errors.CapacityError: circuit 'big' needs 200 qubits; the largest backend has 27
    """
    if not circuits:
        raise TaskContentError(f"task {task_id!r} has no circuits")
    if shots < 1:
        raise TaskContentError(f"shots must be >= 1, got {shots}")
    if not 0 <= priority <= 9:
        raise TaskContentError(f"priority must be in 0..9, got {priority}")
    if deadline_s is not None and not deadline_s > 0:
        raise TaskContentError(f"deadline_s must be > 0, got {deadline_s}")
    if not specs:
        raise CapacityError("the fleet has no backends")
    names = [c.name for c in circuits]
    duplicates = sorted(n for n, k in Counter(names).items() if k > 1)
    if duplicates:
        raise TaskContentError(f"circuit names must be unique within a task; repeated: {duplicates}",
                               reason="duplicate_circuit")

    by_name = {s.name: s for s in specs}
    allowed: tuple[str, ...] | None = None
    candidates: list[BackendSpec] = list(specs)
    if allowed_backends is not None:
        allowed = tuple(dict.fromkeys(allowed_backends))
        unknown = [n for n in allowed if n not in by_name]
        if unknown:
            raise TaskContentError(
                f"unknown backends in allowed_backends: {unknown}; valid names: {sorted(by_name)}",
                reason="unknown_backend")
        if not allowed:
            raise TaskContentError(f"allowed_backends is empty; valid names: {sorted(by_name)}",
                                   reason="unknown_backend")
        candidates = [by_name[n] for n in allowed]

    deps = {c.name: tuple(dict.fromkeys(c.depends_on)) for c in circuits}
    for c in circuits:
        unknown_deps = [d for d in deps[c.name] if d not in deps]
        if unknown_deps:
            raise TaskContentError(
                f"circuit {c.name!r} depends on unknown circuits {unknown_deps}; "
                f"circuits of this task: {names}", reason="dependencies")
    _check_acyclic(deps)

    split_counts: dict[str, int] = {}
    for c in circuits:
        capable = [s for s in candidates if s.can_run(c.features) is None]
        if not capable:
            raise CapacityError(_no_backend_reason(c, candidates, allowed is not None))
        max_shots = max(s.max_shots for s in capable)
        split_counts[c.name] = math.ceil(shots / max_shots)

    index_of = {name: i for i, name in enumerate(names)}

    def ids_of(name: str) -> list[str]:
        index = index_of[name]
        return [f"{task_id}/c{index}/s{k}" for k in range(split_counts[name])]

    out: list[SubTask] = []
    for index, c in enumerate(circuits):
        base = SubTask(
            subtask_id=f"{task_id}/c{index}/s0",
            task_id=task_id,
            circuit_index=index,
            circuit_name=c.name,
            qasm=c.qasm,
            shots=shots,
            features=c.features,
            weights=weights,
            priority=priority,
            deadline_s=deadline_s,
            allowed_backends=allowed,
            depends_on=tuple(i for d in deps[c.name] for i in ids_of(d)),
            submitted_at_s=submitted_at_s,
        )
        parts = split_shots(shots, split_counts[c.name])
        out.extend(base.with_shots(n, k) for k, n in enumerate(parts))
    return out
