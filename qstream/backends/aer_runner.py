"""Runner of emulated IBM devices: transpile and simulate one circuit with the device's
noise on Aer, in a pool worker.

:func:`run_emulated` transpiles for the ``Fake*`` device (cached,
:mod:`qstream.backends.aer_devices`), computes the calibration ESP, the scheduled
duration and the readout table of the measured qubits (:mod:`qstream.backends.noise`),
simulates, and scores the counts against the ideal distribution
(:mod:`qstream.backends.sampling`).

:func:`simulate_noisy` picks its method by the work it would take, in
amplitude-operations (instructions x amplitudes), against
:data:`~qstream.backends.limits.WORK_BUDGET` (limits in :mod:`qstream.backends.limits`):

- dynamic circuits: Aer statevector (matrix product state above
  ``STATEVECTOR_MAX_QUBITS`` active qubits), one noisy trajectory per shot (exact);
- up to ``DENSITY_MATRIX_MAX_QUBITS`` active qubits, when ``ops x 4**n`` fits
  the budget: Aer density matrix (exact, one pass for all shots);
- up to ``STATEVECTOR_MAX_QUBITS``, when at least ``MIN_TRAJECTORIES``
  trajectories fit: the average output distribution of up to ``TRAJECTORIES``
  noisy statevector trajectories (Monte Carlo over the gate noise), sampled for all
  shots, then each qubit's readout error applied to every shot. Aer would
  otherwise simulate one trajectory per shot: 16-21 s for a 12-qubit
  ``qftentangled`` with 2000 shots on FakeHanoiV2, versus 1.3-2.5 s this way;
- otherwise (very deep or wide circuits, e.g. MQT Bench ``grover`` at 12 qubits
  transpiles to 185k-433k instructions with an ESP below 1e-200): a global
  depolarizing approximation, ``p = F * p_ideal + (1 - F) * uniform`` with ``F``
  the calibration ESP of the transpiled gates (the model behind cross-entropy
  benchmarking, Arute et al., Nature 574, 505 (2019)), then readout error per shot.
  ``p_ideal`` is exact up to ``STATEVECTOR_MAX_QUBITS`` logical qubits and
  sampled above with the noiseless method :func:`qstream.core.sim_cost.choose_method`
  picks for the logical circuit (stabilizer for Clifford circuits, a statevector that
  fits the memory limit, or a matrix product state); the method is then reported as
  ``"depolarizing_esp+<method>"``.

The exact-or-approximate thresholds are :func:`qstream.core.sim_cost.noisy_static_method`,
the same rule the scheduler's capability check predicts with.
"""

from __future__ import annotations

import time
from typing import Any

from qstream.backends.aer_devices import DeviceCache, device, reduced_simulator, transpiled
from qstream.backends.circuit_maps import active_qubits, compact, measurements, parse
from qstream.backends.limits import STATEVECTOR_MAX_QUBITS, WORK_BUDGET
from qstream.backends.noise import esp, scheduled_duration_s
from qstream.backends.payloads import EmulatedOutcome, EmulatedPayload, RunFailure
from qstream.backends.sampling import (
    bits_to_counts,
    hex_counts,
    ideal_cached,
    ideal_distribution,
    method_simulator,
    quality,
)
from qstream.core.sim_cost import choose_method, noisy_static_method

__all__ = ["run_emulated", "simulate_noisy"]


def run_emulated(payload: EmulatedPayload) -> EmulatedOutcome | RunFailure:
    """Worker function: transpile and simulate one circuit on an emulated IBM device.

    Parameters
    ----------
    payload:
        The circuit, shots, seed, ``Fake*`` class and transpiler settings.

    Returns
    -------
    EmulatedOutcome | RunFailure
        The counts (clbit-0-rightmost bitstrings), ESP, quality, readout, layout,
        one shot's scheduled duration, the method and timings; or a failure of
        kind ``"circuit"`` (invalid, wider than the device, dynamic on a device
        without control flow) or ``"backend"`` (anything else).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        qc, features = parse(payload.qasm, payload.name)
    except Exception as exc:
        return RunFailure.of("circuit", exc)
    try:
        dev = device(payload.fake, payload.scale)
        if qc.num_qubits > dev.num_qubits:
            return RunFailure.of("circuit", f"circuit needs {qc.num_qubits} qubits; "
                                            f"the device has {dev.num_qubits}")
        if features.dynamic and not dev.supports_dynamic:
            return RunFailure.of("circuit", "the device does not run mid-circuit measurement, "
                                            "reset or classical control")
        t1 = time.perf_counter()
        tqc = transpiled(dev, qc, payload.qasm, payload.optimization_level,
                         payload.seed_transpiler)
        transpile_s = time.perf_counter() - t1

        esp_all, esp_gates = esp(tqc, dev.target, list(range(tqc.num_qubits)))
        duration_s = scheduled_duration_s(tqc, dev.target)
        measured = measurements(tqc)  # clbit -> physical qubit
        readout = tuple(dev.readout[measured[c]] if c in measured else (0.0, 0.0)
                        for c in range(tqc.num_clbits))
        layout = (tqc.layout.initial_index_layout(filter_ancillas=True)
                  if tqc.layout is not None else list(range(qc.num_qubits)))

        t2 = time.perf_counter()
        counts, method, active = simulate_noisy(
            dev, tqc, payload.shots, payload.seed, features.dynamic, payload.trajectories,
            payload.density_matrix_max_qubits, logical=qc, key=payload.qasm,
            esp_gates=esp_gates)
        simulate_s = time.perf_counter() - t2

        t3 = time.perf_counter()
        fidelity = quality(qc, features.dynamic, counts, key=payload.qasm)
        ideal_s = time.perf_counter() - t3
        ops = tqc.count_ops()
        return EmulatedOutcome(
            counts=counts, quality=fidelity, esp=esp_all, readout=readout,
            physical_qubits=tuple(int(q) for q in layout), duration_s=duration_s,
            method=method, active_qubits=active,
            two_qubit_gates=int(sum(v for k, v in ops.items() if k in ("cx", "ecr", "cz"))),
            depth=int(tqc.depth()), size=int(tqc.size()),
            transpile_s=transpile_s, simulate_s=simulate_s, ideal_s=ideal_s,
            compute_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
        )
    except Exception as exc:
        return RunFailure.of("backend", exc)


def simulate_noisy(dev: DeviceCache, tqc: Any, shots: int, seed: int, dynamic: bool,
                   trajectories: int, dm_max_qubits: int, *, logical: Any = None,
                   key: str | None = None,
                   esp_gates: float | None = None) -> tuple[dict[str, int], str, int]:
    """Noisy counts of a transpiled circuit; returns (counts, method, active qubits).

    The method is chosen as described in the module docstring. ``logical`` (the
    circuit before transpilation), ``key`` (its text, for the cache) and
    ``esp_gates`` are used only by the depolarizing approximation.

    Raises
    ------
    ValueError
        If the depolarizing approximation is needed and ``logical`` is None.
    """
    import numpy as np
    from qiskit_aer.library import SaveProbabilities

    active = active_qubits(tqc)
    n = len(active)
    ops = max(tqc.size(), 1)
    if dynamic:
        method = "statevector" if n <= STATEVECTOR_MAX_QUBITS else "matrix_product_state"
        cqc, _ = compact(tqc, active)
        sim = reduced_simulator(dev, active, method)
        data = sim.run(cqc, shots=shots, seed_simulator=seed).result().data(0)
        return hex_counts(data["counts"], tqc.num_clbits), method, n
    choice, k = noisy_static_method(n, ops, shots, trajectories=trajectories,
                                    dm_max_qubits=dm_max_qubits, work_budget=WORK_BUDGET)
    if choice == "density_matrix":
        cqc, _ = compact(tqc, active)
        sim = reduced_simulator(dev, active, "density_matrix")
        data = sim.run(cqc, shots=shots, seed_simulator=seed).result().data(0)
        return hex_counts(data["counts"], tqc.num_clbits), "density_matrix", n

    measured = measurements(tqc)  # clbit -> physical qubit
    qubits = sorted(set(measured.values()))
    rng = np.random.default_rng(seed)
    bits: dict[int, Any]
    if choice == "trajectories":
        # Average K noisy trajectories, sample all shots from the average.
        cqc, _ = compact(tqc, active)
        index = {q: i for i, q in enumerate(active)}
        body = cqc.copy_empty_like()
        for inst in cqc.data:
            if inst.operation.name != "measure":
                body.append(inst)
        body.append(SaveProbabilities(len(qubits)), [body.qubits[index[q]] for q in qubits])
        sim = reduced_simulator(dev, active, "statevector")
        data = sim.run(body, shots=k, seed_simulator=seed).result().data(0)
        probs = np.clip(np.asarray(data["probabilities"], dtype=np.float64), 0.0, None)
        outcomes = rng.choice(len(probs), size=shots, p=probs / probs.sum())
        bits = {q: (outcomes >> j) & 1 for j, q in enumerate(qubits)}
        method = f"statevector_trajectories_{k}"
    else:
        if logical is None:
            raise ValueError("the depolarizing approximation needs the logical circuit")
        fidelity = esp_gates if esp_gates is not None else \
            esp(tqc, dev.target, list(range(tqc.num_qubits)))[1]
        ideal_shots = rng.random(shots) < fidelity
        n_ideal = int(ideal_shots.sum())
        ideal_keys, ideal_method = _ideal_samples(logical, key, n_ideal, seed)
        clbit_of_qubit = {q: c for c, q in measured.items()}
        bits = {}
        for q in qubits:
            column = rng.integers(0, 2, size=shots, dtype=np.int64)
            if n_ideal:
                column[ideal_shots] = (ideal_keys >> clbit_of_qubit[q]) & 1
            bits[q] = column
        method = "depolarizing_esp" if ideal_method == "exact" else \
            f"depolarizing_esp+{ideal_method}"
    for q in qubits:  # readout error of the physical qubit, per shot
        p10, p01 = dev.readout[q]
        u = rng.random(shots)
        flip = np.where(bits[q] == 0, u < p10, u < p01)
        bits[q] = bits[q] ^ flip.astype(np.int64)
    counts = bits_to_counts({c: bits[q] for c, q in measured.items()}, shots, tqc.num_clbits)
    return counts, method, n


def _ideal_samples(logical: Any, key: str | None, n: int, seed: int) -> tuple[Any, str]:
    """``n`` noiseless samples of ``logical`` as clbit integers (object ints above 62
    clbits), and how they were drawn: ``"exact"`` (the exact distribution) or the Aer
    method :func:`~qstream.core.sim_cost.choose_method` picked.

    Raises
    ------
    SimulationCostError
        If no noiseless method fits the default memory limit.
    """
    import numpy as np

    from qstream.circuits import circuit_features

    if n == 0:
        return np.zeros(0, dtype=np.int64), "none"
    method = "exact"
    if logical.num_qubits <= STATEVECTOR_MAX_QUBITS:
        dist = ideal_cached(logical, key) if key is not None else ideal_distribution(logical)
        keys = list(dist)
        p = np.asarray([dist[k] for k in keys], dtype=np.float64)
        picks = np.random.default_rng(seed + 1).choice(len(keys), size=n, p=p / p.sum())
        values = [int(keys[i], 2) for i in picks.tolist()]
    else:
        from qiskit import transpile

        method = choose_method(circuit_features(logical), n, noisy=False).method
        sim, target = method_simulator(method)
        data = sim.run(transpile(logical, target=target, optimization_level=0), shots=n,
                       seed_simulator=seed).result().data(0)
        values = []
        for hex_key, count in data["counts"].items():
            values.extend([int(hex_key, 16)] * int(count))
        np.random.default_rng(seed + 1).shuffle(values)
    dtype: Any = np.int64 if logical.num_clbits <= 62 else object
    return np.asarray(values, dtype=dtype), method
