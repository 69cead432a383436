"""Measure the classical solvers against their priors (``qstream.core.problems.solver_costs``).

Runs each registered solver on random 3-regular MaxCut graphs (networkx
``random_regular_graph(3, n, seed=1)``) and prints the measured ``run_s``, the prior's
``run_s`` and their ratio, plus the best cut. Run it on the machine class whose
constants you want::

    .venv/bin/python scripts/calibrate_solvers.py 50 100 150
"""

from __future__ import annotations

import sys

import networkx as nx

from qstream.core.problems import MaxCut
from qstream.solvers import CLASSICAL_SOLVERS


def regular_maxcut(n: int, seed: int = 1) -> MaxCut:
    graph = nx.random_regular_graph(3, n, seed=seed)
    return MaxCut(n, tuple((min(u, v), max(u, v), 1.0) for u, v in graph.edges))


def main(sizes: list[int]) -> None:
    print(f"{'solver':<20}{'n':>5}{'run_s':>9}{'prior_s':>9}{'ratio':>7}{'cut':>7}")
    for n in sizes:
        problem = regular_maxcut(n)
        for solver in CLASSICAL_SOLVERS.values():
            if solver.max_size is not None and n > solver.max_size:
                continue
            out = solver.solve(problem, seed=0)
            prior_s, _ = solver.estimate(problem)
            print(f"{solver.name:<20}{n:>5}{out.run_s:>9.3f}{prior_s:>9.3f}"
                  f"{out.run_s / prior_s:>7.2f}{out.objective:>7.0f}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [50, 100, 150])
