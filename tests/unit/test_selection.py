"""Algorithm selection (issue 10): candidates, priors, online models and the choice."""

from __future__ import annotations

import itertools
import json
import math

import networkx as nx
import pytest
from helpers.purity import loaded_after_import, walk_imports
from hypothesis import given, settings
from hypothesis import strategies as st

from qstream.core.backend_spec import BackendSpec, CalibrationSummary, Pricing
from qstream.core.cost import CostWeights
from qstream.core.problems import GroundState, MaxCut, Qubo
from qstream.core.selection import Candidate, Configuration, Executor, enumerate_candidates
from qstream.core.selection.model import SelectionModel, SolveObservation
from qstream.core.selection.priors import (
    GW_GUARANTEE,
    QAOA_P1_RATIO,
    classical_resources,
    configuration_prior,
    qaoa_features,
    vqe_features,
)
from qstream.core.selection.select import select
from qstream.errors import CapacityError, ConfigError, TaskContentError, ValidationError

GIB = 2**30
CPU = Executor("cpu", "classical", memory_bytes=8 * GIB, spec=BackendSpec(
    "cpu", "classical", 20, 10**6, pricing=Pricing(per_second_usd=1.24e-5)))
NOISY = Executor.from_spec(BackendSpec(
    "noisy", "qpu", 27, 10**5, calibration=CalibrationSummary(3e-4, 1e-2, 2e-2, 1e-4, 1e-4, 5e-7),
    pricing=Pricing(per_second_usd=1.6), job_overhead_s=2.0, rep_delay_s=250e-6,
    queue_s_per_pending_job=10.0))
IDEAL = Executor.from_spec(BackendSpec("ideal", "simulator", 27, 10**5, job_overhead_s=0.05,
                                       statevector_s_per_amp_gate=1.2e-9))
SMALL = Executor.from_spec(BackendSpec("small", "qpu", 5, 10**5))


def regular(n: int, d: int = 3, seed: int = 0) -> MaxCut:
    g = nx.random_regular_graph(d, n, seed=seed)
    return MaxCut(n, tuple(sorted((min(u, v), max(u, v), 1.0) for u, v in g.edges)))


def keys(found) -> list[str]:
    return [c.configuration.key for c in found.candidates]


# -- candidates ---------------------------------------------------------------------------

def test_catalogue_by_kind_and_backend() -> None:
    execs = [CPU, NOISY, SMALL]
    assert keys(enumerate_candidates(regular(8), execs)) == [
        "qaoa@noisy", "exact@cpu", "simulated_annealing@cpu", "local_search@cpu",
        "goemans_williamson@cpu"]
    qubo = Qubo(4, ((0, -1.0),), ((0, 1, 2.0),))
    assert keys(enumerate_candidates(qubo, execs)) == [
        "qaoa@noisy", "qaoa@small", "exact@cpu", "simulated_annealing@cpu"]
    h = GroundState(3, (("ZZI", 1.0), ("XII", 0.5)))
    assert keys(enumerate_candidates(h, execs)) == ["vqe@noisy", "vqe@small", "exact@cpu"]


def test_allow_list_is_honoured_and_recorded() -> None:
    found = enumerate_candidates(regular(8), [CPU, NOISY], algorithms=["local_search", "qaoa"])
    assert keys(found) == ["qaoa@noisy", "local_search@cpu"]
    assert {r.configuration.solver for r in found.rejected} == {
        "exact", "simulated_annealing", "goemans_williamson"}
    assert all("algorithms" in r.reason for r in found.rejected)
    with pytest.raises(TaskContentError, match="unknown algorithms"):
        enumerate_candidates(regular(8), [CPU], algorithms=["grover"])


def test_size_limits() -> None:
    found = enumerate_candidates(regular(40), [CPU, NOISY, SMALL])
    assert "exact@cpu" not in keys(found)           # 40 > EXACT_MAX_VARS
    assert "qaoa@noisy" not in keys(found)          # 40 > 27 qubits
    reasons = {r.configuration.key: r.reason for r in found.rejected}
    assert "at most 32" in reasons["exact@cpu"] and "has 27" in reasons["qaoa@noisy"]
    big = enumerate_candidates(regular(202), [CPU])
    assert "goemans_williamson@cpu" not in keys(big)
    assert "simulated_annealing@cpu" in keys(big)


def test_memory_rules_out_exact_eigensolver_at_34_qubits() -> None:
    h = GroundState(34, (("Z" * 34, 1.0), ("X" * 34, 0.5)))
    roomy = Executor("big", "classical", memory_bytes=128 * GIB)
    found = enumerate_candidates(h, [roomy])
    assert found.candidates == ()
    (rej,) = found.rejected
    assert "memory" in rej.reason and "big has 137.44 GB" in rej.reason
    # Within the size limit, memory alone decides: 20 qubits fit 8 GiB but not 64 MiB.
    h20 = GroundState(20, (("Z" * 20, 1.0), ("X" * 20, 0.5)))
    assert keys(enumerate_candidates(h20, [CPU])) == ["exact@cpu"]
    tiny = Executor("tiny", "classical", memory_bytes=64 * 2**20)
    found = enumerate_candidates(h20, [tiny])
    assert found.candidates == () and "memory" in found.rejected[0].reason
    assert json.loads(json.dumps(found.to_dict()))["rejected"][0]["solver"] == "exact"


def test_no_candidate_raises_with_reasons() -> None:
    found = enumerate_candidates(GroundState(34, (("Z" * 34, 1.0),)), [CPU])
    with pytest.raises(CapacityError, match="memory"):
        select(GroundState(34, (("Z" * 34, 1.0),)), found, CostWeights())


# -- priors --------------------------------------------------------------------------------

def test_exact_prior_doubles_per_variable() -> None:
    times = [classical_resources(Qubo(n, ((0, 1.0),), ()), "exact")[0] for n in range(28, 32)]
    for a, b in itertools.pairwise(times):
        assert b / a == pytest.approx(2.0, rel=0.02)


def test_annealing_prior_is_linear_in_sweep_units() -> None:
    # run_s = overhead + c * reads * sweeps * (n + m): differences scale with the edges added.
    a = classical_resources(regular(40, 3), "simulated_annealing")[0]
    b = classical_resources(regular(40, 6), "simulated_annealing")[0]
    c = classical_resources(regular(40, 9), "simulated_annealing")[0]
    assert (c - b) == pytest.approx(b - a, rel=1e-9)
    assert (b - a) == pytest.approx(1e-8 * 32 * 1000 * 60, rel=1e-9)


def test_qaoa_prior_costs_circuits_times_queue_plus_run() -> None:
    p = regular(8)
    cand = Candidate(Configuration("qaoa", "noisy", "quantum"), NOISY)
    idle = configuration_prior(p, cand, pending_jobs=0)
    busy = configuration_prior(p, cand, pending_jobs=100)
    assert idle.jobs == idle.iterations + 1 == 21
    assert idle.queue_s == 0.0
    assert busy.queue_s == pytest.approx(busy.jobs * 100 * 10.0)
    per_job_run = NOISY.spec.prior_run_s(qaoa_features(p, reps=1), 1000)
    assert idle.run_s == pytest.approx(idle.jobs * per_job_run)
    assert idle.price_usd == pytest.approx(idle.jobs * 1.6 * per_job_run)


def test_quantum_accuracy_is_farhi_bound_degraded_by_device_error() -> None:
    p = regular(8)
    ideal = configuration_prior(p, Candidate(Configuration("qaoa", "ideal", "quantum"), IDEAL))
    noisy = configuration_prior(p, Candidate(Configuration("qaoa", "noisy", "quantum"), NOISY))
    assert ideal.accuracy == pytest.approx(QAOA_P1_RATIO)
    assert 0.5 < noisy.accuracy < QAOA_P1_RATIO


def test_classical_accuracy_priors() -> None:
    p = regular(8)
    acc = {s: configuration_prior(p, Candidate(Configuration(s, "cpu", "classical"), CPU)).accuracy
           for s in ("exact", "simulated_annealing", "local_search", "goemans_williamson")}
    assert acc["exact"] == 1.0
    assert acc["goemans_williamson"] >= GW_GUARANTEE
    assert all(0.0 < a <= 1.0 for a in acc.values())


@pytest.mark.parametrize("n,seed", [(4, 0), (6, 1), (8, 2), (10, 3)])
def test_ansatz_features_match_qiskit_transpiled_counts(n: int, seed: int) -> None:
    from qiskit import transpile

    from qstream.core.problems.conversions import ground_state_from_problem
    from qstream.quantum.ansatz import QASM_BASIS_GATES, qaoa_circuit, vqe_circuit

    p = regular(n, seed=seed)
    f = qaoa_features(p, reps=1)
    qc = transpile(qaoa_circuit(ground_state_from_problem(p).hamiltonian.pauli_terms, reps=1),
                   basis_gates=list(QASM_BASIS_GATES), optimization_level=0)
    ops = qc.count_ops()
    assert f.two_qubit_gates == ops.get("cx", 0)
    assert f.gates == sum(ops.values())
    v = vqe_features(n, reps=1)
    ops = transpile(vqe_circuit(n, reps=1), basis_gates=list(QASM_BASIS_GATES),
                    optimization_level=0).count_ops()
    assert v.two_qubit_gates == ops.get("cx", 0)
    assert v.gates - 2 * n == sum(ops.values())    # plus at most 2 basis-change gates per qubit


# -- online models ------------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(factor=st.floats(0.2, 5.0), accuracy=st.floats(0.5, 1.0))
def test_learning_moves_predictions_towards_observations(factor: float, accuracy: float) -> None:
    m = SelectionModel()
    p = regular(10)
    cand = Candidate(Configuration("simulated_annealing", "cpu", "classical"), CPU)
    prior = configuration_prior(p, cand)
    real_s = prior.run_s * factor
    for _ in range(30):
        m.learn_one(SolveObservation.of(p, cand.configuration, prior, run_s=real_s, accuracy=accuracy))
    run_s, acc = m.predict(p, cand.configuration, prior)
    assert abs(math.log(run_s / real_s)) <= abs(math.log(prior.run_s / real_s)) * 0.5 + 1e-9
    assert abs(acc - accuracy) <= abs(prior.accuracy - accuracy) * 0.5 + 1e-6


def test_model_snapshot_restore_and_validation() -> None:
    m = SelectionModel()
    p = regular(8)
    cfg = Configuration("local_search", "cpu", "classical")
    prior = configuration_prior(p, Candidate(cfg, CPU))
    for _ in range(5):
        m.learn_one(SolveObservation.of(p, cfg, prior, run_s=0.5, accuracy=0.9))
    again = SelectionModel.restore(m.snapshot())
    assert again.predict(p, cfg, prior) == m.predict(p, cfg, prior)
    assert again.n_learned == 5 and again.families() == ["local_search"]
    with pytest.raises(ConfigError):
        SelectionModel.restore(b"not a snapshot")
    with pytest.raises(ValidationError):
        m.learn_one(SolveObservation.of(p, cfg, prior, run_s=-1.0, accuracy=0.9))


# -- select --------------------------------------------------------------------------------

def test_time_heavy_picks_fast_heuristic_error_heavy_picks_exact() -> None:
    p = regular(30, seed=4)
    found = enumerate_candidates(p, [CPU, NOISY, IDEAL])
    fast = select(p, found, CostWeights(time=100.0, error=0.0, cost=0.0))
    assert fast.chosen.configuration.solver == "simulated_annealing"
    sure = select(p, found, CostWeights(time=0.01, error=10.0, cost=0.0))
    assert sure.chosen.configuration.solver == "exact"
    assert fast.estimates[0] == fast.chosen
    assert [e.terms.total for e in fast.estimates] == sorted(e.terms.total for e in fast.estimates)


def test_accuracy_target_is_preferred_and_reported() -> None:
    p = regular(30, seed=4)
    found = enumerate_candidates(p, [CPU])
    s = select(p, found, CostWeights(time=100.0, error=0.0, cost=0.0), accuracy_target=0.9999)
    assert s.chosen.configuration.solver == "exact" and s.met_target is True
    assert "meets accuracy target" in s.reason
    heuristics = enumerate_candidates(p, [CPU], algorithms=["local_search", "simulated_annealing"])
    s = select(p, heuristics, CostWeights(), accuracy_target=0.9999)
    assert s.met_target is False and "no candidate is predicted to meet" in s.reason


def test_decision_carries_every_candidate_as_json() -> None:
    p = regular(8)
    found = enumerate_candidates(p, [CPU, NOISY, SMALL])
    s = select(p, found, CostWeights(), pending_jobs={"noisy": 50}, now_s=12.5)
    event = json.loads(json.dumps(s.to_dict()))
    assert event["chosen"] == s.chosen.configuration.key
    assert len(event["candidates"]) == len(found.candidates) == 5
    assert {"queue_s", "run_s", "accuracy", "price_usd", "terms"} <= set(event["candidates"][0])
    qaoa = next(c for c in event["candidates"] if c["solver"] == "qaoa")
    assert qaoa["queue_s"] == pytest.approx(qaoa["prior"]["jobs"] * 500.0)
    assert event["rejected"][0]["backend"] == "small" and event["now_s"] == 12.5


def test_learned_model_changes_the_choice() -> None:
    p = regular(30, seed=4)
    found = enumerate_candidates(p, [CPU], algorithms=["simulated_annealing", "local_search"])
    w = CostWeights(time=1.0, error=10.0, cost=0.0)
    assert select(p, found, w).chosen.configuration.solver == "simulated_annealing"
    m = SelectionModel()
    cfg = found.candidates[0].configuration
    prior = configuration_prior(p, found.candidates[0])
    for _ in range(20):   # annealing turns out poor on this family of problems
        m.learn_one(SolveObservation.of(p, cfg, prior, run_s=prior.run_s, accuracy=0.8))
    assert select(p, found, w, model=m).chosen.configuration.solver == "local_search"


def test_selection_core_is_pure() -> None:
    forbidden = ["faust", "aiokafka", "qiskit", "braket", "dimod", "dwave", "cvxpy"]
    assert loaded_after_import(["selection", "selection.select"], forbidden) == ""
    banned = {"asyncio", "socket", "threading", "subprocess"}
    for _node, names in walk_imports("selection"):
        assert not banned & set(names)


def test_a_simulator_that_cannot_simulate_the_ansatz_is_not_a_candidate() -> None:
    import networkx as nx

    from qstream.backends.classical import classical_spec
    from qstream.core.problems import MaxCut
    from qstream.core.selection import Executor, enumerate_candidates

    g = nx.random_regular_graph(3, 40, seed=1)
    problem = MaxCut(40, tuple((int(u), int(v), 1.0) for u, v in g.edges))
    spec = classical_spec()  # 64 qubits wide, but 40 qubits need ~17.6 TB as a state vector
    found = enumerate_candidates(problem, [Executor(spec.name, "quantum", qubits=spec.num_qubits,
                                                    spec=spec)], algorithms=["qaoa"])
    assert found.candidates == ()
    [why] = [r.reason for r in found.rejected]
    assert why.startswith("qaoa circuits: cpu_statevector: no simulation method fits 40 qubits")
