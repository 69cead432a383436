"""Settings from the environment: the ``QSTREAM_*`` layer, precedence, and clear errors.

The values come from pydantic-settings' :class:`~pydantic_settings.EnvSettingsSource`
(``env_prefix`` ``QSTREAM_``, ``env_nested_delimiter`` ``__``); this module adds what
qstream's models need on top of it (used by :mod:`qstream.config`):

- flat variable names for a nested model (``QSTREAM_MAX_SHOTS`` sets ``limits.max_shots``)
  and top-level shortcuts for a nested field (``QSTREAM_REALLOC_MARGIN`` sets
  ``scheduler.realloc_margin``);
- which variable each value came from, so that :func:`config_error` can name it;
- :func:`merge`, a deep merge that stacks the layers (options over environment).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource

from qstream.errors import ConfigError

ENV_PREFIX = "QSTREAM_"
"""Prefix of every setting's environment variable."""
NESTED = "__"
"""Separator of a nested setting's variable, e.g. ``QSTREAM_SCHEDULER__MAX_SPLITS``."""

Path = tuple[str, ...]
"""Where a value sits in a model: ``("scheduler", "max_splits")``."""


def env_var(path: Path) -> str:
    """The variable of a (nested) field.

    >>> env_var(("scheduler", "max_splits"))
    'QSTREAM_SCHEDULER__MAX_SPLITS'
    """
    return f"{ENV_PREFIX}{NESTED.join(path)}".upper()


def fold_shortcuts(values: Mapping[str, Any], shortcuts: Mapping[str, Path]) -> dict[str, Any]:
    """``values`` with every shortcut name moved to its nested place (where it wins).

    >>> fold_shortcuts({"realloc_margin": 0.2, "seed": 1},
    ...                {"realloc_margin": ("scheduler", "realloc_margin")})
    {'seed': 1, 'scheduler': {'realloc_margin': 0.2}}
    """
    out = dict(values)
    for name, (parent, child) in shortcuts.items():
        if name not in out:
            continue
        nested = dict(out.get(parent) or {})  # a mapping or a model
        nested[child] = out.pop(name)
        out[parent] = nested
    return out


def env_values(settings_cls: type[BaseSettings], *, skip: tuple[str, ...] = (),
               shortcuts: Mapping[str, Path] | None = None,
               flat: Mapping[str, type[BaseSettings]] | None = None,
               ) -> tuple[dict[str, Any], dict[Path, str]]:
    """The raw values of the ``QSTREAM_*`` variables for ``settings_cls``, and for each value's
    path the variable it came from.

    Parameters
    ----------
    skip:
        Fields not read here (they have sources of their own).
    shortcuts:
        Top-level names of nested fields (see :func:`fold_shortcuts`); a shortcut and
        its nested variable must not disagree.
    flat:
        Nested models whose fields have top-level variables, read with their own
        ``env_prefix``: ``{"limits": Limits}``.

    Raises
    ------
    ConfigError
        If a shortcut and its nested variable are both set, to different values.
    """
    env = {k: v for k, v in EnvSettingsSource(settings_cls)().items() if k not in skip}
    names: dict[Path, str] = {}
    for key, value in env.items():
        if isinstance(value, Mapping):
            names.update({(key, k): env_var((key, k)) for k in value})
        else:
            names[(key,)] = env_var((key,))
    for name, path in (shortcuts or {}).items():
        raw = os.environ.get(env_var((name,)))
        if not raw:
            continue
        if path in names and lookup(env, path) != raw:
            raise ConfigError(f"{env_var((name,))}={raw!r} and {env_var(path)}="
                              f"{lookup(env, path)!r} disagree; set one of them")
        env = merge(env, fold_shortcuts({name: raw}, shortcuts or {}))
        names[path] = env_var((name,))
    for field, model in (flat or {}).items():
        values = EnvSettingsSource(model)()
        if values:
            env[field] = values
            names.update({(field, k): env_var((k,)) for k in values})
    return env, names


def lookup(values: Mapping[str, Any], path: Path) -> Any:
    """The value at ``path`` in nested mappings, or None."""
    found: Any = values
    for key in path:
        if not isinstance(found, Mapping) or key not in found:
            return None
        found = found[key]
    return found


def merge(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    """``high`` over ``low``, nested mappings merged key by key.

    >>> merge({"a": 1, "s": {"x": 1, "y": 2}}, {"s": {"y": 3}})
    {'a': 1, 's': {'x': 1, 'y': 3}}
    """
    out = dict(low)
    for key, value in high.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


_MEANING = {
    "int_parsing": "must be an integer", "int_type": "must be an integer",
    "int_from_float": "must be an integer", "float_parsing": "must be a number",
    "float_type": "must be a number", "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false (1/0, yes/no, on/off)",
    "bool_type": "must be true or false", "greater_than": "must be > {gt:g}",
    "greater_than_equal": "must be >= {ge:g}", "less_than": "must be < {lt:g}",
    "less_than_equal": "must be <= {le:g}", "extra_forbidden": "is not a setting",
    "tuple_type": "must be a comma-separated list",
}
"""What each pydantic error type means, in the words of qstream's older messages."""


def config_error(exc: ValidationError, names: Mapping[Path, str] | None = None) -> ConfigError:
    """One :class:`ConfigError` for the problems of ``exc``: each names the variable and its
    raw value when ``names`` says where the value came from, else the field and the value.

    >>> from pydantic import BaseModel
    >>> class M(BaseModel):
    ...     seed: int
    >>> try:
    ...     M.model_validate({"seed": "x"})
    ... except ValidationError as exc:
    ...     print(config_error(exc, {("seed",): "QSTREAM_SEED"}), "|", config_error(exc))
    QSTREAM_SEED='x': seed must be an integer | seed must be an integer, got 'x'
    """
    names = names or {}
    problems = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        field = next((p for p in reversed(loc) if not p.isdigit()), "settings")
        var = next((names[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in names), None)
        if err["type"] == "value_error":
            text = str(err.get("ctx", {}).get("error", err["msg"]))
        else:
            meaning = _MEANING.get(err["type"], err["msg"][:1].lower() + err["msg"][1:])
            text = f"{field} {meaning.format(**err.get('ctx', {}))}"
            if var is None:
                text += f", got {err['input']!r}"
        problems.append(f"{var}={err['input']!r}: {text}" if var is not None else text)
    return ConfigError("; ".join(problems))
