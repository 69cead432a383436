"""Every valid backend name, with a one-line description (no backend is built).

The fleet (:mod:`qstream.backends.fleet`) and the fault specs
(:mod:`qstream.backends.faults`) both check names against it.
"""

from __future__ import annotations

from qstream.backends.braket_local import BRAKET_NAME
from qstream.backends.classical import CLASSICAL_NAME
from qstream.backends.ibm_emulated import DEVICES

__all__ = ["available_backends"]


def available_backends() -> dict[str, str]:
    """Every valid backend name -> a one-line description.

    >>> names = available_backends()
    >>> "ibm_perth_emu" in names and "braket_local" in names and "cpu_statevector" in names
    True
    """
    out = {name: info.description for name, info in DEVICES.items()}
    out[BRAKET_NAME] = "Amazon Braket LocalSimulator('braket_sv'), noiseless, priced as SV1"
    out[CLASSICAL_NAME] = "exact CPU state vector (qiskit-aer), up to 20 qubits, billed per CPU s"
    return out
