"""AHMO's HyperScore: a fused value ``V`` in (0, 1] mapped to a score in [100, 200].

The formula is the project specification's (the seed's "adaptive hyper-scoring")::

    HyperScore = 100 * [1 + (sigmoid(beta * ln V + gamma)) ** kappa]

with ``sigmoid(z) = 1 / (1 + exp(-z))``. The constants ``beta = 5``,
``gamma = -ln 2`` and ``kappa = 2`` are the values published with that formula
(the specification gives no others). For ``beta, kappa > 0`` the map is strictly
increasing in ``V``, so ranking backends by HyperScore is ranking them by ``V``:
the transform changes what is reported, never which backend wins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

BETA = 5.0
GAMMA = -math.log(2.0)
KAPPA = 2.0
_TINY = 1e-12


def hyperscore(value: float, *, beta: float = BETA, gamma: float = GAMMA,
               kappa: float = KAPPA) -> float:
    """HyperScore of a fused value ``value`` (clipped into [1e-12, 1]); in [100, 200].

    Raises
    ------
    ValueError
        If ``beta`` or ``kappa`` is not > 0 (the map would not be increasing).

    Examples
    --------
    >>> round(hyperscore(1.0), 3)   # sigmoid(-ln 2) = 1/3, squared: 100 * (1 + 1/9)
    111.111
    >>> round(hyperscore(0.5), 3)
    100.024
    >>> hyperscore(0.0) == 100.0
    True
    >>> hyperscore(0.9) > hyperscore(0.8)
    True
    """
    if not (beta > 0.0 and kappa > 0.0):
        raise ValueError(f"beta and kappa must be > 0, got {beta}, {kappa}")
    v = min(max(value, _TINY), 1.0)
    z = beta * math.log(v) + gamma
    sig = 1.0 / (1.0 + math.exp(-z))
    return 100.0 * (1.0 + sig ** kappa)


def fuse(components: Mapping[str, float | None], weights: Mapping[str, float]) -> float:
    """The fused value ``V``: the weighted mean of the known components, in [0, 1].

    Components are scores in [0, 1] (higher is better); ``None`` means not
    measured for this (sub-task, backend) and is left out (the other weights are
    renormalised). ``verify`` is a gate, not a term: ``V`` is multiplied by it, so
    a backend the static check rejects gets ``V = 0``.

    Examples
    --------
    >>> fuse({"verify": 1.0, "esp": 0.8, "time": 0.4, "repro": None},
    ...      {"esp": 1.0, "time": 1.0, "repro": 5.0})
    0.6000000000000001
    >>> fuse({"verify": 0.0, "esp": 1.0}, {"esp": 1.0})
    0.0
    """
    gate = components.get("verify")
    num = den = 0.0
    for name, c in components.items():
        if name == "verify" or c is None:
            continue
        w = weights.get(name, 0.0)
        num += w * min(max(c, 0.0), 1.0)
        den += w
    v = num / den if den > 0 else 1.0
    return v * (1.0 if gate is None else min(max(gate, 0.0), 1.0))
