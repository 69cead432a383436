"""Partitioner: shot splits, dependencies, actionable capacity errors."""

from __future__ import annotations

import math

import pytest
from helpers.core import GHZ5, qpu, sim
from hypothesis import given
from hypothesis import strategies as st

from qstream.core.features import CircuitFeatures
from qstream.core.partition import CircuitInput, partition_task, split_shots
from qstream.errors import CapacityError, TaskContentError


def circ(name: str, qubits: int = 5, *, dynamic: bool = False,
         depends_on: tuple[str, ...] = ()) -> CircuitInput:
    f = CircuitFeatures(qubits, 6, 4, 5, qubits, qubits, dynamic)
    return CircuitInput(name, "OPENQASM 2.0;", f, depends_on)


@given(shots=st.integers(1, 10**7), parts=st.integers(1, 64))
def test_split_shots_sums_and_near_equal(shots: int, parts: int) -> None:
    if shots < parts:
        with pytest.raises(TaskContentError):
            split_shots(shots, parts)
        return
    out = split_shots(shots, parts)
    assert len(out) == parts
    assert sum(out) == shots
    assert min(out) >= 1
    assert max(out) - min(out) <= 1


@given(
    shots=st.integers(1, 2_000_000),
    max_shots=st.lists(st.integers(1000, 300_000), min_size=1, max_size=5),
    qubits=st.integers(1, 27),
)
def test_splits_sum_to_shots_and_fit_max_shots(shots: int, max_shots: list[int],
                                               qubits: int) -> None:
    fleet = [qpu(f"b{i}", qubits=27, max_shots=m) for i, m in enumerate(max_shots)]
    fleet.append(qpu("narrow", qubits=max(qubits - 1, 0) or 1, max_shots=10**9))
    subs = partition_task("t", [circ("a", qubits), circ("b", 1)], shots, fleet)
    for index in (0, 1):
        parts = [s for s in subs if s.circuit_index == index]
        capable = [b for b in fleet if b.num_qubits >= (qubits if index == 0 else 1)]
        largest = max(b.max_shots for b in capable)
        assert sum(p.shots for p in parts) == shots
        assert all(1 <= p.shots <= largest for p in parts)
        assert len(parts) == math.ceil(shots / largest)
        assert [p.split_index for p in parts] == list(range(len(parts)))
        assert [p.subtask_id for p in parts] == [f"t/c{index}/s{k}" for k in range(len(parts))]


def test_task_fields_copied() -> None:
    subs = partition_task("t9", [circ("a")], 100, [sim("s")], priority=8, deadline_s=60.0,
                          allowed_backends=["s"], submitted_at_s=12.5)
    (s,) = subs
    assert (s.priority, s.deadline_s, s.allowed_backends, s.submitted_at_s) == (
        8, 60.0, ("s",), 12.5)
    assert (s.task_id, s.circuit_name, s.qasm, s.features) == (
        "t9", "a", "OPENQASM 2.0;", circ("a").features)


def test_depends_on_maps_to_every_split_of_the_named_circuit() -> None:
    fleet = [qpu("q", max_shots=1000)]
    subs = partition_task("t", [circ("prep"), circ("meas", depends_on=("prep",))], 2500, fleet)
    prep = [s.subtask_id for s in subs if s.circuit_name == "prep"]
    meas = [s for s in subs if s.circuit_name == "meas"]
    assert prep == ["t/c0/s0", "t/c0/s1", "t/c0/s2"]
    assert all(m.depends_on == tuple(prep) for m in meas)
    assert all(s.depends_on == () for s in subs if s.circuit_name == "prep")


def test_unknown_dependency_is_a_task_content_error() -> None:
    with pytest.raises(TaskContentError, match="unknown circuits \\['nope'\\]"):
        partition_task("t", [circ("a", depends_on=("nope",))], 10, [sim("s")])


@pytest.mark.parametrize(
    "deps",
    [
        {"a": ("a",)},
        {"a": ("b",), "b": ("c",), "c": ("a",)},
        {"a": (), "b": ("a", "c"), "c": ("d",), "d": ("b",)},
    ],
)
def test_cycles_are_task_content_errors(deps: dict[str, tuple[str, ...]]) -> None:
    circuits = [circ(n, depends_on=d) for n, d in deps.items()]
    with pytest.raises(TaskContentError, match="cycle"):
        partition_task("t", circuits, 10, [sim("s")])


def test_diamond_is_not_a_cycle() -> None:
    circuits = [circ("a"), circ("b", depends_on=("a",)), circ("c", depends_on=("a",)),
                circ("d", depends_on=("b", "c"))]
    subs = partition_task("t", circuits, 10, [sim("s")])
    assert subs[3].depends_on == ("t/c1/s0", "t/c2/s0")


def test_too_wide_message_names_the_largest_backend() -> None:
    fleet = [qpu("ibm_fez", qubits=156), qpu("ibm_perth", qubits=7)]
    with pytest.raises(CapacityError) as err:
        partition_task("t", [circ("big", 200)], 10, fleet)
    assert str(err.value) == "circuit 'big' needs 200 qubits; the largest backend has 156"


def test_too_wide_message_respects_allowed_backends() -> None:
    fleet = [qpu("a", qubits=27), qpu("b", qubits=7), qpu("c", qubits=156)]
    with pytest.raises(CapacityError) as err:
        partition_task("t", [circ("big", 100)], 10, fleet, allowed_backends=["a", "b"])
    assert str(err.value) == (
        "circuit 'big' needs 100 qubits; of the allowed backends [a, b] the largest has 27"
    )


def test_dynamic_circuit_without_support_says_so() -> None:
    fleet = [sim("braket_local", dynamic=False), qpu("tiny", qubits=3, dynamic=True)]
    with pytest.raises(CapacityError, match="mid-circuit measurement") as err:
        partition_task("t", [circ("feedforward", 5, dynamic=True)], 10, fleet)
    assert "[tiny] support it but are too narrow" in str(err.value)
    # A dynamic-capable backend wide enough makes it feasible.
    fleet.append(qpu("big", dynamic=True))
    assert partition_task("t", [circ("feedforward", 5, dynamic=True)], 10, fleet)


def test_allowed_backends_limit_the_split_size() -> None:
    fleet = [qpu("small", max_shots=1000), sim("large", max_shots=10**6)]
    assert len(partition_task("t", [circ("a")], 5000, fleet)) == 1
    assert len(partition_task("t", [circ("a")], 5000, fleet, allowed_backends=["small"])) == 5


def test_unknown_allowed_backend_lists_valid_names() -> None:
    with pytest.raises(TaskContentError, match=r"\['nope'\]; valid names: \['a', 'b'\]"):
        partition_task("t", [circ("x")], 10, [sim("a"), sim("b")], allowed_backends=["a", "nope"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shots": 0}, "shots"),
        ({"priority": 10}, "priority"),
        ({"deadline_s": 0.0}, "deadline_s"),
        ({"allowed_backends": []}, "empty"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"shots": 10}
    args.update(kwargs)
    shots = args.pop("shots")
    with pytest.raises(TaskContentError, match=match):
        partition_task("t", [circ("a")], shots, [sim("s")], **args)  # type: ignore[arg-type]


def test_duplicate_circuit_names_rejected() -> None:
    with pytest.raises(TaskContentError, match="repeated"):
        partition_task("t", [circ("a"), circ("a")], 10, [sim("s")])


def test_features_pass_through() -> None:
    (s,) = partition_task("t", [CircuitInput("g", "q", GHZ5)], 10, [sim("s")])
    assert s.features is GHZ5


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"circuits": [circ("a"), circ("a")]}, "duplicate_circuit"),
    ({"circuits": [circ("a", depends_on=("nope",))]}, "dependencies"),
    ({"circuits": [circ("a", depends_on=("a",))]}, "dependencies"),
    ({"allowed_backends": ["nowhere"]}, "unknown_backend"),
    ({"allowed_backends": []}, "unknown_backend"),
])
def test_task_content_errors_carry_their_dlq_reason(kwargs: dict, reason: str) -> None:
    args = {"circuits": [circ("a")], **kwargs}
    circuits = args.pop("circuits")
    with pytest.raises(TaskContentError) as info:
        partition_task("t", circuits, 10, [sim("s")], **args)
    assert info.value.reason == reason
