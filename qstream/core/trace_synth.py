"""Job traces built from the real IBM pending-jobs series, with and without a regime change.

``qstream predictor make-trace`` writes them; ``qstream predictor eval`` reads
them. They are *built*, not measured: only the external queue length is real.

Queue wait
    A job submitted on backend ``b`` at time ``t`` waits behind the
    ``pending_jobs`` that ``b`` really reported at ``t`` (the packaged 2023-11
    series, :class:`~qstream.core.queue_model.PendingJobsSeries`), each taking a
    log-normal service time (:class:`~qstream.core.queue_model.QueueModel`,
    Qonductor's 10 s mean). So the wait follows the real series' level, trend
    and bursts, with the randomness of the jobs ahead.
Run time
    IBM's QPU-time model (:mod:`qstream.core.run_time_fit`): ``overhead_s +
    n_circuits * shots * (rep_delay_s + depth * layer_s)``, with IBM's default
    ``rep_delay`` of 250 µs and the 3 s job overhead of the emulated devices
    (:mod:`qstream.backends.ibm_emulated`), a layer time of 0.5-1 µs per backend
    (an ECR gate is 0.5-0.7 µs on Eagle devices, plus routing), and log-normal
    noise of ``sigma = 0.1``.
Circuits
    Shots, width, depth and circuits per job are drawn from ranges users submit
    (shots 1000-20000, 2-27 qubits, depth 2-400, 1-10 circuits); 40% of the
    jobs repeat one of 30 templates (parameter sweeps, re-runs).
Unknown features
    ``unknown_share`` of the rows have their ``shots``, ``num_qubits`` and
    ``depth`` cells left empty (real exports lose them for about a third of
    jobs, issue 13); the circuit still ran and its run time depends on it.
Status
    3% of jobs end in ``ERROR`` after a shorter run (half the run time).
Regime change
    With ``regime_factor`` (e.g. 10), from ``regime_at`` (a fraction of the
    trace's span) on, the ``regime_backend``'s pending jobs are multiplied by
    the factor: its queue wait jumps about tenfold mid-trace.

Everything is seeded: the same arguments give the same trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qstream.core.queue_model import PendingJobsSeries, QueueModel
from qstream.core.trace import TraceJob
from qstream.errors import ConfigError

#: 2023-11-16T13:59:00Z, the first sample of the packaged series (epoch s).
SERIES_EPOCH_S = 1700143140.0
#: IBM's default repetition delay (``default_rep_delay`` of Eagle devices), seconds.
REP_DELAY_S = 250e-6
#: Per-job overhead of the emulated IBM devices (``qstream.backends.ibm_emulated``), seconds.
OVERHEAD_S = 3.0
#: Log-normal sigma of run-time noise around IBM's QPU-time model (an assumption).
RUN_SIGMA = 0.1
#: Share of jobs that end in ``ERROR``.
ERROR_SHARE = 0.03
#: Share of jobs that repeat one of :data:`N_TEMPLATES` templates.
REPEAT_SHARE = 0.4
N_TEMPLATES = 30
_SHOTS = (1000, 2000, 4000, 8000, 10000, 20000)


@dataclass(frozen=True, slots=True)
class _Shape:
    n_circuits: int
    shots: int
    num_qubits: int
    depth: int


def _shape(rng: np.random.Generator) -> _Shape:
    return _Shape(n_circuits=int(rng.integers(1, 11)), shots=int(rng.choice(_SHOTS)),
                  num_qubits=int(rng.integers(2, 28)),
                  depth=round(math.exp(rng.uniform(math.log(2), math.log(400)))))


def pending_jobs_trace(
    n_jobs: int = 4000,
    *,
    seed: int = 0,
    backends: tuple[str, ...] | None = None,
    unknown_share: float = 1.0 / 3.0,
    regime_backend: str | None = None,
    regime_factor: float = 1.0,
    regime_at: float = 0.5,
    series: PendingJobsSeries | None = None,
) -> list[TraceJob]:
    """Build a job trace whose queue waits follow the real IBM pending-jobs series.

    Parameters
    ----------
    n_jobs:
        Jobs in the trace (>= 1), submitted at uniformly random times over the
        series' ~10.3 days, on uniformly random ``backends``.
    seed:
        Seed of every draw.
    backends:
        Backends of the series to use; ``None``: all 12.
    unknown_share:
        Share of rows, in [0, 1], written with empty ``shots``, ``num_qubits``
        and ``depth``.
    regime_backend, regime_factor, regime_at:
        Multiply ``regime_backend``'s pending jobs by ``regime_factor`` (> 0) for
        submissions after ``regime_at`` (in [0, 1]) of the span.
    series:
        The pending-jobs series; ``None``: the packaged one.

    Returns
    -------
    list of TraceJob
        In submission order, ``line`` numbered as :func:`~qstream.core.trace.write_trace`
        would write them.

    Raises
    ------
    ConfigError
        On ``n_jobs < 1``, a share or fraction outside [0, 1], a non-positive
        factor, or a backend not in the series.

    Examples
    --------
    >>> jobs = pending_jobs_trace(200, seed=1, backends=("ibm_perth",))
    >>> len(jobs), jobs == pending_jobs_trace(200, seed=1, backends=("ibm_perth",))
    (200, True)
    >>> 50 < sum(not j.features_known for j in jobs) < 85
    True
    """
    if n_jobs < 1:
        raise ConfigError(f"n_jobs must be >= 1, got {n_jobs}")
    if not (0.0 <= unknown_share <= 1.0 and 0.0 <= regime_at <= 1.0):
        raise ConfigError(f"unknown_share and regime_at must be in [0, 1], got {unknown_share}, "
                          f"{regime_at}")
    if not (math.isfinite(regime_factor) and regime_factor > 0.0):
        raise ConfigError(f"regime_factor must be > 0, got {regime_factor}")
    series = series if series is not None else PendingJobsSeries.load()
    names = tuple(backends) if backends is not None else series.backends
    for name in (*names, *(() if regime_backend is None else (regime_backend,))):
        if name not in series.backends:
            raise ConfigError(f"backend {name!r} is not in the pending-jobs series; "
                              f"known: {', '.join(series.backends)}")
    rng = np.random.default_rng(seed & 0xFFFFFFFF)
    queue = QueueModel(seed=seed)
    layer_s = {b: float(rng.uniform(0.5e-6, 1.0e-6)) for b in names}
    templates = [_shape(rng) for _ in range(N_TEMPLATES)]
    times = np.sort(rng.uniform(0.0, series.duration_s, size=n_jobs))
    switch_s = regime_at * series.duration_s
    jobs: list[TraceJob] = []
    for i, t in enumerate(times):
        backend = names[int(rng.integers(len(names)))]
        shape = (templates[int(rng.integers(N_TEMPLATES))] if rng.random() < REPEAT_SHARE
                 else _shape(rng))
        pending = series.pending_jobs(backend, float(t))
        if backend == regime_backend and t >= switch_s:
            pending = round(pending * regime_factor)
        queue_s = round(queue.wait_s(pending, key=f"{seed}/{i}"), 3)
        run_s = (OVERHEAD_S + shape.n_circuits * shape.shots * (REP_DELAY_S + shape.depth * layer_s[backend]))
        run_s *= math.exp(RUN_SIGMA * float(rng.standard_normal()))
        status = "ERROR" if rng.random() < ERROR_SHARE else "DONE"
        if status == "ERROR":
            run_s *= 0.5
        known = rng.random() >= unknown_share
        jobs.append(TraceJob(
            line=i + 2, submitted_at_s=round(SERIES_EPOCH_S + float(t), 3), backend=backend,
            n_circuits=shape.n_circuits, shots=shape.shots if known else None,
            num_qubits=shape.num_qubits if known else None, depth=shape.depth if known else None,
            queue_s=queue_s, run_s=round(run_s, 3), status=status))
    return jobs
