"""Kafka SASL/TLS settings: validation, environment, and the exact client settings they map to."""

from __future__ import annotations

import datetime as dt
import ssl
import subprocess
import sys
from pathlib import Path

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import AuthProtocol, SASLMechanism

from qstream.config import KafkaSecurity, WorkerConfig
from qstream.errors import ConfigError
from qstream.secrets import SECRET_NAMES, Credentials, Secret
from qstream.stream import security
from qstream.stream.app import _faust_settings

PASSWORD = "qs-kafka-unit-pw-4b3c2d1e"
KAFKA_VARS = ["QSTREAM_KAFKA_SECURITY_PROTOCOL", "QSTREAM_KAFKA_SASL_MECHANISM",
              "QSTREAM_KAFKA_SASL_USERNAME", "QSTREAM_KAFKA_SSL_CAFILE",
              "QSTREAM_KAFKA_SSL_CERTFILE", "QSTREAM_KAFKA_SSL_KEYFILE",
              "QSTREAM_KAFKA_SSL_CHECK_HOSTNAME"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*KAFKA_VARS, *SECRET_NAMES, "QSTREAM_SECRETS_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A self-signed CA-less pair: cert.pem (also usable as the CA file) and key.pem."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qstream-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    d = tmp_path_factory.mktemp("pki")
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (d / "garbage.pem").write_text("not a certificate\n")
    return {k: str(d / f"{k}.pem") for k in ("cert", "key", "garbage")}


def test_plaintext_is_the_default_everywhere(clean_env: None) -> None:
    kafka = KafkaSecurity.from_env({}, environ={})
    assert kafka == KafkaSecurity() and kafka.security_protocol == "PLAINTEXT"
    assert security.client_settings(kafka) == {"security_protocol": "PLAINTEXT"}
    assert security.client_settings(None) == {"security_protocol": "PLAINTEXT"}
    assert security.faust_credentials(kafka) is None
    config = WorkerConfig.from_env()
    assert config.kafka == KafkaSecurity() and config.credentials == Credentials()
    settings = _faust_settings(config, "qstream")
    assert "broker_credentials" not in settings
    assert faust.App("t", **{k: v for k, v in settings.items() if k != "id"}).conf \
        .broker_credentials is None


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_maps_to_aiokafka_and_faust(mechanism: str) -> None:
    kafka = KafkaSecurity("SASL_PLAINTEXT", mechanism, "alice", Secret(PASSWORD))
    assert security.client_settings(kafka) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
        "sasl_plain_username": "alice", "sasl_plain_password": PASSWORD}
    creds = security.faust_credentials(kafka)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol is AuthProtocol.SASL_PLAINTEXT
    assert creds.mechanism is SASLMechanism(mechanism)
    assert (creds.username, creds.password, creds.ssl_context) == ("alice", PASSWORD, None)
    # Faust's driver derives the same aiokafka arguments as the plain clients get.
    assert dict(credentials_to_aiokafka_auth(creds)) == {
        **security.client_settings(kafka), "ssl_context": None}
    assert PASSWORD not in repr(creds) and PASSWORD not in repr(kafka)
    assert PASSWORD not in kafka.describe()


def test_sasl_ssl_with_ca_file(pki: dict[str, str]) -> None:
    kafka = KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "bob", Secret(PASSWORD),
                          ssl_cafile=pki["cert"])
    settings = security.client_settings(kafka)
    ctx = settings.pop("ssl_context")
    assert settings == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                        "sasl_plain_username": "bob", "sasl_plain_password": PASSWORD}
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "qstream-test"),),)]
    creds = security.faust_credentials(kafka)
    assert creds.protocol is AuthProtocol.SASL_SSL
    assert isinstance(creds.ssl_context, ssl.SSLContext)
    auth = credentials_to_aiokafka_auth(creds)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_plain_password"] == PASSWORD


def test_ssl_with_client_certificate_and_no_hostname_check(pki: dict[str, str]) -> None:
    kafka = KafkaSecurity("SSL", ssl_cafile=pki["cert"], ssl_certfile=pki["cert"],
                          ssl_keyfile=pki["key"], ssl_check_hostname=False)
    settings = security.client_settings(kafka)
    assert set(settings) == {"security_protocol", "ssl_context"}
    assert settings["security_protocol"] == "SSL"
    ctx = settings["ssl_context"]
    assert ctx.check_hostname is False and ctx.verify_mode == ssl.CERT_REQUIRED
    creds = security.faust_credentials(kafka)
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.protocol is AuthProtocol.SSL and creds.context.check_hostname is False
    config = WorkerConfig(broker="kafka://k:9093", kafka=kafka)
    assert _faust_settings(config, "qstream")["broker_credentials"] is not None


def test_unloadable_tls_file_is_a_config_error(pki: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="cannot load the Kafka TLS files"):
        security.client_settings(KafkaSecurity("SSL", ssl_cafile=pki["garbage"]))


@pytest.mark.parametrize("kwargs, match", [
    ({"security_protocol": "TLS"}, "unknown Kafka security protocol 'TLS'"),
    ({"sasl_mechanism": "GSSAPI"}, "unknown SASL mechanism 'GSSAPI'"),
    ({"security_protocol": "SASL_SSL", "sasl_password": Secret(PASSWORD)},
     "needs a SASL username.*QSTREAM_KAFKA_SASL_USERNAME"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "a"},
     "needs a SASL password.*QSTREAM_KAFKA_SASL_PASSWORD.*secrets file"),
    ({"ssl_cafile": __file__}, "ssl_cafile is set but the Kafka security protocol is PLAINTEXT"),
    ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "does not exist"),
    ({"security_protocol": "SSL", "ssl_keyfile": __file__}, "without ssl_certfile"),
])
def test_invalid_settings_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        KafkaSecurity(**kwargs)
    assert PASSWORD not in str(info.value)


def test_environment_and_overrides(pki: dict[str, str]) -> None:
    env = {"QSTREAM_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
           "QSTREAM_KAFKA_SASL_MECHANISM": "scram-sha-256",
           "QSTREAM_KAFKA_SASL_USERNAME": "env-user",
           "QSTREAM_KAFKA_SSL_CAFILE": pki["cert"],
           "QSTREAM_KAFKA_SSL_CHECK_HOSTNAME": "false",
           "QSTREAM_KAFKA_SASL_PASSWORD": "ignored-here: passwords come from `secrets`"}
    secrets = {"QSTREAM_KAFKA_SASL_PASSWORD": Secret(PASSWORD)}
    kafka = KafkaSecurity.from_env(secrets, environ=env)
    assert kafka == KafkaSecurity("SASL_SSL", "SCRAM-SHA-256", "env-user", Secret(PASSWORD),
                                  ssl_cafile=pki["cert"], ssl_check_hostname=False)
    # Command-line options win over the environment; None means "not given".
    kafka = KafkaSecurity.from_env(secrets, environ=env, sasl_username="cli-user",
                                   sasl_mechanism=None, ssl_check_hostname=True)
    assert (kafka.sasl_username, kafka.sasl_mechanism, kafka.ssl_check_hostname) == (
        "cli-user", "SCRAM-SHA-256", True)
    with pytest.raises(ConfigError, match="QSTREAM_KAFKA_SSL_CHECK_HOSTNAME must be true or false"):
        KafkaSecurity.from_env(secrets, environ={**env, "QSTREAM_KAFKA_SSL_CHECK_HOSTNAME": "maybe"})


def test_worker_config_reads_secrets_file_and_hides_it(tmp_path: Path, clean_env: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text(f'QSTREAM_KAFKA_SASL_PASSWORD = "{PASSWORD}"\n'
                    'QSTREAM_IBM_TOKEN = "qs-ibm-unit-0f1e2d3c"\n')
    path.chmod(0o600)
    monkeypatch.setenv("QSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("QSTREAM_KAFKA_SASL_USERNAME", "svc")
    config = WorkerConfig.from_env(secrets_file=path)
    assert config.kafka.sasl_password == Secret(PASSWORD)
    assert config.credentials.ibm_token == Secret("qs-ibm-unit-0f1e2d3c")
    text = repr(config) + str(config)
    assert PASSWORD not in text and "qs-ibm-unit" not in text


def test_cli_without_password_fails_with_an_actionable_message(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "qstream", "worker", "--broker", "kafka://127.0.0.1:1",
         "--kafka-security-protocol", "SASL_SSL", "--kafka-sasl-username", "svc"],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "needs a SASL password" in proc.stderr and "QSTREAM_KAFKA_SASL_PASSWORD" in proc.stderr
