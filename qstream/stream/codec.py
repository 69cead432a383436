"""The serializer edge: JSON bytes <-> validated message dicts.

Every message on a qstream topic is a UTF-8 JSON object whose ``schema`` field
names one of the JSON Schemas (draft 2020-12) shipped in :mod:`qstream.schemas`.
:func:`decode` turns record bytes into a dict and :func:`encode` turns a dict into
bytes; both validate, and both raise :class:`qstream.errors.ValidationError` with a
``reason`` a dead-letter writer can use (the ``reason`` enum of ``qstream.dlq.v1``).

Numbers in schema-typed fields must be finite: JSON has no NaN or infinity, so a
float NaN there is a schema violation rather than a ``null`` silently written by
orjson (inside free-form objects such as ``metadata`` orjson's ``null`` stands).

Two validators check the same schemas: jsonschema-rs (a compiled validator, about
40x faster on these messages) answers whether a message is valid, and only when it
is not does the reference implementation, python-jsonschema, find the error to
report. A message jsonschema-rs rejects but python-jsonschema accepts is accepted,
so the reference implementation has the last word on every rejection.

Examples
--------
>>> task = {"schema": "qstream.task.v1", "task_id": "t1", "shots": 100,
...         "circuits": [{"name": "bell", "qasm": "OPENQASM 2.0;"}]}
>>> decode(encode(task), expected="qstream.task.v1") == task
True
>>> decode(b'{"schema": "qstream.task.v1", "task_id": "t1", "circuits": [], "shots": 1}')
Traceback (most recent call last):
...
qstream.errors.ValidationError: field 'circuits': [] should be non-empty
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from referencing import Registry, Resource

from qstream.core.subtask import SubTask
from qstream.core.task import Task
from qstream.errors import ConfigError, ValidationError

__all__ = ["SCHEMA_NAMES", "decode", "decode_subtask", "decode_task", "encode", "load_schema",
           "validate"]

SCHEMA_NAMES: frozenset[str] = frozenset({
    "qstream.task.v1",
    "qstream.result.v1",
    "qstream.dlq.v1",
    "qstream.subtask.v1",
    "qstream.plan.v1",
    "qstream.subtask_result.v1",
    "qstream.telemetry.v1",
    "qstream.reallocation.v1",
    "qstream.workflow_event.v1",
    "qstream.control.v1",
})
"""Every schema shipped in :mod:`qstream.schemas` (file name = name + ``.json``)."""

_MAX_DETAIL = 300  # characters of a jsonschema message kept (it reprs the instance)


def _is_json_number(checker: Any, instance: Any) -> bool:
    """JSON numbers are finite: NaN and infinities are not of type ``number``."""
    base = Draft202012Validator.TYPE_CHECKER.is_type(instance, "number")
    return bool(base) and (not isinstance(instance, float) or math.isfinite(instance))


_Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("number", _is_json_number),
)


def load_schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema ``name`` (e.g. ``"qstream.task.v1"``) as a fresh dict.

    Raises
    ------
    ValidationError
        ``reason="unknown_schema"`` if ``name`` is not in :data:`SCHEMA_NAMES`.

    Examples
    --------
    >>> load_schema("qstream.task.v1")["$id"]
    'https://qstream.dev/schemas/qstream.task.v1.json'
    >>> load_schema("qstream.task.v9")
    Traceback (most recent call last):
    ...
    qstream.errors.ValidationError: unknown schema 'qstream.task.v9'; ...
    """
    if name not in SCHEMA_NAMES:
        raise ValidationError(f"unknown schema {name!r}; {_accepts(SCHEMA_NAMES)}",
                              reason="unknown_schema")
    data = resources.files("qstream.schemas").joinpath(f"{name}.json").read_bytes()
    schema: dict[str, Any] = orjson.loads(data)
    return schema


DEFS_FILES: tuple[str, ...] = ("defs/qstream.defs.v1.json",)
"""Shared ``$defs`` files in :mod:`qstream.schemas`, referenced by the message schemas
(``{"$ref": "defs/qstream.defs.v1.json#/$defs/weights"}``); not message schemas themselves."""


@cache
def _registry() -> Registry:
    """The shared ``$defs`` resources, under their ``$id``, for resolving ``$ref``."""
    registry: Registry = Registry()
    for path in DEFS_FILES:
        contents = orjson.loads(resources.files("qstream.schemas").joinpath(path).read_bytes())
        registry = registry.with_resource(contents["$id"], Resource.from_contents(contents))
    return registry


@cache
def _validator(name: str) -> Validator:
    """Build (once per schema) the validator for ``name``."""
    return _Validator(load_schema(name), registry=_registry(),
                      format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _fast_validator(name: str) -> Any:
    """The compiled (jsonschema-rs) validator for ``name``, over the same ``$defs``."""
    defs = [(contents["$id"], contents) for contents in (
        orjson.loads(resources.files("qstream.schemas").joinpath(path).read_bytes())
        for path in DEFS_FILES)]
    return jsonschema_rs.validator_for(load_schema(name),
                                       registry=jsonschema_rs.Registry(defs))


def _accepts(names: Iterable[str]) -> str:
    return "this worker accepts " + ", ".join(sorted(names))


def _expected_names(expected: str | Collection[str] | None) -> frozenset[str] | None:
    if expected is None:
        return None
    names = frozenset([expected] if isinstance(expected, str) else expected)
    if unknown := names - SCHEMA_NAMES:
        raise ConfigError(f"expected names unknown schemas {sorted(unknown)}; "
                          f"known: {sorted(SCHEMA_NAMES)}")
    return names


def _path(parts: Iterable[Any]) -> str:
    """``['circuits', 0, 'qasm']`` -> ``'circuits[0].qasm'``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: SchemaError) -> str:
    """Turn the best jsonschema error into one readable line naming the field."""
    path = _path(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = next((f for f in error.validator_value if f not in instance), None)
        if missing is not None:
            return f"missing required field '{_path([*error.absolute_path, missing])}'"
    if (error.validator == "additionalProperties" and error.validator_value is False
            and isinstance(instance, dict)):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = next((k for k in instance if k not in allowed), None)
        if extra is not None:
            return f"unexpected field '{_path([*error.absolute_path, extra])}'"
    if error.validator == "maxLength" and isinstance(instance, str):
        return (f"field '{path}': {len(instance)} characters is more than the maximum of "
                f"{error.validator_value}")
    detail = error.message
    if instance is None or isinstance(instance, bool):  # Python repr -> JSON literal
        literal = repr(instance)
        if detail.startswith(literal):
            detail = orjson.dumps(instance).decode() + detail[len(literal):]
    if len(detail) > _MAX_DETAIL:
        detail = detail[:_MAX_DETAIL] + "..."
    return f"field '{path}': {detail}" if path else detail


def validate(message: dict[str, Any], expected: str | Collection[str] | None = None) -> None:
    """Check ``message`` against the schema its ``schema`` field names.

    Parameters
    ----------
    message:
        A decoded message.
    expected:
        Schema name(s) the caller accepts; ``None`` accepts every name in
        :data:`SCHEMA_NAMES`.

    Raises
    ------
    ValidationError
        ``reason="not_object"`` if ``message`` is not a dict;
        ``reason="unknown_schema"`` if ``schema`` is missing, unknown or not expected;
        ``reason="schema"`` if the message violates its schema (the message names
        the field, e.g. ``"field 'shots': -5 is less than the minimum of 1"``).
    ConfigError
        If ``expected`` names a schema qstream does not ship (a programming error).

    Examples
    --------
    >>> validate({"schema": "qstream.task.v1", "task_id": "t", "shots": -5,
    ...           "circuits": [{"name": "c", "qasm": "OPENQASM 3.0;"}]})
    Traceback (most recent call last):
    ...
    qstream.errors.ValidationError: field 'shots': -5 is less than the minimum of 1
    >>> validate({"schema": "qstream.task.v1", "shots": 5,
    ...           "circuits": [{"name": "c", "qasm": "OPENQASM 3.0;"}]})
    Traceback (most recent call last):
    ...
    qstream.errors.ValidationError: missing required field 'task_id'
    """
    accepted = _expected_names(expected)
    if not isinstance(message, dict):
        raise ValidationError(f"message must be a JSON object, got {_json_type(message)}",
                              reason="not_object")
    name = message.get("schema")
    allowed = accepted if accepted is not None else SCHEMA_NAMES
    if "schema" not in message:
        raise ValidationError(f"message has no 'schema' field; {_accepts(allowed)}",
                              reason="unknown_schema")
    if not isinstance(name, str):
        raise ValidationError(f"field 'schema' must be a string, got {_json_type(name)}; "
                              f"{_accepts(allowed)}", reason="unknown_schema")
    if name not in SCHEMA_NAMES:
        raise ValidationError(f"unknown schema {name[:100]!r}; {_accepts(allowed)}",
                              reason="unknown_schema")
    if name not in allowed:
        raise ValidationError(f"schema {name!r} is not accepted here; {_accepts(allowed)}",
                              reason="unknown_schema")
    if _fast_validator(name).is_valid(message):
        return
    error = best_match(_validator(name).iter_errors(message))
    if error is not None:
        raise ValidationError(_describe(error), reason="schema")


def encode(message: dict[str, Any]) -> bytes:
    """Validate ``message`` by its ``schema`` field and return compact UTF-8 JSON.

    Raises
    ------
    ValidationError
        As :func:`validate`; ``reason="json"`` if orjson cannot serialize a value
        (an integer beyond 64 bits, a non-string key, a lone surrogate).

    Examples
    --------
    >>> encode({"schema": "qstream.reallocation.v1", "subtask_id": "t/c0/s0",
    ...         "task_id": "t", "from_backend": "a", "to_backend": "b", "old_cost": 2.0,
    ...         "new_cost": 1.5, "reason": "cheaper", "at": 1700000000.0})[:35]
    b'{"schema":"qstream.reallocation.v1"'
    """
    validate(message)
    try:
        return orjson.dumps(message)
    except orjson.JSONEncodeError as exc:
        raise ValidationError(f"message cannot be serialized as JSON: {exc}",
                              reason="json") from exc


def decode(data: bytes | None, *, expected: str | Collection[str] | None = None,
           max_bytes: int | None = None) -> dict[str, Any]:
    """Parse and validate one record value.

    Checks run in this order, each raising :class:`ValidationError` with the
    ``reason`` shown: no bytes (``"json"``); more than ``max_bytes`` bytes
    (``"too_large"``); not UTF-8 (``"utf8"``, with the byte offset); not JSON
    (``"json"``, orjson's message); not an object (``"not_object"``); missing or
    unknown ``schema`` or one not in ``expected`` (``"unknown_schema"``); schema
    violation (``"schema"``).

    Parameters
    ----------
    data:
        The record value (``bytes``, ``bytearray``, ``memoryview``; ``str`` is
        encoded as UTF-8 first).
    expected:
        Schema name(s) this consumer accepts; ``None`` accepts any shipped schema.
    max_bytes:
        Size limit in bytes, or ``None`` for no limit (deploy-time configuration).

    Returns
    -------
    dict
        The validated message.

    Examples
    --------
    >>> decode(b"\\xff{}")
    Traceback (most recent call last):
    ...
    qstream.errors.ValidationError: message is not valid UTF-8: invalid start byte at byte offset 0
    >>> decode(b'{"schema": "qstream.task.v9"}', expected="qstream.task.v1")
    Traceback (most recent call last):
    ...
    qstream.errors.ValidationError: unknown schema 'qstream.task.v9'; this worker accepts ...
    >>> decode(b"[1, 2]")
    Traceback (most recent call last):
    ...
    qstream.errors.ValidationError: message must be a JSON object, got array
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(f"message is not valid UTF-8: {exc.reason} at character "
                                  f"offset {exc.start}", reason="utf8") from exc
    if not data:
        raise ValidationError("message is empty (no value bytes)", reason="json")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationError(f"message value must be bytes, got {type(data).__name__}",
                              reason="json")
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    if max_bytes is not None and size > max_bytes:
        raise ValidationError(f"message is {size} bytes; the limit is {max_bytes}",
                              reason="too_large")
    try:
        message = orjson.loads(data)  # orjson validates UTF-8 of the whole buffer first
    except orjson.JSONDecodeError as exc:
        try:
            bytes(data).decode("utf-8")
        except UnicodeDecodeError as bad:
            raise ValidationError(f"message is not valid UTF-8: {bad.reason} at byte offset "
                                  f"{bad.start}", reason="utf8") from exc
        raise ValidationError(f"message is not valid JSON: {exc}", reason="json") from exc
    validate(message, expected)
    return message


def decode_task(data: bytes | None, *, max_bytes: int | None = None) -> Task:
    """Parse, validate and type one ``qstream.tasks`` record value: the only place a
    task message is parsed.

    Raises
    ------
    ValidationError
        As :func:`decode` with ``expected="qstream.task.v1"``.
    qstream.errors.TaskContentError
        Schema-valid content that cannot run (see :meth:`Task.from_message`).

    Examples
    --------
    >>> raw = (b'{"schema": "qstream.task.v1", "task_id": "t1", "shots": 10,'
    ...        b' "circuits": [{"name": "c", "qasm": "OPENQASM 2.0;"}], "weights": {"cost": 0}}')
    >>> decode_task(raw).weights
    CostWeights(time=1.0, error=1.0, cost=0.0)
    """
    return Task.from_message(decode(data, expected="qstream.task.v1", max_bytes=max_bytes))


def decode_subtask(data: bytes | None) -> SubTask:
    """Parse, validate and type one ``qstream.subtask.v1`` record value.

    Raises
    ------
    ValidationError
        As :func:`decode` with ``expected="qstream.subtask.v1"``.
    """
    return SubTask.from_dict(decode(data, expected="qstream.subtask.v1"))


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
