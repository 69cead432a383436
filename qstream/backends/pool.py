"""The shared process pool, the worker functions that run in it, and their per-process caches.

Simulation and transpilation never run in the event loop: backends send a plain
dict to a module-level worker function in a :class:`~concurrent.futures.ProcessPoolExecutor`
(``spawn`` start method, because the parent runs threads) and get a plain dict back.

Expensive objects are built once per worker process and cached:

- per emulated device: the ``Fake*`` backend, its ``NoiseModel.from_backend`` (the
  model ``AerSimulator.from_backend`` builds; 0.1 s for 7 qubits, 1.3 s for 127),
  the level-3 pass manager, the readout table;
- per (device, set of physical qubits used): an ``AerSimulator`` whose noise model
  is *restricted to those qubits*. Running a transpiled circuit against a 127-qubit
  noise model costs ~1 s of Aer set-up per job even for 3 qubits; against the
  restricted model it costs milliseconds, with identical results (same seed, same
  counts; see ``tests/integration/test_backends.py``);
- the ideal statevector simulator and Braket's ``LocalSimulator``.

Emulated (noisy) simulation picks its method by the work it would take, in
amplitude-operations (instructions x amplitudes), against :data:`WORK_BUDGET`:

- dynamic circuits: Aer statevector (matrix product state above
  :data:`STATEVECTOR_MAX_QUBITS` active qubits), one noisy trajectory per shot (exact);
- up to :data:`DENSITY_MATRIX_MAX_QUBITS` active qubits, when ``ops x 4**n`` fits
  the budget: Aer density matrix (exact, one pass for all shots);
- up to :data:`STATEVECTOR_MAX_QUBITS`, when at least :data:`MIN_TRAJECTORIES`
  trajectories fit: the average output distribution of up to :data:`TRAJECTORIES`
  noisy statevector trajectories (Monte Carlo over the gate noise), sampled for all
  shots, then each qubit's readout error applied to every shot. Aer would
  otherwise simulate one trajectory per shot: 16-21 s for a 12-qubit
  ``qftentangled`` with 2000 shots on FakeHanoiV2, versus 1.3-2.5 s this way;
- otherwise (very deep or wide circuits, e.g. MQT Bench ``grover`` at 12 qubits
  transpiles to 185k-433k instructions with an ESP below 1e-200): a global
  depolarizing approximation, ``p = F * p_ideal + (1 - F) * uniform`` with ``F``
  the calibration ESP of the transpiled gates (the model behind cross-entropy
  benchmarking, Arute et al., Nature 574, 505 (2019)), then readout error per shot.
  ``p_ideal`` is exact up to :data:`STATEVECTOR_MAX_QUBITS` logical qubits and
  sampled with a noiseless matrix-product-state simulation above.

Per worker, transpiled circuits (below 100k instructions) and ideal distributions
are cached by circuit text, so retries, reallocations and shot splits of one
circuit pay for transpilation once.

Worker results are dicts: ``{"ok": True, ...}`` or
``{"ok": False, "kind": "circuit" | "backend", "error": "..."}``; the backends
turn failures into :class:`~qstream.errors.BackendError`.
"""

from __future__ import annotations

import asyncio
import atexit
import math
import multiprocessing
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BRAKET_GATES",
    "DENSITY_MATRIX_MAX_QUBITS",
    "MIN_TRAJECTORIES",
    "QUALITY_MAX_QUBITS",
    "STATEVECTOR_MAX_QUBITS",
    "TRAJECTORIES",
    "WORK_BUDGET",
    "default_pool",
    "make_pool",
    "run_braket",
    "run_emulated",
    "run_statevector",
    "submit",
    "warm",
    "warm_worker",
]

DENSITY_MATRIX_MAX_QUBITS = 9
"""Widest active circuit simulated exactly with a density matrix.

Measured on FakeHanoiV2, ``qftentangled`` at level 3, 2000 shots, 2 cores: 0.3-0.45 s
up to 9 qubits, 1.0 s at 10, 4.1 s at 11, 16 s at 12 (memory and time grow 4x per
qubit); 128 trajectories take the same 0.42 s at 9 qubits and 0.53 s at 10.
"""

STATEVECTOR_MAX_QUBITS = 20
"""Widest active circuit simulated with noisy statevector trajectories (16 MiB each)."""

TRAJECTORIES = 128
"""Most noisy statevector trajectories averaged above :data:`DENSITY_MATRIX_MAX_QUBITS`.

Each trajectory samples one realisation of the gate noise; the shots are drawn
from the average of their output distributions. With 128 the Monte-Carlo error of
an outcome probability is below 9% of its spread between trajectories, and a
12-qubit ``qftentangled`` takes 2.5 s (FakeHanoiV2) on one core; FakeSherbrooke's
longer ECR routing (~1500 instructions) gets fewer trajectories within :data:`WORK_BUDGET`.
"""

MIN_TRAJECTORIES = 16
"""Fewest trajectories worth simulating; below it the depolarizing approximation is used."""

WORK_BUDGET = 5e8
"""Most amplitude-operations one noisy simulation may take: instructions x 4**n for
a density matrix, trajectories x instructions x 2**n for statevector trajectories.
Measured at ~1.6e-9 s (density matrix) and ~7e-9 s (noisy trajectories) per
amplitude-operation on one core, so a simulation stays under ~1-4 s (e.g. MQT Bench
``randomcircuit`` at 12 qubits, 2468 instructions on FakeHanoiV2: 49 trajectories)."""

QUALITY_MAX_QUBITS = 20
"""Widest circuit whose ideal distribution is computed for ``quality`` (16 MiB statevector)."""

BRAKET_GATES: dict[str, str] = {
    "x": "x", "y": "y", "z": "z", "h": "h", "s": "s", "sdg": "si", "t": "t", "tdg": "ti",
    "sx": "v", "sxdg": "vi", "id": "i", "rx": "rx", "ry": "ry", "rz": "rz", "p": "phaseshift",
    "cx": "cnot", "cy": "cy", "cz": "cz", "cp": "cphaseshift", "swap": "swap",
    "ccx": "ccnot", "cswap": "cswap",
}
"""qiskit gate name -> Braket OpenQASM 3 gate name (same matrices; Braket device
properties list them under ``supportedOperations``). Circuits are transpiled to
these qiskit gates before conversion."""

_SPAWN = multiprocessing.get_context("spawn")
_THREADS = 1  # Aer threads per worker, set by the initializer


# -- pool ------------------------------------------------------------------------------


def make_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """Create a process pool for simulation and transpilation.

    Parameters
    ----------
    workers:
        Worker processes; None means ``os.cpu_count()``. Each worker lets Aer use
        ``cpu_count // workers`` threads, so the pool does not oversubscribe the CPU.

    Returns
    -------
    ProcessPoolExecutor
        Uses the ``spawn`` start method (the parent runs threads: Faust, aiokafka).
        Workers start lazily on first use; :func:`warm` starts them and builds
        their caches ahead of time. The caller owns the pool (``shutdown()`` it).

    Raises
    ------
    ConfigError
        If ``workers < 1``.
    """
    from qstream.errors import ConfigError

    cpus = os.cpu_count() or 1
    n = cpus if workers is None else int(workers)
    if n < 1:
        raise ConfigError(f"pool workers must be >= 1, got {workers}")
    return ProcessPoolExecutor(max_workers=n, mp_context=_SPAWN, initializer=_init_worker,
                               initargs=(max(1, cpus // n),))


_DEFAULT_POOL: ProcessPoolExecutor | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> ProcessPoolExecutor:
    """The process-wide pool that backends built without one share (created on first use,
    shut down at interpreter exit)."""
    global _DEFAULT_POOL
    with _DEFAULT_LOCK:
        if _DEFAULT_POOL is None:
            _DEFAULT_POOL = make_pool(None)
            atexit.register(_DEFAULT_POOL.shutdown, wait=False, cancel_futures=True)
        return _DEFAULT_POOL


def warm(pool: ProcessPoolExecutor, device_names: Iterable[str], *,
         timeout_s: float = 300.0) -> dict[str, float]:
    """Start every worker of ``pool`` and build its caches for ``device_names``. Blocking.

    Call it at start-up, before the event loop serves traffic (or through
    ``loop.run_in_executor(None, warm, pool, names)``).

    Parameters
    ----------
    pool:
        A pool from :func:`make_pool`.
    device_names:
        Fleet names (``"ibm_perth_emu"``, ``"braket_local"``, ...) or ``Fake*``
        class names. Names of backends without a cache are ignored.
    timeout_s:
        Give up after this many seconds.

    Returns
    -------
    dict[str, float]
        Seconds it took one worker to build each cache (``"FakePerth"``,
        ``"braket"``, ``"statevector"``), the slowest worker's figure.

    Raises
    ------
    BackendError
        If the workers fail or do not finish within ``timeout_s``.
    """
    from qstream.backends.ibm_emulated import DEVICES
    from qstream.errors import BackendError

    keys: list[str] = []
    for name in device_names:
        if name in DEVICES:
            keys.append(DEVICES[name].fake_class)
        elif name.startswith("Fake"):
            keys.append(name)
        elif name.startswith("braket"):
            keys.append("braket")
        else:
            keys.append("statevector")
    keys = list(dict.fromkeys(keys))
    workers = int(getattr(pool, "_max_workers", 1))
    seen: set[int] = set()
    timings: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    try:
        for _ in range(3):  # a worker that finished early may take a second task
            futures = [pool.submit(warm_worker, keys, 0.5) for _ in range(workers)]
            for fut in futures:
                pid, built = fut.result(timeout=max(deadline - time.monotonic(), 0.001))
                seen.add(pid)
                for key, seconds in built.items():
                    timings[key] = max(timings.get(key, 0.0), seconds)
            if len(seen) >= workers:
                break
    except FutureTimeout as exc:
        raise BackendError(f"warming the pool took longer than {timeout_s} s") from exc
    except Exception as exc:
        raise BackendError(f"warming the pool failed: {type(exc).__name__}: {exc}") from exc
    return timings


async def submit(pool: Executor | None, fn: Any, payload: dict[str, Any],
                 backend: str) -> dict[str, Any]:
    """Run worker function ``fn(payload)`` in ``pool`` without blocking the event loop.

    Parameters
    ----------
    pool:
        The executor; None uses :func:`default_pool`.
    fn, payload:
        A module-level worker function of this module and its plain-dict argument.
    backend:
        Backend name for error messages.

    Returns
    -------
    dict
        The worker's result, when ``result["ok"]`` is true.

    Raises
    ------
    BackendError
        If the worker reports a failure, or the pool is broken or shut down.
    """
    from qstream.errors import BackendError

    executor = pool if pool is not None else default_pool()
    loop = asyncio.get_running_loop()
    try:
        out: dict[str, Any] = await loop.run_in_executor(executor, fn, payload)
    except BrokenProcessPool as exc:
        raise BackendError(f"{backend}: the worker pool broke ({exc}); restart the executor") \
            from exc
    except RuntimeError as exc:  # "cannot schedule new futures after shutdown"
        raise BackendError(f"{backend}: {exc}") from exc
    if not out.get("ok"):
        raise BackendError(f"{backend}: {out.get('error', 'unknown worker error')}")
    return out


# -- worker side -----------------------------------------------------------------------


def _init_worker(threads: int) -> None:
    global _THREADS
    _THREADS = max(1, int(threads))
    warnings.filterwarnings("ignore")  # Aer/qiskit-ibm-runtime warn on every Fake* load


def warm_worker(keys: Sequence[str], hold_s: float = 0.0) -> tuple[int, dict[str, float]]:
    """Worker function: build the caches named by ``keys``; return (pid, seconds per key).

    ``hold_s`` keeps the worker busy a little, so the next warm task goes to another
    worker. Cached keys report the time of their first build.
    """
    built: dict[str, float] = {}
    for key in keys:
        if key == "braket":
            t0 = time.perf_counter()
            _braket_simulator()
            built[key] = time.perf_counter() - t0
        elif key == "statevector":
            t0 = time.perf_counter()
            _ideal_simulator()
            built[key] = time.perf_counter() - t0
        else:
            built[key] = _device(key).build_s
    time.sleep(hold_s)
    return os.getpid(), built


@dataclass
class _Device:
    """Per-process cache of one emulated device."""

    fake_class: str
    backend: Any
    target: Any
    noise_model: Any
    num_qubits: int
    supports_dynamic: bool
    readout: list[tuple[float, float]]  # per physical qubit: (P(1|0), P(0|1))
    build_s: float
    pass_managers: dict[tuple[int, int], Any]


_DEVICES: dict[str, _Device] = {}
_REDUCED: OrderedDict[tuple[str, tuple[int, ...], str], Any] = OrderedDict()
_REDUCED_MAX = 256
_SINGLETONS: dict[str, Any] = {}
_TRANSPILED: OrderedDict[tuple[str, int, int, str], Any] = OrderedDict()
_TRANSPILED_MAX, _TRANSPILED_MAX_OPS = 32, 100_000
_IDEAL: OrderedDict[str, dict[str, float]] = OrderedDict()
_IDEAL_MAX, _IDEAL_MAX_OUTCOMES = 64, 1 << 16


def _device(fake_class: str) -> _Device:
    dev = _DEVICES.get(fake_class)
    if dev is not None:
        return dev
    t0 = time.perf_counter()
    from qiskit_aer.noise import NoiseModel
    from qiskit_ibm_runtime import fake_provider

    cls = getattr(fake_provider, fake_class, None)
    if cls is None or not fake_class.startswith("Fake"):
        raise ValueError(f"unknown fake backend {fake_class!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = cls()
        target = backend.target
        noise_model = NoiseModel.from_backend(backend)
    dev = _Device(
        fake_class=fake_class, backend=backend, target=target, noise_model=noise_model,
        num_qubits=int(backend.num_qubits),
        supports_dynamic="if_else" in target.operation_names,
        readout=readout_table(backend), build_s=0.0, pass_managers={},
    )
    dev.build_s = time.perf_counter() - t0
    _DEVICES[fake_class] = dev
    return dev


def readout_table(backend: Any) -> list[tuple[float, float]]:
    """Per physical qubit ``(P(read 1 | prep 0), P(read 0 | prep 1))`` of a ``Fake*`` backend.

    From ``backend.properties()`` (``prob_meas1_prep0``, ``prob_meas0_prep1``, the
    values Aer's noise model uses) where present; else the target's symmetric
    ``measure`` error; else 0.
    """
    props = backend.properties() if hasattr(backend, "properties") else None
    target = backend.target
    table: list[tuple[float, float]] = []
    for q in range(int(backend.num_qubits)):
        p10 = p01 = None
        if props is not None:
            p10 = _qubit_prop(props, q, "prob_meas1_prep0")
            p01 = _qubit_prop(props, q, "prob_meas0_prep1")
        if p10 is None or p01 is None:
            inst = target["measure"].get((q,)) if "measure" in target else None
            err = float(inst.error) if inst is not None and inst.error is not None else 0.0
            p10 = err if p10 is None else p10
            p01 = err if p01 is None else p01
        table.append((float(p10), float(p01)))
    return table


def _qubit_prop(props: Any, qubit: int, name: str) -> float | None:
    try:
        value = props.qubit_property(qubit, name)
    except Exception:
        return None
    if isinstance(value, tuple):
        value = value[0]
    return None if value is None else float(value)


def _pass_manager(dev: _Device, optimization_level: int, seed_transpiler: int) -> Any:
    key = (optimization_level, seed_transpiler)
    pm = dev.pass_managers.get(key)
    if pm is None:
        from qiskit.transpiler import generate_preset_pass_manager

        pm = generate_preset_pass_manager(optimization_level=optimization_level,
                                          backend=dev.backend, seed_transpiler=seed_transpiler)
        dev.pass_managers[key] = pm
    return pm


def _transpiled(dev: _Device, qc: Any, key: str, optimization_level: int,
                seed_transpiler: int) -> Any:
    """Transpile ``qc`` for ``dev`` (LRU-cached by circuit text, below 100k instructions)."""
    cache_key = (dev.fake_class, optimization_level, seed_transpiler, key)
    tqc = _TRANSPILED.get(cache_key)
    if tqc is not None:
        _TRANSPILED.move_to_end(cache_key)
        return tqc
    pm = _pass_manager(dev, optimization_level, seed_transpiler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tqc = pm.run(qc)
    if tqc.size() <= _TRANSPILED_MAX_OPS:
        _TRANSPILED[cache_key] = tqc
        if len(_TRANSPILED) > _TRANSPILED_MAX:
            _TRANSPILED.popitem(last=False)
    return tqc


def _ideal_cached(qc: Any, key: str) -> dict[str, float]:
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


def _reduced_simulator(dev: _Device, active: tuple[int, ...], method: str) -> Any:
    """An AerSimulator whose noise model covers only the physical qubits ``active``,
    relabelled 0..len(active)-1 (LRU-cached)."""
    key = (dev.fake_class, active, method)
    sim = _REDUCED.get(key)
    if sim is not None:
        _REDUCED.move_to_end(key)
        return sim
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel

    full = dev.noise_model
    index = {q: i for i, q in enumerate(active)}
    reduced = NoiseModel(basis_gates=sorted(full.basis_gates))
    # NoiseModel has no public "restrict to qubits"; these are the dicts its
    # add_* methods fill (qiskit-aer 0.18).
    for name, errors in full._local_quantum_errors.items():
        for qubits, error in errors.items():
            if all(q in index for q in qubits):
                reduced.add_quantum_error(error, name, [index[q] for q in qubits], warnings=False)
    for qubits, error in full._local_readout_errors.items():
        if all(q in index for q in qubits):
            reduced.add_readout_error(error, [index[q] for q in qubits], warnings=False)
    for name, error in full._default_quantum_errors.items():
        reduced.add_all_qubit_quantum_error(error, name, warnings=False)
    if full._default_readout_error is not None:
        reduced.add_all_qubit_readout_error(full._default_readout_error, warnings=False)
    sim = AerSimulator(method=method, noise_model=reduced, max_parallel_threads=_THREADS)
    _REDUCED[key] = sim
    if len(_REDUCED) > _REDUCED_MAX:
        _REDUCED.popitem(last=False)
    return sim


def _ideal_simulator() -> Any:
    sim = _SINGLETONS.get("ideal")
    if sim is None:
        from qiskit_aer import AerSimulator

        sim = AerSimulator(method="statevector", max_parallel_threads=_THREADS)
        _SINGLETONS["ideal"] = sim
    return sim


def _braket_simulator() -> Any:
    sim = _SINGLETONS.get("braket")
    if sim is None:
        from braket.devices import LocalSimulator

        sim = LocalSimulator("braket_sv")
        _SINGLETONS["braket"] = sim
    return sim


# -- worker functions --------------------------------------------------------------------


def run_emulated(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker function: transpile and simulate one circuit on an emulated IBM device.

    Parameters
    ----------
    payload:
        ``{"fake": "FakePerth", "name": str, "qasm": str, "shots": int, "seed": int,
        "optimization_level": 3, "seed_transpiler": int}``; optional
        ``"trajectories"`` and ``"density_matrix_max_qubits"``.

    Returns
    -------
    dict
        On success ``ok``, ``counts`` (clbit-0-rightmost bitstrings), ``esp``,
        ``quality``, ``readout`` (per clbit pairs), ``physical_qubits`` (initial
        layout), ``duration_s`` (scheduled duration of one shot from the calibrated
        gate lengths), ``method``, ``active_qubits``, ``two_qubit_gates``,
        ``depth``, and timings ``transpile_s``, ``simulate_s``, ``ideal_s``,
        ``compute_s``, ``cpu_s``.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        qc, features = _parse(payload)
    except Exception as exc:
        return _failure("circuit", exc)
    try:
        dev = _device(payload["fake"])
        if qc.num_qubits > dev.num_qubits:
            return _failure("circuit", f"circuit needs {qc.num_qubits} qubits; "
                                       f"the device has {dev.num_qubits}")
        if features.dynamic and not dev.supports_dynamic:
            return _failure("circuit", "the device does not run mid-circuit measurement, "
                                       "reset or classical control")
        t1 = time.perf_counter()
        tqc = _transpiled(dev, qc, payload["qasm"], int(payload.get("optimization_level", 3)),
                          int(payload.get("seed_transpiler", 0)))
        transpile_s = time.perf_counter() - t1

        esp, esp_gates = _esp(tqc, dev.target, list(range(tqc.num_qubits)))
        duration_s = scheduled_duration_s(tqc, dev.target)
        measured = _measurements(tqc)  # clbit -> physical qubit
        readout = [list(dev.readout[measured[c]]) if c in measured else [0.0, 0.0]
                   for c in range(tqc.num_clbits)]
        layout = (tqc.layout.initial_index_layout(filter_ancillas=True)
                  if tqc.layout is not None else list(range(qc.num_qubits)))

        t2 = time.perf_counter()
        counts, method, active = _simulate_noisy(
            dev, tqc, int(payload["shots"]), int(payload["seed"]), features.dynamic,
            int(payload.get("trajectories", TRAJECTORIES)),
            int(payload.get("density_matrix_max_qubits", DENSITY_MATRIX_MAX_QUBITS)),
            logical=qc, key=payload["qasm"], esp_gates=esp_gates)
        simulate_s = time.perf_counter() - t2

        t3 = time.perf_counter()
        quality = _quality(qc, features.dynamic, counts, key=payload["qasm"])
        ideal_s = time.perf_counter() - t3
        ops = tqc.count_ops()
        return {
            "ok": True, "counts": counts, "esp": esp, "quality": quality,
            "readout": readout, "physical_qubits": [int(q) for q in layout],
            "duration_s": duration_s, "method": method, "active_qubits": active,
            "two_qubit_gates": int(sum(v for k, v in ops.items() if k in ("cx", "ecr", "cz"))),
            "depth": int(tqc.depth()), "size": int(tqc.size()),
            "transpile_s": transpile_s, "simulate_s": simulate_s, "ideal_s": ideal_s,
            "compute_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
        }
    except Exception as exc:
        return _failure("backend", exc)


def run_statevector(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker function: noiseless CPU statevector simulation (qiskit-aer).

    Parameters
    ----------
    payload:
        ``{"name": str, "qasm": str, "shots": int, "seed": int, "max_qubits": int}``.

    Returns
    -------
    dict
        ``ok``, ``counts``, ``quality``, ``method``, ``compute_s`` (wall seconds of
        the work) and ``cpu_s`` (CPU seconds of this process, Aer threads included).
        A static circuit is simulated once and its shots sampled from the exact
        output distribution; a dynamic one runs one trajectory per shot.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        qc, features = _parse(payload)
    except Exception as exc:
        return _failure("circuit", exc)
    try:
        max_qubits = int(payload.get("max_qubits", QUALITY_MAX_QUBITS))
        if qc.num_qubits > max_qubits:
            return _failure("circuit", f"circuit needs {qc.num_qubits} qubits; "
                                       f"the statevector limit is {max_qubits}")
        shots, seed = int(payload["shots"]), int(payload["seed"])
        quality: float | None
        if features.dynamic:
            from qiskit import transpile

            sim = _ideal_simulator()
            tqc = transpile(qc, sim, optimization_level=1, seed_transpiler=seed)
            data = sim.run(tqc, shots=shots, seed_simulator=seed).result().data(0)
            counts = _hex_counts(data["counts"], qc.num_clbits)
            method, quality = "statevector_shots", None
        else:
            ideal = _ideal_cached(qc, payload["qasm"])
            counts = _sample_counts(ideal, shots, seed)
            method = "statevector_sampled"
            quality = _hellinger(counts, ideal)
        return {"ok": True, "counts": counts, "quality": quality, "method": method,
                "compute_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    except Exception as exc:
        return _failure("backend", exc)


def run_braket(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker function: run one circuit on Braket's ``LocalSimulator("braket_sv")``.

    The circuit is transpiled to the gates of :data:`BRAKET_GATES`, written as an
    OpenQASM 3 program in Braket's gate names (``braket.ir.openqasm.Program``) and
    run. Braket returns one column per measured qubit (``measured_qubits``); the
    columns are mapped back to the circuit's clbits, clbit 0 rightmost.

    Parameters
    ----------
    payload:
        ``{"name": str, "qasm": str, "shots": int, "seed": int, "max_qubits": int}``.
        Braket's local simulator draws shots from fresh OS entropy; ``seed`` only
        seeds the transpiler.

    Returns
    -------
    dict
        ``ok``, ``counts``, ``quality``, ``program`` (the OpenQASM 3 source sent),
        ``compute_s``, ``cpu_s``, ``simulate_s``.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        qc, features = _parse(payload)
    except Exception as exc:
        return _failure("circuit", exc)
    try:
        if features.dynamic:
            return _failure("circuit", "braket_sv local simulation does not run mid-circuit "
                                       "measurement, reset or classical control")
        max_qubits = int(payload.get("max_qubits", QUALITY_MAX_QUBITS))
        if qc.num_qubits > max_qubits:
            return _failure("circuit", f"circuit needs {qc.num_qubits} qubits; "
                                       f"the limit is {max_qubits}")
        from braket.ir.openqasm import Program

        source, clbit_qubit = braket_program(qc, seed_transpiler=int(payload["seed"]))
        shots = int(payload["shots"])
        t1 = time.perf_counter()
        result = _braket_simulator().run(Program(source=source), shots=shots).result()
        simulate_s = time.perf_counter() - t1
        counts = braket_counts(result.measurements, list(result.measured_qubits),
                               clbit_qubit, qc.num_clbits)
        quality = _quality(qc, False, counts, key=payload["qasm"])
        return {"ok": True, "counts": counts, "quality": quality, "program": source,
                "simulate_s": simulate_s, "compute_s": time.perf_counter() - t0,
                "cpu_s": time.process_time() - c0}
    except Exception as exc:
        return _failure("backend", exc)


# -- helpers (also used by the tests) -----------------------------------------------------


def braket_program(qc: Any, seed_transpiler: int = 0) -> tuple[str, dict[int, int]]:
    """Convert a static circuit to a Braket OpenQASM 3 program.

    Returns
    -------
    (source, clbit_qubit)
        The program, with every measured qubit measured once into ``b``; and the
        map clbit index -> qubit index of the circuit's (final) measurements.
    """
    from qiskit import transpile
    from qiskit.circuit import QuantumCircuit

    tqc: QuantumCircuit = transpile(qc, basis_gates=list(BRAKET_GATES), optimization_level=1,
                                    seed_transpiler=seed_transpiler)
    clbit_qubit = {c: q for c, q in _measurements(tqc).items()}
    lines = ["OPENQASM 3.0;", f"qubit[{tqc.num_qubits}] q;"]
    body: list[str] = []
    for inst in tqc.data:
        op = inst.operation
        if op.name in ("barrier", "measure", "delay"):
            continue
        if op.name not in BRAKET_GATES:
            raise ValueError(f"gate {op.name!r} has no Braket equivalent after transpilation")
        qubits = ", ".join(f"q[{tqc.find_bit(q).index}]" for q in inst.qubits)
        params = ""
        if op.params:
            params = "(" + ", ".join(repr(float(p)) for p in op.params) + ")"
        body.append(f"{BRAKET_GATES[op.name]}{params} {qubits};")
    measured = sorted(set(clbit_qubit.values()))
    lines.append(f"bit[{max(len(measured), 1)}] b;")
    lines.extend(body)
    lines.extend(f"b[{i}] = measure q[{q}];" for i, q in enumerate(measured))
    return "\n".join(lines) + "\n", clbit_qubit


def braket_counts(measurements: Any, measured_qubits: Sequence[int],
                  clbit_qubit: dict[int, int], num_clbits: int) -> dict[str, int]:
    """Map Braket's per-shot measurement rows to qiskit clbit-order counts.

    ``measurements[s][j]`` is the value of qubit ``measured_qubits[j]`` in shot ``s``;
    clbit ``c`` takes the value of qubit ``clbit_qubit[c]``; clbits that no
    measurement writes stay 0.

    >>> braket_counts([[1, 0], [1, 0]], [2, 0], {0: 0, 2: 2}, 3)
    {'100': 2}
    """
    import numpy as np

    rows = np.asarray(measurements, dtype=np.int64).reshape(len(measurements), -1)
    column = {int(q): j for j, q in enumerate(measured_qubits)}
    return _bits_to_counts({c: rows[:, column[q]] for c, q in clbit_qubit.items()},
                           rows.shape[0], num_clbits)


def ideal_distribution(qc: Any) -> dict[str, float]:
    """Exact output distribution of a static circuit over its clbits (noiseless).

    Final measurements are removed, the statevector is simulated (qiskit-aer) and
    the probabilities of the measured qubits are mapped to clbit bitstrings
    (clbit 0 rightmost; unmeasured clbits 0).
    """
    import numpy as np
    from qiskit import transpile
    from qiskit_aer.library import SaveProbabilities

    measured = _measurements(qc)  # clbit -> qubit
    qubits = sorted(set(measured.values()))
    body = qc.copy_empty_like()
    for inst in qc.data:
        if inst.operation.name not in ("measure", "barrier"):
            body.append(inst)
    body.append(SaveProbabilities(len(qubits)), [body.qubits[q] for q in qubits])
    sim = _ideal_simulator()
    tbody = transpile(body, sim, optimization_level=0)
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


def transpiled_esp(tqc: Any, target: Any) -> float:
    """Estimated success probability of a transpiled circuit on its physical qubits.

    ESP = product of ``(1 - error)`` over every gate, measurement and reset, with
    the error the target reports for that instruction on those physical qubits
    (Nishio et al., "Extracting success from IBM's 20-qubit machines using
    error-aware compilation", ACM JETC 2020). Control flow contributes its worst
    block. Virtual ``rz`` gates have error 0; barriers and delays are skipped.
    """
    return _esp(tqc, target, list(range(tqc.num_qubits)))[0]


def scheduled_duration_s(tqc: Any, target: Any) -> float:
    """Duration of one shot in seconds: an as-soon-as-possible schedule of the
    transpiled circuit with the target's calibrated instruction lengths."""
    return _duration_s(tqc, target, list(range(tqc.num_qubits)))


def _parse(payload: dict[str, Any]) -> tuple[Any, Any]:
    from qstream.circuits import circuit_features, inline_shadowing_gates, parse_qasm

    qc = parse_qasm(payload["qasm"], payload.get("name", "circuit"))
    return inline_shadowing_gates(qc), circuit_features(qc)


def _failure(kind: str, exc: BaseException | str) -> dict[str, Any]:
    if isinstance(exc, str):
        message = exc
    else:
        from qstream.errors import QStreamError

        message = str(exc) if isinstance(exc, QStreamError) else f"{type(exc).__name__}: {exc}"
    return {"ok": False, "kind": kind, "error": message}


def _measurements(qc: Any) -> dict[int, int]:
    """clbit index -> qubit index of every measurement, control-flow blocks included
    (the last write of a clbit wins)."""
    out: dict[int, int] = {}
    _collect_measurements(qc, list(range(qc.num_qubits)), list(range(qc.num_clbits)), out)
    return out


def _collect_measurements(qc: Any, qmap: list[int], cmap: list[int], out: dict[int, int]) -> None:
    from qiskit.circuit import ControlFlowOp

    for inst in qc.data:
        op = inst.operation
        if op.name == "measure":
            out[cmap[qc.find_bit(inst.clbits[0]).index]] = qmap[qc.find_bit(inst.qubits[0]).index]
        elif isinstance(op, ControlFlowOp):
            inner_q = [qmap[qc.find_bit(q).index] for q in inst.qubits]
            inner_c = [cmap[qc.find_bit(c).index] for c in inst.clbits]
            for block in op.blocks:
                if block.num_qubits == len(inner_q) and block.num_clbits == len(inner_c):
                    _collect_measurements(block, inner_q, inner_c, out)


def _esp(qc: Any, target: Any, qmap: list[int]) -> tuple[float, float]:
    """(ESP of everything, ESP of the gates alone: measurements excluded)."""
    from qiskit.circuit import ControlFlowOp

    esp_all = esp_gates = 1.0
    find_bit = qc.find_bit
    props_of = {name: target[name] for name in target.operation_names}
    for inst in qc.data:
        op = inst.operation
        name = op.name
        if name in ("barrier", "delay"):
            continue
        qargs = tuple(qmap[find_bit(q).index] for q in inst.qubits)
        if isinstance(op, ControlFlowOp):
            blocks = [_esp(b, target, list(qargs)) for b in op.blocks
                      if b.num_qubits == len(qargs)]
            if blocks:
                esp_all *= min(b[0] for b in blocks)
                esp_gates *= min(b[1] for b in blocks)
            continue
        table = props_of.get(name)
        props = table.get(qargs) if table is not None else None
        error = getattr(props, "error", None)
        if error is not None:
            success = 1.0 - min(max(float(error), 0.0), 1.0)
            esp_all *= success
            if name != "measure":
                esp_gates *= success
    return esp_all, esp_gates


_UNIT_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "ps": 1e-12}


def _duration_s(qc: Any, target: Any, qmap: list[int]) -> float:
    from qiskit.circuit import ControlFlowOp

    finish: dict[int, float] = {}
    for inst in qc.data:
        op = inst.operation
        qargs = [qmap[qc.find_bit(q).index] for q in inst.qubits]
        start = max((finish.get(q, 0.0) for q in qargs), default=0.0)
        if op.name == "barrier":
            length = 0.0
        elif isinstance(op, ControlFlowOp):
            length = max((_duration_s(b, target, qargs) for b in op.blocks
                          if b.num_qubits == len(qargs)), default=0.0)
        elif op.name == "delay":
            unit = getattr(op, "unit", "dt")
            value = float(op.params[0]) if op.params else 0.0
            length = value * (target.dt or 0.0) if unit == "dt" else value * _UNIT_S.get(unit, 0.0)
        else:
            props = target[op.name].get(tuple(qargs)) if op.name in target else None
            length = float(getattr(props, "duration", None) or 0.0)
        for q in qargs:
            finish[q] = start + length
    return max(finish.values(), default=0.0)


def _active_qubits(tqc: Any) -> tuple[int, ...]:
    """Physical qubits the transpiled circuit acts on (barriers ignored), sorted."""
    find_bit = tqc.find_bit
    return tuple(sorted({find_bit(q).index for inst in tqc.data
                         if inst.operation.name != "barrier" for q in inst.qubits}))


def _compact(tqc: Any, active: tuple[int, ...] | None = None) -> tuple[Any, tuple[int, ...]]:
    """Remap a transpiled circuit onto the physical qubits it touches (keeping clbits)."""
    from qiskit.circuit import QuantumCircuit, QuantumRegister

    active = _active_qubits(tqc) if active is None else active
    reg = QuantumRegister(max(len(active), 1), "q")
    out = QuantumCircuit(reg, list(tqc.clbits))
    for creg in tqc.cregs:
        out.add_register(creg)
    index = {q: i for i, q in enumerate(active)}
    for inst in tqc.data:
        if inst.operation.name == "barrier":
            continue
        out.append(inst.operation, [reg[index[tqc.find_bit(q).index]] for q in inst.qubits],
                   inst.clbits)
    return out, active


def _simulate_noisy(dev: _Device, tqc: Any, shots: int, seed: int, dynamic: bool,
                    trajectories: int, dm_max_qubits: int, *, logical: Any = None,
                    key: str | None = None,
                    esp_gates: float | None = None) -> tuple[dict[str, int], str, int]:
    """Noisy counts of a transpiled circuit; returns (counts, method, active qubits).

    The method is chosen as described in the module docstring. ``logical`` (the
    circuit before transpilation), ``key`` (its text, for the cache) and
    ``esp_gates`` are used only by the depolarizing approximation.
    """
    import numpy as np
    from qiskit_aer.library import SaveProbabilities

    active = _active_qubits(tqc)
    n = len(active)
    ops = max(tqc.size(), 1)
    if dynamic:
        method = "statevector" if n <= STATEVECTOR_MAX_QUBITS else "matrix_product_state"
        cqc, _ = _compact(tqc, active)
        sim = _reduced_simulator(dev, active, method)
        data = sim.run(cqc, shots=shots, seed_simulator=seed).result().data(0)
        return _hex_counts(data["counts"], tqc.num_clbits), method, n
    if n <= dm_max_qubits and ops * 4.0**n <= WORK_BUDGET:
        cqc, _ = _compact(tqc, active)
        sim = _reduced_simulator(dev, active, "density_matrix")
        data = sim.run(cqc, shots=shots, seed_simulator=seed).result().data(0)
        return _hex_counts(data["counts"], tqc.num_clbits), "density_matrix", n

    measured = _measurements(tqc)  # clbit -> physical qubit
    qubits = sorted(set(measured.values()))
    rng = np.random.default_rng(seed)
    k = min(trajectories, shots, int(WORK_BUDGET // (ops * 2.0**n))) \
        if n <= STATEVECTOR_MAX_QUBITS else 0
    bits: dict[int, Any]
    if k >= min(MIN_TRAJECTORIES, shots):
        # Average K noisy trajectories, sample all shots from the average.
        cqc, _ = _compact(tqc, active)
        index = {q: i for i, q in enumerate(active)}
        body = cqc.copy_empty_like()
        for inst in cqc.data:
            if inst.operation.name != "measure":
                body.append(inst)
        body.append(SaveProbabilities(len(qubits)), [body.qubits[index[q]] for q in qubits])
        sim = _reduced_simulator(dev, active, "statevector")
        data = sim.run(body, shots=k, seed_simulator=seed).result().data(0)
        probs = np.clip(np.asarray(data["probabilities"], dtype=np.float64), 0.0, None)
        outcomes = rng.choice(len(probs), size=shots, p=probs / probs.sum())
        bits = {q: (outcomes >> j) & 1 for j, q in enumerate(qubits)}
        method = f"statevector_trajectories_{k}"
    else:
        if logical is None:
            raise ValueError("the depolarizing approximation needs the logical circuit")
        fidelity = esp_gates if esp_gates is not None else \
            _esp(tqc, dev.target, list(range(tqc.num_qubits)))[1]
        ideal_shots = rng.random(shots) < fidelity
        n_ideal = int(ideal_shots.sum())
        ideal_keys = _ideal_samples(logical, key, n_ideal, seed)
        clbit_of_qubit = {q: c for c, q in measured.items()}
        bits = {}
        for q in qubits:
            column = rng.integers(0, 2, size=shots, dtype=np.int64)
            if n_ideal:
                column[ideal_shots] = (ideal_keys >> clbit_of_qubit[q]) & 1
            bits[q] = column
        method = "depolarizing_esp"
    for q in qubits:  # readout error of the physical qubit, per shot
        p10, p01 = dev.readout[q]
        u = rng.random(shots)
        flip = np.where(bits[q] == 0, u < p10, u < p01)
        bits[q] = bits[q] ^ flip.astype(np.int64)
    counts = _bits_to_counts({c: bits[q] for c, q in measured.items()}, shots, tqc.num_clbits)
    return counts, method, n


def _ideal_samples(logical: Any, key: str | None, n: int, seed: int) -> Any:
    """``n`` noiseless samples of ``logical`` as clbit integers (object ints above 62 clbits)."""
    import numpy as np

    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if logical.num_qubits <= STATEVECTOR_MAX_QUBITS:
        dist = _ideal_cached(logical, key) if key is not None else ideal_distribution(logical)
        keys = list(dist)
        p = np.asarray([dist[k] for k in keys], dtype=np.float64)
        picks = np.random.default_rng(seed + 1).choice(len(keys), size=n, p=p / p.sum())
        values = [int(keys[i], 2) for i in picks.tolist()]
    else:
        from qiskit import transpile
        from qiskit_aer import AerSimulator

        sim = AerSimulator(method="matrix_product_state", max_parallel_threads=_THREADS)
        data = sim.run(transpile(logical, sim, optimization_level=0), shots=n,
                       seed_simulator=seed).result().data(0)
        values = []
        for hex_key, count in data["counts"].items():
            values.extend([int(hex_key, 16)] * int(count))
        np.random.default_rng(seed + 1).shuffle(values)
    dtype: Any = np.int64 if logical.num_clbits <= 62 else object
    return np.asarray(values, dtype=dtype)


def _hex_counts(raw: dict[str, int], num_clbits: int) -> dict[str, int]:
    """Aer's hex memory keys (bit i = clbit i) -> clbit-0-rightmost bitstrings."""
    out: dict[str, int] = {}
    for key, count in raw.items():
        bits = format(int(key, 16), f"0{num_clbits}b")
        out[bits] = out.get(bits, 0) + int(count)
    return out


def _bits_to_counts(columns: dict[int, Any], shots: int, num_clbits: int) -> dict[str, int]:
    """Counts from per-clbit 0/1 arrays of length ``shots`` (missing clbits are 0)."""
    import numpy as np

    dtype: Any = np.int64 if num_clbits <= 62 else object
    values = np.zeros(shots, dtype=dtype)
    for c, bits in columns.items():
        values = values + (np.asarray(bits).astype(dtype) << c)
    uniq, freq = np.unique(values, return_counts=True)
    return {format(int(v), f"0{num_clbits}b"): int(n)
            for v, n in zip(uniq.tolist(), freq.tolist(), strict=True)}


def _sample_counts(dist: dict[str, float], shots: int, seed: int) -> dict[str, int]:
    import numpy as np

    keys = list(dist)
    p = np.asarray([dist[k] for k in keys], dtype=np.float64)
    p /= p.sum()
    draws = np.random.default_rng(seed).multinomial(shots, p)
    return {k: int(n) for k, n in zip(keys, draws.tolist(), strict=True) if n}


def _quality(qc: Any, dynamic: bool, counts: dict[str, int],
             key: str | None = None) -> float | None:
    if dynamic or qc.num_qubits > QUALITY_MAX_QUBITS:
        return None
    ideal = _ideal_cached(qc, key) if key is not None else ideal_distribution(qc)
    return _hellinger(counts, ideal)


def _hellinger(counts: dict[str, int], ideal: dict[str, float]) -> float:
    from qiskit.quantum_info import hellinger_fidelity

    value = float(hellinger_fidelity(counts, ideal))
    return value if math.isfinite(value) else 0.0
