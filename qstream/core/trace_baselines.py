"""Online baselines of :func:`~qstream.core.trace_eval.evaluate_trace`: naive forecasters
of a job-trace target that :class:`~qstream.core.trace_model.OnlineTraceModel` must beat.

- :class:`RunningMedianModel`: the median of the backend's labels known so far.
- :class:`LastValueModel`: the last label known on the backend (a random walk).

Both see the same delayed labels as the online model (a label is learned only
once it could have been observed).
"""

from __future__ import annotations

import math

from qstream.core.running_median import RunningMedian
from qstream.core.trace import TraceJob


class BackendMedians:
    """Running medians of the labels per backend and over all backends."""

    __slots__ = ("all", "by_backend")

    def __init__(self) -> None:
        self.by_backend: dict[str, RunningMedian] = {}
        self.all = RunningMedian()

    def get(self, backend: str) -> float | None:
        """The backend's median (of all backends' if unseen); ``None`` with no label."""
        m = self.by_backend.get(backend)
        value = m.median() if m is not None else None
        return self.all.median() if value is None else value

    def add(self, backend: str, y: float) -> None:
        """Add one label ``y`` of ``backend``."""
        m = self.by_backend.get(backend)
        if m is None:
            m = self.by_backend[backend] = RunningMedian()
        m.add(y)
        self.all.add(y)


class RunningMedianModel:
    """Baseline: the median of the backend's labels known so far.

    An unseen backend gets the median over all backends; with no label known
    at all the prediction is 0 and :meth:`predict` says so.

    Examples
    --------
    >>> rm = RunningMedianModel()
    >>> job = TraceJob(2, 0.0, "ibm_kyiv", 1, 100, 5, 10)
    >>> rm.predict(job)
    (0.0, False)
    >>> for y in (10.0, 30.0, 20.0):
    ...     rm.learn(job, y)
    >>> rm.predict(job), rm.predict(TraceJob(3, 0.0, "ibm_fez", 1, 100, 5, 10))
    ((20.0, True), (20.0, True))
    """

    __slots__ = ("_medians",)

    def __init__(self) -> None:
        self._medians = BackendMedians()

    def predict(self, job: TraceJob) -> tuple[float, bool]:
        """Return ``(prediction_s, known)``; ``known`` is False when no label was known."""
        value = self._medians.get(job.backend)
        return (0.0, False) if value is None else (value, True)

    def learn(self, job: TraceJob, y: float) -> None:
        """Learn the label ``y`` (seconds) of ``job``."""
        self._medians.add(job.backend, y)


class LastValueModel:
    """Baseline: the last label known on the same backend (a random-walk forecast).

    "Last" is in label-arrival order: the most recently *observed* label, not the
    label of the most recently submitted job (whose label may not be known yet).
    An unseen backend gets the last label of any backend; with no label known at
    all the prediction is 0 and :meth:`predict` says so. Queue wait is
    autocorrelated and heavy-tailed, so this naive forecast is hard to beat on it
    (issue 13, section 4).

    Examples
    --------
    >>> lv = LastValueModel()
    >>> job = TraceJob(2, 0.0, "ibm_kyiv", 1, 100, 5, 10)
    >>> lv.predict(job)
    (0.0, False)
    >>> for y in (10.0, 30.0, 20.0):
    ...     lv.learn(job, y)
    >>> lv.predict(job), lv.predict(TraceJob(3, 0.0, "ibm_fez", 1, 100, 5, 10))
    ((20.0, True), (20.0, True))
    """

    __slots__ = ("_all", "_by_backend")

    def __init__(self) -> None:
        self._by_backend: dict[str, float] = {}
        self._all: float | None = None

    def predict(self, job: TraceJob) -> tuple[float, bool]:
        """Return ``(prediction_s, known)``; ``known`` is False when no label was known."""
        value = self._by_backend.get(job.backend, self._all)
        return (0.0, False) if value is None else (value, True)

    def learn(self, job: TraceJob, y: float) -> None:
        """Learn the label ``y`` (seconds) of ``job``; non-finite values are ignored."""
        if math.isfinite(y):
            self._by_backend[job.backend] = y
            self._all = y
