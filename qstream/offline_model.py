"""Offline baseline for trace evaluation: a gradient-boosted tree ensemble (scikit-learn).

Qonductor (Giortamis et al., "Qonductor: a cloud orchestrator for quantum
computing", 2024) estimates run time with scikit-learn's
``HistGradientBoostingRegressor`` trained offline; :class:`HGBBaseline` is that
baseline for :func:`qstream.core.trace_eval.evaluate_trace`. It lives outside
``qstream.core`` because the core never imports scikit-learn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import ThreadpoolController

from qstream.core.trace import TraceJob

#: Features, all ``log1p`` (unknown shots, width, depth and gate counts stay NaN:
#: the trees route missing values natively), then the backend as a category.
FEATURES: tuple[str, ...] = ("log_circuits", "log_shots", "log_qubits", "log_depth",
                             "log_two_qubit_gates", "log_gates", "backend")
#: HistGradientBoosting allows at most 255 categories; rarer backends than the
#: 254 most frequent share the missing-value bin with unseen ones.
_MAX_BACKENDS = 254
#: Finding the OpenMP runtimes costs ~2.5 ms; limiting through a found one ~10 µs.
_THREADPOOLS = ThreadpoolController()


class HGBBaseline:
    """``HistGradientBoostingRegressor`` on ``log1p`` features and a ``log1p`` target.

    Parameters
    ----------
    random_state:
        Seed of the regressor (fixed: results repeat).
    **params:
        Other ``HistGradientBoostingRegressor`` parameters (defaults otherwise;
        early stopping is on by default above 10,000 training rows).

    Notes
    -----
    Fit and predict run on one OpenMP thread: on a small machine shared with
    other work, OpenMP's spinning threads made a 150-row fit take from 0.05 s
    to 20 s; on one thread it takes 0.03 s and a 5000-row trace's fit 0.2 s.

    Examples
    --------
    >>> jobs = [TraceJob(i + 2, float(i), "ibm_kyiv", 1, 100 * (1 + i % 5), 5, 10)
    ...         for i in range(200)]
    >>> model = HGBBaseline()
    >>> model.fit(jobs, [1.0 + j.shots / 100 for j in jobs])
    >>> [round(float(p)) for p in model.predict(jobs[:5])]
    [2, 3, 4, 5, 6]
    """

    def __init__(self, random_state: int = 0, **params: object) -> None:
        self.random_state = random_state
        self.params = params
        self._backends: dict[str, int] = {}
        self._keep = np.ones(len(FEATURES), dtype=bool)
        self._model: HistGradientBoostingRegressor | None = None

    def _x(self, jobs: Sequence[TraceJob]) -> npt.NDArray[np.float64]:
        nan = float("nan")
        rows = [
            (job.n_circuits, nan if job.shots is None else job.shots,
             nan if job.num_qubits is None else job.num_qubits, nan if job.depth is None else job.depth,
             nan if job.two_qubit_gates is None else job.two_qubit_gates,
             nan if job.gates is None else job.gates)
            for job in jobs
        ]
        x = np.log1p(np.array(rows, dtype=np.float64).reshape(len(jobs), 6))
        codes = np.array([self._backends.get(job.backend, nan) for job in jobs], dtype=np.float64)
        return np.column_stack([x, codes])[:, self._keep]

    def fit(self, jobs: Sequence[TraceJob], y: Sequence[float]) -> None:
        """Fit on ``jobs`` and their labels (seconds, >= 0)."""
        common = Counter(job.backend for job in jobs).most_common(_MAX_BACKENDS)
        self._backends = {name: code for code, name in enumerate(sorted(n for n, _ in common))}
        # A column without a single value (a trace without gate counts) breaks the
        # binning of scikit-learn 1.9; such a column carries no information anyway.
        self._keep = np.ones(len(FEATURES), dtype=bool)
        x = self._x(jobs)
        self._keep = np.asarray(~np.isnan(x).all(axis=0), dtype=bool)
        x = x[:, self._keep]
        cat = np.zeros(len(FEATURES), dtype=bool)
        cat[-1] = True
        params: dict[str, object] = {"random_state": self.random_state,
                                     "categorical_features": cat[self._keep]}
        params.update(self.params)
        self._model = HistGradientBoostingRegressor(**params)
        target = np.log1p(np.maximum(np.asarray(y, dtype=np.float64), 0.0))
        with _THREADPOOLS.limit(limits=1, user_api="openmp"):
            self._model.fit(x, target)

    def predict(self, jobs: Sequence[TraceJob]) -> npt.NDArray[np.float64]:
        """Predict labels (seconds, >= 0).

        Raises
        ------
        RuntimeError
            Before :meth:`fit`.
        """
        if self._model is None:
            raise RuntimeError("HGBBaseline.predict before fit")
        if not jobs:
            return np.zeros(0)
        with _THREADPOOLS.limit(limits=1, user_api="openmp"):
            z = self._model.predict(self._x(jobs))
        return np.maximum(np.expm1(z), 0.0)
