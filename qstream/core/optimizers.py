"""Ask/tell optimisers whose whole state is a JSON-serialisable dict.

A hybrid loop driven by events asks the optimiser for the points to evaluate,
runs them as sub-tasks, and tells it the objective values. Between the two it can
persist :meth:`state` (plain lists, floats, ints and strings) in a changelog
table; :func:`from_state` rebuilds an optimiser that asks *exactly* the same next
points, so a worker killed mid-loop resumes where it stopped.

- :class:`Spsa`: simultaneous perturbation stochastic approximation (Spall, IEEE
  Trans. Autom. Control 37(3), 332, 1992; gains and defaults from Spall, "An
  Overview of the Simultaneous Perturbation Method for Efficient Optimization",
  Johns Hopkins APL Technical Digest 19(4), 482, 1998). Two evaluations per
  iteration whatever the dimension; suited to noisy (sampled) objectives.
- :class:`Cobyla`: scipy's COBYLA (Powell 1994) driven by deterministic replay, one
  evaluation per iteration.

Examples
--------
>>> import json
>>> opt = make_optimizer("spsa", [1.0, -1.0], max_iterations=50, seed=7)
>>> while not opt.done:
...     opt.tell([sum(v * v for v in x) for x in opt.ask()])
>>> round(opt.best_value, 3) < 0.05, len(opt.history)
(True, 50)
>>> again = from_state(json.loads(json.dumps(opt.state())))
>>> again.best_x == opt.best_x and again.done
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize

__all__ = ["OPTIMIZERS", "Cobyla", "Optimizer", "Spsa", "from_state", "make_optimizer"]


def _floats(values: Sequence[float], what: str) -> list[float]:
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{what} must be finite, got {out}")
    return out


class Optimizer:
    """Common ask/tell interface (see :func:`make_optimizer`).

    Attributes
    ----------
    done:
        ``True`` once the optimiser has finished (``ask`` then returns ``[]``).
    best_x, best_value:
        The evaluated point with the lowest objective so far, and that objective
        (``None`` / ``inf`` before the first ``tell``).
    history:
        One objective value per completed iteration (SPSA: the mean of its two
        evaluations; COBYLA: the evaluation).
    """

    name: ClassVar[str]

    def __init__(self, x0: Sequence[float], *, max_iterations: int, seed: int) -> None:
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
        self.x0 = _floats(x0, "x0")
        if not self.x0:
            raise ValueError("x0 must have at least one coordinate")
        self.max_iterations = int(max_iterations)
        self.seed = int(seed)
        self.history: list[float] = []
        self.best_x: list[float] | None = None
        self.best_value = math.inf

    @property
    def done(self) -> bool:
        raise NotImplementedError

    def ask(self) -> list[list[float]]:
        """Points to evaluate next (each a list of ``len(x0)`` floats); ``[]`` when done."""
        raise NotImplementedError

    def tell(self, values: Sequence[float]) -> None:
        """Report the objective at each point of the last :meth:`ask`, in order.

        Raises
        ------
        ValueError
            If the optimiser is done, or ``values`` has the wrong length or a
            non-finite value.
        """
        raise NotImplementedError

    def _check_tell(self, points: list[list[float]], values: Sequence[float]) -> list[float]:
        if not points:
            raise ValueError(f"{self.name} is done; there is nothing to tell")
        vals = _floats(values, "objective values")
        if len(vals) != len(points):
            raise ValueError(f"{self.name} asked {len(points)} points, got {len(vals)} values")
        for x, v in zip(points, vals, strict=True):
            if v < self.best_value:
                self.best_value, self.best_x = v, list(x)
        return vals

    def _base_state(self) -> dict[str, Any]:
        return {"name": self.name, "x0": list(self.x0), "max_iterations": self.max_iterations,
                "seed": self.seed, "history": list(self.history),
                "best_x": None if self.best_x is None else list(self.best_x),
                "best_value": None if math.isinf(self.best_value) else self.best_value}

    def _restore_base(self, state: dict[str, Any]) -> None:
        self.history = [float(v) for v in state["history"]]
        self.best_x = None if state["best_x"] is None else [float(v) for v in state["best_x"]]
        self.best_value = math.inf if state["best_value"] is None else float(state["best_value"])

    def state(self) -> dict[str, Any]:
        """The whole state as JSON-serialisable values; :func:`from_state` inverts it."""
        raise NotImplementedError


class Spsa(Optimizer):
    """SPSA with Spall's gain sequences and seeded Rademacher perturbations.

    Iteration ``k`` (0-based) evaluates ``x ± c_k Δ_k`` and steps
    ``x ← x − a_k ĝ_k`` with ``ĝ_k = (f(x + c_k Δ_k) − f(x − c_k Δ_k)) / (2 c_k) · Δ_k``
    (``1/Δ = Δ`` for ±1 entries). Gains ``a_k = a / (k + 1 + A)^α``,
    ``c_k = c / (k + 1)^γ`` with ``α = 0.602``, ``γ = 0.101`` (Spall 1998, the
    practical values) and ``A = 0.1 · max_iterations`` by default (Spall 1998
    advises ``A`` of about 10 % or less of the iterations allowed). ``Δ_k`` is drawn
    from ``numpy.random.default_rng([seed, k])``, so ``seed`` and ``k`` alone define
    it and a resumed run is exact.

    Parameters
    ----------
    a:
        Step-size numerator (default 0.2, in units of ``x`` per unit of gradient;
        Spall picks it so early steps have the wanted magnitude).
    c:
        Perturbation size (default 0.1, in units of ``x``; Spall: about the standard
        deviation of the objective's noise).
    A, alpha, gamma:
        Stability constant and exponents, defaults as above.

    Attributes
    ----------
    x:
        The current iterate, SPSA's estimate of the minimiser (never evaluated
        itself; :attr:`best_x` is the best *evaluated* point, ``c_k`` away from it).
    k:
        Completed iterations.
    """

    name = "spsa"

    def __init__(self, x0: Sequence[float], *, max_iterations: int, seed: int, a: float = 0.2,
                 c: float = 0.1, A: float | None = None, alpha: float = 0.602,
                 gamma: float = 0.101) -> None:
        super().__init__(x0, max_iterations=max_iterations, seed=seed)
        self.a, self.c = float(a), float(c)
        self.A = 0.1 * self.max_iterations if A is None else float(A)
        self.alpha, self.gamma = float(alpha), float(gamma)
        if self.a <= 0 or self.c <= 0 or self.A < 0:
            raise ValueError(f"SPSA needs a > 0, c > 0, A >= 0; got a={a}, c={c}, A={A}")
        self.x = list(self.x0)
        self.k = 0

    @property
    def done(self) -> bool:
        return self.k >= self.max_iterations

    def _delta(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.k])
        return rng.choice(np.array([-1.0, 1.0]), size=len(self.x))

    def _c_k(self) -> float:
        return self.c / (self.k + 1) ** self.gamma

    def ask(self) -> list[list[float]]:
        """``[x + c_k Δ_k, x − c_k Δ_k]``, or ``[]`` when done."""
        if self.done:
            return []
        x, step = np.array(self.x), self._c_k() * self._delta()
        return [(x + step).tolist(), (x - step).tolist()]

    def tell(self, values: Sequence[float]) -> None:
        plus, minus = self._check_tell(self.ask(), values)
        c_k, delta = self._c_k(), self._delta()
        a_k = self.a / (self.k + 1 + self.A) ** self.alpha
        gradient = (plus - minus) / (2.0 * c_k) * delta
        self.x = (np.array(self.x) - a_k * gradient).tolist()
        self.history.append((plus + minus) / 2.0)
        self.k += 1

    def state(self) -> dict[str, Any]:
        return {**self._base_state(), "x": list(self.x), "k": self.k,
                "options": {"a": self.a, "c": self.c, "A": self.A, "alpha": self.alpha,
                            "gamma": self.gamma}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Spsa:
        """Rebuild from :meth:`state` (after a JSON round trip too)."""
        opt = cls(state["x0"], max_iterations=state["max_iterations"], seed=state["seed"],
                  **state["options"])
        opt._restore_base(state)
        opt.x, opt.k = [float(v) for v in state["x"]], int(state["k"])
        return opt


class _NextPoint(Exception):
    """Raised inside the replayed objective at the first point not yet evaluated."""

    def __init__(self, x: list[float]) -> None:
        super().__init__()
        self.x = x


class Cobyla(Optimizer):
    """COBYLA as ask/tell by deterministic replay of ``scipy.optimize.minimize``.

    The state is the list of evaluated ``(x, f)`` pairs. :meth:`ask` reruns
    ``minimize(method="COBYLA")`` from ``x0`` with an objective that answers the
    recorded points in order and stops at the first unrecorded one: that point is the
    next to evaluate. When ``minimize`` returns instead, the optimiser is done. This
    is exact because scipy's COBYLA (the pure-Python PRIMA implementation by Zhang,
    since scipy 1.16.0 per scipy's ``minimize(method='COBYLA')`` docs) is a
    deterministic function of its inputs and the values it is given: no random
    numbers, no clocks. A replayed point that differs from the
    recorded one (another scipy version) raises ``RuntimeError``.

    Cost: the ``k``-th ask replays ``k`` evaluations, so ``n`` iterations cost
    ``O(n²)`` COBYLA steps (about 1 ms each here on scipy 1.17: 100 iterations take
    about 5 s of replay in all, 300 about 45 s); meant for the tens to few hundreds
    of iterations of a variational loop, where each evaluation is a circuit run.

    Parameters
    ----------
    rhobeg:
        Initial trust-region radius (default 0.5, units of ``x``; scipy's default
        is 1.0).
    tol:
        Final trust-region radius (default 1e-6; scipy's ``tol``).

    ``max_iterations`` is COBYLA's ``maxiter``: the most objective evaluations.
    ``seed`` is kept in the state but unused (COBYLA draws nothing).
    """

    name = "cobyla"

    def __init__(self, x0: Sequence[float], *, max_iterations: int, seed: int,
                 rhobeg: float = 0.5, tol: float = 1e-6) -> None:
        super().__init__(x0, max_iterations=max_iterations, seed=seed)
        self.rhobeg, self.tol = float(rhobeg), float(tol)
        if self.rhobeg <= 0 or self.tol <= 0:
            raise ValueError(f"COBYLA needs rhobeg > 0 and tol > 0; got {rhobeg}, {tol}")
        self.evaluated: list[tuple[list[float], float]] = []
        self._pending: list[list[float]] | None = None

    def _replay(self) -> list[list[float]]:
        calls = 0

        def objective(x: np.ndarray) -> float:
            nonlocal calls
            point = [float(v) for v in x]
            if calls < len(self.evaluated):
                recorded, value = self.evaluated[calls]
                if point != recorded:
                    raise RuntimeError(f"COBYLA replay diverged at evaluation {calls}: "
                                       f"{point} != {recorded}")
                calls += 1
                return value
            raise _NextPoint(point)

        try:
            minimize(objective, np.array(self.x0), method="COBYLA", tol=self.tol,
                     options={"maxiter": self.max_iterations, "rhobeg": self.rhobeg})
        except _NextPoint as nxt:
            return [nxt.x]
        return []

    @property
    def done(self) -> bool:
        return not self.ask()

    def ask(self) -> list[list[float]]:
        """``[x]``, the next point COBYLA evaluates, or ``[]`` when done."""
        if self._pending is None:
            self._pending = self._replay()
        return [list(x) for x in self._pending]

    def tell(self, values: Sequence[float]) -> None:
        points = self.ask()
        (value,) = self._check_tell(points, values)
        self.evaluated.append((points[0], value))
        self.history.append(value)
        self._pending = None

    def state(self) -> dict[str, Any]:
        return {**self._base_state(), "evaluated": [[list(x), f] for x, f in self.evaluated],
                "options": {"rhobeg": self.rhobeg, "tol": self.tol}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Cobyla:
        """Rebuild from :meth:`state` (after a JSON round trip too)."""
        opt = cls(state["x0"], max_iterations=state["max_iterations"], seed=state["seed"],
                  **state["options"])
        opt._restore_base(state)
        opt.evaluated = [([float(v) for v in x], float(f)) for x, f in state["evaluated"]]
        return opt


OPTIMIZERS: dict[str, type[Spsa] | type[Cobyla]] = {"spsa": Spsa, "cobyla": Cobyla}
"""Optimiser classes by name."""


def make_optimizer(name: str, x0: Sequence[float], *, max_iterations: int, seed: int = 0,
                   **options: float) -> Spsa | Cobyla:
    """A new optimiser ``name`` (``"spsa"`` or ``"cobyla"``) starting at ``x0``.

    Parameters
    ----------
    x0:
        Initial point, ``D`` floats.
    max_iterations:
        SPSA iterations (two evaluations each) or COBYLA evaluations.
    seed:
        Seeds SPSA's perturbations (unused by COBYLA).
    options:
        Class options (:class:`Spsa`: ``a, c, A, alpha, gamma``; :class:`Cobyla`:
        ``rhobeg, tol``).

    Raises
    ------
    ValueError
        An unknown name, a bad option value, an empty or non-finite ``x0``.
    TypeError
        An option the optimiser does not take.

    >>> make_optimizer("cobyla", [0.0, 0.0], max_iterations=10).ask()
    [[0.0, 0.0]]
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](x0, max_iterations=max_iterations, seed=seed, **options)


def from_state(state: dict[str, Any]) -> Spsa | Cobyla:
    """Rebuild the optimiser whose :meth:`Optimizer.state` is ``state``.

    Raises
    ------
    ValueError
        If ``state["name"]`` names no optimiser.
    """
    name = state.get("name")
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r} in state")
    return OPTIMIZERS[name].from_state(state)
