"""Credentials: where they come from, how they stay out of logs, topics and traces.

Secrets are read from the environment or from a secrets file, never from command-line
options (those show in ``ps`` and in shell history). Every value is wrapped in
:class:`Secret`, whose ``repr``, ``str`` and format show ``'***'``; only
:meth:`Secret.reveal` returns the value, and only the code that hands it to a client
library calls it. :func:`install_redaction` rewrites every log record that would
contain a loaded value, in plain, URL-encoded or base64 form.

Recognised names (environment variable = key in the secrets file):

==============================  =========================================================
``QSTREAM_IBM_TOKEN``           IBM Quantum API token (``QISKIT_IBM_TOKEN``, qiskit's
                                name, is read too; ``QSTREAM_IBM_TOKEN`` wins)
``AWS_ACCESS_KEY_ID``           AWS credentials, the names boto3 reads
``AWS_SECRET_ACCESS_KEY``
``AWS_SESSION_TOKEN``
``QSTREAM_KAFKA_SASL_PASSWORD`` Kafka SASL password (see :class:`qstream.config.KafkaSecurity`)
==============================  =========================================================

The secrets file (``--secrets-file`` or ``QSTREAM_SECRETS_FILE``) is TOML with string
values under those names, e.g. ``AWS_SECRET_ACCESS_KEY = "..."``. It must not be
readable by group or others (``chmod 600``). A variable set in the environment
overrides the same key in the file: the environment is the more specific of the two
(one process, one container), the file the shared default.
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import stat
import tomllib
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qstream.errors import ConfigError

MASK = "***"
"""What a :class:`Secret` and a redacted log record show instead of the value."""

IBM_TOKEN_VARS = ("QSTREAM_IBM_TOKEN", "QISKIT_IBM_TOKEN")
"""IBM token variables, highest precedence first (``QISKIT_IBM_TOKEN`` is qiskit-ibm-runtime's)."""
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""AWS credential variables, as boto3 names them."""
KAFKA_PASSWORD_VAR = "QSTREAM_KAFKA_SASL_PASSWORD"
SECRET_NAMES = (*IBM_TOKEN_VARS, *AWS_VARS, KAFKA_PASSWORD_VAR)
"""Every name read from the environment and accepted as a key in the secrets file."""
SECRETS_FILE_VAR = "QSTREAM_SECRETS_FILE"


class Secret:
    """A credential that does not show itself.

    ``repr``, ``str``, ``format`` and f-strings give ``'***'``; :meth:`reveal` returns
    the value. Equality compares in constant time.

    Parameters
    ----------
    value:
        The credential, a non-empty string.

    Raises
    ------
    ConfigError
        If ``value`` is empty or not a string.

    Examples
    --------
    >>> token = Secret("s3cr3t")
    >>> token, str(token), f"{token}", token.reveal()
    (Secret('***'), '***', '***', 's3cr3t')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ConfigError("a secret must be a non-empty string")
        self._value = value

    def reveal(self) -> str:
        """The value itself; pass it straight to the library that needs it, never to a log."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


def read_secrets_file(path: str | os.PathLike[str]) -> dict[str, Secret]:
    """Read a TOML secrets file: a flat table of string values under :data:`SECRET_NAMES`.

    Raises
    ------
    ConfigError
        If the file is missing, is readable by group or others, is not valid TOML,
        or holds an unknown key or a non-string value. The message names the file
        and the key, never a value.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"secrets file {p}: cannot read it ({exc.strerror}); check "
                          f"--secrets-file / ${SECRETS_FILE_VAR}") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"secrets file {p} is not a regular file")
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"secrets file {p} is accessible by group or others (mode "
                          f"{stat.S_IMODE(mode):o}); run `chmod 600 {p}`")
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message quotes no value, only the position.
        raise ConfigError(f"secrets file {p} is not valid TOML: {exc}") from None
    out: dict[str, Secret] = {}
    for key, value in data.items():
        if key not in SECRET_NAMES:
            raise ConfigError(f"secrets file {p}: unknown key {key!r}; known keys are "
                              f"{', '.join(SECRET_NAMES)}")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"secrets file {p}: {key} must be a non-empty string")
        out[key] = Secret(value)
    return out


def load_secrets(secrets_file: str | os.PathLike[str] | None = None,
                 environ: Mapping[str, str] | None = None) -> dict[str, Secret]:
    """Every secret under :data:`SECRET_NAMES` from the secrets file and the environment.

    Parameters
    ----------
    secrets_file:
        TOML secrets file; None reads ``$QSTREAM_SECRETS_FILE`` (unset: no file).
    environ:
        Environment to read; None is :data:`os.environ`.

    Returns
    -------
    dict
        Name -> :class:`Secret`; an environment variable overrides the file's key.
        Empty variables count as unset.

    Raises
    ------
    ConfigError
        From :func:`read_secrets_file`.
    """
    env = os.environ if environ is None else environ
    path = secrets_file if secrets_file is not None else env.get(SECRETS_FILE_VAR) or None
    found = read_secrets_file(path) if path else {}
    found.update({name: Secret(env[name]) for name in SECRET_NAMES if env.get(name)})
    return found


@dataclass(frozen=True, slots=True)
class Credentials:
    """Cloud credentials for the remote backends: the IBM token goes to
    ``QiskitRuntimeService`` (:mod:`qstream.backends.ibm_runtime`), the AWS keys to a
    boto3 session (:mod:`qstream.backends.braket_remote`), and nowhere else.

    Attributes
    ----------
    ibm_token:
        IBM Quantum API token.
    aws_access_key_id, aws_secret_access_key, aws_session_token:
        AWS credentials for Amazon Braket.
    """

    ibm_token: Secret | None = None
    aws_access_key_id: Secret | None = None
    aws_secret_access_key: Secret | None = None
    aws_session_token: Secret | None = None

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, Secret]) -> Credentials:
        """Pick the backend credentials out of :func:`load_secrets`' result.

        Raises
        ------
        ConfigError
            If only one of ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` is set
            (AWS needs both).
        """
        ibm = next((secrets[n] for n in IBM_TOKEN_VARS if n in secrets), None)
        key_id, key, session = (secrets.get(n) for n in AWS_VARS)
        if (key_id is None) != (key is None):
            missing = "AWS_SECRET_ACCESS_KEY" if key is None else "AWS_ACCESS_KEY_ID"
            raise ConfigError(f"AWS credentials are incomplete: {missing} is not set; set both "
                              "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or neither")
        return cls(ibm, key_id, key, session)

    def presence(self) -> str:
        """Which credentials are set, for a log line; never a value.

        >>> Credentials(ibm_token=Secret("t")).presence()
        'IBM token: set, AWS access key: not set, AWS session token: not set'
        """
        def said(s: Secret | None) -> str:
            return "set" if s is not None else "not set"
        return (f"IBM token: {said(self.ibm_token)}, AWS access key: "
                f"{said(self.aws_secret_access_key)}, AWS session token: "
                f"{said(self.aws_session_token)}")

    def secrets(self) -> list[Secret]:
        """Every credential that is set."""
        return [s for s in (self.ibm_token, self.aws_access_key_id,
                            self.aws_secret_access_key, self.aws_session_token) if s is not None]


def secret_forms(value: str) -> set[str]:
    """The forms of ``value`` a leak may take in text: as is, URL-encoded, base64.

    Base64 covers the value encoded alone, and embedded in a longer string: there the
    encoding depends on the value's offset modulo 3, so for each offset the characters
    fully determined by the value are kept (standard and URL-safe alphabets). Forms
    shorter than 4 characters are dropped: they would match by chance.

    Examples
    --------
    >>> forms = secret_forms("a b/c")
    >>> [f in forms for f in ("a b/c", "a%20b%2Fc", "a+b%2Fc", "YSBiL2M=", "EgYi9j", "hIGIvY")]
    [True, True, True, True, True, True]
    """
    raw = value.encode()
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
             urllib.parse.quote(value), base64.b64encode(raw).decode(),
             base64.urlsafe_b64encode(raw).decode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        # Characters before (offset*8)/6 mix in the padding bytes; those after the
        # last complete 6-bit group of the value mix in what follows it.
        start = -(-offset * 8 // 6)
        stop = (offset + len(raw)) * 8 // 6
        chunk = encoded[start:stop].decode()
        forms.add(chunk)
        forms.add(chunk.replace("+", "-").replace("/", "_"))
    return {f for f in forms if len(f) >= 4}


def find_leaks(blob: str | bytes, secrets: Mapping[str, Secret]) -> list[str]:
    """Names of the ``secrets`` that occur in ``blob`` in any :func:`secret_forms` form.

    For audits and tests: scan a log, a topic dump or a span export. The result names
    the secrets, so it can be printed; the values are never returned.

    Examples
    --------
    >>> find_leaks(b"auth: dG9rZW4tNDI=", {"IBM": Secret("token-42"), "AWS": Secret("xyz-9")})
    ['IBM']
    """
    data = blob.encode() if isinstance(blob, str) else blob
    return [name for name, secret in secrets.items()
            if any(form.encode() in data for form in secret_forms(secret.reveal()))]


class RedactingFilter(logging.Filter):
    """Replace every form (:func:`secret_forms`) of the given secrets in a log record
    with ``'***'``: the formatted message, the exception text and the stack text.

    The record's ``msg`` becomes the redacted, fully formatted message and ``args``
    is emptied, so no later formatter can put a secret back. Records are never dropped.

    Parameters
    ----------
    secrets:
        The values to hide.
    """

    def __init__(self, secrets: Iterable[Secret]) -> None:
        super().__init__()
        forms: set[str] = set()
        for s in secrets:
            forms |= secret_forms(s.reveal())
        # Longest first, so a form that contains a shorter one is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret form replaced by ``'***'``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._forms:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it; hide the raw parts
            message = f"{record.msg} {record.args}"
        redacted = self.redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_redactor: RedactingFilter | None = None
_factory: Any = None


def install_redaction(secrets: Iterable[Secret]) -> RedactingFilter:
    """Redact ``secrets`` from every log record this process creates from now on.

    The filter runs in the log record factory, not on handlers: Faust's worker (mode)
    clears the root logger's handlers and installs its own when it starts, which
    would drop a handler filter. Calling it again replaces the previous secrets.

    Returns
    -------
    RedactingFilter
        The filter in use.
    """
    global _redactor, _factory
    _redactor = RedactingFilter(secrets)
    if logging.getLogRecordFactory() is not _factory:
        make_record = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            if _redactor is not None:
                _redactor.filter(record)
            return record

        _factory = factory
        logging.setLogRecordFactory(factory)
    return _redactor
