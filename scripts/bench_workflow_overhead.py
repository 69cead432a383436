"""Per-iteration overhead of a hybrid loop on the embedded broker, next to the simulator time.

Starts the embedded broker and a ``qstream worker`` (fleet ``cpu_statevector``, time
scale 1), then runs ``--runs`` QAOA loops of ``--iterations`` COBYLA iterations each on
an 8-node 3-regular MaxCut (one circuit of ``--shots`` shots per iteration), one loop at
a time. Every iteration's ``iteration`` telemetry event gives

- ``wall_s``: from the workflow agent emitting the iteration's circuit task to its result
  reaching the agent again (partition, dispatch, execute, post-process, four topic hops);
- ``exec_s``: the simulator's own time for the circuit (``run_s`` of the result);
- ``overhead_s = wall_s - exec_s``: what orchestration adds.

Baseline, in this process: the same loop with no broker (build the bound circuit, run it
on the same Aer statevector runner, evaluate, tell the optimiser), run while the broker
and the idle worker are still up (one warm-up loop first, not counted), so the ratio
``pipeline wall / direct wall`` per iteration is measured on the same machine and load.
``exec_s`` is the pool worker's wall time of the whole runner call (parse, features,
ideal distribution, sampling), the same call the direct loop makes in-process.

Usage::

    .venv/bin/python scripts/bench_workflow_overhead.py --runs 3 --iterations 30
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

REPO = Path(__file__).resolve().parent.parent


def problem(seed: int = 2) -> dict[str, Any]:
    g = nx.random_regular_graph(3, 8, seed=seed)
    return {"kind": "maxcut", "num_nodes": 8, "edges": [[int(u), int(v)] for u, v in g.edges]}


async def pipeline_runs(url: str, runs: int, iterations: int, shots: int) -> list[list[dict[str, Any]]]:
    from qstream.client import Client
    from qstream.stream import topics as T

    out: list[list[dict[str, Any]]] = []
    async with Client(url) as client:
        for _ in range(runs):
            task = {"schema": "qstream.task.v1", "task_id": f"bench-{uuid.uuid4().hex[:8]}",
                    "problem": problem(), "algorithms": ["qaoa"], "max_iterations": iterations,
                    "backends": ["cpu_statevector"], "shots": shots}
            await client.submit(task)
            result = (await client.wait_results([task["task_id"]], 600))[task["task_id"]]
            assert result["status"] == "completed", result["error"]
            events: list[dict[str, Any]] = []

            async def read(tid: str = task["task_id"], sink: list[dict[str, Any]] = events) -> None:
                async for _, msg in client.stream(T.TELEMETRY):
                    if msg.get("event") == "iteration" and msg.get("task_id") == tid:
                        sink.append(msg)
                        if len(sink) >= iterations:
                            return
            await asyncio.wait_for(read(), 60)
            out.append(events)
    return out


def direct_loop(iterations: int, shots: int) -> list[float]:
    """Wall seconds per iteration of the same loop with no broker (module docstring)."""
    from qstream.backends.payloads import RunPayload
    from qstream.backends.statevector_runner import run_statevector
    from qstream.core.problems import problem_from_dict
    from qstream.workflow import loop
    from qstream.workflow.state import WorkflowState

    p = problem_from_dict(problem())
    state = WorkflowState(task_id="direct", problem=p.to_dict(), algorithm="qaoa",
                          backend="local", shots=shots, max_iterations=iterations)
    ansatz = loop.build_ansatz(p, "qaoa", 1)
    points = loop.start_loop(state, p, ansatz)
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        [c] = loop.step_circuits(p, "qaoa", ansatz, points)
        out = run_statevector(RunPayload(name="direct", qasm=c.qasm, shots=shots, seed=1,
                                         max_qubits=20))
        ev = loop.evaluate_step(p, "qaoa", {"results": [{"name": "p0", "counts": out.counts}]}, 1)
        points = loop.advance(state, p, ev)
        times.append(time.perf_counter() - started)
        if not points:
            break
    return times


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--shots", type=int, default=1000)
    args = parser.parse_args()
    from qstream.broker import EmbeddedBroker

    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "worker.log", "wb")  # noqa: SIM115 - lives as long as the worker
        worker = subprocess.Popen(
            [sys.executable, "-m", "qstream", "worker", "--broker", broker.url, "--fleet",
             "cpu_statevector", "--time-scale", "1"], stdout=log, stderr=subprocess.STDOUT,
            cwd=REPO, start_new_session=True)
        try:
            time.sleep(1.0)
            runs = asyncio.run(pipeline_runs(broker.url, args.runs, args.iterations, args.shots))
            # The baseline runs while the broker and the (now idle) worker are still up.
            direct = [direct_loop(args.iterations, args.shots) for _ in range(args.runs + 1)][1:]
        finally:
            worker.terminate()
            worker.wait(30)
    print(f"{args.runs} runs x {args.iterations} iterations, {args.shots} shots, 8-node MaxCut, "
          "QAOA p=1 + COBYLA on cpu_statevector (embedded broker, 1 worker)")
    rows = []
    for i, (events, base) in enumerate(zip(runs, direct, strict=True), 1):
        wall = [e["wall_s"] for e in events]
        exe = [e["exec_s"] for e in events]
        over = [e["overhead_s"] for e in events]
        row = {"wall_p50": pct(wall, 50), "wall_p95": pct(wall, 95), "exec_p50": pct(exe, 50),
               "exec_p95": pct(exe, 95), "over_p50": pct(over, 50), "over_p95": pct(over, 95),
               "direct_p50": pct(base, 50)}
        rows.append(row)
        print(f"run {i}: iteration wall p50 {row['wall_p50'] * 1e3:.1f} ms / p95 "
              f"{row['wall_p95'] * 1e3:.1f} ms; simulator p50 {row['exec_p50'] * 1e3:.1f} ms / "
              f"p95 {row['exec_p95'] * 1e3:.1f} ms; overhead p50 {row['over_p50'] * 1e3:.1f} ms "
              f"/ p95 {row['over_p95'] * 1e3:.1f} ms; direct loop p50 "
              f"{row['direct_p50'] * 1e3:.1f} ms")
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"median of runs: overhead p50 {med['over_p50'] * 1e3:.1f} ms, p95 "
          f"{med['over_p95'] * 1e3:.1f} ms; simulator p50 {med['exec_p50'] * 1e3:.1f} ms; "
          f"iteration wall p50 {med['wall_p50'] * 1e3:.1f} ms = "
          f"{med['wall_p50'] / med['direct_p50']:.1f}x the direct loop "
          f"({med['direct_p50'] * 1e3:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
