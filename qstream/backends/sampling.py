"""Counts and ideal distributions: bitstring conversions, sampling, Hellinger quality.

Bitstrings are clbit-0-rightmost, ``num_clbits`` wide (qiskit order). The ideal
(noiseless) statevector simulator and the ideal distributions of recent circuits
are cached per worker process: the distribution by circuit text (at most
:data:`_IDEAL_MAX` circuits of at most ``2**16`` outcomes), so retries,
reallocations and shot splits of one circuit compute it once.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any

from qstream.backends.circuit_maps import measurements
from qstream.backends.limits import QUALITY_MAX_QUBITS
from qstream.backends.worker_env import aer_threads

__all__ = [
    "bits_to_counts",
    "hellinger",
    "hex_counts",
    "ideal_cached",
    "ideal_distribution",
    "ideal_simulator",
    "ideal_target",
    "method_simulator",
    "quality",
    "sample_counts",
    "warm_ideal_simulator",
]

_IDEAL: OrderedDict[str, dict[str, float]] = OrderedDict()
_IDEAL_MAX, _IDEAL_MAX_OUTCOMES = 64, 1 << 16
_SIMULATOR: list[Any] = []  # the ideal AerSimulator, once built
_TARGET: list[Any] = []  # its transpiler Target, once built (see ideal_target)
_METHODS: dict[str, tuple[Any, Any]] = {}  # method -> (AerSimulator, its Target)


def ideal_simulator() -> Any:
    """This process's noiseless ``AerSimulator(method="statevector")`` (built once)."""
    if not _SIMULATOR:
        from qiskit_aer import AerSimulator

        _SIMULATOR.append(AerSimulator(method="statevector", max_parallel_threads=aer_threads()))
    return _SIMULATOR[0]


def ideal_target() -> Any:
    """The transpiler target of :func:`ideal_simulator`, built once per process.

    qiskit-aer 0.17 rebuilds an ``AerSimulator``'s ``Target`` on every ``.target``
    access, and ``transpile(circuit, backend)`` reads it about 136 times: that was 97% of
    the runner's time for an 8-qubit QAOA circuit (cProfile, 2026-12-01: 100 ms per call,
    of which ``transpile`` 97 ms). Transpiling against this cached target gives the same
    circuit.
    """
    if not _TARGET:
        _TARGET.append(ideal_simulator().target)
    return _TARGET[0]


def method_simulator(method: str) -> tuple[Any, Any]:
    """This process's noiseless ``AerSimulator(method=method)`` and its transpiler target,
    built once per method (see :func:`ideal_target` for why the target is cached)."""
    found = _METHODS.get(method)
    if found is None:
        from qiskit_aer import AerSimulator

        sim = AerSimulator(method=method, max_parallel_threads=aer_threads())
        found = _METHODS[method] = (sim, sim.target)
    return found


def warm_ideal_simulator(key: str) -> float:
    """Warm-up builder (:class:`~qstream.backends.payloads.WarmUp`): build
    :func:`ideal_simulator`; returns the seconds this call took (``key`` is unused)."""
    t0 = time.perf_counter()
    ideal_simulator()
    return time.perf_counter() - t0


def ideal_distribution(qc: Any) -> dict[str, float]:
    """Exact output distribution of a static circuit over its clbits (noiseless).

    Final measurements are removed, the statevector is simulated (qiskit-aer) and
    the probabilities of the measured qubits are mapped to clbit bitstrings
    (clbit 0 rightmost; unmeasured clbits 0).
    """
    import numpy as np
    from qiskit import transpile
    from qiskit_aer.library import SaveProbabilities

    measured = measurements(qc)  # clbit -> qubit
    qubits = sorted(set(measured.values()))
    body = qc.copy_empty_like()
    for inst in qc.data:
        if inst.operation.name not in ("measure", "barrier"):
            body.append(inst)
    body.append(SaveProbabilities(len(qubits)), [body.qubits[q] for q in qubits])
    sim = ideal_simulator()
    tbody = transpile(body, target=ideal_target(), optimization_level=0)
    probs = np.asarray(sim.run(tbody, shots=1).result().data(0)["probabilities"])
    outcomes = np.nonzero(probs > 1e-12)[0]
    keys = np.zeros(len(outcomes), dtype=np.int64)
    position = {q: j for j, q in enumerate(qubits)}
    for c, q in measured.items():
        keys |= ((outcomes >> position[q]) & 1) << c
    dist: dict[str, float] = {}
    width = qc.num_clbits
    for key, p in zip(keys.tolist(), probs[outcomes].tolist(), strict=True):
        k = format(key, f"0{width}b")
        dist[k] = dist.get(k, 0.0) + p
    return dist


def ideal_cached(qc: Any, key: str) -> dict[str, float]:
    """:func:`ideal_distribution` of ``qc``, LRU-cached by ``key`` (its source text)."""
    dist = _IDEAL.get(key)
    if dist is not None:
        _IDEAL.move_to_end(key)
        return dist
    dist = ideal_distribution(qc)
    if len(dist) <= _IDEAL_MAX_OUTCOMES:
        _IDEAL[key] = dist
        if len(_IDEAL) > _IDEAL_MAX:
            _IDEAL.popitem(last=False)
    return dist


def hex_counts(raw: dict[str, int], num_clbits: int) -> dict[str, int]:
    """Aer's hex memory keys (bit i = clbit i) -> clbit-0-rightmost bitstrings.

    >>> hex_counts({"0x1": 3, "0x2": 1}, 2)
    {'01': 3, '10': 1}
    """
    out: dict[str, int] = {}
    for key, count in raw.items():
        bits = format(int(key, 16), f"0{num_clbits}b")
        out[bits] = out.get(bits, 0) + int(count)
    return out


def bits_to_counts(columns: dict[int, Any], shots: int, num_clbits: int) -> dict[str, int]:
    """Counts from per-clbit 0/1 arrays of length ``shots`` (missing clbits are 0).

    >>> bits_to_counts({0: [1, 1, 0]}, 3, 2)
    {'00': 1, '01': 2}
    """
    import numpy as np

    dtype: Any = np.int64 if num_clbits <= 62 else object
    values = np.zeros(shots, dtype=dtype)
    for c, bits in columns.items():
        values = values + (np.asarray(bits).astype(dtype) << c)
    uniq, freq = np.unique(values, return_counts=True)
    return {format(int(v), f"0{num_clbits}b"): int(n)
            for v, n in zip(uniq.tolist(), freq.tolist(), strict=True)}


def sample_counts(dist: dict[str, float], shots: int, seed: int) -> dict[str, int]:
    """``shots`` multinomial draws from ``dist`` (``numpy.random.default_rng(seed)``);
    outcomes drawn 0 times are left out."""
    import numpy as np

    keys = list(dist)
    p = np.asarray([dist[k] for k in keys], dtype=np.float64)
    p /= p.sum()
    draws = np.random.default_rng(seed).multinomial(shots, p)
    return {k: int(n) for k, n in zip(keys, draws.tolist(), strict=True) if n}


def quality(qc: Any, dynamic: bool, counts: dict[str, int],
            key: str | None = None) -> float | None:
    """Hellinger fidelity of ``counts`` to ``qc``'s ideal distribution; None for a
    dynamic circuit or one wider than :data:`~qstream.backends.limits.QUALITY_MAX_QUBITS`.
    ``key`` (the source text) caches the distribution."""
    if dynamic or qc.num_qubits > QUALITY_MAX_QUBITS:
        return None
    ideal = ideal_cached(qc, key) if key is not None else ideal_distribution(qc)
    return hellinger(counts, ideal)


def hellinger(counts: dict[str, int], ideal: dict[str, float]) -> float:
    """:func:`qiskit.quantum_info.hellinger_fidelity` of counts to a distribution (0 if
    not finite)."""
    from qiskit.quantum_info import hellinger_fidelity

    value = float(hellinger_fidelity(counts, ideal))
    return value if math.isfinite(value) else 0.0
