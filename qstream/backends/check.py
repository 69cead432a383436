"""``qstream backends``' check of one fleet name: would it start, with which credential?

:func:`check_backend` builds the backend the way a worker would and reads its status;
it submits nothing, and turns any failure into one line that names the problem (no
credential, no connection, unknown device) and no credential value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qstream.backends.fleet import fleet_specs
from qstream.backends.ibm_runtime import is_ibm_name
from qstream.backends.remote import is_local_mode, is_remote_name, remote_backend
from qstream.errors import QStreamError
from qstream.secrets import Credentials

__all__ = ["BackendCheck", "check_backend"]


@dataclass(frozen=True, slots=True)
class BackendCheck:
    """What ``qstream backends`` reports for one fleet name.

    Attributes
    ----------
    name:
        Fleet name.
    kind:
        ``"emulated"``, ``"local"``, ``"ibm"`` or ``"braket"``.
    ok:
        Whether it would start.
    detail:
        Qubits, queue and price source when ``ok``; else the problem, never a credential.
    credentials:
        Which credential it uses (``"IBM token: set"``, ``"AWS: standard chain"``, ...).
    """

    name: str
    kind: str
    ok: bool
    detail: str
    credentials: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "ok": self.ok, "detail": self.detail,
                "credentials": self.credentials}


def _credential_line(name: str, credentials: Credentials | None) -> str:
    if is_local_mode(name):
        return "none needed (local mode)"
    c = credentials or Credentials()
    if is_ibm_name(name):
        return ("IBM token: set" if c.ibm_token is not None
                else "IBM token: not set (qiskit's saved account)")
    return ("AWS keys: set (secrets file or environment)" if c.aws_secret_access_key is not None
            else "AWS keys: not set (boto3 standard chain)")


def check_backend(name: str, credentials: Credentials | None = None) -> BackendCheck:
    """Build ``name`` and read its status, submitting nothing; report one line.

    Remote names connect to the provider (the device's metadata and status only).
    """
    kind = ("ibm" if is_ibm_name(name) else "braket") if is_remote_name(name) else ""
    cred = _credential_line(name, credentials) if kind else "none needed"
    try:
        if kind:
            b = remote_backend(name, credentials)
            spec = b.spec
            price = getattr(b, "price_source", "IBM pay-as-you-go per QPU second")
            detail = (f"{spec.num_qubits} qubits, {'operational' if b.operational() else 'DOWN'}"
                      f", pending jobs {b.pending_jobs()}, price: {price}")
            if spec.calibration is not None:
                detail += f", median 2q error {spec.calibration.two_qubit_error:.2e}"
            return BackendCheck(name, kind, True, detail, cred)
        spec = fleet_specs([name])[0]
        kind = "emulated" if name.endswith("_emu") else "local"
        return BackendCheck(name, kind, True, f"{spec.num_qubits} qubits, {spec.description}",
                            cred)
    except QStreamError as exc:
        return BackendCheck(name, kind or "unknown", False, str(exc), cred)
