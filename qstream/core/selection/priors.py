"""Documented priors per configuration: queue wait, run time, accuracy and price.

The selection models (:mod:`qstream.core.selection.model`) learn corrections to these
online; before any solve has finished, selection uses them as they are.

Run time
--------
- ``exact``: :func:`~qstream.core.problems.exact_resources` (brute force: ``2^n`` states,
  so the time doubles per variable; exact diagonalisation: dense ``8^n`` or Lanczos).
- classical heuristics: :mod:`qstream.core.problems.solver_costs` (annealing costs
  ``reads x sweeps x (variables + interactions)``; local search ``passes x n x (n + m)``;
  Goemans–Williamson ``n^3``), with the solvers' default settings.
- quantum (``qaoa``, ``vqe``): ``jobs = evaluations x circuits per evaluation + 1``
  (a final sampling run), each job costing ``queue + run`` as the existing
  :class:`~qstream.core.predictor.Predictor` predicts them for that backend and the
  ansatz's :class:`~qstream.core.features.CircuitFeatures`
  (:func:`qaoa_features`, :func:`vqe_features`). QAOA measures one basis (its cost
  Hamiltonian is diagonal); VQE one per qubit-wise commuting group
  (:func:`~qstream.core.observables.group_qubit_wise_commuting`).

Accuracy (approximation ratio in [0, 1], :func:`~qstream.core.problems.approximation_ratio`)
------------------------------------------------------------------------------------------
- ``exact``: 1.0.
- heuristics: :data:`TYPICAL_RATIO` (Goemans–Williamson never below
  :data:`GW_GUARANTEE`).
- QAOA: ``(1 - e) * QAOA_P1_RATIO + e * RANDOM_RATIO[kind]`` with ``e`` the device's
  predicted error of one ansatz circuit (a failed run is taken to return a uniformly
  random assignment: a white-noise model).
- VQE: ``(1 - e) * VQE_IDEAL_RATIO`` (a fully depolarised state has ``<H> = tr H / 2^n``,
  0 for a traceless ``H``: ratio 0).

Price: quantum jobs from the device's pricing (``BackendSpec.pricing`` via the
predictor); classical solves ``run_s`` CPU-seconds at the executor's
``spec.pricing.per_second_usd`` (0 without a spec).

Examples
--------
>>> from qstream.core.problems import MaxCut
>>> ring = MaxCut(4, ((0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (0, 3, 1.0)))
>>> f = qaoa_features(ring, reps=1)
>>> f.num_qubits, f.two_qubit_gates, f.gates
(4, 8, 20)
>>> classical_accuracy("goemans_williamson", ring) >= GW_GUARANTEE
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from qstream.core.features import CircuitFeatures
from qstream.core.observables import group_qubit_wise_commuting
from qstream.core.predictor import Predictor
from qstream.core.problems import GroundState, MaxCut, Problem, Qubo, exact_resources, solver_costs
from qstream.core.problems.conversions import ground_state_from_problem
from qstream.core.problems.solver_costs import (
    DEFAULT_NUM_READS,
    DEFAULT_NUM_SWEEPS,
    GW_ROUNDS,
    LS_RESTARTS,
    kick_nodes,
)

if TYPE_CHECKING:
    from qstream.core.selection.candidates import Candidate

__all__ = ["DEFAULT_SETTINGS", "GW_GUARANTEE", "QAOA_P1_RATIO", "RANDOM_RATIO", "TYPICAL_RATIO",
           "VQE_IDEAL_RATIO",
           "ConfigPrior", "QuantumSettings", "classical_accuracy", "classical_resources",
           "configuration_prior", "default_iterations", "qaoa_features", "vqe_features"]

GW_GUARANTEE = 0.87856
"""Goemans & Williamson's expected-cut guarantee for non-negative weights,
``min 2 theta / (pi (1 - cos theta))`` (J. ACM 42(6), 1115, 1995)."""
QAOA_P1_RATIO = 0.6924
"""Worst-case expected cut ratio of depth-1 QAOA on 3-regular graphs (Farhi, Goldstone &
Gutmann, arXiv:1411.4028, 2014). A lower bound of the *expected* cut; the best of the
final samples is usually far better, which the online model learns."""
TYPICAL_RATIO: dict[str, float] = {
    "exact": 1.0,
    "simulated_annealing": 0.999,
    "local_search": 0.995,
    "goemans_williamson": 0.995,
}
"""Prior approximation ratios of the classical solvers at their default settings
(annealing 32 reads x 1000 sweeps, local search 40 kicked restarts, GW best of 100
roundings). No paper gives typical ratios for these settings, so they are the realised
means of ``scripts/bench_selection.py --seed 0`` (240 random instances, 4-28
variables, 2026-12-01): annealing 1.0000 (160 runs), local search 0.9948 (80), GW
0.9997 (80), rounded down a little; GW never goes below :data:`GW_GUARANTEE`. The
online models correct them per problem kind and size."""
VQE_IDEAL_RATIO = 0.9
"""Prior ground-state ratio of a noiseless hardware-efficient VQE with a small
evaluation budget (**assumption**; barren plateaus and local minima keep it below 1:
McClean et al., Nat. Commun. 9, 4812, 2018). Corrected online; the benchmark's
realised mean on emulated noisy devices and a noiseless simulator was 0.745."""
RANDOM_RATIO: dict[str, float] = {"maxcut": 0.5, "qubo": 0.0, "ground_state": 0.0}
"""Ratio of a uniformly random answer: a random cut cuts half the weight in
expectation (so at least half the optimum); a QUBO or energy scores 0 (no better than
the all-zero/trivial baseline, taken as the floor)."""


@dataclass(frozen=True, slots=True)
class QuantumSettings:
    """How a quantum configuration runs (the same values drive the benchmark's loops).

    Attributes
    ----------
    qaoa_reps, vqe_reps:
        QAOA depth ``p``; VQE entangling layers.
    qaoa_evaluations, vqe_evaluations:
        Objective evaluations (COBYLA iterations) of the optimiser loop.
    shots:
        Shots per circuit (estimation and the final sampling run).
    """

    qaoa_reps: int = 1
    vqe_reps: int = 1
    qaoa_evaluations: int = 20
    vqe_evaluations: int = 60
    shots: int = 1000


DEFAULT_SETTINGS = QuantumSettings()
"""The quantum loop settings selection assumes unless told otherwise."""


@dataclass(frozen=True, slots=True)
class ConfigPrior:
    """The prior of one configuration on one problem (totals over the whole solve).

    Attributes
    ----------
    queue_s, run_s:
        Queue wait and run time, seconds (quantum: summed over ``jobs``).
    accuracy:
        Approximation ratio in [0, 1].
    price_usd:
        Price, USD.
    memory_bytes:
        Peak memory of a classical solve (0 for quantum ones).
    iterations:
        The solver's outer steps (reads, restarts, roundings, evaluations; 1 for exact).
    jobs:
        Quantum jobs (circuits) submitted; 0 for classical solves.
    """

    queue_s: float
    run_s: float
    accuracy: float
    price_usd: float
    memory_bytes: int
    iterations: int
    jobs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_iterations(solver: str, settings: QuantumSettings = DEFAULT_SETTINGS) -> int:
    """Outer steps of ``solver`` at its default settings.

    >>> default_iterations("exact"), default_iterations("simulated_annealing")
    (1, 32)
    """
    return {"exact": 1, "simulated_annealing": DEFAULT_NUM_READS, "local_search": LS_RESTARTS,
            "goemans_williamson": GW_ROUNDS, "qaoa": settings.qaoa_evaluations,
            "vqe": settings.vqe_evaluations}[solver]


def _interactions(problem: Problem) -> int:
    if isinstance(problem, MaxCut):
        return len(problem.edges)
    if isinstance(problem, Qubo):
        return len(problem.quadratic)
    return len(problem.pauli_terms)


def classical_resources(problem: Problem, solver: str) -> tuple[float, int]:
    """Prior ``(run_s, memory_bytes)`` of a classical solver at its default settings.

    Raises
    ------
    ValueError
        For a quantum or unknown solver.

    >>> from qstream.core.problems import Qubo
    >>> a = classical_resources(Qubo(30, ((0, 1.0),), ()), "exact")[0]
    >>> b = classical_resources(Qubo(31, ((0, 1.0),), ()), "exact")[0]
    >>> round(b / a, 2)   # brute force doubles per variable
    2.0
    """
    n = problem.size
    if solver == "exact":
        return exact_resources(problem)
    if solver == "simulated_annealing":
        return solver_costs.annealing(n, _interactions(problem), num_reads=DEFAULT_NUM_READS,
                                      num_sweeps=DEFAULT_NUM_SWEEPS)
    if solver == "local_search":
        return solver_costs.local_search(n, _interactions(problem), restarts=LS_RESTARTS,
                                         kick=kick_nodes(n))
    if solver == "goemans_williamson":
        return solver_costs.goemans_williamson(n, rounds=GW_ROUNDS)
    raise ValueError(f"{solver!r} is not a classical solver")


def classical_accuracy(solver: str, problem: Problem) -> float:
    """Prior approximation ratio of a classical solver (:data:`TYPICAL_RATIO`)."""
    ratio = TYPICAL_RATIO[solver]
    return max(ratio, GW_GUARANTEE) if solver == "goemans_williamson" else ratio


def qaoa_features(problem: Problem, *, reps: int) -> CircuitFeatures:
    """Logical shape of the depth-``reps`` QAOA circuit of ``problem`` in the cx/rz/rx basis.

    ``n`` Hadamards, then per layer each ``ZZ`` term as ``cx, rz, cx`` and each ``Z``
    term as one ``rz``, and ``n`` mixer ``rx`` (the circuit
    :func:`qstream.quantum.ansatz.qaoa_circuit` builds, transpiled). Depth: the ``ZZ``
    terms of one layer fit in ``max_degree + 1`` rounds (Vizing's theorem on edge
    colouring), 3 gates deep each, plus the ``Z`` and mixer layers.
    """
    terms = ground_state_from_problem(problem).hamiltonian.pauli_terms
    n = problem.size
    zz = [label for label, _ in terms if label.count("Z") == 2]
    z = len(terms) - len(zz)
    degree = [0] * n
    for label in zz:
        for q, c in enumerate(reversed(label)):
            degree[q] += c == "Z"
    rounds = (max(degree) + 1) if zz else 0
    gates = n + reps * (3 * len(zz) + z + n)
    return CircuitFeatures(num_qubits=n, depth=1 + reps * (3 * rounds + 2),
                           two_qubit_gates=2 * reps * len(zz), gates=gates,
                           measured_qubits=n, num_clbits=n)


def vqe_features(num_qubits: int, *, reps: int) -> CircuitFeatures:
    """Logical shape of :func:`qstream.quantum.ansatz.vqe_circuit` (linear entanglement)
    measured in one basis: ``2 n (reps + 1)`` RY/RZ, ``reps (n - 1)`` CX in a chain (depth
    ``n - 1`` each), and up to 2 basis-change gates per qubit.

    >>> vqe_features(4, reps=1).two_qubit_gates, vqe_features(4, reps=1).gates
    (3, 27)
    """
    n = num_qubits
    return CircuitFeatures(num_qubits=n, depth=2 * (reps + 1) + reps * (n - 1) + 2,
                           two_qubit_gates=reps * (n - 1),
                           gates=2 * n * (reps + 1) + reps * (n - 1) + 2 * n,
                           measured_qubits=n, num_clbits=n)


def _quantum_prior(problem: Problem, candidate: Candidate, predictor: Predictor | None,
                   pending_jobs: int, settings: QuantumSettings) -> ConfigPrior:
    spec = candidate.executor.spec
    if spec is None:
        raise ValueError(f"quantum executor {candidate.executor.name} has no BackendSpec")
    solver = candidate.configuration.solver
    if solver == "qaoa":
        features = qaoa_features(problem, reps=settings.qaoa_reps)
        per_eval = 1
    else:
        assert isinstance(problem, GroundState)
        features = vqe_features(problem.size, reps=settings.vqe_reps)
        per_eval = max(len(group_qubit_wise_commuting([p for p, _ in problem.pauli_terms])), 1)
    evaluations = default_iterations(solver, settings)
    jobs = evaluations * per_eval + 1
    pred = (predictor or Predictor([spec])).predict(spec, features, settings.shots, pending_jobs)
    e = min(max(pred.error, 0.0), 1.0)
    if solver == "qaoa":
        accuracy = (1.0 - e) * QAOA_P1_RATIO + e * RANDOM_RATIO[problem.kind]
    else:
        accuracy = (1.0 - e) * VQE_IDEAL_RATIO
    return ConfigPrior(queue_s=jobs * pred.queue_s, run_s=jobs * pred.run_s, accuracy=accuracy,
                       price_usd=jobs * pred.price_usd, memory_bytes=0, iterations=evaluations,
                       jobs=jobs)


def configuration_prior(problem: Problem, candidate: Candidate, *, predictor: Predictor | None = None,
                        pending_jobs: int = 0,
                        settings: QuantumSettings = DEFAULT_SETTINGS) -> ConfigPrior:
    """The documented prior of ``candidate`` on ``problem`` (module docstring).

    Parameters
    ----------
    predictor:
        The fleet's online :class:`Predictor` (quantum candidates; ``None``: a cold one,
        i.e. the :class:`~qstream.core.backend_spec.BackendSpec` priors).
    pending_jobs:
        External jobs queued on the candidate's device now.
    settings:
        Quantum loop settings.

    Raises
    ------
    ValueError
        A quantum executor without a spec, or an unknown solver.

    Examples
    --------
    >>> from qstream.core.problems import MaxCut
    >>> from qstream.core.selection.candidates import Candidate, Configuration, Executor
    >>> cpu = Executor("cpu", "classical")
    >>> p = configuration_prior(MaxCut(2, ((0, 1, 1.0),)),
    ...                         Candidate(Configuration("exact", "cpu", "classical"), cpu))
    >>> p.accuracy, p.queue_s, p.price_usd, p.iterations
    (1.0, 0.0, 0.0, 1)
    """
    config = candidate.configuration
    if config.kind == "quantum":
        return _quantum_prior(problem, candidate, predictor, pending_jobs, settings)
    run_s, memory = classical_resources(problem, config.solver)
    spec = candidate.executor.spec
    price = spec.pricing.per_second_usd * run_s if spec is not None else 0.0
    return ConfigPrior(queue_s=0.0, run_s=run_s, accuracy=classical_accuracy(config.solver, problem),
                       price_usd=price, memory_bytes=int(memory),
                       iterations=default_iterations(config.solver, settings))

