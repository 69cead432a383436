"""Calibration drift: replay the 181 daily ``ibm_perth`` snapshots, scaled to any device.

One model of drift serves the live emulated devices
(:class:`~qstream.backends.ibm_emulated.EmulatedIBMDevice` with ``drift=True``) and the
simulator's world (:class:`~qstream.sim.world.World`):

- **Perth** follows its own 181 daily snapshots (2023-01-01..2023-06-30, packaged,
  ``qstream/data/NOTICE.md``), one per ``day_s`` seconds of emulated time.
- **Every other device** keeps its own ``Fake*`` snapshot and multiplies its one- and
  two-qubit gate errors, readout error, T1 and T2 by *Perth's day-over-median ratios*
  of that day (:meth:`DriftSeries.ratios`), starting at its own seeded day
  (:func:`day_offset`). This is the documented scaling: the only public daily series
  we ship is Perth's, so other devices inherit its relative day-to-day variation
  (assumption, stated as such; the same scaling the simulator used since it had drift).
- **Drift steps** (:class:`DriftStep`, the ``drift=`` fault of
  :mod:`qstream.backends.faults`) multiply the errors by a factor over a window, an
  injected sudden degradation (e.g. a TLS defect on a coupler).

Everything here is pure: no SDK, no clock; times are seconds of emulated time since
the worker (or simulation) started.
"""

from __future__ import annotations

import math
import statistics
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from qstream.core.backend_spec import CalibrationSummary
from qstream.errors import ConfigError

__all__ = [
    "DAY_S",
    "RATIO_KEYS",
    "DriftSeries",
    "DriftStep",
    "apply_steps",
    "calibration_from_properties",
    "day_offset",
]

DAY_S = 86_400.0
"""IBM recalibrates its devices about once a day: one snapshot per emulated day."""

RATIO_KEYS = ("one_qubit_error", "two_qubit_error", "readout_error", "t1_s", "t2_s")
"""The calibration medians that drift (gate lengths do not)."""

_ERROR_KEYS = ("one_qubit_error", "two_qubit_error", "readout_error")


def calibration_from_properties(props: dict[str, Any]) -> CalibrationSummary:
    """Medians of one IBM ``BackendProperties`` JSON snapshot.

    T1/T2 are given in µs and gate lengths in ns in that format; the result is in
    seconds. One-qubit error is the median ``sx`` error, two-qubit error and
    length the median ``cx`` / ``ecr`` / ``cz`` ones.

    Raises
    ------
    ConfigError
        If the snapshot lacks T1, T2, readout, ``sx`` or two-qubit gate data.

    >>> from qstream.core.queue_model import load_perth_calibrations
    >>> cal = calibration_from_properties(load_perth_calibrations()[0])
    >>> 0 < cal.two_qubit_error < 0.1 and 1e-5 < cal.t1_s < 1e-3
    True
    """
    t1: list[float] = []
    t2: list[float] = []
    ro: list[float] = []
    for qubit in props["qubits"]:
        for p in qubit:
            if p["name"] == "T1":
                t1.append(p["value"] * 1e-6)
            elif p["name"] == "T2":
                t2.append(p["value"] * 1e-6)
            elif p["name"] == "readout_error":
                ro.append(p["value"])
    e1: list[float] = []
    e2: list[float] = []
    len2: list[float] = []
    for gate in props["gates"]:
        params = {p["name"]: p["value"] for p in gate["parameters"]}
        if gate["gate"] == "sx" and "gate_error" in params:
            e1.append(params["gate_error"])
        elif gate["gate"] in ("cx", "ecr", "cz") and "gate_error" in params:
            e2.append(min(params["gate_error"], 1.0))
            len2.append(params.get("gate_length", 0.0) * 1e-9)
    if not (t1 and t2 and ro and e1 and e2):
        raise ConfigError("calibration snapshot lacks T1, T2, readout, sx or two-qubit gate data")
    return CalibrationSummary(
        one_qubit_error=statistics.median(e1), two_qubit_error=statistics.median(e2),
        readout_error=statistics.median(ro), t1_s=statistics.median(t1),
        t2_s=statistics.median(t2), two_qubit_gate_s=statistics.median(len2),
    )


def day_offset(seed: int, name: str, days: int) -> int:
    """The seeded day of the series a device starts at, in ``[0, days)`` (CRC-32 of
    ``seed/name``), so the devices of one fleet do not drift in lockstep.

    >>> day_offset(0, "ibm_perth_emu", 181) == day_offset(0, "ibm_perth_emu", 181)
    True
    """
    if days < 1:
        raise ConfigError(f"days must be >= 1, got {days}")
    return zlib.crc32(f"{seed}/{name}/drift".encode()) % days


@dataclass(frozen=True, slots=True)
class DriftStep:
    """An injected step in a device's errors: gate and readout errors x ``factor``
    over ``[start_s, end_s)`` (emulated seconds since start).

    Raises
    ------
    ConfigError
        On ``factor <= 0`` or not finite, or a window without ``0 <= start < end``.

    >>> DriftStep(2.0, 100.0).active(150.0), DriftStep(2.0, 100.0).active(50.0)
    (True, False)
    """

    factor: float
    start_s: float = 0.0
    end_s: float = math.inf

    def __post_init__(self) -> None:
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise ConfigError(f"drift factor must be finite and > 0, got {self.factor:g}")
        if not (math.isfinite(self.start_s) and self.start_s >= 0 and self.end_s > self.start_s):
            raise ConfigError(f"drift window {self.start_s:g}-{self.end_s:g} must have "
                              f"0 <= start < end")

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s


def apply_steps(cal: CalibrationSummary, steps: Sequence[DriftStep],
                t_s: float) -> CalibrationSummary:
    """``cal`` with the gate and readout errors of every active step multiplied in
    (clipped to 1).

    >>> cal = CalibrationSummary(1e-3, 1e-2, 2e-2, 1e-4, 1e-4, 4e-7)
    >>> apply_steps(cal, [DriftStep(3.0, 10.0)], 20.0).two_qubit_error
    0.03
    >>> apply_steps(cal, [DriftStep(3.0, 10.0)], 5.0) is cal
    True
    """
    factor = math.prod(s.factor for s in steps if s.active(t_s))
    if factor == 1.0:
        return cal
    return replace(cal, **{k: min(getattr(cal, k) * factor, 1.0) for k in _ERROR_KEYS})


class DriftSeries:
    """A daily calibration series and its scaling to other devices.

    Parameters
    ----------
    days:
        One :class:`CalibrationSummary` per day, oldest first.
    reference:
        Name of the device the series was measured on (``"ibm_perth"``): a device
        whose load-series name is this follows the series itself.
    day_s:
        Emulated seconds per snapshot (:data:`DAY_S`; a demo may compress it).

    Raises
    ------
    ConfigError
        On an empty series or ``day_s <= 0``.

    Examples
    --------
    >>> s = DriftSeries.load()
    >>> len(s), s.index(0.0, offset=3), s.index(DAY_S * 1.5, offset=180)
    (181, 3, 0)
    >>> base = CalibrationSummary(1e-3, 1e-2, 2e-2, 1e-4, 1e-4, 4e-7)
    >>> cal = s.scaled(base, 0)
    >>> round(cal.two_qubit_error / base.two_qubit_error, 6) == round(
    ...     s.ratios(0)["two_qubit_error"], 6)
    True
    """

    def __init__(self, days: Sequence[CalibrationSummary], *, reference: str = "ibm_perth",
                 day_s: float = DAY_S) -> None:
        if not days:
            raise ConfigError("a drift series needs at least one snapshot")
        if not (math.isfinite(day_s) and day_s > 0):
            raise ConfigError(f"day_s must be finite and > 0, got {day_s}")
        self.days = list(days)
        self.reference = reference
        self.day_s = float(day_s)
        med = {k: statistics.median(getattr(c, k) for c in self.days) for k in RATIO_KEYS}
        self._ratios = [{k: (getattr(c, k) / med[k] if med[k] > 0 else 1.0) for k in RATIO_KEYS}
                        for c in self.days]

    @classmethod
    def load(cls, *, day_s: float = DAY_S) -> DriftSeries:
        """The packaged 181 daily ``ibm_perth`` snapshots (2023H1)."""
        from qstream.core.queue_model import load_perth_calibrations

        return cls([calibration_from_properties(p) for p in load_perth_calibrations()],
                    day_s=day_s)

    def __len__(self) -> int:
        return len(self.days)

    def day(self, t_s: float) -> int:
        """Whole snapshots elapsed at ``t_s`` (emulated s since start)."""
        return int(max(t_s, 0.0) // self.day_s)

    def index(self, t_s: float, offset: int = 0) -> int:
        """Snapshot index at ``t_s`` for a device starting at day ``offset`` (wraps)."""
        return (self.day(t_s) + offset) % len(self.days)

    def ratios(self, k: int) -> dict[str, float]:
        """Day ``k``'s medians over the series' medians, per :data:`RATIO_KEYS`."""
        return dict(self._ratios[k % len(self.days)])

    def scaled(self, base: CalibrationSummary, k: int, *, own: bool = False,
               updated_at_s: float = 0.0) -> CalibrationSummary:
        """The calibration of day ``k``: the series' own snapshot when ``own`` (the
        reference device), else ``base`` scaled by day ``k``'s ratios (errors clipped to 1)."""
        if own:
            return replace(self.days[k % len(self.days)], updated_at_s=updated_at_s)
        r = self._ratios[k % len(self.days)]
        return replace(
            base,
            one_qubit_error=min(base.one_qubit_error * r["one_qubit_error"], 1.0),
            two_qubit_error=min(base.two_qubit_error * r["two_qubit_error"], 1.0),
            readout_error=min(base.readout_error * r["readout_error"], 1.0),
            t1_s=base.t1_s * r["t1_s"], t2_s=base.t2_s * r["t2_s"],
            updated_at_s=updated_at_s,
        )

    def scale_of(self, base: CalibrationSummary, cal: CalibrationSummary) -> tuple[float, ...]:
        """``cal`` over ``base`` per :data:`RATIO_KEYS`, rounded to 4 digits: what the
        emulator applies to the device's per-qubit noise (and its noise-model cache key)."""
        return tuple(round(getattr(cal, k) / getattr(base, k), 4) if getattr(base, k) > 0
                     else 1.0 for k in RATIO_KEYS)
