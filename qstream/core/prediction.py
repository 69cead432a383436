"""One backend's predicted queue wait, run time, error and price for one sub-task."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Prediction:
    """Predicted outcome of running a sub-task on one backend.

    Attributes
    ----------
    queue_s:
        Device queue wait in seconds (time between submission to the device and start).
    run_s:
        Execution time in seconds.
    error:
        1 - estimated success probability, in [0, 1].
    price_usd:
        Price in USD.
    """

    queue_s: float
    run_s: float
    error: float
    price_usd: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)
