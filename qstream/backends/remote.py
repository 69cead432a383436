"""Remote backends in the fleet: recognising their names, building them once, checking them.

A fleet name ``ibm:<device>`` is an IBM Quantum device
(:class:`~qstream.backends.ibm_runtime.IBMRuntimeBackend`), ``braket:<device arn>`` an
Amazon Braket device (:class:`~qstream.backends.braket_remote.BraketRemoteBackend`);
``ibm:fake_*`` and ``braket:local`` are their local modes. Building one connects to
the provider (service, device metadata, status), so :func:`remote_backend` builds each
name once per process: :func:`qstream.backends.fleet.fleet_specs` and
:func:`~qstream.backends.fleet.build_fleet` share it.

:func:`qstream.backends.check.check_backend` (``qstream backends``) checks them.
"""

from __future__ import annotations

import threading
from typing import Any

from qstream.backends.braket_remote import BraketRemoteBackend, is_braket_name
from qstream.backends.ibm_runtime import LOCAL_PREFIX, IBMRuntimeBackend, is_ibm_name
from qstream.secrets import Credentials

__all__ = ["forget_remote", "is_local_mode", "is_remote_name", "remote_backend"]

_BUILT: dict[str, Any] = {}
_LOCK = threading.Lock()


def is_remote_name(name: str) -> bool:
    """Whether ``name`` is an ``ibm:`` or ``braket:`` fleet name.

    >>> is_remote_name("ibm:ibm_brisbane"), is_remote_name("braket:local")
    (True, True)
    >>> is_remote_name("ibm_perth_emu")
    False
    """
    return is_ibm_name(name) or is_braket_name(name)


def is_local_mode(name: str) -> bool:
    """Whether a remote name runs in its provider's local mode (no account, no network).

    >>> is_local_mode("ibm:fake_perth"), is_local_mode("braket:local"), is_local_mode("ibm:ibm_kyiv")
    (True, True, False)
    """
    if is_ibm_name(name):
        return name.split(":", 1)[1].startswith(LOCAL_PREFIX)
    rest = name.split(":", 1)[1] if is_braket_name(name) else ""
    return rest == "local" or rest.startswith("local:")


def remote_backend(name: str, credentials: Credentials | None = None, *,
                   ibm_mode: str = "job", seed: int = 0, pool: Any = None) -> Any:
    """The backend of a remote fleet name, built on first use and kept for the process.

    Raises
    ------
    ConfigError
        On a name that is not remote, or a device without a price.
    BackendError
        If the provider cannot be reached (message without credentials).
    """
    from qstream.errors import ConfigError

    with _LOCK:
        if name in _BUILT:
            return _BUILT[name]
        backend: Any
        if is_ibm_name(name):
            backend = IBMRuntimeBackend(name, credentials, mode=ibm_mode,  # type: ignore[arg-type]
                                        seed=seed, pool=pool,
                                        poll_s=0.05 if is_local_mode(name) else 2.0)
        elif is_braket_name(name):
            backend = BraketRemoteBackend(name, credentials, seed=seed, pool=pool,
                                          poll_s=0.05 if is_local_mode(name) else 2.0)
        else:
            raise ConfigError(f"{name!r} is not a remote backend name")
        _BUILT[name] = backend
        return backend


def forget_remote() -> None:
    """Close and drop every remote backend built in this process (tests, shutdown)."""
    with _LOCK:
        built = list(_BUILT.values())
        _BUILT.clear()
    for backend in built:
        backend.close()
