"""Kafka SASL/TLS: :class:`qstream.config.KafkaSecurity` as client settings.

Two consumers of the same settings:

- plain aiokafka clients (the :class:`qstream.client.Client` producer and consumers,
  the admin client of :func:`qstream.stream.topics.ensure_topics`, the tansu helpers):
  :func:`client_settings` gives their keyword arguments;
- the Faust worker: :func:`faust_credentials` gives its ``broker_credentials``, which
  Faust's aiokafka driver turns into the same keyword arguments
  (``faust.transport.drivers.aiokafka.credentials_to_aiokafka_auth``).

TLS contexts come from :func:`aiokafka.helpers.create_ssl_context` (certificate
verification on, hostname check on unless ``ssl_check_hostname`` is False).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from qstream.config import KafkaSecurity
from qstream.errors import BrokerAuthError, BrokerError, ConfigError
from qstream.secrets import RedactingFilter

PLAINTEXT = KafkaSecurity()
"""The default: no TLS, no SASL (the embedded broker, a local Kafka)."""


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context for ``security``; None when its protocol uses no TLS.

    Raises
    ------
    ConfigError
        If a CA, certificate or key file cannot be loaded (not PEM, key does not
        match the certificate, encrypted key).
    """
    if not security.uses_ssl:
        return None
    from aiokafka.helpers import create_ssl_context

    try:
        context = create_ssl_context(cafile=security.ssl_cafile, certfile=security.ssl_certfile,
                                     keyfile=security.ssl_keyfile)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load the Kafka TLS files (CA {security.ssl_cafile}, certificate "
            f"{security.ssl_certfile}, key {security.ssl_keyfile}): {exc}; they must be PEM, "
            "the key unencrypted and matching the certificate") from None
    context.check_hostname = security.ssl_check_hostname
    return context


def client_settings(security: KafkaSecurity | None) -> dict[str, Any]:
    """aiokafka keyword arguments (producer, consumer, admin client) for ``security``.

    Returns
    -------
    dict
        ``security_protocol`` always; ``ssl_context`` with SSL and SASL_SSL;
        ``sasl_mechanism``, ``sasl_plain_username`` and ``sasl_plain_password`` (the
        revealed value: aiokafka needs the string) with SASL_*.

    Raises
    ------
    ConfigError
        From :func:`ssl_context`.

    Examples
    --------
    >>> client_settings(None)
    {'security_protocol': 'PLAINTEXT'}
    """
    security = security or PLAINTEXT
    settings: dict[str, Any] = {"security_protocol": security.security_protocol}
    if security.uses_ssl:
        settings["ssl_context"] = ssl_context(security)
    if security.uses_sasl:
        assert security.sasl_password is not None  # KafkaSecurity checks it
        settings.update(sasl_mechanism=security.sasl_mechanism,
                        sasl_plain_username=security.sasl_username,
                        sasl_plain_password=security.sasl_password.reveal())
    return settings


def faust_credentials(security: KafkaSecurity | None) -> Any:
    """Faust's ``broker_credentials`` for ``security``; None for PLAINTEXT (Faust's default).

    Returns
    -------
    faust.SSLCredentials | faust.SASLCredentials | None
        SSL: ``SSLCredentials(context)``. SASL_PLAINTEXT / SASL_SSL:
        ``SASLCredentials(username, password, mechanism, ssl_context)``; Faust picks
        SASL_SSL when the context is set. Their ``repr`` shows no password.

    Raises
    ------
    ConfigError
        From :func:`ssl_context`.
    """
    import faust

    security = security or PLAINTEXT
    context = ssl_context(security)
    if security.uses_sasl:
        assert security.sasl_password is not None
        return faust.SASLCredentials(username=security.sasl_username,
                                     password=security.sasl_password.reveal(),
                                     mechanism=security.sasl_mechanism, ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def _first_host(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return host or "localhost", int(port or 9092)


async def _tcp_open(bootstrap: str, timeout_s: float) -> bool:
    host, port = _first_host(bootstrap)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def connection_error(bootstrap: str, security: KafkaSecurity | None,
                           cause: BaseException, timeout_s: float | None = None,
                           ) -> BrokerError:
    """Explain why a client could not start: authentication or reachability.

    aiokafka's bootstrap swallows the per-broker error (a wrong password becomes
    "Unable to bootstrap"), so with SASL or TLS one direct connection is opened to the
    first bootstrap broker to find the real cause.

    Parameters
    ----------
    timeout_s:
        How long the failed client waited, named in the message; the probe waits as
        long (10 s when None).

    Returns
    -------
    BrokerError
        :class:`BrokerAuthError` when the broker refused the credentials or the TLS
        handshake failed; a plain :class:`BrokerError` otherwise. The message never
        holds the password.
    """
    security = security or PLAINTEXT
    waited = f" within {timeout_s:.0f} s" if timeout_s is not None else ""
    timeout_s = timeout_s or 10.0
    redact = RedactingFilter([security.sasl_password] if security.sasl_password else []).redact
    reason: BaseException = cause
    if security.uses_sasl or security.uses_ssl:
        from aiokafka.conn import create_conn

        host, port = _first_host(bootstrap)
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=int(timeout_s * 1000),
                            **client_settings(security)), timeout_s)
        except Exception as exc:
            reason = exc
        else:
            conn.close()
    detail = redact(f"{type(reason).__name__}: {reason}")
    if isinstance(reason, ssl.SSLError):
        return BrokerAuthError(
            f"TLS handshake with the Kafka broker at {bootstrap} failed ({detail}); check "
            "QSTREAM_KAFKA_SSL_CAFILE / --kafka-ssl-cafile and the broker's certificate")
    name = type(reason).__name__
    # tansu answers an unknown SCRAM user with an 'e=' server-final message that
    # aiokafka's SCRAM client fails to parse (KeyError 'v').
    if security.uses_sasl and ("Sasl" in name or "Authentication" in name
                               or isinstance(reason, KeyError)):
        return BrokerAuthError(
            f"the Kafka broker at {bootstrap} rejected SASL {security.sasl_mechanism} "
            f"authentication as {security.sasl_username!r} ({detail}); check "
            "QSTREAM_KAFKA_SASL_USERNAME / --kafka-sasl-username, QSTREAM_KAFKA_SASL_PASSWORD "
            "(environment or secrets file) and QSTREAM_KAFKA_SASL_MECHANISM")
    if security.uses_sasl and await _tcp_open(bootstrap, timeout_s):
        return BrokerAuthError(
            f"the Kafka broker at {bootstrap} accepts connections but closed them during SASL "
            f"{security.sasl_mechanism} authentication as {security.sasl_username!r} "
            f"({detail}); check that the broker enables {security.sasl_mechanism} "
            "(QSTREAM_KAFKA_SASL_MECHANISM / --kafka-sasl-mechanism) and the credentials")
    return BrokerError(f"no Kafka broker answered at {bootstrap}{waited} with "
                       f"security protocol {security.security_protocol} ({detail}); is it "
                       "running, and does it expect this protocol?")

