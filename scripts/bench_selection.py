"""Benchmark algorithm selection (issue 10): predicted choice vs every candidate run for real.

For each generated instance (MaxCut, QUBO, ground state; small enough that every
candidate runs here) the script

1. enumerates the candidates (:func:`qstream.core.selection.enumerate_candidates`) on a
   fleet of the live worker's classical executor (``cpu_solvers``: its default CPU slots
   and memory, CPU-second price), two emulated
   IBM devices (``ibm_hanoi_emu`` 27 q, ``ibm_lagos_emu`` 7 q) and Braket's local
   simulator (noiseless, priced as SV1), and lets :func:`qstream.core.selection.select`
   choose with the instance's weights, the online models as learned so far, and the
   devices' pending jobs at a random minute of the real 2023-11 series;
2. runs **every** candidate in process: ``exact`` from the core, the classical solvers
   from :mod:`qstream.solvers`, QAOA (p = 1, COBYLA, 20 evaluations, best of 1000
   final samples) and VQE (``efficient_su2`` reps = 1, COBYLA, 60 evaluations) on an
   ideal qiskit statevector, driven by :mod:`qstream.quantum` circuits and
   :mod:`qstream.core.optimizers`;
3. charges quantum candidates per job (evaluations x measured groups + 1 final run):
   queue wait drawn from :class:`qstream.core.queue_model.QueueModel` behind the pending
   jobs (the emulated devices' queue model), run time and price from the device's
   :class:`~qstream.core.backend_spec.BackendSpec` model, and on noisy devices a
   white-noise (global depolarising) channel whose strength is ``1 - ESP`` of the
   ansatz circuit (``BackendSpec.prior_esp``) mixed into the final samples / energy;
4. scores every candidate's realised cost with the same weights and the chosen
   configuration against the best, and against two baselines run in the same process:
   *always quantum* and *always classical* (each ``select`` restricted to its side);
5. feeds every finished solve to the :class:`~qstream.core.selection.model.SelectionModel`
   and one observation per device to the fleet :class:`~qstream.core.predictor.Predictor`.

Run: ``.venv/bin/python scripts/bench_selection.py [--instances 240] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict

import networkx as nx
import numpy as np
from qiskit.quantum_info import SparsePauliOp, Statevector

from qstream.backends.braket_local import braket_spec
from qstream.backends.ibm_emulated import DEVICES, device_spec
from qstream.config import WorkerConfig
from qstream.core.cost import CostWeights, cost_terms
from qstream.core.observation import ExecutionObservation
from qstream.core.optimizers import make_optimizer
from qstream.core.predictor import Predictor
from qstream.core.problems import (
    GroundState,
    MaxCut,
    Problem,
    Qubo,
    approximation_ratio,
    exact_optimum,
    ground_state_from_problem,
)
from qstream.core.queue_model import PendingJobsSeries, QueueModel
from qstream.core.selection import CandidateSet, Executor, enumerate_candidates
from qstream.core.selection.model import SelectionModel, SolveObservation
from qstream.core.selection.priors import DEFAULT_SETTINGS, qaoa_features, vqe_features
from qstream.core.selection.select import Selection, select
from qstream.quantum.ansatz import qaoa_circuit, qaoa_initial_point, vqe_circuit, vqe_initial_point
from qstream.quantum.estimate import measurement_groups
from qstream.solvers import CLASSICAL_SOLVERS
from qstream.stream.classical_executor import GIB, ClassicalExecutor

PROFILES = {
    "balanced": CostWeights(1.0, 1.0, 1.0),
    "time": CostWeights(10.0, 0.5, 0.1),
    "error": CostWeights(0.1, 20.0, 0.1),
    "cost": CostWeights(0.5, 1.0, 50.0),
}
DEVICE_NAMES = ("ibm_hanoi_emu", "ibm_lagos_emu")
QUANTUM_CAP = 14
"""Widest quantum candidate here: the devices are offered at most this many qubits so
that every quantum candidate's ideal statevector loop runs in process in well under a
second (classical candidates go to 28 variables, where exact search costs ~0.5 s)."""


def make_problem(rng: np.random.Generator, i: int) -> Problem:
    kind = ("maxcut", "qubo", "ground_state")[i % 3]
    seed = int(rng.integers(2**31))
    if kind == "maxcut":
        n = int(rng.integers(4, 29))
        g = nx.gnp_random_graph(n, float(rng.uniform(min(3.0 / n, 0.5), 0.7)), seed=seed)
        if g.number_of_edges() == 0:
            g.add_edge(0, 1)
        weighted = rng.random() < 0.5
        return MaxCut(n, tuple(sorted((u, v, float(rng.uniform(0.5, 2.0)) if weighted else 1.0)
                                      for u, v in g.edges)))
    if kind == "qubo":
        n = int(rng.integers(4, 27))
        density = float(rng.uniform(min(2.0 / n, 0.4), 0.5))
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if rng.random() < density]
        return Qubo(n, tuple((a, float(rng.normal())) for a in range(n)),
                    tuple((a, b, float(rng.normal())) for a, b in pairs))
    n = int(rng.integers(2, 15))
    h = float(rng.uniform(0.3, 2.0))
    terms = []
    for q in range(n):   # transverse-field Ising chain plus random 2-local terms
        terms.append(("".join("X" if k == q else "I" for k in reversed(range(n))), -h))
        if q + 1 < n:
            terms.append(("".join("Z" if k in (q, q + 1) else "I" for k in reversed(range(n))), -1.0))
    for _ in range(int(rng.integers(0, 3))):
        a, b = rng.choice(n, size=2, replace=False) if n > 1 else (0, 0)
        p = rng.choice(list("XYZ"), size=2)
        label = ["I"] * n
        label[n - 1 - int(a)], label[n - 1 - int(b)] = p[0], p[1]
        terms.append(("".join(label), float(rng.normal(0, 0.5))))
    return GroundState(n, tuple(terms))


def diagonal(problem: MaxCut | Qubo) -> np.ndarray:
    """Objective of every basis state ``k`` (bit ``i`` of ``k`` = variable ``i``)."""
    n = problem.size
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    if isinstance(problem, MaxCut):
        return np.sum([w * (bits[:, u] ^ bits[:, v]) for u, v, w in problem.edges], axis=0)
    val = np.full(2**n, problem.offset)
    for i, c in problem.linear:
        val = val + c * bits[:, i]
    for i, j, c in problem.quadratic:
        val = val + c * bits[:, i] * bits[:, j]
    return val


def run_qaoa(problem: MaxCut | Qubo, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """COBYLA on the exact ideal ``<H_C>``; returns (final probabilities, diagonal, evaluations)."""
    ham = ground_state_from_problem(problem).hamiltonian
    qc = qaoa_circuit(ham.pauli_terms, reps=DEFAULT_SETTINGS.qaoa_reps)
    diag = diagonal(problem)
    sign = -1.0 if isinstance(problem, MaxCut) else 1.0   # minimise -cut or the QUBO value
    opt = make_optimizer("cobyla", qaoa_initial_point(DEFAULT_SETTINGS.qaoa_reps),
                         max_iterations=DEFAULT_SETTINGS.qaoa_evaluations, seed=seed)
    while not opt.done:
        opt.tell([float(sign * Statevector(qc.assign_parameters(x)).probabilities() @ diag)
                  for x in opt.ask()])
    probs = Statevector(qc.assign_parameters(opt.best_x)).probabilities()
    return probs, diag, len(opt.history)


def run_vqe(problem: GroundState, seed: int) -> tuple[float, float, int]:
    """COBYLA on the exact ideal energy; returns (energy, tr(H)/2^n, evaluations)."""
    op = SparsePauliOp.from_list(list(problem.pauli_terms))
    qc = vqe_circuit(problem.size, reps=DEFAULT_SETTINGS.vqe_reps)
    opt = make_optimizer("cobyla", vqe_initial_point(qc, seed=seed, scale=0.5),
                         max_iterations=DEFAULT_SETTINGS.vqe_evaluations, seed=seed)
    while not opt.done:
        opt.tell([float(np.real(Statevector(qc.assign_parameters(x)).expectation_value(op)))
                  for x in opt.ask()])
    mixed = sum(c for label, c in problem.pauli_terms if set(label) == {"I"})
    return float(opt.best_value), float(mixed), len(opt.history)


def realise(problem: Problem, found: CandidateSet, pending: dict[str, int], rng: np.random.Generator,
            queue: QueueModel, seed: int) -> tuple[dict[str, dict[str, float]], list[ExecutionObservation]]:
    """Run every candidate; return per key realised queue_s, run_s, accuracy, price_usd."""
    out: dict[str, dict[str, float]] = {}
    observations: list[ExecutionObservation] = []
    start = time.perf_counter()
    optimum = exact_optimum(problem)
    exact_s = time.perf_counter() - start
    quantum_cache: dict[str, object] = {}
    for cand in found.candidates:
        cfg, spec = cand.configuration, cand.executor.spec
        assert spec is not None
        if cfg.solver == "exact":
            out[cfg.key] = {"queue_s": 0.0, "run_s": exact_s, "accuracy": 1.0,
                            "price_usd": spec.pricing.per_second_usd * exact_s}
            continue
        if cfg.kind == "classical":
            sol = CLASSICAL_SOLVERS[cfg.solver].solve(problem, seed=seed)
            out[cfg.key] = {"queue_s": 0.0, "run_s": sol.run_s,
                            "accuracy": approximation_ratio(problem, sol.objective, optimum.value),
                            "price_usd": spec.pricing.per_second_usd * sol.run_s}
            continue
        shots = DEFAULT_SETTINGS.shots
        if cfg.solver == "qaoa":
            assert isinstance(problem, MaxCut | Qubo)
            if "qaoa" not in quantum_cache:
                quantum_cache["qaoa"] = run_qaoa(problem, seed)
            probs, diag, evals = quantum_cache["qaoa"]  # type: ignore[misc]
            features = qaoa_features(problem, reps=DEFAULT_SETTINGS.qaoa_reps)
            jobs = evals + 1
            esp = spec.prior_esp(features)
            noisy = esp * probs + (1.0 - esp) / probs.size
            sample = rng.choice(probs.size, size=shots, p=noisy / noisy.sum())
            values = diag[sample]
            best = float(values.max() if isinstance(problem, MaxCut) else values.min())
            accuracy = approximation_ratio(problem, best, optimum.value)
        else:
            assert isinstance(problem, GroundState)
            if "vqe" not in quantum_cache:
                quantum_cache["vqe"] = run_vqe(problem, seed)
            energy, mixed, evals = quantum_cache["vqe"]  # type: ignore[misc]
            features = vqe_features(problem.size, reps=DEFAULT_SETTINGS.vqe_reps)
            groups = len(measurement_groups(list(problem.pauli_terms)))
            jobs = evals * groups + 1
            esp = spec.prior_esp(features)
            accuracy = approximation_ratio(problem, esp * energy + (1.0 - esp) * mixed, optimum.value)
        p = pending.get(cfg.backend, 0)
        waits = [queue.wait_s(p) for _ in range(jobs)]
        per_run = spec.prior_run_s(features, shots)
        per_price = spec.prior_price_usd(shots, per_run)
        out[cfg.key] = {"queue_s": float(sum(waits)), "run_s": jobs * per_run, "accuracy": accuracy,
                        "price_usd": jobs * per_price}
        observations.append(ExecutionObservation(cfg.backend, features, shots, p, queue_s=waits[0],
                                                 run_s=per_run, error=1.0 - esp, price_usd=per_price))
    return out, observations


def realised_cost(r: dict[str, float], w: CostWeights) -> float:
    return cost_terms(r["queue_s"] + r["run_s"], 1.0 - r["accuracy"], r["price_usd"], w).total


def restricted(found: CandidateSet, kind: str) -> CandidateSet:
    return CandidateSet(tuple(c for c in found.candidates if c.configuration.kind == kind), ())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=240)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    specs = [device_spec(n) for n in DEVICE_NAMES] + [braket_spec()]
    # The live worker's classical executor (its default slots and memory; solves run here).
    config = WorkerConfig()
    cpu = ClassicalExecutor(config.classical_slots, int(config.classical_memory_gib * GIB),
                            pool=lambda: None).executor()  # type: ignore[arg-type, return-value]
    executors = [cpu] + [
        Executor(s.name, "quantum", qubits=min(s.num_qubits, QUANTUM_CAP), spec=s) for s in specs]
    series = PendingJobsSeries.load()
    queue = QueueModel(seed=args.seed)
    model = SelectionModel()
    predictor = Predictor(specs)
    rows: list[dict[str, object]] = []
    realised_means: dict[str, list[float]] = defaultdict(list)
    t0 = time.perf_counter()
    for i in range(args.instances):
        problem = make_problem(rng, i)
        profile = list(PROFILES)[i % len(PROFILES)]
        w = PROFILES[profile]
        t_s = float(rng.uniform(0, 29 * 86400))
        pending = {n: series.pending_jobs(DEVICES[n].series, t_s) for n in DEVICE_NAMES}
        found = enumerate_candidates(problem, executors)
        decisions: dict[str, Selection] = {
            "selection": select(problem, found, w, model=model, predictor=predictor, pending_jobs=pending)}
        for side in ("quantum", "classical"):
            sub = restricted(found, side)
            if sub.candidates:
                decisions[side] = select(problem, sub, w, model=model, predictor=predictor,
                                         pending_jobs=pending)
        real, observations = realise(problem, found, pending, rng, queue, seed=args.seed + i)
        costs = {k: realised_cost(r, w) for k, r in real.items()}
        best_key = min(costs, key=costs.__getitem__)
        row: dict[str, object] = {"kind": problem.kind, "size": problem.size, "profile": profile,
                                  "best": best_key, "best_cost": costs[best_key]}
        for name, d in decisions.items():
            key = d.chosen.configuration.key
            row[name] = key
            row[name + "_cost"] = costs[key]
        rows.append(row)
        for est in decisions["selection"].estimates:
            r = real[est.configuration.key]
            realised_means[est.configuration.solver].append(r["accuracy"])
            model.learn_one(SolveObservation.of(problem, est.configuration, est.prior, run_s=r["run_s"],
                                                accuracy=r["accuracy"]))
        for obs in observations:
            predictor.learn(obs)
    report(rows, realised_means, time.perf_counter() - t0, args)


def within(rows: list[dict[str, object]], name: str, *, floor: float = 0.0) -> tuple[float, int]:
    hits = [r for r in rows if name in r]
    ok = sum(float(r[name + "_cost"]) <= 1.1 * float(r["best_cost"]) + floor  # type: ignore[arg-type]
             for r in hits)
    return (ok / len(hits) if hits else float("nan")), len(hits)


def report(rows: list[dict[str, object]], means: dict[str, list[float]], wall_s: float,
           args: argparse.Namespace) -> None:
    n = len(rows)
    print(f"# bench_selection: {n} instances, seed {args.seed}, {wall_s:.0f} s wall; quantum "
          f"candidates up to {QUANTUM_CAP} qubits on {', '.join(DEVICE_NAMES)}, braket_local")
    print("kinds:", dict(Counter(str(r["kind"]) for r in rows)),
          "sizes:", min(int(r["size"]) for r in rows), "-", max(int(r["size"]) for r in rows))  # type: ignore[call-overload]
    print("\nchosen within 10% of the best realised cost (n = instances where the policy applies)")
    print(f"{'policy':<12}{'all':>14}{'last half':>14}{'all, +0.001 abs':>18}")
    for name in ("selection", "quantum", "classical"):
        a, na = within(rows, name)
        b, nb = within(rows[n // 2:], name)
        c, _ = within(rows, name, floor=1e-3)
        print(f"{'always ' + name if name != 'selection' else name:<18}{a:>8.1%} ({na:>3})"
              f"{b:>8.1%} ({nb:>3}){c:>12.1%}")
    print("\nby weight profile (selection, all / last half):")
    for p in PROFILES:
        sub = [r for r in rows if r["profile"] == p]
        late = within(sub[len(sub) // 2:], "selection")[0]
        print(f"  {p:<9}{within(sub, 'selection')[0]:>7.1%}{late:>8.1%}  (n = {len(sub)})")
    print("\nby kind (selection, all):")
    for k in ("maxcut", "qubo", "ground_state"):
        sub = [r for r in rows if r["kind"] == k]
        print(f"  {k:<13}{within(sub, 'selection')[0]:>7.1%}  (n = {len(sub)})")
    mean_regret = np.mean([float(r["selection_cost"]) - float(r["best_cost"]) for r in rows])  # type: ignore[arg-type]
    print(f"\nmean regret (selection cost - best cost): {mean_regret:.4g}")
    print("\nconfusion (rows: chosen by selection, columns: best realised), by solver@backend")
    labels = sorted({str(r["selection"]) for r in rows} | {str(r["best"]) for r in rows})
    short = {lab: f"c{j}" for j, lab in enumerate(labels)}
    counts = Counter((str(r["selection"]), str(r["best"])) for r in rows)
    print(" " * 34 + "".join(f"{short[c]:>5}" for c in labels))
    for a in labels:
        print(f"{short[a]:>3} {a:<30}" + "".join(f"{counts[(a, b)] or '.':>5}" for b in labels))
    print("\nrealised mean accuracy per solver (vs priors in qstream.core.selection.priors):")
    for s, v in sorted(means.items()):
        print(f"  {s:<20}{np.mean(v):.4f}  (n = {len(v)})")


if __name__ == "__main__":
    main()
