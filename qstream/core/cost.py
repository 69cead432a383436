"""The weighted cost function over time, error and money.

A sub-task's cost on a backend is::

    cost = w_time * time_s / time_ref_s + w_error * error + w_cost * price_usd / price_ref_usd

where ``time_s`` is the predicted completion time (local wait + device queue wait +
run time), ``error`` = 1 - estimated success probability in [0, 1], and the weights
come from the task. The reference scales make the three terms commensurable: with
the defaults (60 s, 1 USD) and unit weights, one minute of waiting, a certain
failure and one dollar each cost 1.0. The minute matches the granularity of IBM's
queue reporting (``../shared/data`` samples pending jobs per minute); the dollar is
the order of one IBM pay-as-you-go job (USD 1.60 per QPU second, IBM Quantum
pricing page, 2024).
"""

from __future__ import annotations

from dataclasses import dataclass

from qstream.errors import TaskContentError


@dataclass(frozen=True, slots=True)
class CostWeights:
    """Non-negative weights on time, error and cost, as in a task's ``weights``.

    Raises
    ------
    TaskContentError
        ``reason="zero_weights"`` if all three are zero (the schema cannot express
        that); ``reason="task_content"`` if a weight is negative or not finite.

    Examples
    --------
    >>> CostWeights(time=2.0).time
    2.0
    >>> CostWeights(time=-1.0)
    Traceback (most recent call last):
    ...
    qstream.errors.TaskContentError: weights must be finite and >= 0, got time=-1.0
    >>> CostWeights(0.0, 0.0, 0.0)
    Traceback (most recent call last):
    ...
    qstream.errors.TaskContentError: at least one of the weights time, error, cost must be > 0
    >>> w = CostWeights.from_dict({"error": 3.0})
    >>> w.to_dict(), CostWeights.from_dict(w.to_dict()) == w
    ({'time': 1.0, 'error': 3.0, 'cost': 1.0}, True)
    """

    time: float = 1.0
    error: float = 1.0
    cost: float = 1.0

    def __post_init__(self) -> None:
        for name in ("time", "error", "cost"):
            value = getattr(self, name)
            if not (value >= 0.0 and value != float("inf")):
                raise TaskContentError(f"weights must be finite and >= 0, got {name}={value}")
        if self.time == self.error == self.cost == 0.0:
            raise TaskContentError("at least one of the weights time, error, cost must be > 0",
                                   reason="zero_weights")

    @classmethod
    def from_dict(cls, data: dict[str, float] | None) -> CostWeights:
        """Build from a task's ``weights`` object; missing keys default to 1.0."""
        data = data or {}
        return cls(
            time=float(data.get("time", 1.0)),
            error=float(data.get("error", 1.0)),
            cost=float(data.get("cost", 1.0)),
        )

    def to_dict(self) -> dict[str, float]:
        """The ``weights`` object of ``qstream.task.v1`` / ``qstream.subtask.v1``
        (every key present); :meth:`from_dict` inverts it."""
        return {"time": self.time, "error": self.error, "cost": self.cost}


@dataclass(frozen=True, slots=True)
class CostScales:
    """Reference scales that turn seconds and dollars into unit-free cost terms."""

    time_ref_s: float = 60.0
    price_ref_usd: float = 1.0


@dataclass(frozen=True, slots=True)
class CostTerms:
    """The three weighted terms of one cost evaluation and their sum."""

    time: float
    error: float
    cost: float

    @property
    def total(self) -> float:
        return self.time + self.error + self.cost


def cost_terms(
    time_s: float,
    error: float,
    price_usd: float,
    weights: CostWeights,
    scales: CostScales = CostScales(),
) -> CostTerms:
    """Return the weighted terms of the cost function (see module docstring).

    Parameters
    ----------
    time_s:
        Predicted completion time in seconds (>= 0).
    error:
        Predicted error, 1 - success probability, in [0, 1]; clipped into range.
    price_usd:
        Predicted price in USD (>= 0).

    Examples
    --------
    >>> t = cost_terms(30.0, 0.1, 0.5, CostWeights())
    >>> (t.time, t.error, t.cost, t.total)
    (0.5, 0.1, 0.5, 1.1)
    """
    error = min(max(error, 0.0), 1.0)
    return CostTerms(
        time=weights.time * max(time_s, 0.0) / scales.time_ref_s,
        error=weights.error * error,
        cost=weights.cost * max(price_usd, 0.0) / scales.price_ref_usd,
    )


def weighted_cost(
    time_s: float,
    error: float,
    price_usd: float,
    weights: CostWeights,
    scales: CostScales = CostScales(),
) -> float:
    """Return the scalar weighted cost; lower is better.

    Examples
    --------
    >>> weighted_cost(60.0, 0.0, 0.0, CostWeights())
    1.0
    """
    return cost_terms(time_s, error, price_usd, weights, scales).total
