"""Classical solvers (issue 10): quality against brute force, determinism, pickling, limits."""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import networkx as nx
import numpy as np
import pytest

from qstream.core.problems import GroundState, MaxCut, Qubo, bits_from_string
from qstream.errors import CapacityError
from qstream.solvers import CLASSICAL_SOLVERS, SolveOutcome, Solver, solvers_for
from qstream.solvers.annealing import SimulatedAnnealing, to_bqm
from qstream.solvers.maxcut import GW_MAX_NODES, GoemansWilliamson, LocalSearch

MAXCUT_SOLVERS = [s for s in CLASSICAL_SOLVERS.values() if "maxcut" in s.kinds]


def random_qubo(n: int, seed: int) -> Qubo:
    rng = np.random.default_rng(seed)
    linear = tuple((i, float(rng.normal())) for i in range(n))
    quadratic = tuple((i, j, float(rng.normal())) for i, j in itertools.combinations(range(n), 2))
    return Qubo(n, linear, quadratic, offset=0.25)


def brute_force_qubo(q: Qubo) -> float:
    """Exact minimum over all 2**n assignments, vectorised with numpy."""
    bits = np.array(list(itertools.product((0, 1), repeat=q.num_vars)), dtype=float)  # (2**n, n)
    lin = np.zeros(q.num_vars)
    for i, c in q.linear:
        lin[i] += c
    upper = np.zeros((q.num_vars, q.num_vars))
    for i, j, c in q.quadratic:
        upper[i, j] += c
    values = q.offset + bits @ lin + np.einsum("ki,ij,kj->k", bits, upper, bits)
    return float(values.min())


def regular_maxcut(n: int, seed: int) -> MaxCut:
    graph = nx.random_regular_graph(3, n, seed=seed)
    return MaxCut(n, tuple((min(u, v), max(u, v), 1.0) for u, v in graph.edges))


def brute_force_cut(p: MaxCut) -> float:
    bits = np.array(list(itertools.product((0, 1), repeat=p.num_nodes)))  # (2**n, n)
    u, v, w = (np.array(c) for c in zip(*p.edges, strict=True))
    return float(((bits[:, u.astype(int)] != bits[:, v.astype(int)]) * w).sum(axis=1).max())


def test_annealing_reaches_the_exact_qubo_optimum_within_one_percent() -> None:
    qubo = random_qubo(12, seed=3)
    exact = brute_force_qubo(qubo)
    assert exact < 0  # a random dense QUBO; the 1% band below is meaningful
    out = SimulatedAnnealing().solve(qubo, seed=11)
    assert out.objective <= exact + 0.01 * abs(exact)
    assert out.objective >= exact - 1e-9  # nothing beats the brute force
    assert qubo.value(bits_from_string(out.bitstring)) == pytest.approx(out.objective)
    assert out.details["energy"] == pytest.approx(out.objective)  # dimod energy includes offset
    assert len(out.bitstring) == 12 and out.iterations == len(out.history) == 32
    assert list(out.history) == sorted(out.history, reverse=True)  # running minimum
    assert out.history[-1] == out.objective and out.run_s > 0


def test_bitstring_follows_qiskit_convention() -> None:
    # Only x_0 = 1 lowers the objective, so the answer is "0001": variable 0 rightmost.
    qubo = Qubo(4, ((0, -1.0), (1, 1.0), (2, 1.0), (3, 1.0)), ())
    assert SimulatedAnnealing(num_reads=4, num_sweeps=50).solve(qubo, seed=0).bitstring == "0001"
    assert to_bqm(regular_maxcut(10, 1)).energy({i: i % 2 for i in range(10)}) == -regular_maxcut(
        10, 1).cut_value([i % 2 for i in range(10)])


@pytest.mark.parametrize("solver", MAXCUT_SOLVERS, ids=lambda s: s.name)
def test_maxcut_solvers_reach_ratio_090_on_a_3_regular_graph(solver: Solver) -> None:
    problem = regular_maxcut(10, seed=5)
    optimum = brute_force_cut(problem)
    out = solver.solve(problem, seed=2)
    assert out.objective / optimum >= 0.9
    assert out.objective <= optimum
    assert problem.cut_value(bits_from_string(out.bitstring)) == out.objective
    assert out.solver == solver.name and out.iterations == len(out.history)
    assert list(out.history) == sorted(out.history)  # running maximum


def test_goemans_williamson_bound_is_an_upper_bound() -> None:
    problem = regular_maxcut(10, seed=5)
    optimum = brute_force_cut(problem)
    out = GoemansWilliamson().solve(problem, seed=2)
    # The SDP value bounds the maximum cut from above (up to SCS's eps = 1e-3), and for
    # a 3-regular graph it is at most all edges.
    assert optimum * (1 - 1e-2) <= out.details["sdp_bound"] <= len(problem.edges) * (1 + 1e-2)
    assert out.details["sdp_status"] in ("optimal", "optimal_inaccurate")


@pytest.mark.slow
def test_150_node_maxcut_local_search_and_annealing_are_near_the_best() -> None:
    # Seen on the 2-core VM: annealing 207 in 0.13 s, local search 206 in 13 s,
    # Goemans-Williamson 204 in 1.6 s (best 207; ratios 1.0 and 0.995).
    problem = regular_maxcut(150, seed=1)
    outs = {s.name: s.solve(problem, seed=0) for s in MAXCUT_SOLVERS}
    best = max(o.objective for o in outs.values())
    for name in ("local_search", "simulated_annealing"):
        assert outs[name].run_s < 60
        assert outs[name].objective >= 0.97 * best, (name, outs[name].objective, best)
    assert best <= outs["goemans_williamson"].details["sdp_bound"] * (1 + 1e-2)


@pytest.mark.parametrize("solver", list(CLASSICAL_SOLVERS.values()), ids=lambda s: s.name)
def test_same_seed_same_outcome(solver: Solver) -> None:
    problem = regular_maxcut(16, seed=7)
    a, b = (solver.solve(problem, seed=42, max_iterations=5) for _ in range(2))
    timing = {"sdp_s"}
    assert (a.bitstring, a.objective, a.history, a.iterations) == (
        b.bitstring, b.objective, b.history, b.iterations)
    assert {k: v for k, v in a.details.items() if k not in timing} == {
        k: v for k, v in b.details.items() if k not in timing}
    assert a.iterations == 5


def test_outcome_solver_and_problem_pickle() -> None:
    problem = random_qubo(6, seed=1)
    solver = CLASSICAL_SOLVERS["simulated_annealing"]
    out = solver.solve(problem, seed=1)
    assert pickle.loads(pickle.dumps(out)) == out
    assert pickle.loads(pickle.dumps((solver, problem))) == (solver, problem)


def _solve(solver: Solver, problem: Qubo, seed: int) -> SolveOutcome:
    return solver.solve(problem, seed=seed)


def test_runs_in_a_process_pool() -> None:
    problem = random_qubo(8, seed=2)
    solver = SimulatedAnnealing(num_reads=8, num_sweeps=200)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        remote = pool.submit(_solve, solver, problem, 5).result(timeout=60)
    local = solver.solve(problem, seed=5)
    assert (remote.bitstring, remote.objective, remote.history) == (
        local.bitstring, local.objective, local.history)


@pytest.mark.parametrize("solver", list(CLASSICAL_SOLVERS.values()), ids=lambda s: s.name)
def test_solvers_reject_ground_state(solver: Solver) -> None:
    problem = GroundState(2, (("ZZ", 1.0),))
    with pytest.raises(CapacityError, match=r"not ground_state; pick a solver from .*solvers_for"):
        solver.solve(problem, seed=0)
    with pytest.raises(CapacityError):
        solver.estimate(problem)
    assert solver not in solvers_for(problem)


def test_maxcut_only_solvers_reject_qubo_and_registry_routes() -> None:
    qubo = random_qubo(4, seed=0)
    for solver in (LocalSearch(), GoemansWilliamson()):
        with pytest.raises(CapacityError, match="solves maxcut problems, not qubo"):
            solver.solve(qubo, seed=0)
    assert [s.name for s in solvers_for(qubo)] == ["simulated_annealing"]
    assert len(solvers_for(regular_maxcut(10, 1))) == 3
    assert all(isinstance(s, Solver) for s in CLASSICAL_SOLVERS.values())


def test_goemans_williamson_size_limit_is_actionable() -> None:
    big = regular_maxcut(GW_MAX_NODES + 2, seed=0)
    with pytest.raises(CapacityError, match=r"at most 200 nodes/variables, got 202; use a solver"):
        GoemansWilliamson().solve(big, seed=0)
    assert "goemans_williamson" not in {s.name for s in solvers_for(big)}


def test_negative_seed_is_refused() -> None:
    for solver in CLASSICAL_SOLVERS.values():
        with pytest.raises(ValueError, match="non-negative"):
            solver.solve(regular_maxcut(10, 1), seed=-1)


@pytest.mark.parametrize("solver", MAXCUT_SOLVERS, ids=lambda s: s.name)
def test_priors_grow_with_size(solver: Solver) -> None:
    small, large = regular_maxcut(20, 0), regular_maxcut(150, 0)
    (s_run, s_mem), (l_run, l_mem) = solver.estimate(small), solver.estimate(large)
    assert 0 < s_run < l_run and 0 < s_mem < l_mem
    # Within the calibration band: the 150-node prior predicts the measured order of magnitude.
    measured_s = {"simulated_annealing": 0.13, "local_search": 13.0, "goemans_williamson": 1.6}
    assert 0.3 < l_run / measured_s[solver.name] < 3
