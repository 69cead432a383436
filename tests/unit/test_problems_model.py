"""Problem model: parsing, normalisation, objectives and clear errors (issue 10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qstream.core.problems import (
    GroundState,
    MaxCut,
    Qubo,
    bits_from_string,
    bits_to_string,
    problem_from_dict,
)
from qstream.errors import TaskContentError

EXAMPLES = [
    {"kind": "maxcut", "num_nodes": 4, "edges": [[0, 1, 1.0], [1, 2, 2.5], [2, 3, 1.0], [0, 3, 1.0]]},
    {"kind": "qubo", "num_vars": 3, "linear": [[0, -1.0], [2, 0.5]],
     "quadratic": [[0, 1, 2.0], [1, 2, -3.0]], "offset": 1.0},
    {"kind": "ground_state", "num_qubits": 2, "pauli_terms": [["ZZ", 1.0], ["XI", -0.5]]},
]


@pytest.mark.parametrize("data", EXAMPLES, ids=[d["kind"] for d in EXAMPLES])
def test_to_dict_round_trips(data: dict) -> None:
    problem = problem_from_dict(data)
    assert problem.kind == data["kind"]
    assert problem_from_dict(problem.to_dict()) == problem


def test_normalisation() -> None:
    cut = problem_from_dict({"kind": "maxcut", "num_nodes": 3, "edges": [[2, 0], [1, 0, 0.5]]})
    assert isinstance(cut, MaxCut) and cut.edges == ((0, 2, 1.0), (0, 1, 0.5))
    qubo = problem_from_dict({"kind": "qubo", "num_vars": 2, "linear": [[0, 1.0]],
                              "quadratic": [[0, 0, 2.0], [1, 0, 1.0], [0, 1, 1.0]]})
    assert isinstance(qubo, Qubo)
    assert qubo.linear == ((0, 3.0),) and qubo.quadratic == ((0, 1, 2.0),)
    gs = problem_from_dict({"kind": "ground_state", "num_qubits": 1, "pauli_terms": [["z", 1]]})
    assert isinstance(gs, GroundState) and gs.pauli_terms == (("Z", 1.0),)


@pytest.mark.parametrize(("data", "match"), [
    ({"kind": "tsp"}, "unknown problem kind 'tsp'"),
    ({"kind": "maxcut", "num_nodes": 0, "edges": [[0, 1]]}, "num_nodes must be an integer in 1"),
    ({"kind": "maxcut", "num_nodes": 3, "edges": []}, "at least one edge"),
    ({"kind": "maxcut", "num_nodes": 3, "edges": [[1, 1]]}, "self-loop"),
    ({"kind": "maxcut", "num_nodes": 3, "edges": [[0, 1], [1, 0]]}, "repeats the pair"),
    ({"kind": "maxcut", "num_nodes": 3, "edges": [[0, 1, "x"]]}, "weight must be a finite"),
    ({"kind": "maxcut", "num_nodes": 3, "edges": [[0, 1.5]]}, "integer index"),
    ({"kind": "qubo", "num_vars": 2, "linear": [[2, 1.0]]}, "outside 0..1"),
    ({"kind": "qubo", "num_vars": 2, "quadratic": [[0, 1]]}, r"must be \[i, j, c\]"),
    ({"kind": "qubo", "num_vars": 2, "offset": float("inf")}, "offset must be a finite"),
    ({"kind": "ground_state", "num_qubits": 2, "pauli_terms": [["ZZZ", 1.0]]}, "2 characters"),
    ({"kind": "ground_state", "num_qubits": 2, "pauli_terms": [["ZA", 1.0]]}, "of IXYZ"),
    ({"kind": "ground_state", "num_qubits": 2, "pauli_terms": []}, "at least one Pauli term"),
    ([1, 2], "must be an object"),
])
def test_invalid_problems_are_task_content_errors(data: object, match: str) -> None:
    with pytest.raises(TaskContentError, match=match) as info:
        problem_from_dict(data)  # type: ignore[arg-type]
    assert info.value.reason == "invalid_problem"


@given(st.lists(st.integers(0, 1), min_size=1, max_size=40))
def test_bitstrings_follow_the_qiskit_convention(bits: list[int]) -> None:
    s = bits_to_string(bits)
    assert s[-1] == str(bits[0]) and bits_from_string(s) == tuple(bits)


def test_objectives() -> None:
    cut = problem_from_dict(EXAMPLES[0])
    assert isinstance(cut, MaxCut)
    assert cut.cut_value((0, 1, 0, 1)) == 5.5 and cut.cut_value((0, 0, 0, 0)) == 0.0
    qubo = problem_from_dict(EXAMPLES[1])
    assert isinstance(qubo, Qubo)
    assert qubo.value((1, 1, 1)) == 1.0 - 1.0 + 0.5 + 2.0 - 3.0
