"""Contract tests for the JSON Schemas in ``schemas/`` and their examples."""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from qstream.errors import ValidationError
from qstream.stream import codec

SCHEMAS = Path(str(resources.files("qstream.schemas")))
VALID = sorted((SCHEMAS / "examples" / "valid").glob("*.json"))
INVALID = sorted((SCHEMAS / "examples" / "invalid").glob("*.json"))
EXAMPLE_NAME = re.compile(
    r"^(?P<schema>qstream\.[a-z_]+\.v\d+)--(?P<what>[a-z0-9]+(?:-[a-z0-9]+)*)$")

# Why each invalid example fails: the one error its schema reports, as
# (JSON path, failing keyword). The test checks there is exactly that one error.
WHY: dict[str, tuple[list[Any], str]] = {
    "qstream.task.v1--unknown-kind": (["kinds", 0], "enum"),
    "qstream.task.v1--bad-tenant": (["tenant"], "pattern"),
    "qstream.control.v1--unknown-action": (["action"], "enum"),
    "qstream.control.v1--missing-task-id": ([], "required"),
    "qstream.control.v1--empty-reason": (["reason"], "minLength"),
    "qstream.result.v1--cancelled-without-error": (["error"], "type"),
    "qstream.telemetry.v1--cancel-unknown-outcome": (["outcome"], "enum"),
    "qstream.task.v1--negative-shots": (["shots"], "minimum"),
    "qstream.task.v1--fractional-shots": (["shots"], "type"),
    "qstream.task.v1--missing-task-id": ([], "required"),
    "qstream.task.v1--task-id-too-long": (["task_id"], "maxLength"),
    "qstream.task.v1--empty-circuits": (["circuits"], "minItems"),
    "qstream.task.v1--circuit-without-qasm": (["circuits", 0], "required"),
    "qstream.task.v1--empty-qasm": (["circuits", 0, "qasm"], "minLength"),
    "qstream.task.v1--depends-on-not-unique": (["circuits", 1, "depends_on"], "uniqueItems"),
    "qstream.task.v1--priority-out-of-range": (["priority"], "maximum"),
    "qstream.task.v1--zero-deadline": (["deadline_s"], "exclusiveMinimum"),
    "qstream.task.v1--unknown-weight": (["weights"], "additionalProperties"),
    "qstream.task.v1--negative-weight": (["weights", "error"], "minimum"),
    "qstream.task.v1--empty-backends": (["backends"], "minItems"),
    "qstream.task.v1--unknown-schema-version": (["schema"], "const"),
    "qstream.task.v1--problem-unknown-kind": (["problem", "kind"], "enum"),
    "qstream.result.v1--solution-ratio-above-one": (["solution", "approximation_ratio"], "maximum"),
    "qstream.result.v1--solution-without-selection": (["solution"], "required"),
    "qstream.workflow_event.v1--start-without-task": ([], "required"),
    "qstream.workflow_event.v1--step-without-result": ([], "required"),
    "qstream.workflow_event.v1--unknown-event": (["event"], "enum"),
    "qstream.task.v1--circuits-without-shots": ([], "required"),
    "qstream.task.v1--accuracy-target-above-one": (["accuracy_target"], "maximum"),
    "qstream.task.v1--unknown-algorithm": (["algorithms", 0], "enum"),
    "qstream.result.v1--failed-without-error": (["error"], "type"),
    "qstream.result.v1--failed-with-empty-error": (["error"], "minLength"),
    "qstream.result.v1--completed-without-results": (["results"], "minItems"),
    "qstream.result.v1--unknown-status": (["status"], "enum"),
    "qstream.result.v1--non-bitstring-count-key": (["results", 0, "counts"], "pattern"),
    "qstream.result.v1--negative-count": (["results", 0, "counts", "00001"], "minimum"),
    "qstream.result.v1--fidelity-above-one": (["metrics", "est_fidelity"], "maximum"),
    "qstream.result.v1--missing-metrics": ([], "required"),
    "qstream.result.v1--metrics-missing-cost": (["metrics"], "required"),
    "qstream.dlq.v1--unknown-reason": (["reason"], "enum"),
    "qstream.dlq.v1--empty-error": (["error"], "minLength"),
    "qstream.dlq.v1--negative-offset": (["source", "offset"], "minimum"),
    "qstream.dlq.v1--source-without-topic": (["source"], "required"),
    "qstream.dlq.v1--original-not-base64": (["original_b64"], "pattern"),
    "qstream.dlq.v1--missing-at": ([], "required"),
    "qstream.subtask.v1--zero-shots": (["shots"], "minimum"),
    "qstream.subtask.v1--features-missing-depth": (["features"], "required"),
    "qstream.subtask.v1--negative-attempt": (["attempt"], "minimum"),
    "qstream.subtask.v1--unknown-weight": (["weights"], "additionalProperties"),
    "qstream.subtask.v1--empty-allowed-backends": (["allowed_backends"], "minItems"),
    "qstream.subtask.v1--priority-out-of-range": (["priority"], "minimum"),
    "qstream.plan.v1--zero-subtasks": (["subtasks"], "minimum"),
    "qstream.plan.v1--empty-circuits": (["circuits"], "minItems"),
    "qstream.plan.v1--circuit-without-shots": (["circuits", 0], "required"),
    "qstream.plan.v1--missing-submitted-at": ([], "required"),
    "qstream.subtask_result.v1--failed-without-error": (["error"], "type"),
    "qstream.subtask_result.v1--readout-pair-too-long": (["readout", 0], "maxItems"),
    "qstream.subtask_result.v1--readout-probability-above-one": (["readout", 1, 0], "maximum"),
    "qstream.subtask_result.v1--esp-above-one": (["metrics", "esp"], "maximum"),
    "qstream.subtask_result.v1--metrics-missing-quality": (["metrics"], "required"),
    "qstream.subtask_result.v1--negative-physical-qubit": (["physical_qubits", 0], "minimum"),
    "qstream.subtask_result.v1--non-bitstring-count-key": (["counts"], "pattern"),
    "qstream.subtask_result.v1--empty-sim-method": (["sim_method"], "minLength"),
    "qstream.telemetry.v1--unknown-event": (["event"], "enum"),
    "qstream.telemetry.v1--execution-without-success": ([], "required"),
    "qstream.telemetry.v1--execution-negative-queue": (["queue_s"], "minimum"),
    "qstream.telemetry.v1--dispatch-without-scores": ([], "required"),
    "qstream.telemetry.v1--dispatch-score-without-total": (["scores", 1], "required"),
    "qstream.telemetry.v1--backend-status-negative-pending-jobs": (["pending_jobs"], "minimum"),
    "qstream.telemetry.v1--backend-status-operational-not-boolean": (["operational"], "type"),
    "qstream.telemetry.v1--retry-zero": (["retry"], "minimum"),
    "qstream.telemetry.v1--anomaly-unknown-action": (["action"], "enum"),
    "qstream.telemetry.v1--anomaly-without-evidence": ([], "required"),
    "qstream.reallocation.v1--missing-to-backend": ([], "required"),
    "qstream.reallocation.v1--cost-not-number": (["new_cost"], "type"),
    "qstream.reallocation.v1--empty-reason": (["reason"], "minLength"),
    "qstream.reallocation.v1--missing-at": ([], "required"),
    "qstream.task.v1--empty-observables": (["circuits", 0, "observables"], "minItems"),
    "qstream.task.v1--observable-without-terms": (["circuits", 0, "observables", 1], "minItems"),
    "qstream.task.v1--observable-bad-pauli-letter": (["circuits", 0, "observables", 0, 0, 0],
                                                     "pattern"),
    "qstream.task.v1--observable-term-without-coefficient": (["circuits", 0, "observables", 1, 0],
                                                             "minItems"),
    "qstream.result.v1--observable-negative-std-error": (
        ["results", 0, "observables", 1, "std_error"], "minimum"),
    "qstream.result.v1--observable-zero-shots": (["results", 0, "observables", 0, "shots"],
                                                 "minimum"),
    "qstream.result.v1--neither-counts-nor-observables": (["results", 0], "anyOf"),
    "qstream.plan.v1--bad-basis": (["circuits", 1, "basis"], "pattern"),
}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _reason_implied(what: str) -> str:
    """The decode reason an invalid example's name implies: "schema" unless it names another."""
    return "unknown_schema" if what.startswith("unknown-schema") else "schema"


# -- the schema files -------------------------------------------------------------


def test_schema_names_match_the_shipped_files() -> None:
    assert {p.name.removesuffix(".json") for p in SCHEMAS.glob("*.json")} == codec.SCHEMA_NAMES


@pytest.mark.parametrize("name", sorted(codec.SCHEMA_NAMES))
def test_schema_is_valid_2020_12_and_self_consistent(name: str) -> None:
    schema = codec.load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://qstream.dev/schemas/{name}.json"
    assert schema["title"] and schema["description"]
    assert schema["type"] == "object"
    assert schema["properties"]["schema"] == {"const": name}
    assert "schema" in schema["required"]


@pytest.mark.parametrize("name", sorted(codec.SCHEMA_NAMES))
def test_every_schema_has_enough_examples(name: str) -> None:
    valid = Counter(EXAMPLE_NAME.match(p.stem)["schema"] for p in VALID)  # type: ignore[index]
    invalid = Counter(EXAMPLE_NAME.match(p.stem)["schema"] for p in INVALID)  # type: ignore[index]
    assert valid[name] >= 2
    assert invalid[name] >= 3


@pytest.mark.parametrize("path", VALID + INVALID, ids=_ids(VALID + INVALID))
def test_example_names_follow_the_convention(path: Path) -> None:
    match = EXAMPLE_NAME.match(path.stem)
    assert match, f"{path.name} is not named <schema>--<what>.json"
    assert match["schema"] in codec.SCHEMA_NAMES


def test_every_invalid_example_says_why_it_fails() -> None:
    assert {p.stem for p in INVALID} == set(WHY)


def test_load_schema_returns_a_fresh_copy() -> None:
    codec.load_schema("qstream.task.v1")["required"].clear()
    assert "task_id" in codec.load_schema("qstream.task.v1")["required"]


def test_load_schema_rejects_unknown_names() -> None:
    with pytest.raises(ValidationError) as info:
        codec.load_schema("qstream.task.v9")
    assert info.value.reason == "unknown_schema"


# -- the examples -----------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_example_validates(path: Path) -> None:
    message = _load(path)
    assert message["schema"] == EXAMPLE_NAME.match(path.stem)["schema"]  # type: ignore[index]
    codec.validate(message)


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_example_round_trips(path: Path) -> None:
    message = _load(path)
    data = codec.encode(message)
    assert isinstance(data, bytes)
    assert codec.decode(data, expected=message["schema"]) == message
    assert codec.decode(path.read_bytes()) == message


@pytest.mark.parametrize("path", INVALID, ids=_ids(INVALID))
def test_invalid_example_fails_for_exactly_its_reason(path: Path) -> None:
    match = EXAMPLE_NAME.match(path.stem)
    assert match
    message = _load(path)
    errors = list(codec._validator(match["schema"]).iter_errors(message))
    assert [(list(e.absolute_path), e.validator) for e in errors] == [WHY[path.stem]]


@pytest.mark.parametrize("path", INVALID, ids=_ids(INVALID))
def test_invalid_example_is_rejected_by_decode(path: Path) -> None:
    match = EXAMPLE_NAME.match(path.stem)
    assert match
    with pytest.raises(ValidationError) as info:
        codec.decode(path.read_bytes(), expected=codec.SCHEMA_NAMES)
    assert info.value.reason == _reason_implied(match["what"])
    text = str(info.value)
    assert text and "\n" not in text
    field_path, _ = WHY[path.stem]
    if info.value.reason == "schema" and field_path:  # the message names the field
        assert f"field '{codec._path(field_path)}" in text
    with pytest.raises(ValidationError):
        codec.encode(_load(path))


# -- openness of the contract -----------------------------------------------------


@pytest.mark.parametrize("name", sorted(codec.SCHEMA_NAMES))
def test_extra_top_level_fields_are_allowed(name: str) -> None:
    for path in VALID:
        if path.stem.startswith(name + "--"):
            codec.validate({**_load(path), "x_future_field": {"any": [1, "thing"]}})


def test_weights_accept_no_extra_keys() -> None:
    task = _load(SCHEMAS / "examples/valid/qstream.task.v1--minimal.json")
    codec.validate({**task, "weights": {"time": 2}})
    with pytest.raises(ValidationError, match=r"unexpected field 'weights\.money'"):
        codec.validate({**task, "weights": {"time": 2, "money": 1}})


def test_priority_default_is_documented() -> None:
    assert codec.load_schema("qstream.task.v1")["properties"]["priority"]["default"] == 5


def test_telemetry_requires_only_the_fields_of_its_event() -> None:
    status = _load(SCHEMAS / "examples/valid/qstream.telemetry.v1--backend-status.json")
    codec.validate(status)  # no execution or dispatch fields needed
    with pytest.raises(ValidationError, match="missing required field 'scores'"):
        codec.validate({**status, "event": "dispatch", "subtask_id": "t/c0/s0",
                        "task_id": "t", "decision_latency_ms": 1.0})


def test_mitigated_quasi_probabilities_may_be_negative() -> None:
    result = _load(SCHEMAS / "examples/valid/qstream.result.v1--mitigated-two-circuits.json")
    probabilities = result["results"][0]["mitigated"]["probabilities"]
    assert min(probabilities.values()) < 0
    codec.validate(result)
