"""Demo workloads built from MQT Bench circuits, generated offline.

MQT Bench (Quetschlich, Burgholzer, Wille, Quantum 7, 1062 (2023)) generates its
benchmark circuits locally (``mqt.bench.get_benchmark``); nothing is downloaded.
We use the target-independent level and export OpenQASM 2, exactly what a user
would submit.
"""

from __future__ import annotations

import random
import time
from functools import lru_cache
from typing import Any

FAMILIES: tuple[str, ...] = (
    "ghz", "qft", "qftentangled", "dj", "bv", "grover", "qaoa", "vqe_real_amp",
    "wstate", "graphstate", "qpeexact", "qnn", "randomcircuit", "hhl", "vqe_su2",
    "bmw_quark_cardinality",
)
"""MQT Bench families that generate at every size from 3 to 12 qubits."""

MIN_QUBITS, MAX_QUBITS = 3, 12

QPU_ONLY_SHARE = 0.7
"""Share of demo tasks restricted to quantum devices (``kinds: ["qpu"]``)."""

WEIGHT_PROFILES: tuple[dict[str, float], ...] = (
    {"time": 1.0, "error": 1.0, "cost": 1.0},   # balanced
    {"time": 0.2, "error": 5.0, "cost": 0.5},   # researcher: fidelity first
    {"time": 3.0, "error": 0.5, "cost": 0.2},   # platform team: latency first
    {"time": 0.5, "error": 1.0, "cost": 5.0},   # budget-bound
)


@lru_cache(maxsize=256)
def mqt_qasm(family: str, num_qubits: int) -> str:
    """OpenQASM 2 source of an MQT Bench circuit (target-independent level).

    Raises
    ------
    ValueError
        If MQT Bench cannot generate ``family`` at ``num_qubits``.
    """
    from mqt.bench import BenchmarkLevel, get_benchmark
    from qiskit import qasm2

    qc = get_benchmark(family, BenchmarkLevel.INDEP, num_qubits)
    if qc.num_clbits == 0:
        # Some families (qaoa) come without measurements; a sampler job needs them.
        qc.measure_all()
    return str(qasm2.dumps(qc))


def demo_tasks(n_tasks: int, *, seed: int = 7, prefix: str | None = None) -> list[dict[str, Any]]:
    """``n_tasks`` ``qstream.task.v1`` messages mixing families, sizes, shots and weights.

    Task 0 is always GHZ-5 at 4000 shots on a quantum device, so a run can check a
    known answer. About one task in six asks for 20 000 shots (above the
    shot-split threshold), two in five carry two or three circuits, one in five
    has a deadline, and 70% may run only on quantum devices.
    """
    rng = random.Random(seed)
    prefix = prefix or f"demo-{int(time.time())}"
    tasks: list[dict[str, Any]] = []
    for i in range(n_tasks):
        if i == 0:
            picks = [("ghz", 5)]
            shots = 4000
        else:
            k = rng.choice((1, 1, 1, 2, 3))
            picks = [(rng.choice(FAMILIES), rng.randint(MIN_QUBITS, MAX_QUBITS)) for _ in range(k)]
            shots = rng.choice((1000, 2000, 4000, 4000, 8000, 20_000))
        circuits = [{"name": f"{fam}_{n}", "qasm": mqt_qasm(fam, n)} for fam, n in picks]
        # Circuit names must be unique within a task.
        seen: dict[str, int] = {}
        for c in circuits:
            seen[c["name"]] = seen.get(c["name"], 0) + 1
            if seen[c["name"]] > 1:
                c["name"] = f"{c['name']}_{seen[c['name']]}"
        task: dict[str, Any] = {
            "schema": "qstream.task.v1", "task_id": f"{prefix}-{i:05d}",
            "circuits": circuits, "shots": shots,
            "priority": rng.randint(0, 9),
            "weights": dict(rng.choice(WEIGHT_PROFILES)) if i else dict(WEIGHT_PROFILES[1]),
        }
        if rng.random() < 0.2:
            task["deadline_s"] = float(rng.choice((600, 1800, 3600)))
        # Most demo tasks are hardware experiments: they must run on a quantum
        # device, not on a (noiseless, nearly free) simulator.
        if i == 0 or rng.random() < QPU_ONLY_SHARE:
            task["kinds"] = ["qpu"]
        tasks.append(task)
    return tasks
