"""AHMO's per-(sub-task, backend) components, each a score in [0, 1] (higher is better).

============  ================================================================  ==========
component     what it is                                                        where from
============  ================================================================  ==========
``verify``    static sandbox check (a gate, see :func:`static_check`): 0 if     core
              the circuit measures nothing, needs more shots than the backend
              allows, or cannot run there; ``T2 / duration`` when the
              estimated circuit duration exceeds T2; else 1; times the edge's
              noiseless-run verdict when one arrived (:class:`SandboxReport`)
``repro``     ``1 - TVD`` between two noiseless simulators on a reduced         edge
              version of the circuit (:class:`SandboxReport`); None when no
              report arrived (the simulator has no circuits, so always there)
``esp``       ``1 - predicted error``; the estimator's error starts from the    core
              current calibration's ESP (``BackendSpec.prior_esp``)
``mitigation`` estimated fidelity after readout mitigation: the ESP with the    core
              readout factor's error reduced by ``MITIGATION_EFFICIENCY``
``time``      ``best / this`` predicted completion time among the candidates    core
``price``     ``best / this`` predicted price among the candidates (1 when      core
              all are free)
============  ================================================================  ==========

Only ``verify`` and ``esp``/``mitigation`` use the backend's calibration; the
reproducibility score is of the circuit on noiseless simulators, so it is the
same on every backend of one sub-task and cannot change which backend wins (it
moves the HyperScore's level only). We say so rather than invent a per-backend
number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from qstream.core.backend_spec import BackendSpec
from qstream.core.features import CircuitFeatures
from qstream.core.prediction import Prediction

COMPONENTS: tuple[str, ...] = ("verify", "repro", "esp", "mitigation", "time", "price")
"""Every component, in report order."""

MITIGATION_EFFICIENCY = 0.725
"""Share of the readout error that readout mitigation removes. Source: design.md's check
of ``mthree`` 3.0.0 on FakeHanoiV2, GHZ-5: raw P(ideal) 0.949, mitigated 0.986, so
(0.986 - 0.949) / (1 - 0.949) = 0.725 of the error (GHZ-5's error there is mostly readout)."""


@dataclass(frozen=True, slots=True)
class SandboxReport:
    """What an edge measured on a reduced, noiseless copy of a circuit.

    Attributes
    ----------
    ok:
        Whether the noiseless run produced counts (parsed, simulated, measured).
    tvd:
        Total-variation distance in [0, 1] between the two simulators' output
        distributions on the reduced circuit; None when only one ran.
    reduced_qubits:
        Width of the reduced circuit that was simulated.
    """

    ok: bool
    tvd: float | None = None
    reduced_qubits: int = 0


def static_check(features: CircuitFeatures, spec: BackendSpec | None,
                 shots: int) -> tuple[float, str | None]:
    """The static sandbox check: ``(score in [0, 1], reason or None)``.

    Examples
    --------
    >>> from qstream.core.backend_spec import CalibrationSummary
    >>> cal = CalibrationSummary(3e-4, 8e-3, 2e-2, 2e-4, 1.5e-4, 5e-7)
    >>> qpu = BackendSpec("b", "qpu", 7, 100_000, calibration=cal)
    >>> static_check(CircuitFeatures(5, 6, 4, 5, 5, 5), qpu, 1000)
    (1.0, None)
    >>> static_check(CircuitFeatures(5, 6, 4, 5, 0, 0), qpu, 1000)
    (0.0, 'measures no qubit: no counts to return')
    >>> static_check(CircuitFeatures(5, 6, 4, 5, 5, 5), qpu, 10**6)
    (0.0, 'needs 1000000 shots; b allows 100000')
    >>> s, why = static_check(CircuitFeatures(5, 600, 400, 500, 5, 5), qpu, 1000)
    >>> round(s, 2), why
    (0.5, 'circuit duration 0.0003 s exceeds T2 0.00015 s')
    """
    if features.measured_qubits <= 0:
        return 0.0, "measures no qubit: no counts to return"
    if spec is None:
        return 1.0, None
    if shots > spec.max_shots:
        return 0.0, f"needs {shots} shots; {spec.name} allows {spec.max_shots}"
    why = spec.can_run(features)
    if why is not None:
        return 0.0, why
    cal = spec.calibration
    if cal is not None and cal.t2_s > 0:
        duration_s = features.depth * cal.two_qubit_gate_s
        if duration_s > cal.t2_s:
            return cal.t2_s / duration_s, (
                f"circuit duration {duration_s:.2g} s exceeds T2 {cal.t2_s:.2g} s")
    return 1.0, None


def mitigated_fidelity(esp: float, features: CircuitFeatures, spec: BackendSpec | None) -> float:
    """Estimated fidelity after readout mitigation, in [0, 1].

    The readout factor of the ESP, ``r = (1 - e_ro) ** measured_qubits``
    (:meth:`BackendSpec.prior_esp`), keeps ``1 - MITIGATION_EFFICIENCY`` of its error.

    >>> from qstream.core.backend_spec import CalibrationSummary
    >>> cal = CalibrationSummary(3e-4, 8e-3, 2e-2, 2e-4, 1.5e-4, 5e-7)
    >>> qpu = BackendSpec("b", "qpu", 7, 100_000, calibration=cal)
    >>> round(mitigated_fidelity(0.8, CircuitFeatures(5, 6, 4, 5, 5, 5), qpu), 3)
    0.862
    """
    cal = spec.calibration if spec is not None else None
    if cal is None:
        return min(max(esp, 0.0), 1.0)
    r = (1.0 - cal.readout_error) ** features.measured_qubits
    if r <= 0.0:
        return 0.0
    r_mit = 1.0 - (1.0 - r) * (1.0 - MITIGATION_EFFICIENCY)
    return min(max(esp / r * r_mit, 0.0), 1.0)


def components(features: CircuitFeatures, shots: int, spec: BackendSpec | None,
               prediction: Prediction, time_s: float, best_time_s: float,
               best_price_usd: float, sandbox: SandboxReport | None) -> dict[str, float | None]:
    """The components of one (sub-task, backend); see the module table.

    ``time_s`` is the predicted completion time (local wait + queue + run) here,
    ``best_time_s`` and ``best_price_usd`` the lowest among the candidates.
    """
    verify, _ = static_check(features, spec, shots)
    if sandbox is not None and not sandbox.ok:
        verify = 0.0
    esp = min(max(1.0 - prediction.error, 0.0), 1.0)
    price = prediction.price_usd
    return {
        "verify": verify,
        "repro": None if sandbox is None or sandbox.tvd is None else 1.0 - sandbox.tvd,
        "esp": esp,
        "mitigation": mitigated_fidelity(esp, features, spec),
        "time": _ratio(best_time_s, time_s),
        "price": _ratio(best_price_usd, price),
    }


def _ratio(best: float, this: float) -> float:
    """``best / this`` in [0, 1]; 1 when both are ~0."""
    if this <= 1e-12:
        return 1.0
    return min(max(best, 0.0) / this, 1.0)


def best_of(values: Sequence[float]) -> float:
    """The lowest finite value (inf for none)."""
    finite = [v for v in values if math.isfinite(v)]
    return min(finite) if finite else math.inf
