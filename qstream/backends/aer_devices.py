"""Per-process caches of emulated IBM devices: calibration, pass managers, transpiled
circuits and qubit-restricted Aer simulators.

Building these is expensive, so each pool worker builds them once:

- per emulated device and calibration snapshot (:func:`device`, ``scale``: a drifting
  device's day, :mod:`qstream.core.calibration_drift`): the ``Fake*`` backend, its
  ``NoiseModel.from_backend`` (the model ``AerSimulator.from_backend`` builds; 0.1 s
  for 7 qubits, 1.3 s for 127), its level-3 pass managers and readout table;
- per (device, set of physical qubits used, method) (:func:`reduced_simulator`): an
  ``AerSimulator`` whose noise model is *restricted to those qubits*. Running a
  transpiled circuit against a 127-qubit noise model costs ~1 s of Aer set-up per
  job even for 3 qubits; against the restricted model it costs milliseconds, with
  identical results (same seed, same counts; see ``tests/integration/test_backends.py``);
- per (device, level, seed, circuit text) (:func:`transpiled`): transpiled circuits
  below 100k instructions, so retries, reallocations and shot splits of one circuit
  pay for transpilation once.
"""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from qstream.backends.noise import readout_table
from qstream.backends.worker_env import aer_threads

__all__ = ["DeviceCache", "device", "pass_manager", "reduced_simulator", "transpiled",
           "warm_device"]


@dataclass
class DeviceCache:
    """Per-process cache of one emulated device.

    Attributes
    ----------
    fake_class:
        ``Fake*`` class name.
    backend, target, noise_model:
        The ``Fake*`` backend, its ``Target`` and ``NoiseModel.from_backend(backend)``.
    num_qubits:
        Device width.
    supports_dynamic:
        Whether the target has ``if_else`` (mid-circuit measurement and control).
    readout:
        Per physical qubit ``(P(1|0), P(0|1))`` (:func:`~qstream.backends.noise.readout_table`).
    build_s:
        Seconds the first build took.
    pass_managers:
        ``(optimization_level, seed_transpiler)`` -> preset pass manager.
    scale:
        The snapshot's factors (see :func:`device`); None for the ``Fake*`` snapshot.
    """

    fake_class: str
    backend: Any
    target: Any
    noise_model: Any
    num_qubits: int
    supports_dynamic: bool
    readout: list[tuple[float, float]]
    build_s: float
    pass_managers: dict[tuple[int, int], Any]
    scale: tuple[float, ...] | None = None


_DEVICES: OrderedDict[tuple[str, tuple[float, ...] | None], DeviceCache] = OrderedDict()
_DEVICES_MAX = 16
"""Snapshots kept per process (a drifting fleet changes snapshot once per emulated day)."""
_REDUCED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_REDUCED_MAX = 256
_TRANSPILED: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_TRANSPILED_MAX, _TRANSPILED_MAX_OPS = 32, 100_000


def device(fake_class: str, scale: tuple[float, ...] | None = None) -> DeviceCache:
    """This process's cache of the ``Fake*`` device ``fake_class`` (built on first use).

    ``scale``: the snapshot of a drifting device, factors on its one-qubit gate
    errors, two-qubit gate errors, readout errors, T1 and T2 (the order of
    :data:`qstream.core.calibration_drift.RATIO_KEYS`); applied to every qubit's and
    pair's entry of the target before the noise model is built, so the noise model,
    the ESP and the noise-aware layout all see that day's calibration. None or all
    ones: the ``Fake*`` snapshot itself. Cached per ``(fake_class, scale)`` (LRU of
    :data:`_DEVICES_MAX`).

    Raises
    ------
    ValueError
        If ``qiskit_ibm_runtime.fake_provider`` has no such ``Fake*`` class.
    """
    if scale is not None and all(f == 1.0 for f in scale):
        scale = None
    key = (fake_class, scale)
    dev = _DEVICES.get(key)
    if dev is not None:
        _DEVICES.move_to_end(key)
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
        if scale is not None:
            _scale_target(target, scale)
        noise_model = NoiseModel.from_backend(backend)
    readout = readout_table(backend)
    if scale is not None:
        readout = [(min(a * scale[2], 1.0), min(b * scale[2], 1.0)) for a, b in readout]
    dev = DeviceCache(
        fake_class=fake_class, backend=backend, target=target, noise_model=noise_model,
        num_qubits=int(backend.num_qubits),
        supports_dynamic="if_else" in target.operation_names,
        readout=readout, build_s=0.0, pass_managers={}, scale=scale,
    )
    dev.build_s = time.perf_counter() - t0
    _DEVICES[key] = dev
    while len(_DEVICES) > _DEVICES_MAX:
        _DEVICES.popitem(last=False)
    return dev


def _scale_target(target: Any, scale: tuple[float, ...]) -> None:
    """Multiply a fresh ``Fake*`` target's errors and T1/T2 in place (see :func:`device`)."""
    e1, e2, ro, t1, t2 = scale
    for name in target.operation_names:
        if name in ("reset", "delay", "barrier"):
            continue
        for qargs, props in target[name].items():
            if qargs is None or props is None or props.error is None:
                continue
            factor = ro if name == "measure" else e1 if len(qargs) == 1 else e2
            props.error = min(float(props.error) * factor, 1.0)
    for q in target.qubit_properties or []:
        if q is None:
            continue
        if q.t1:
            q.t1 = q.t1 * t1
        if q.t2:
            q.t2 = q.t2 * t2
            if q.t1:  # physical bound T2 <= 2 T1 (Aer rejects a larger T2)
                q.t2 = min(q.t2, 2.0 * q.t1)


def warm_device(fake_class: str) -> float:
    """Warm-up builder (:class:`~qstream.backends.payloads.WarmUp`): build
    :func:`device`; returns the seconds of its first build."""
    return device(fake_class).build_s


def pass_manager(dev: DeviceCache, optimization_level: int, seed_transpiler: int) -> Any:
    """The device's preset pass manager for ``(optimization_level, seed_transpiler)`` (cached)."""
    key = (optimization_level, seed_transpiler)
    pm = dev.pass_managers.get(key)
    if pm is None:
        from qiskit.transpiler import generate_preset_pass_manager

        pm = generate_preset_pass_manager(optimization_level=optimization_level,
                                          backend=dev.backend, seed_transpiler=seed_transpiler)
        dev.pass_managers[key] = pm
    return pm


def transpiled(dev: DeviceCache, qc: Any, key: str, optimization_level: int,
               seed_transpiler: int) -> Any:
    """Transpile ``qc`` for ``dev`` (LRU-cached by circuit text ``key``, below 100k
    instructions)."""
    cache_key = (dev.fake_class, dev.scale, optimization_level, seed_transpiler, key)
    tqc = _TRANSPILED.get(cache_key)
    if tqc is not None:
        _TRANSPILED.move_to_end(cache_key)
        return tqc
    pm = pass_manager(dev, optimization_level, seed_transpiler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tqc = pm.run(qc)
    if tqc.size() <= _TRANSPILED_MAX_OPS:
        _TRANSPILED[cache_key] = tqc
        if len(_TRANSPILED) > _TRANSPILED_MAX:
            _TRANSPILED.popitem(last=False)
    return tqc


def reduced_simulator(dev: DeviceCache, active: tuple[int, ...], method: str) -> Any:
    """An AerSimulator whose noise model covers only the physical qubits ``active``,
    relabelled 0..len(active)-1 (LRU-cached)."""
    key = (dev.fake_class, dev.scale, active, method)
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
    sim = AerSimulator(method=method, noise_model=reduced, max_parallel_threads=aer_threads())
    _REDUCED[key] = sim
    if len(_REDUCED) > _REDUCED_MAX:
        _REDUCED.popitem(last=False)
    return sim
