"""What an execution taught us: the label side of every telemetry event."""

from __future__ import annotations

from dataclasses import dataclass

from qstream.core.features import CircuitFeatures


@dataclass(frozen=True, slots=True)
class ExecutionObservation:
    """Observed outcome of one sub-task execution, as the predictors learn from it.

    Attributes
    ----------
    backend:
        Backend name.
    features, shots:
        What ran.
    pending_jobs:
        External pending jobs on the device when the sub-task was submitted to it.
    queue_s, run_s:
        Observed device queue wait and execution time, seconds.
    error:
        Observed error in [0, 1]: 1 - Hellinger fidelity to the ideal distribution
        where the ideal is known, else 1 - ESP of the transpiled circuit.
    price_usd:
        Charged price.
    at_s:
        When the observation was made (seconds, scheduler clock).
    """

    backend: str
    features: CircuitFeatures
    shots: int
    pending_jobs: int
    queue_s: float
    run_s: float
    error: float
    price_usd: float
    at_s: float = 0.0
