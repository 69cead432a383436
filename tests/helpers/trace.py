"""Synthetic job traces with known structure, for the trace reader and evaluation tests."""

from __future__ import annotations

import math
import random

from qstream.core.trace import TraceJob

#: backend -> (per-job overhead s, s per shot per circuit at depth 0, queue median s)
BACKENDS = {"ibm_alpha": (4.0, 2.0e-4, 60.0), "ibm_beta": (15.0, 4.0e-5, 300.0)}
T0 = 1_714_550_400.0  # 2024-05-01T08:00:00Z


def _template(rng: random.Random) -> tuple[str, int, int, int, int, int, int]:
    backend = rng.choice(sorted(BACKENDS))
    q = rng.randint(2, 40)
    depth = rng.randint(5, 400)
    g2 = rng.randint(0, q * depth // 4)
    gates = g2 + rng.randint(q, q * depth)
    return (backend, rng.choice([1, 2, 5, 10, 20, 50]), rng.choice([100, 1000, 4000, 10000]),
            q, depth, g2, gates)


def synthetic_jobs(n: int, seed: int = 0, sigma: float = 0.2, repeat_share: float = 0.6,
                   n_templates: int = 40, gap_s: float = 30.0) -> list[TraceJob]:
    """``n`` jobs in time order on two backends.

    run_s = (overhead + per_shot * shots * n_circuits * (1 + depth / 200)) * LogNormal(0, sigma);
    queue_s = queue median * LogNormal(0, 0.8); ``repeat_share`` of jobs repeat one of
    ``n_templates`` identical jobs; 4% errored, 2% cancelled (no run_s).
    """
    rng = random.Random(seed)
    templates = [_template(rng) for _ in range(n_templates)]
    jobs = []
    t = T0
    for i in range(n):
        t += rng.expovariate(1.0 / gap_s)
        backend, nc, shots, q, depth, g2, gates = (
            rng.choice(templates) if rng.random() < repeat_share else _template(rng))
        overhead, per_shot, queue_median = BACKENDS[backend]
        run_s = (overhead + per_shot * shots * nc * (1.0 + depth / 200.0)) * rng.lognormvariate(0.0, sigma)
        queue_s = queue_median * rng.lognormvariate(0.0, 0.8)
        u = rng.random()
        status = "ERROR" if u < 0.04 else "CANCELLED" if u < 0.06 else "DONE"
        jobs.append(TraceJob(
            line=i + 2, submitted_at_s=round(t, 3), backend=backend, n_circuits=nc, shots=shots,
            num_qubits=q, depth=depth, two_qubit_gates=g2, gates=gates, queue_s=round(queue_s, 3),
            run_s=None if status == "CANCELLED" else round(run_s, 3), status=status))
    return jobs


def constant_delay_jobs(n: int, delay_s: float) -> list[TraceJob]:
    """Jobs submitted 1 s apart whose run_s label arrives exactly ``delay_s`` after submission.

    run_s of job i is ``1 + i / 64`` (exact in binary floating point) and queue_s is
    ``delay_s - run_s``, so the completion time is exactly ``i + delay_s``.
    """
    jobs = []
    for i in range(n):
        run_s = 1.0 + i / 64.0
        assert math.isclose((float(i) + (delay_s - run_s)) + run_s, i + delay_s, abs_tol=0.0)
        jobs.append(TraceJob(line=i + 2, submitted_at_s=float(i), backend="ibm_alpha", n_circuits=1,
                             shots=1000, num_qubits=5, depth=10, two_qubit_gates=4, gates=20,
                             queue_s=delay_s - run_s, run_s=run_s))
    return jobs


def mixed_fleet_jobs(n: int, seed: int = 4) -> list[TraceJob]:
    """``n`` jobs, half on a QPU and half on a statevector simulator, in time order.

    QPU: ``run_s = (3 + shots * (2.5e-4 + depth * 1e-6)) * LogNormal(0, 0.05)`` (IBM's
    QPU-time model), ``queue_s = 60 * LogNormal(0, 0.8)``. Simulator: ``run_s = 37 ms *
    LogNormal(0, 0.05)``, plus ``2**num_qubits * depth * 20 ns`` for 18 qubits and more
    (dense statevector cost: 0.1-2 s), ``queue_s = 0``.
    """
    rng = random.Random(seed)
    jobs = []
    t = T0
    for i in range(n):
        t += rng.expovariate(1.0 / 30.0)
        q, depth, shots = rng.randint(2, 20), rng.randint(4, 100), rng.choice([1000, 4000, 20000])
        if rng.random() < 0.5:
            backend, queue_s = "cpu_statevector", 0.0
            run_s = 0.037 * rng.lognormvariate(0.0, 0.05) + (2**q * depth * 2e-8 if q >= 18 else 0.0)
        else:
            backend, queue_s = "ibm_qpu", 60.0 * rng.lognormvariate(0.0, 0.8)
            run_s = (3.0 + shots * (2.5e-4 + depth * 1e-6)) * rng.lognormvariate(0.0, 0.05)
        jobs.append(TraceJob(line=i + 2, submitted_at_s=round(t, 3), backend=backend, n_circuits=1,
                             shots=shots, num_qubits=q, depth=depth, queue_s=round(queue_s, 3),
                             run_s=round(run_s, 3)))
    return jobs
