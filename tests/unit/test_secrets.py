"""Secrets: the Secret type, where secrets load from, and that logs cannot show them."""

from __future__ import annotations

import base64
import io
import logging
import os
import urllib.parse
from pathlib import Path

import pytest

from qstream.errors import ConfigError, QStreamError
from qstream.secrets import (
    SECRET_NAMES,
    Credentials,
    RedactingFilter,
    Secret,
    find_leaks,
    install_redaction,
    load_secrets,
    read_secrets_file,
)

VALUE = "qs-unit-9d8c7b6a/5e4f+3a2b"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SECRET_NAMES, "QSTREAM_SECRETS_FILE"):
        monkeypatch.delenv(name, raising=False)


def secrets_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_secret_never_shows_its_value() -> None:
    s = Secret(VALUE)
    # %-style and str.format on purpose: logging and older code use them.
    shown = [repr(s), str(s), f"{s}", f"{s!r}", f"{s:>40}", repr([s]), repr({"k": s}),
             "%s" % s, "%r" % (s,), "{}".format(s)]  # noqa: UP031, UP032
    assert all(VALUE not in text for text in shown), shown
    assert str(s) == "***" and repr(s) == "Secret('***')"
    assert s.reveal() == VALUE
    assert s == Secret(VALUE) and s != Secret(VALUE + "x")


@pytest.mark.parametrize("bad", ["", None, 42])
def test_secret_must_be_a_non_empty_string(bad: object) -> None:
    with pytest.raises(ConfigError):
        Secret(bad)  # type: ignore[arg-type]


def test_env_overrides_file_and_qstream_token_wins_over_qiskits(
        tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    path = secrets_file(tmp_path, 'AWS_ACCESS_KEY_ID = "file-id"\n'
                                  'AWS_SECRET_ACCESS_KEY = "file-key"\n'
                                  'QISKIT_IBM_TOKEN = "file-qiskit-token"\n')
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-key")
    monkeypatch.setenv("QSTREAM_SECRETS_FILE", str(path))
    found = load_secrets()
    assert found["AWS_ACCESS_KEY_ID"].reveal() == "file-id"
    assert found["AWS_SECRET_ACCESS_KEY"].reveal() == "env-key"
    creds = Credentials.from_secrets(found)
    assert creds.ibm_token is not None and creds.ibm_token.reveal() == "file-qiskit-token"
    monkeypatch.setenv("QSTREAM_IBM_TOKEN", "env-qstream-token")
    creds = Credentials.from_secrets(load_secrets())
    assert creds.ibm_token is not None and creds.ibm_token.reveal() == "env-qstream-token"
    assert creds.presence() == ("IBM token: set, AWS access key: set, "
                                "AWS session token: not set")
    assert "env-" not in repr(creds) and "file-" not in repr(creds)


def test_no_secrets_anywhere_gives_empty_credentials(clean_env: None) -> None:
    assert load_secrets() == {}
    assert Credentials.from_secrets({}).secrets() == []


def test_incomplete_aws_credentials_are_refused() -> None:
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY is not set"):
        Credentials.from_secrets({"AWS_ACCESS_KEY_ID": Secret("id")})


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_group_or_world_readable_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = secrets_file(tmp_path, f'QSTREAM_IBM_TOKEN = "{VALUE}"\n', mode)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        read_secrets_file(path)
    assert VALUE not in str(info.value)


@pytest.mark.parametrize("text, match", [
    (f'IBM_TOKEN = "{VALUE}"\n', "unknown key 'IBM_TOKEN'"),
    (f"QSTREAM_IBM_TOKEN = {VALUE}\n", "not valid TOML"),
    ("QSTREAM_IBM_TOKEN = 42\n", "must be a non-empty string"),
    (f'[section]\nQSTREAM_IBM_TOKEN = "{VALUE}"\n', "unknown key 'section'"),
])
def test_bad_file_errors_name_the_key_never_the_value(tmp_path: Path, text: str,
                                                      match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        read_secrets_file(secrets_file(tmp_path, text))
    assert isinstance(info.value, QStreamError)
    assert VALUE not in str(info.value) and not find_leaks(str(info.value), {"v": Secret(VALUE)})


def test_missing_file_is_an_actionable_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--secrets-file"):
        read_secrets_file(tmp_path / "nope.toml")


def _forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(b"user:" + raw).decode(),  # HTTP Basic auth shape
            base64.b64encode(b"xy" + raw + b"tail").decode()]


def test_find_leaks_finds_every_planted_form_and_nothing_else() -> None:
    secrets = {"AWS_SECRET_ACCESS_KEY": Secret(VALUE), "OTHER": Secret("not-in-the-blob-77")}
    for form in _forms(VALUE):
        blob = f"some log line\n{{\"header\": \"{form}\"}}\nmore".encode()
        assert find_leaks(blob, secrets) == ["AWS_SECRET_ACCESS_KEY"], form
    assert find_leaks(b"nothing to see here", secrets) == []


def test_filter_rewrites_message_args_and_exception() -> None:
    f = RedactingFilter([Secret(VALUE)])
    for form in _forms(VALUE):
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "token=%s ok", (form,), None)
        assert f.filter(record) is True
        message = record.getMessage()
        assert message.startswith("token=") and "***" in message, form
        assert find_leaks(message, {"v": Secret(VALUE)}) == [], form
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "b64=%s", (_forms(VALUE)[3],), None)
    f.filter(record)
    assert record.getMessage() == "b64=***"
    try:
        raise RuntimeError(f"connect failed with password {VALUE}")
    except RuntimeError:
        import sys
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    f.filter(record)
    text = logging.Formatter().format(record)
    assert "connect failed with password ***" in text and VALUE not in text


def test_installed_redaction_survives_handler_replacement() -> None:
    """Faust (mode) clears the root handlers at start; records must stay redacted."""
    stream = io.StringIO()
    logger = logging.getLogger("qstream.test_secrets")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    previous = logging.getLogRecordFactory()
    try:
        install_redaction([Secret(VALUE)])
        logger.debug("creds %s and %r", VALUE, {"pw": VALUE})
        logger.info(f"inline {base64.b64encode(VALUE.encode()).decode()}")
        try:
            raise ValueError(VALUE)
        except ValueError:
            logger.exception("failed")
    finally:
        logging.setLogRecordFactory(previous)
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "creds *** and {'pw': '***'}" in out and "inline ***" in out
    assert "ValueError: ***" in out
    assert find_leaks(out, {"v": Secret(VALUE)}) == []


def test_secrets_file_permissions_from_umask_default_are_refused(tmp_path: Path) -> None:
    # A file written with the usual umask 022 is 644: the common mistake.
    path = tmp_path / "s.toml"
    path.write_text('AWS_SESSION_TOKEN = "t"\n')
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="accessible by group or others"):
        load_secrets(path, environ={})
