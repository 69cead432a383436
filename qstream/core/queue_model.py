"""External load on emulated IBM devices: a real pending-jobs series and a queue-wait model.

Two pieces, both pure (stdlib + numpy):

- :class:`PendingJobsSeries` replays the queue length (``pending_jobs``) that 12 real
  IBM Quantum backends reported every minute from 2023-11-16 to 2023-11-26
  (``qstream/data/ibm_pending_jobs_2023-11.csv.gz``, from the public repository
  ``manosgior/Qonductor-SC25``, MIT License; see ``qstream/data/NOTICE.md``).
- :class:`QueueModel` turns the pending jobs seen at submission into a queue wait:
  the sum of the service times of the external jobs ahead, each drawn from a
  log-normal distribution.

:func:`load_perth_calibrations` reads the 181 daily calibration snapshots of
``ibm_perth`` (2023H1) shipped next to the series, for calibration-drift replay.

The package data is read with :func:`importlib.resources.files`, never from a
path outside the installed package.
"""

from __future__ import annotations

import calendar
import csv
import gzip
import io
import json
import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from qstream.errors import ConfigError

PENDING_JOBS_FILE = "ibm_pending_jobs_2023-11.csv.gz"
"""Packaged pending-jobs series (176,332 rows, one per backend per minute)."""

PERTH_CALIBRATIONS_FILE = "ibm_perth_calibrations_2023H1.jsonl.gz"
"""Packaged ``ibm_perth`` calibration snapshots (181 lines of ``BackendProperties`` JSON)."""

SAMPLE_PERIOD_S = 60.0
"""Sampling period of the packaged series: one row per backend per minute (data README)."""

SERVICE_MEAN_S = 10.0
"""Mean QPU time of one external job, seconds.

Source: Qonductor (SC'25) estimates queue wait as ``pending_jobs * AVERAGE_JOB_TIME``
with ``AVERAGE_JOB_TIME = 10`` s (``src/scheduler/multi_objective_scheduler.py`` in
``manosgior/Qonductor-SC25``), the same repository the pending-jobs series comes
from. It is consistent with IBM's own usage example: a 2-qubit Bell circuit with
the default 4096 shots is estimated at 4.1 quantum seconds (IBM Quantum docs,
"Estimate job run time"), and a typical external job holds several circuits.
"""

SERVICE_SIGMA = 1.0
"""Log-normal shape (standard deviation of ``ln(service_s)``) of external job times.

**Assumption**, not a measurement: no public per-job QPU-time distribution exists
for these backends. ``sigma = 1`` puts the middle 90% of jobs between 0.19x and
5.2x the median, i.e. from a one-circuit job of ~1-2 s to a batch of tens of
circuits of ~30 s, which is the range of job shapes users submit.
"""

SERVICE_MEDIAN_S = SERVICE_MEAN_S / math.exp(SERVICE_SIGMA**2 / 2.0)
"""Median external job time, seconds: chosen so that the mean is :data:`SERVICE_MEAN_S`
(a log-normal's mean is ``median * exp(sigma**2 / 2)``); about 6.07 s."""


@dataclass(frozen=True, slots=True)
class _Backend:
    t_s: np.ndarray  # seconds since the series start, sorted ascending
    pending: np.ndarray  # int64
    operational: np.ndarray  # bool
    status: tuple[str, ...]


class PendingJobsSeries:
    """The real pending-jobs series of IBM backends, replayed with wrap-around.

    Time ``t_s`` is seconds since the first sample of the series
    (2023-11-16T13:59:00Z). The value at ``t_s`` is the last sample at or before it
    (step interpolation). The series covers ``duration_s`` (about 10.3 days); a
    query beyond it wraps around, so an emulation can run for any length of time.
    ``offset_s`` shifts the start, so that devices replay different moments.

    Parameters
    ----------
    rows:
        Iterable of ``(timestamp_utc, backend, pending_jobs, operational, status_msg)``
        tuples, timestamps in ISO 8601. Use :meth:`load` for the packaged data.

    Raises
    ------
    ConfigError
        If ``rows`` is empty or a row cannot be read.

    Examples
    --------
    >>> s = PendingJobsSeries([("2023-11-16T00:00:00Z", "b", "5", "1", "active"),
    ...                        ("2023-11-16T00:01:00Z", "b", "9", "1", "active")])
    >>> s.duration_s
    120.0
    >>> [s.pending_jobs("b", t) for t in (0.0, 59.0, 60.0, 125.0)]
    [5, 5, 9, 5]
    >>> s.pending_jobs("b", 0.0, offset_s=60.0)
    9
    """

    def __init__(self, rows: Any) -> None:
        parsed: dict[str, list[tuple[float, int, bool, str]]] = {}
        epochs: dict[str, float] = {}  # every minute repeats once per backend
        try:
            for ts, backend, pending, operational, status in rows:
                epoch = epochs.get(ts)
                if epoch is None:
                    epoch = epochs[ts] = _utc_epoch_s(ts)
                parsed.setdefault(backend, []).append(
                    (epoch, int(float(pending)), bool(int(float(operational))), status))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"cannot read pending-jobs row: {exc}") from exc
        if not parsed:
            raise ConfigError("pending-jobs series has no rows")
        self.start_epoch_s = min(r[0] for rs in parsed.values() for r in rs)
        end_epoch_s = max(r[0] for rs in parsed.values() for r in rs)
        self.duration_s = end_epoch_s - self.start_epoch_s + SAMPLE_PERIOD_S
        self._data: dict[str, _Backend] = {}
        for backend, rs in parsed.items():
            rs.sort(key=lambda r: r[0])
            self._data[backend] = _Backend(
                t_s=np.array([r[0] - self.start_epoch_s for r in rs], dtype=np.float64),
                pending=np.array([r[1] for r in rs], dtype=np.int64),
                operational=np.array([r[2] for r in rs], dtype=bool),
                status=tuple(r[3] for r in rs),
            )

    @classmethod
    def load(cls) -> PendingJobsSeries:
        """Return the packaged 2023-11 series (parsed once per process, then shared).

        >>> s = PendingJobsSeries.load()
        >>> len(s.backends), round(s.duration_s / 86400, 2)
        (12, 10.29)
        """
        return _load_packaged()

    @property
    def backends(self) -> tuple[str, ...]:
        """Backend names in the series, sorted (e.g. ``"ibm_perth"``)."""
        return tuple(sorted(self._data))

    def arrays(self, backend: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(t_s, pending_jobs, operational)`` arrays of one backend, sorted by time.

        Raises
        ------
        ConfigError
            If the backend is not in the series.
        """
        b = self._get(backend)
        return b.t_s, b.pending, b.operational

    def pending_jobs(self, backend: str, t_s: float, *, offset_s: float = 0.0) -> int:
        """Pending jobs of ``backend`` at ``t_s + offset_s`` seconds into the series (wrapped)."""
        b = self._get(backend)
        return int(b.pending[self._index(b, t_s + offset_s)])

    def operational(self, backend: str, t_s: float, *, offset_s: float = 0.0) -> bool:
        """The ``operational`` flag at ``t_s + offset_s`` (wrapped).

        In the packaged data it is always 1: IBM reported reservations and
        maintenance through ``status_msg`` (see :meth:`status`), not this flag.
        """
        b = self._get(backend)
        return bool(b.operational[self._index(b, t_s + offset_s)])

    def status(self, backend: str, t_s: float, *, offset_s: float = 0.0) -> str:
        """The ``status_msg`` at ``t_s + offset_s``: ``active``, ``internal`` or ``dedicated``."""
        b = self._get(backend)
        return b.status[self._index(b, t_s + offset_s)]

    def _get(self, backend: str) -> _Backend:
        try:
            return self._data[backend]
        except KeyError:
            raise ConfigError(
                f"backend {backend!r} is not in the pending-jobs series; "
                f"known: {', '.join(self.backends)}") from None

    def _index(self, b: _Backend, t_s: float) -> int:
        t = math.fmod(t_s, self.duration_s)
        if t < 0:
            t += self.duration_s
        i = int(np.searchsorted(b.t_s, t, side="right")) - 1
        # Before a backend's first sample, wrap to its last one.
        return i if i >= 0 else len(b.t_s) - 1


def _utc_epoch_s(ts: str) -> float:
    """``YYYY-MM-DDTHH:MM[:SS]Z`` (UTC) -> Unix seconds."""
    if not (len(ts) >= 16 and ts[4] == "-" and ts[7] == "-" and ts[10] in "T " and ts[13] == ":"
            and ts.endswith("Z")):
        raise ValueError(f"timestamp {ts!r} is not ISO 8601 UTC (YYYY-MM-DDTHH:MM:SSZ)")
    seconds = float(ts[17:-1]) if len(ts) > 17 else 0.0
    return calendar.timegm((int(ts[0:4]), int(ts[5:7]), int(ts[8:10]), int(ts[11:13]),
                            int(ts[14:16]), 0, 0, 0, 0)) + seconds


@lru_cache(maxsize=1)
def _load_packaged() -> PendingJobsSeries:
    raw = resources.files("qstream.data").joinpath(PENDING_JOBS_FILE).read_bytes()
    with io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(raw)), encoding="utf-8") as text:
        reader = csv.reader(text)
        next(reader)  # header: timestamp_utc,backend,pending_jobs,operational,status_msg
        return PendingJobsSeries(reader)


def start_offset_s(seed: int, name: str, duration_s: float) -> float:
    """A deterministic start offset in ``[0, duration_s)`` for device ``name``.

    Devices of one fleet get different offsets (``name`` is mixed in with CRC-32,
    which is stable across processes, unlike :func:`hash`), and a different
    ``seed`` gives a different fleet-wide draw.

    >>> start_offset_s(0, "ibm_perth_emu", 1000.0) == start_offset_s(0, "ibm_perth_emu", 1000.0)
    True
    >>> start_offset_s(0, "a", 1000.0) != start_offset_s(0, "b", 1000.0)
    True
    """
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8"))])
    return float(rng.uniform(0.0, duration_s))


class QueueModel:
    """Queue wait behind external jobs: the sum of their log-normal service times.

    A job submitted when ``pending_jobs`` external jobs are ahead waits
    ``sum(S_1 .. S_pending)`` seconds, with ``S_i ~ LogNormal(ln(median_s), sigma)``
    independent. This is the Qonductor prior ``pending_jobs * mean`` (SC'25) with
    the randomness of real job lengths around it. The pending count is frozen at
    submission: IBM's fair-share scheduler reorders queues, which this ignores.

    Parameters
    ----------
    median_s:
        Median service time of one external job, seconds (default
        :data:`SERVICE_MEDIAN_S`, so that the mean is Qonductor's 10 s).
    sigma:
        Log-normal shape (default :data:`SERVICE_SIGMA`, an assumption).
    seed:
        Seed of the model; with the same seed and ``key`` a draw is reproducible.

    Raises
    ------
    ConfigError
        If ``median_s <= 0`` or ``sigma < 0`` or either is not finite.

    Examples
    --------
    >>> m = QueueModel(seed=7)
    >>> round(m.mean_service_s, 3)
    10.0
    >>> m.wait_s(0)
    0.0
    >>> m.wait_s(100, key="subtask-1/0") == m.wait_s(100, key="subtask-1/0")
    True
    >>> 300.0 < m.wait_s(100, key="subtask-1/0") < 3000.0
    True
    >>> m.expected_wait_s(100)
    1000.0
    """

    def __init__(self, median_s: float = SERVICE_MEDIAN_S, sigma: float = SERVICE_SIGMA,
                 seed: int = 0) -> None:
        if not (math.isfinite(median_s) and median_s > 0):
            raise ConfigError(f"median_s must be finite and > 0, got {median_s}")
        if not (math.isfinite(sigma) and sigma >= 0):
            raise ConfigError(f"sigma must be finite and >= 0, got {sigma}")
        self.median_s = float(median_s)
        self.sigma = float(sigma)
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed & 0xFFFFFFFF)

    @property
    def mean_service_s(self) -> float:
        """Mean service time of one external job, ``median * exp(sigma**2 / 2)`` seconds."""
        return round(self.median_s * math.exp(self.sigma**2 / 2.0), 12)

    def expected_wait_s(self, pending_jobs: int) -> float:
        """Expected queue wait, ``pending_jobs * mean_service_s`` seconds."""
        return max(int(pending_jobs), 0) * self.mean_service_s

    def wait_s(self, pending_jobs: int, key: str | None = None) -> float:
        """Draw the queue wait in seconds behind ``pending_jobs`` external jobs.

        Parameters
        ----------
        pending_jobs:
            External jobs ahead at submission (negative counts as 0).
        key:
            Identifies the draw (e.g. ``"<subtask_id>/<attempt>"``). With a key the
            result depends only on ``(seed, key, pending_jobs)``, so concurrent
            executions stay reproducible; without one the model's own generator
            advances (reproducible only for the same call sequence). For one key
            the draws behind ``n`` jobs are a prefix of those behind ``n + 1``, so
            the wait never shrinks as the queue grows.
        """
        n = max(int(pending_jobs), 0)
        if n == 0:
            return 0.0
        if key is None:
            rng = self._rng
        else:
            rng = np.random.default_rng(
                [self.seed & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8"))])
        draws = rng.lognormal(mean=math.log(self.median_s), sigma=self.sigma, size=n)
        return float(draws.sum())


def load_perth_calibrations() -> list[dict[str, Any]]:
    """Return the 181 daily ``ibm_perth`` calibration snapshots (2023-01-01..2023-06-30).

    Each item is one IBM ``BackendProperties`` JSON object (``qubits`` with T1/T2 in
    µs and readout errors, ``gates`` with ``gate_error`` and ``gate_length`` in ns,
    ``last_update_date``), in file order (oldest first);
    ``qiskit_ibm_runtime.models.BackendProperties.from_dict`` reads one. A fresh
    list is returned on every call, so callers may mutate it.

    Source: ``manosgior/Qonductor-SC25`` (MIT License), see ``qstream/data/NOTICE.md``.

    >>> snaps = load_perth_calibrations()
    >>> len(snaps), snaps[0]["backend_name"], len(snaps[0]["qubits"])
    (181, 'ibm_perth', 7)
    """
    raw = resources.files("qstream.data").joinpath(PERTH_CALIBRATIONS_FILE).read_bytes()
    text = gzip.decompress(raw).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
