"""Measure the constants of :mod:`qstream.core.sim_cost` with qiskit-aer on this machine.

Prints one table per method: width, work units, wall seconds, and seconds per unit.
Not a test: numbers vary with the machine and its load. Run it on an idle machine::

    .venv/bin/python scripts/measure_sim_cost.py            # ~1-2 minutes on 2 cores
    .venv/bin/python scripts/measure_sim_cost.py --threads 2

Units (the same as :mod:`qstream.core.sim_cost`):

- statevector: ``2**n * gates`` amplitude-gates (gates after transpiling to cx/u),
  plus ``shots`` samples;
- density matrix: ``4**n * ops`` (ops of the circuit transpiled for FakeHanoiV2 at
  level 3 and compacted to its active qubits, with their noise model: the emulated
  runner's own path, :mod:`qstream.backends.aer_runner`);
- noisy trajectories: ``k * 2**n * ops`` (``k`` trajectories, one per Aer shot, the
  qstream emulated runner's way of averaging them);
- stabilizer: ``n**2 * (gates + shots)`` (GHZ circuits, Clifford);
- matrix product state: ``two_qubit_gates * chi**3`` per run plus ``n * chi**2`` per shot
  (cx brickwork on a line: each cut is crossed by every other layer, so the bond
  dimension is at most ``chi = 2**ceil(layers / 2)``).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def layered(n: int, layers: int, seed: int = 7):
    """``layers`` x (ry on every qubit + a cx chain): dense, entangling, non-Clifford."""
    from qiskit import QuantumCircuit

    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for _ in range(layers):
        for q in range(n):
            qc.ry(float(rng.uniform(0, np.pi)), q)
        for q in range(n - 1):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qc


def ghz(n: int):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n)
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.measure_all()
    return qc


def brickwork(n: int, layers: int, seed: int = 3):
    """Brickwork of random-angle ``rxx`` gates on a line: bond dimension <= 2**layers."""
    from qiskit import QuantumCircuit

    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for layer in range(layers):
        for q in range(layer % 2, n - 1, 2):
            qc.ry(float(rng.uniform(0, np.pi)), q)
            qc.cx(q, q + 1)
            qc.rz(float(rng.uniform(0, np.pi)), q + 1)
    qc.measure_all()
    return qc


def _device_circuit(dev, qc):
    """Transpile for the device (level 3, as the emulated devices do), keep its active qubits."""
    from qstream.backends.aer_devices import transpiled
    from qstream.backends.circuit_maps import active_qubits, compact

    tqc = transpiled(dev, qc, qc.name + str(qc.num_qubits), 3, 1234)
    active = active_qubits(tqc)
    cqc, _ = compact(tqc, active)
    return cqc, active


def timed(sim, qc, shots: int) -> float:
    t0 = time.perf_counter()
    sim.run(qc, shots=shots, seed_simulator=1).result()
    return time.perf_counter() - t0


def row(*cells: object) -> None:
    print("  ".join(f"{c:>12}" if not isinstance(c, float) else f"{c:>12.3g}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="Aer threads (1 = a qstream pool worker on 2 cores)")
    parser.add_argument("--max-qubits", type=int, default=24)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from qiskit import transpile
    from qiskit_aer import AerSimulator
    from qiskit_aer.library import SaveProbabilities

    from qstream.backends.aer_devices import device, reduced_simulator

    threads = args.threads
    print(f"Aer threads: {threads}")

    print("\nstatevector (noiseless), 1000 shots")
    row("n", "gates", "wall_s", "s/amp-gate")
    sv = AerSimulator(method="statevector", max_parallel_threads=threads)
    for n in range(14, args.max_qubits + 1, 2):
        layers = 8 if n <= 20 else 4
        qc = transpile(layered(n, layers), sv, optimization_level=0)
        gates = sum(v for k, v in qc.count_ops().items() if k not in ("measure", "barrier"))
        timed(sv, qc, 10)  # warm
        wall = min(timed(sv, qc, 1000) for _ in range(2 if n <= 22 else 1))
        row(n, gates, wall, wall / (2.0**n * gates))

    print("\nstatevector sampling: 1e5 shots minus 10 shots, 14 qubits")
    qc = transpile(layered(14, 2), sv, optimization_level=0)
    extra = timed(sv, qc, 100_000) - timed(sv, qc, 10)
    row("shots", 100_000, extra, extra / 1e5)

    # Noisy: the emulated runner's own path (transpile at level 3 for FakeHanoiV2, compact
    # to the active qubits, the reduced noise model), as qstream.backends.aer_runner runs it.
    dev = device("FakeHanoiV2")
    print("\ndensity matrix (FakeHanoiV2 noise, active qubits only), 1000 shots")
    row("n", "ops", "wall_s", "s/(4^n op)")
    for n in range(6, 11):
        cqc, active = _device_circuit(dev, layered(n, 3))
        sim = reduced_simulator(dev, active, "density_matrix")
        wall = timed(sim, cqc, 1000)
        row(len(active), cqc.size(), wall, wall / (4.0 ** len(active) * cqc.size()))

    print("\nnoisy statevector trajectories (FakeHanoiV2 noise), k trajectories, probabilities")
    row("n", "ops", "k", "wall_s", "s/(k 2^n op)")
    for n in (10, 12, 14, 16):
        cqc, active = _device_circuit(dev, layered(n, 3))
        body = cqc.remove_final_measurements(inplace=False)
        body.append(SaveProbabilities(body.num_qubits), body.qubits)
        sim = reduced_simulator(dev, active, "statevector")
        k = 16
        wall = timed(sim, body, k)
        row(len(active), body.size(), k, wall, wall / (k * 2.0 ** len(active) * body.size()))

    print("\nstabilizer (GHZ)")
    row("n", "gates", "shots", "wall_s", "s/(n^2 (g+s))")
    st = AerSimulator(method="stabilizer", max_parallel_threads=threads)
    for n in (50, 100, 200, 400):
        qc = ghz(n)
        for shots in (100, 1000):
            wall = timed(st, qc, shots)
            row(n, n, shots, wall, wall / (n * n * (n + shots)))

    print("\nmatrix product state (brickwork on 40 qubits, chi <= 2**ceil(layers/2))")
    row("layers", "2q gates", "chi", "shots", "wall_s", "s/(g2 chi^3)", "s/(shot n chi^2)")
    mps = AerSimulator(method="matrix_product_state", max_parallel_threads=threads)
    for layers in (8, 12, 14):
        qc = transpile(brickwork(40, layers), mps, optimization_level=0)
        g2 = qc.count_ops().get("cx", 0)
        chi = 2 ** ((layers + 1) // 2)  # each cut is crossed by every other layer
        few, many = timed(mps, qc, 10), timed(mps, qc, 1000)
        row(layers, g2, chi, 10, few, few / (g2 * float(chi) ** 3), "")
        row(layers, g2, chi, 1000, many, "", (many - few) / (990 * 40 * float(chi) ** 2))

if __name__ == "__main__":
    main()
