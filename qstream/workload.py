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


PROBLEM_SHARE = 0.2
"""Share of the ``mixed`` demo workload that are problem tasks (every fifth task)."""

TFIM4_TERMS: tuple[tuple[str, float], ...] = (
    ("IIZZ", -1.0), ("IZZI", -1.0), ("ZZII", -1.0),
    ("IIIX", -0.7), ("IIXI", -0.7), ("IXII", -0.7), ("XIII", -0.7))
"""A 4-qubit transverse-field Ising chain, ``H = -sum Z_i Z_(i+1) - 0.7 sum X_i`` (open
boundary; rightmost character = qubit 0)."""


def _regular_maxcut(rng: random.Random, n: int) -> dict[str, Any]:
    import networkx as nx

    g = nx.random_regular_graph(3, n, seed=rng.randrange(2**31))
    return {"kind": "maxcut", "num_nodes": n, "edges": [[int(u), int(v)] for u, v in g.edges]}


def _qubo(rng: random.Random, n: int) -> dict[str, Any]:
    return {"kind": "qubo", "num_vars": n,
            "linear": [[i, round(rng.gauss(0, 1), 3)] for i in range(n)],
            "quadratic": [[i, j, round(rng.gauss(0, 1), 3)]
                          for i in range(n) for j in range(i + 1, n) if rng.random() < 0.3],
            "offset": 0.0}


def problem_tasks(n_tasks: int, *, seed: int = 7, prefix: str | None = None) -> list[dict[str, Any]]:
    """``n_tasks`` problem tasks, cycling through six shapes.

    MaxCut on random 3-regular graphs (8-12 nodes, and one of 60 nodes) and QUBOs (8-14
    variables) left to qstream's selection; a QAOA loop and a VQE loop pinned to the
    local state-vector simulator (``algorithms`` and ``backends`` allow-lists, 10 and
    20 iterations), so the demo shows hybrid loops without minutes of emulated queue
    wait; and the 4-qubit Ising ground state :data:`TFIM4_TERMS` by selection.
    """
    rng = random.Random(seed + 1)
    prefix = prefix or f"demo-{int(time.time())}"
    tasks: list[dict[str, Any]] = []
    for i in range(n_tasks):
        shape = i % 6
        task: dict[str, Any] = {"schema": "qstream.task.v1", "task_id": f"{prefix}-p{i:04d}",
                                "weights": dict(rng.choice(WEIGHT_PROFILES))}
        if shape == 0:
            task["problem"] = _regular_maxcut(rng, rng.choice((8, 10, 12)))
        elif shape == 1:
            task.update(problem=_regular_maxcut(rng, 8), algorithms=["qaoa"],
                        backends=["cpu_statevector"], max_iterations=10)
        elif shape == 2:
            task["problem"] = _qubo(rng, rng.randint(8, 14))
        elif shape == 3:
            task.update(problem={"kind": "ground_state", "num_qubits": 4,
                                 "pauli_terms": [list(t) for t in TFIM4_TERMS]},
                        algorithms=["vqe"], backends=["cpu_statevector"], max_iterations=20,
                        shots=2000)
        elif shape == 4:
            task["problem"] = {"kind": "ground_state", "num_qubits": 4,
                               "pauli_terms": [list(t) for t in TFIM4_TERMS]}
        else:
            task["problem"] = _regular_maxcut(rng, 60)
        tasks.append(task)
    return tasks


def mixed_tasks(n_tasks: int, *, seed: int = 7, prefix: str | None = None) -> list[dict[str, Any]]:
    """The ``mixed`` workload: circuit tasks (:func:`demo_tasks`) with every fifth task a
    problem task (:func:`problem_tasks`); task 0 stays GHZ-5.

    >>> [("problem" in t) for t in mixed_tasks(10, prefix="d")].count(True)
    2
    """
    prefix = prefix or f"demo-{int(time.time())}"
    every = round(1 / PROBLEM_SHARE)
    n_problems = n_tasks // every
    circuits = iter(demo_tasks(n_tasks - n_problems, seed=seed, prefix=prefix))
    problems = iter(problem_tasks(n_problems, seed=seed, prefix=prefix))
    return [next(problems) if i % every == every - 1 else next(circuits) for i in range(n_tasks)]
