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
    observables:
        The circuit's Pauli observables (see
        :class:`qstream.core.task.CircuitRequest`), or None.
    groups:
        With ``observables``: one measured circuit per qubit-wise commuting group of
        their terms (built by the edge); each runs in place of the circuit itself.
    """

    name: str
    qasm: str
    features: CircuitFeatures
    depends_on: tuple[str, ...] = ()
    observables: tuple[tuple[tuple[str, float], ...], ...] | None = None
    groups: tuple[MeasurementGroup, ...] = ()

    def runs(self) -> list[tuple[str, CircuitFeatures, str | None]]:
        """``(qasm, features, basis)`` of each circuit that runs for this one, in order.

        The circuit itself (basis None) when it has no measurement groups.
        """
        if not self.groups:
            return [(self.qasm, self.features, None)]
        return [(g.qasm, g.features, g.basis) for g in self.groups]


@dataclass(frozen=True, slots=True)
class MeasurementGroup:
    """One measured copy of a circuit with observables: rotated to ``basis``, all qubits read.

    Attributes
    ----------
    basis:
        ``N`` characters of ``IXYZ`` (rightmost = qubit 0), from
        :func:`qstream.core.observables.measurement_basis`.
    qasm:
        The circuit + basis rotations + ``measure`` of qubit ``j`` into clbit ``j``.
    features:
        Its features (the edge parses ``qasm``).
    """

    basis: str
    qasm: str
    features: CircuitFeatures


def check_observables(name: str, observables: Sequence[Sequence[tuple[str, float]]],
                      features: CircuitFeatures, shots: int) -> None:
    """Check that a circuit's observables fit it; the edge calls it before building groups.

    Raises
    ------
    TaskContentError
        ``reason="invalid_observable"``: a label whose length is not the circuit's
        qubit count, a circuit that measures qubits (its measurements would decide
        the basis, not the observables: remove the ``measure`` statements), or
        ``shots < 2`` (a standard error needs two shots per group).

    Examples
    --------
    >>> ansatz = CircuitFeatures(2, 2, 1, 2, 0, 0)
    >>> check_observables("a", [[("ZZ", 1.0)]], ansatz, 100)
    >>> try:
    ...     check_observables("a", [[("ZZ", 1.0), ("ZZZ", 0.5)]], ansatz, 100)
    ... except TaskContentError as exc:
    ...     print(exc.reason, "|", str(exc)[:44])
    invalid_observable | circuit 'a': observable 0 term 1 label 'ZZZ'
    """
    if features.measured_qubits:
        raise TaskContentError(
            f"circuit {name!r} has observables and measures {features.measured_qubits} qubits; "
            "remove its measure statements (qstream measures each observable group itself) or "
            "drop observables to get counts", reason="invalid_observable")
    if shots < 2:
        raise TaskContentError(
            f"circuit {name!r} has observables but shots={shots}; a standard error needs "
            "shots >= 2 per measurement group", reason="invalid_observable")
    for i, terms in enumerate(observables):
        for k, (label, _) in enumerate(terms):
            if len(label) != features.num_qubits:
                raise TaskContentError(
                    f"circuit {name!r}: observable {i} term {k} label {label!r} has {len(label)} "
                    f"characters; the circuit has {features.num_qubits} qubits (one character "
                    "per qubit, rightmost = qubit 0)", reason="invalid_observable")


def plan_circuits(circuits: Sequence[CircuitInput], shots: int) -> list[dict[str, object]]:
    """The ``circuits`` of a ``qstream.plan.v1``: one entry per run, in ``circuit_index`` order.

    >>> f = CircuitFeatures(2, 2, 1, 2, 2, 2)
    >>> groups = (MeasurementGroup("ZZ", "...", f), MeasurementGroup("XX", "...", f))
    >>> for entry in plan_circuits([CircuitInput("bell", "...", f),
    ...                             CircuitInput("h", "...", f, groups=groups)], 10):
    ...     print(entry)
    {'name': 'bell', 'shots': 10}
    {'name': 'h', 'shots': 10, 'basis': 'ZZ'}
    {'name': 'h', 'shots': 10, 'basis': 'XX'}
    """
    out: list[dict[str, object]] = []
    for c in circuits:
        for _, _, basis in c.runs():
            entry: dict[str, object] = {"name": c.name, "shots": shots}
            if basis is not None:
                entry["basis"] = basis
            out.append(entry)
    return out


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
    where = "allowed backend" if allowed else "backend"
    wide = [s.name for s in candidates if s.num_qubits >= f.num_qubits]
    # Wide enough somewhere: the simulation cost (memory, time) or dynamic support rules
    # out every wide-enough backend.
    costly = [r for s in candidates if s.num_qubits >= f.num_qubits
              and (not f.dynamic or s.supports_dynamic) and (r := s.can_run(f)) is not None]
    if costly:
        return f"circuit {circuit.name!r} fits no {where}: " + "; ".join(costly)
    dynamic = [s.name for s in candidates if s.supports_dynamic]
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

    One sub-task per run: a circuit is one run, or, with measurement groups, one
    run per group (each with ``shots``; runs are numbered across the task in
    order, so ``circuit_index`` counts runs). If ``shots`` exceeds the largest ``max_shots``
    among the allowed backends capable of the circuit, it is split into
    ``ceil(shots / max_shots)`` near-equal shot splits (:func:`split_shots`),
    ids ``{task_id}/c{i}/s{k}``. A circuit's ``depends_on`` names become the ids
    of every split of every run of the named circuits.

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

    runs: list[tuple[CircuitInput, str, CircuitFeatures]] = []  # (circuit, qasm, features)
    run_indices: dict[str, list[int]] = {}
    for c in circuits:
        for qasm, features, _ in c.runs():
            run_indices.setdefault(c.name, []).append(len(runs))
            runs.append((c, qasm, features))
    split_counts: list[int] = []
    for c, _, features in runs:
        capable = [s for s in candidates if s.can_run(features) is None]
        if not capable:
            target = c if features is c.features else CircuitInput(c.name, c.qasm, features)
            raise CapacityError(_no_backend_reason(target, candidates, allowed is not None))
        max_shots = max(s.max_shots for s in capable)
        split_counts.append(math.ceil(shots / max_shots))

    def ids_of(name: str) -> list[str]:
        return [f"{task_id}/c{index}/s{k}" for index in run_indices[name]
                for k in range(split_counts[index])]

    out: list[SubTask] = []
    for index, (c, qasm, features) in enumerate(runs):
        base = SubTask(
            subtask_id=f"{task_id}/c{index}/s0",
            task_id=task_id,
            circuit_index=index,
            circuit_name=c.name,
            qasm=qasm,
            shots=shots,
            features=features,
            weights=weights,
            priority=priority,
            deadline_s=deadline_s,
            allowed_backends=allowed,
            depends_on=tuple(i for d in deps[c.name] for i in ids_of(d)),
            submitted_at_s=submitted_at_s,
        )
        parts = split_shots(shots, split_counts[index])
        out.extend(base.with_shots(n, k) for k, n in enumerate(parts))
    return out
