"""Contract tests for the serializer edge, :mod:`qstream.stream.codec`."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qstream.core.cost import CostWeights
from qstream.core.features import CircuitFeatures
from qstream.core.subtask import SubTask
from qstream.errors import ConfigError, QStreamError, ValidationError
from qstream.stream import codec

DLQ_REASONS = frozenset(codec.load_schema("qstream.dlq.v1")["properties"]["reason"]["enum"])

TASK: dict[str, Any] = {
    "schema": "qstream.task.v1",
    "task_id": "bell-001",
    "circuits": [{"name": "bell", "qasm": "OPENQASM 3.0; qubit[2] q; bit[2] c; c = measure q;"}],
    "shots": 1000,
}
RESULT: dict[str, Any] = {
    "schema": "qstream.result.v1", "task_id": "bell-001", "status": "completed",
    "results": [{"name": "bell", "counts": {"00": 500, "11": 500}, "shots": 1000,
                 "backends": ["aer"]}],
    "error": None,
    "metrics": {"queue_s": 0.0, "run_s": 0.1, "cost_usd": 0.0, "est_fidelity": None},
}


def _raises(data: Any, reason: str, **kwargs: Any) -> str:
    with pytest.raises(ValidationError) as info:
        codec.decode(data, **kwargs)
    assert info.value.reason == reason, str(info.value)
    return str(info.value)


# -- decode: one test per reason, in the order decode checks them -------------------


@pytest.mark.parametrize("data", [None, b"", bytearray(), ""])
def test_no_bytes_is_json(data: Any) -> None:
    assert "empty" in _raises(data, "json")


def test_too_large_is_checked_before_anything_else() -> None:
    data = b"\xff" * 2_100_000  # not UTF-8 either: size is checked first
    assert _raises(data, "too_large", max_bytes=1_048_576) == (
        "message is 2100000 bytes; the limit is 1048576")


def test_size_at_the_limit_is_accepted() -> None:
    data = orjson.dumps(TASK)
    assert codec.decode(data, max_bytes=len(data)) == TASK
    _raises(data, "too_large", max_bytes=len(data) - 1)


def test_non_utf8_names_the_byte_offset() -> None:
    text = _raises(b'{"schema": "qstream.task.v1", "task_id": "\xc3\x28"}', "utf8")
    assert text == "message is not valid UTF-8: invalid continuation byte at byte offset 42"


def test_non_utf8_wins_over_malformed_json() -> None:
    _raises(b"{not json \xff", "utf8")


def test_lone_surrogate_in_str_input_is_utf8() -> None:
    _raises('{"a": "\ud800"}', "utf8")


@pytest.mark.parametrize("data", [b"{", b'{"a": 1,}', b"NaN", b"   ", b"\xef\xbb\xbf{}", b"1e400"])
def test_malformed_json(data: bytes) -> None:
    assert _raises(data, "json").startswith("message is not valid JSON: ")


@pytest.mark.parametrize(("data", "kind"), [
    (b"[1, 2]", "array"), (b'"task"', "string"), (b"42", "number"), (b"null", "null"),
    (b"true", "boolean"),
])
def test_not_an_object(data: bytes, kind: str) -> None:
    assert _raises(data, "not_object") == f"message must be a JSON object, got {kind}"


def test_unknown_schema_version() -> None:
    data = orjson.dumps({**TASK, "schema": "qstream.task.v9"})
    assert _raises(data, "unknown_schema", expected="qstream.task.v1") == (
        "unknown schema 'qstream.task.v9'; this worker accepts qstream.task.v1")


@pytest.mark.parametrize("message", [{"task_id": "t"}, {"schema": 1}, {"schema": None}])
def test_missing_or_non_string_schema(message: dict[str, Any]) -> None:
    _raises(orjson.dumps(message), "unknown_schema", expected="qstream.task.v1")


def test_expected_mismatch() -> None:
    text = _raises(orjson.dumps(RESULT), "unknown_schema", expected="qstream.task.v1")
    assert text == ("schema 'qstream.result.v1' is not accepted here; "
                    "this worker accepts qstream.task.v1")


def test_expected_accepts_a_collection() -> None:
    both = ("qstream.plan.v1", "qstream.subtask_result.v1")
    plan = {"schema": "qstream.plan.v1", "task_id": "t", "circuits": [{"name": "c", "shots": 5}],
            "subtasks": 1, "submitted_at": 0.0}
    assert codec.decode(orjson.dumps(plan), expected=both) == plan
    assert codec.decode(orjson.dumps(plan), expected=set(both)) == plan
    assert "qstream.plan.v1, qstream.subtask_result.v1" in _raises(
        orjson.dumps(TASK), "unknown_schema", expected=both)


def test_expected_naming_an_unshipped_schema_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        codec.decode(orjson.dumps(TASK), expected="qstream.task.v2")


@pytest.mark.parametrize(("change", "text"), [
    ({"shots": -5}, "field 'shots': -5 is less than the minimum of 1"),
    ({"circuits": []}, "field 'circuits': [] should be non-empty"),
    ({"task_id": None}, "field 'task_id': null is not of type 'string'"),
    ({"task_id": "x" * 201}, "field 'task_id': 201 characters is more than the maximum of 200"),
    ({"circuits": [{"name": "c"}]}, "missing required field 'circuits[0].qasm'"),
    ({"weights": {"speed": 1}}, "unexpected field 'weights.speed'"),
])
def test_schema_violation_messages_name_the_field(change: dict[str, Any], text: str) -> None:
    assert _raises(orjson.dumps({**TASK, **change}), "schema") == text


def test_missing_required_field_message() -> None:
    message = {k: v for k, v in TASK.items() if k != "task_id"}
    assert _raises(orjson.dumps(message), "schema") == "missing required field 'task_id'"


def test_huge_values_are_not_echoed_in_full() -> None:
    message = {**TASK, "circuits": [{"name": "c", "qasm": ["x"] * 100_000}]}
    assert len(_raises(orjson.dumps(message), "schema")) < 400


def test_failed_result_needs_an_error() -> None:
    failed = {**RESULT, "status": "failed", "results": []}
    assert _raises(orjson.dumps(failed), "schema") == (
        "field 'error': null is not of type 'string'")
    codec.decode(orjson.dumps({**failed, "error": "no backend can run 200 qubits"}))


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, lambda b: b.decode()])
def test_decode_accepts_bytes_like_and_str(wrap: Any) -> None:
    assert codec.decode(wrap(orjson.dumps(TASK))) == TASK


def test_decode_rejects_non_bytes() -> None:
    _raises(12345, "json")


# -- encode -------------------------------------------------------------------------


def test_encode_is_compact_utf8_json() -> None:
    message = {**TASK, "metadata": {"owner": "Zoë"}}
    data = codec.encode(message)
    assert data == json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def test_encode_validates() -> None:
    with pytest.raises(ValidationError) as info:
        codec.encode({**TASK, "shots": 0})
    assert info.value.reason == "schema"
    with pytest.raises(ValidationError) as info:
        codec.encode({**TASK, "schema": "qstream.task.v2"})
    assert info.value.reason == "unknown_schema"
    with pytest.raises(ValidationError) as info:
        codec.encode([TASK])  # type: ignore[arg-type]
    assert info.value.reason == "not_object"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_encode_rejects_non_finite_numbers(bad: float) -> None:
    # orjson would write NaN as null, and the decoded message would then fail.
    with pytest.raises(ValidationError) as info:
        codec.encode({**TASK, "budget_usd": bad})
    assert info.value.reason == "schema"
    assert str(info.value).startswith("field 'budget_usd': ")


def test_encode_reports_values_orjson_cannot_write() -> None:
    with pytest.raises(ValidationError) as info:
        codec.encode({**TASK, "shots": 2**70})
    assert info.value.reason == "json"
    with pytest.raises(ValidationError) as info:
        codec.encode({**TASK, "metadata": {1: "non-string key"}})
    assert info.value.reason == "json"


def test_validators_are_built_once_per_schema() -> None:
    assert codec._validator("qstream.task.v1") is codec._validator("qstream.task.v1")
    codec.decode(orjson.dumps(TASK))
    hits = codec._fast_validator.cache_info().hits
    codec.decode(orjson.dumps(TASK))
    assert codec._fast_validator.cache_info().hits == hits + 1


def test_a_valid_message_never_reaches_the_reference_validator() -> None:
    codec.decode(orjson.dumps(TASK))
    calls = codec._validator.cache_info()
    codec.decode(orjson.dumps(TASK))
    assert codec._validator.cache_info() == calls
    with pytest.raises(ValidationError):
        codec.decode(orjson.dumps({**TASK, "shots": 0}))
    assert codec._validator.cache_info().hits == calls.hits + 1


def _examples() -> list[tuple[str, dict[str, Any]]]:
    """The shipped examples that are messages of a shipped schema (the others are
    rejected by decode before validation), as (``valid/NAME`` or ``invalid/NAME``, message)."""
    from importlib import resources

    root = resources.files("qstream.schemas").joinpath("examples")
    found = [(f"{kind}/{f.name}", orjson.loads(f.read_bytes()))
             for kind in ("valid", "invalid") for f in root.joinpath(kind).iterdir()
             if f.name.endswith(".json")]
    return sorted((n, m) for n, m in found
                  if isinstance(m, dict) and m.get("schema") in codec.SCHEMA_NAMES)


EXAMPLES = _examples()
VALID_EXAMPLES = [m for n, m in EXAMPLES if n.startswith("valid/")]


def _verdicts(message: Any) -> tuple[bool, bool]:
    """(jsonschema-rs, python-jsonschema) verdicts on ``message`` for its own schema."""
    name = message["schema"]
    return (codec._fast_validator(name).is_valid(message),
            codec._validator(name).is_valid(message))


@pytest.mark.parametrize("name,message", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_both_validators_agree_on_every_shipped_example(name: str, message: Any) -> None:
    fast, reference = _verdicts(message)
    assert fast == reference
    assert reference == name.startswith("valid/")


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**70), st.text(max_size=5),
                     st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_both_validators_agree_on_mutated_examples(data: st.DataObject) -> None:
    message = json.loads(json.dumps(data.draw(st.sampled_from(VALID_EXAMPLES))))
    for _ in range(data.draw(st.integers(1, 3))):
        node: Any = message
        path = data.draw(st.lists(st.integers(0, 50), max_size=4))
        for step in path:
            children = list(node) if isinstance(node, dict) else node if isinstance(node, list) else []
            if not children:
                break
            key = list(node)[step % len(node)] if isinstance(node, dict) else step % len(node)
            if not isinstance(node[key], dict | list):
                break
            node = node[key]
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if key == "schema":
                continue
            if data.draw(st.booleans()):
                del node[key]
            else:
                node[key] = data.draw(_SCALARS)
        elif isinstance(node, list) and node:
            node[data.draw(st.integers(0, len(node) - 1))] = data.draw(_SCALARS)
    fast, reference = _verdicts(message)
    assert fast == reference, message


def test_validation_error_is_a_qstream_error() -> None:
    assert issubclass(ValidationError, QStreamError)


# -- SubTask.to_dict() is the body of qstream.subtask.v1 -----------------------------


def _subtask(**kwargs: Any) -> SubTask:
    features = CircuitFeatures(num_qubits=5, depth=6, two_qubit_gates=4, gates=5,
                               measured_qubits=5, num_clbits=5)
    return SubTask(subtask_id="ghz-1/c0/s0", task_id="ghz-1", circuit_index=0,
                   circuit_name="ghz5", qasm="OPENQASM 2.0;", shots=4000, features=features,
                   **kwargs)


@pytest.mark.parametrize("subtask", [
    _subtask(),
    _subtask(weights=CostWeights(time=0.0, cost=3.0), priority=9, deadline_s=600.0,
             allowed_backends=("ibm_fez_emu", "braket_local"), depends_on=("ghz-1/c1/s0",),
             submitted_at_s=1_732_200_000.5).with_shots(1000, split_index=2),
], ids=["defaults", "all-fields-split"])
def test_subtask_to_dict_validates(subtask: SubTask) -> None:
    message = {**subtask.to_dict(), "schema": "qstream.subtask.v1", "attempt": 0}
    codec.validate(message, expected="qstream.subtask.v1")
    released = {**message, "attempt": 1, "backend": "ibm_fez_emu", "released_at": 1.7e9}
    decoded = codec.decode(codec.encode(released), expected="qstream.subtask.v1")
    assert SubTask.from_dict(decoded) == subtask


# -- property: decode never raises anything but ValidationError ----------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` 8 times in 10, otherwise an arbitrary JSON value."""
    return st.integers(0, 9).flatmap(lambda i: valid if i < 8 else JSONISH)


NAME = st.text(min_size=1, max_size=5)
CIRCUIT = st.fixed_dictionaries(
    {"name": _mostly(NAME), "qasm": _mostly(NAME)},
    optional={"depends_on": _mostly(st.lists(NAME, max_size=3))})
TASKISH = st.fixed_dictionaries(
    {
        "schema": st.sampled_from(["qstream.task.v1"] * 7
                                  + ["qstream.task.v2", "qstream.result.v1", ""]),
        "task_id": _mostly(NAME),
        "circuits": _mostly(st.lists(CIRCUIT, max_size=3)),
        "shots": _mostly(st.integers(-3, 10**6)),
    },
    optional={
        "priority": _mostly(st.integers(-2, 12)),
        "deadline_s": _mostly(st.floats(-1, 1e6)),
        "weights": _mostly(st.dictionaries(st.sampled_from(["time", "error", "cost", "speed"]),
                                           _mostly(st.floats(-1, 3)), max_size=4)),
        "budget_usd": _mostly(st.floats(-1, 100)),
        "backends": _mostly(st.lists(NAME, max_size=3)),
        "submitted_at": _mostly(st.floats()),
        "metadata": JSONISH,
    },
)


def _to_bytes(value: Any) -> bytes:
    # json (not orjson) so NaN, infinities and integers beyond 64 bits reach decode too
    return json.dumps(value).encode("utf-8", errors="surrogatepass")


def _check(data: Any) -> None:
    try:
        message = codec.decode(data, expected="qstream.task.v1", max_bytes=1_000_000)
    except ValidationError as exc:
        assert exc.reason in DLQ_REASONS
        assert str(exc)
    else:
        assert isinstance(message, dict)
        codec.validate(message, expected="qstream.task.v1")


@settings(max_examples=400, deadline=None)
@given(st.binary())
def test_decode_arbitrary_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=400, deadline=None)
@given(JSONISH)
def test_decode_arbitrary_json_values(value: Any) -> None:
    _check(_to_bytes(value))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TASKISH)
def test_decode_task_shaped_objects(value: dict[str, Any]) -> None:
    _check(_to_bytes(value))


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_decode_arbitrary_python_values(value: Any) -> None:
    _check(value)  # not bytes at all: still only ValidationError


VALID_TASK = st.fixed_dictionaries(
    {
        "schema": st.just("qstream.task.v1"),
        "task_id": st.text(min_size=1, max_size=200),
        "circuits": st.lists(st.fixed_dictionaries(
            {"name": st.text(min_size=1, max_size=20), "qasm": st.text(min_size=1)},
            optional={"depends_on": st.lists(st.text(min_size=1, max_size=5), unique=True)}),
            min_size=1, max_size=4),
        "shots": st.integers(1, 2**63 - 1),
    },
    optional={
        "priority": st.integers(0, 9),
        "deadline_s": st.floats(min_value=0, exclude_min=True, allow_infinity=False),
        "weights": st.fixed_dictionaries({}, optional={
            k: st.floats(min_value=0, allow_infinity=False) for k in ("time", "error", "cost")}),
        "budget_usd": st.floats(min_value=0, allow_infinity=False),
        "backends": st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=3),
        "submitted_at": st.floats(allow_nan=False, allow_infinity=False),
        "metadata": st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers(
            -(2**63), 2**63 - 1)),
    },
)


@settings(max_examples=300, deadline=None)
@given(VALID_TASK)
def test_valid_tasks_round_trip(task: dict[str, Any]) -> None:
    assert codec.decode(codec.encode(task), expected="qstream.task.v1") == task
