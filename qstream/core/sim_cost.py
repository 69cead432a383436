"""Classical cost of simulating a circuit: time and memory per method, and the cheapest that fits.

Local simulators and emulated devices spend real CPU time and memory on every
circuit. This module predicts both from a circuit's
:class:`~qstream.core.features.CircuitFeatures`, per Aer simulation method, and
:func:`choose_method` picks the method a backend should run (and the scheduler should
expect) under a memory limit:

================================  ==========================  =============================================
method                            memory (bytes)              time (seconds)
================================  ==========================  =============================================
``statevector``                   ``16 * 2**n``               ``SV * 2**n * gates + SAMPLE * shots``
                                                              (dynamic: the first term once per shot)
``stabilizer`` (Clifford only)    ``n**2``                    ``STAB_GATE * n**2 * gates
                                                              + STAB_MEASURE * n**2 * measured * shots``
``matrix_product_state``          ``16 * 2 * n * chi**2``     ``MPS_GATE * chi**3 * entangling
                                                              + MPS_SHOT * n * chi**2 * shots``
``density_matrix`` (noisy)        ``16 * 4**n``               ``DM * 4**n * ops + SAMPLE * shots``
``trajectories`` (noisy)          ``16 * 2**n``               ``k * ops * (TRAJ * 2**n + TRAJ_OP)``
``depolarizing`` (noisy, approx)  that of the ideal method    ideal method's time ``+ SAMPLE * shots``
================================  ==========================  =============================================

``n`` is the width, ``gates`` the logical gate count, ``ops`` the instructions after
transpiling for a device (estimated as :data:`TRANSPILE_FACTOR` x gates + measured),
``k`` the noisy trajectories. Complex128 amplitudes take 16 bytes. The matrix product
state's bond dimension is bounded conservatively from the entangling gate count
(:func:`mps_bond_dimension`).

Every constant was measured with ``scripts/measure_sim_cost.py`` (qiskit-aer 0.18.2,
one Aer thread, as a qstream pool worker runs it) on 2026-12-01 on this project's
machine: 2 cores of an Intel Xeon, 24 GiB.

Examples
--------
>>> from qstream.core.features import CircuitFeatures
>>> ghz40 = CircuitFeatures(40, 41, 39, 40, 40, 40, clifford=True)
>>> plan = choose_method(ghz40, 1000, noisy=False, memory_bytes=4 * 2**30)
>>> plan.method, plan.time_s < 1.0
('stabilizer', True)
>>> statevector_plan(CircuitFeatures(30, 30, 29, 30, 30, 30), 1000).memory_bytes == 16 * 2**30
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from qstream.core.features import CircuitFeatures
from qstream.errors import SimulationCostError

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_TIME_LIMIT_S",
    "SimPlan",
    "SimSpec",
    "choose_method",
    "density_matrix_plan",
    "log2_amplitudes",
    "mps_bond_dimension",
    "mps_plan",
    "noisy_static_method",
    "plan_or_reason",
    "stabilizer_plan",
    "statevector_plan",
    "trajectories_plan",
]

AMPLITUDE_BYTES = 16
"""One complex128 amplitude."""

SV_S_PER_AMP_GATE = 2.0e-9
"""Noiseless Aer statevector, seconds per amplitude per gate: measured 2.05e-9 (18
qubits), 1.96e-9 (20), 2.03e-9 (22), 2.04e-9 (24); 2.5-3.5e-9 at 14-16 qubits, where
fixed costs weigh more (``scripts/measure_sim_cost.py``, 2026-12-01, 2 cores)."""

SAMPLE_S_PER_SHOT = 1.2e-6
"""Aer's measurement sampling and counts, seconds per shot (measured 1.15-1.21e-6 at 14
qubits, 1e5 shots minus 10)."""

DM_S_PER_AMP_OP = 3.5e-9
"""Noisy Aer density matrix (FakeHanoiV2 noise), seconds per ``4**n`` amplitude per
instruction: measured 3.5e-9 (9 qubits), 3.1e-9 (10); fixed costs dominate below 9."""

TRAJ_S_PER_AMP_OP = 3.0e-9
TRAJ_S_PER_OP = 3.0e-5
"""Noisy statevector trajectory (FakeHanoiV2 noise, thermal relaxation as Kraus
operators), seconds per amplitude per instruction and per instruction: a fit of
``t / (k ops) = TRAJ_S_PER_OP + TRAJ_S_PER_AMP_OP * 2**n`` to 2.7e-5 (10 qubits),
4.2e-5 (12), 1.2e-4 (14), 1.9e-4 (16), 16 trajectories."""

STAB_S_PER_GATE_UNIT = 1.0e-9
STAB_S_PER_MEASURE_UNIT = 2.5e-10
"""Aer stabilizer, seconds per ``n**2`` per gate and per ``n**2`` per measured qubit per
shot. GHZ circuits: sampling dominates, ``t / (n**3 shots)`` measured 2.3e-10 (50
qubits), 1.5e-10 (100), 1.2e-10 (200), 1.0e-10 (400); the gate term (``n**2`` per
gate, a tableau update touches 2n rows) is a conservative bound below 1e-9."""

MPS_S_PER_GATE_UNIT = 4.0e-9
MPS_S_PER_SHOT_UNIT = 3.0e-8
"""Aer matrix product state, seconds per two-qubit gate per ``chi**3`` (the SVD), and per
shot per ``n * chi**2`` (sampling). Brickwork cx circuits on 40 qubits: 3.7e-9 (chi 64),
2.4e-9 (128), 2.2e-9 (256) per gate unit; 2.0e-8, 2.0e-8, 2.7e-8 per shot unit."""

TRANSPILE_FACTOR = 3.0
"""Instructions per logical gate after transpiling for an IBM device at level 3
(basis rz/sx/x plus cx or ecr, and SWAP routing): measured 2.4-2.6 for chain-entangled
circuits on FakeHanoiV2; 3 leaves room for routing. Scheduler-side estimate only:
the emulated runner decides on the real transpiled circuit."""

NOISY_WORK_BUDGET = 5e8
"""Most amplitude-operations the emulated runner spends on an exact noisy method:
``ops * 4**n`` for a density matrix, ``k * ops * 2**n`` for trajectories (about 1-4 s
on one core, see :mod:`qstream.backends.limits`)."""

DENSITY_MATRIX_MAX_QUBITS = 9
"""Widest active circuit the emulated runner simulates with a density matrix."""

TRAJECTORY_MAX_QUBITS = 20
"""Widest active circuit the emulated runner simulates with noisy trajectories."""

TRAJECTORIES = 128
"""Most noisy trajectories averaged per static circuit."""

MIN_TRAJECTORIES = 16
"""Fewest trajectories worth simulating; below it the depolarizing approximation is used."""

EXACT_BELOW_S = 1.0
EXACT_MAX_QUBITS = 20
"""A dense statevector of at most :data:`EXACT_MAX_QUBITS` qubits predicted under
:data:`EXACT_BELOW_S` seconds is preferred over cheaper methods: it gives the exact
output distribution (hence the ``quality`` metric, computed up to 20 qubits) and is
what small circuits always ran (policy, not a measurement)."""

DEFAULT_MEMORY_BYTES = 4 * 2**30
"""Memory one simulation may take on a local worker: 24 GiB machine, two pool workers,
the rest of qstream beside them (policy). A 28-qubit statevector fits, 29 does not."""

DEFAULT_TIME_LIMIT_S = 600.0
"""Longest predicted simulation a local backend accepts, seconds (policy: a pool worker
busy for more than ten minutes starves the fleet)."""

NOISELESS_METHODS = ("statevector", "stabilizer", "matrix_product_state")
NOISY_METHODS = ("density_matrix", "trajectories", "depolarizing")


@dataclass(frozen=True, slots=True)
class SimPlan:
    """One way to simulate a circuit, with its predicted cost.

    Attributes
    ----------
    method:
        ``"statevector"``, ``"stabilizer"``, ``"matrix_product_state"``,
        ``"density_matrix"``, ``"trajectories"`` or ``"depolarizing"``.
    time_s:
        Predicted wall seconds on one Aer thread.
    memory_bytes:
        Predicted peak memory of the simulator state, bytes (a float: it may exceed
        any integer width, e.g. ``16 * 4**127``).
    reason:
        Human-readable summary of the estimate.
    trajectories:
        Noisy trajectories the plan runs (0 when not a trajectory method).
    ideal:
        For ``"depolarizing"``: the noiseless method of its ideal samples; else "".
    """

    method: str
    time_s: float
    memory_bytes: float
    reason: str
    trajectories: int = 0
    ideal: str = ""


@dataclass(frozen=True, slots=True)
class SimSpec:
    """How a backend simulates on the local CPU: which methods, noisy or not, and its limits.

    Attributes
    ----------
    methods:
        Methods the backend can run (see :class:`SimPlan`); noisy backends use the
        noisy ones, and the noiseless ones for ideal samples.
    noisy:
        True for an emulated device (noise model attached).
    memory_bytes:
        Memory one simulation may take, bytes.
    time_limit_s:
        Longest predicted simulation accepted, seconds; 0 for no limit.
    s_per_amp_gate:
        Statevector cost of this simulator, seconds per amplitude per gate.
    """

    methods: tuple[str, ...] = NOISELESS_METHODS
    noisy: bool = False
    memory_bytes: float = DEFAULT_MEMORY_BYTES
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    s_per_amp_gate: float = SV_S_PER_AMP_GATE


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:.3g} GB"


def statevector_plan(features: CircuitFeatures, shots: int, *,
                     s_per_amp_gate: float = SV_S_PER_AMP_GATE) -> SimPlan:
    """Dense noiseless statevector: ``16 * 2**n`` bytes; one pass, or one per shot if dynamic.

    >>> p = statevector_plan(CircuitFeatures(20, 10, 10, 100, 20, 20), 1000)
    >>> round(p.time_s, 3), p.memory_bytes / 2**20
    (0.211, 16.0)
    """
    n, gates = features.num_qubits, max(features.gates, 1)
    one_pass = s_per_amp_gate * 2.0**n * gates
    passes = max(shots, 1) if features.dynamic else 1
    time_s = passes * one_pass + SAMPLE_S_PER_SHOT * shots
    memory = AMPLITUDE_BYTES * 2.0**n
    return SimPlan("statevector", time_s, memory,
                   f"statevector: {n} qubits need {_gb(memory)}, {gates} gates x {passes} "
                   f"pass(es): {time_s:.3g} s")


def stabilizer_plan(features: CircuitFeatures, shots: int) -> SimPlan | None:
    """Stabilizer tableau (Aer ``stabilizer``), Clifford circuits only; None otherwise.

    >>> stabilizer_plan(CircuitFeatures(5, 6, 4, 5, 5, 5), 100) is None
    True
    """
    if not features.clifford:
        return None
    n, gates = max(features.num_qubits, 1), max(features.gates, 1)
    runs = max(shots, 1) if features.dynamic else 1
    time_s = (runs * STAB_S_PER_GATE_UNIT * n * n * gates
              + STAB_S_PER_MEASURE_UNIT * n * n * max(features.measured_qubits, 1) * shots)
    memory = float(n * n)
    return SimPlan("stabilizer", time_s, memory,
                   f"stabilizer: Clifford, {n} qubits, {gates} gates: {time_s:.3g} s")


def mps_bond_dimension(features: CircuitFeatures) -> float:
    """Conservative bound on the bond dimension of a matrix product state of the circuit.

    A gate of operator Schmidt rank ``r`` multiplies the bond dimension across any cut
    it crosses by at most ``r`` (Vidal, PRL 91, 147902 (2003)); controlled and ``rzz``-
    type two-qubit gates have rank 2 (one ebit), a SWAP or a generic two-qubit gate 4.
    Without per-cut counts, every two-qubit gate is charged 2 ebits and every gate on
    three or more qubits 4, on the one cut they would all cross, capped by the maximal
    ``2**floor(n / 2)``. So ``chi = 2**min(2 * two_qubit + 4 * multi_qubit, n // 2)``.

    >>> mps_bond_dimension(CircuitFeatures(40, 3, 2, 10, 40, 40))
    16.0
    >>> mps_bond_dimension(CircuitFeatures(40, 300, 200, 400, 40, 40)) == 2.0**20
    True
    """
    ebits = 2 * features.two_qubit_gates + 4 * features.multi_qubit_gates
    return 2.0 ** min(ebits, features.num_qubits // 2)


def mps_plan(features: CircuitFeatures, shots: int) -> SimPlan:
    """Matrix product state (Aer ``matrix_product_state``) with the bond bound of
    :func:`mps_bond_dimension`."""
    n = max(features.num_qubits, 1)
    chi = mps_bond_dimension(features)
    entangling = max(features.two_qubit_gates + features.multi_qubit_gates, 1)
    runs = max(shots, 1) if features.dynamic else 1
    time_s = (runs * MPS_S_PER_GATE_UNIT * chi**3 * entangling
              + MPS_S_PER_SHOT_UNIT * n * chi**2 * shots)
    memory = AMPLITUDE_BYTES * 2.0 * n * chi**2
    return SimPlan("matrix_product_state", time_s, memory,
                   f"matrix_product_state: bond dimension <= {chi:.3g}, {entangling} entangling "
                   f"gates: {time_s:.3g} s")


def _ops(features: CircuitFeatures) -> float:
    return TRANSPILE_FACTOR * max(features.gates, 1) + features.measured_qubits


def density_matrix_plan(n: int, ops: float, shots: int) -> SimPlan:
    """Noisy density matrix on ``n`` active qubits and ``ops`` transpiled instructions.

    >>> density_matrix_plan(10, 300, 1000).memory_bytes == 16 * 4**10
    True
    """
    time_s = DM_S_PER_AMP_OP * 4.0**n * ops + SAMPLE_S_PER_SHOT * shots
    memory = AMPLITUDE_BYTES * 4.0**n
    return SimPlan("density_matrix", time_s, memory,
                   f"density_matrix: {n} qubits need {_gb(memory)}: {time_s:.3g} s")


def trajectories_plan(n: int, ops: float, trajectories: int) -> SimPlan:
    """``trajectories`` noisy statevector trajectories on ``n`` qubits, ``ops`` instructions."""
    k = max(trajectories, 1)
    time_s = k * ops * (TRAJ_S_PER_AMP_OP * 2.0**n + TRAJ_S_PER_OP)
    memory = AMPLITUDE_BYTES * 2.0**n
    return SimPlan("trajectories", time_s, memory,
                   f"trajectories: {k} x {n}-qubit statevector ({_gb(memory)}): {time_s:.3g} s",
                   trajectories=k)


def noisy_static_method(n: int, ops: float, shots: int, *, trajectories: int = TRAJECTORIES,
                        dm_max_qubits: int = DENSITY_MATRIX_MAX_QUBITS,
                        work_budget: float = NOISY_WORK_BUDGET) -> tuple[str, int]:
    """The emulated runner's exact-or-approximate choice for a static noisy circuit.

    Returns ``("density_matrix", 0)`` when ``n <= dm_max_qubits`` and ``ops * 4**n``
    fits ``work_budget``; else ``("trajectories", k)`` with ``k = min(trajectories,
    shots, work_budget // (ops * 2**n))`` when ``n <= TRAJECTORY_MAX_QUBITS`` and
    ``k >= min(MIN_TRAJECTORIES, shots)``; else ``("depolarizing", 0)``. ``n`` and
    ``ops`` are of the transpiled circuit (active qubits, instructions).

    >>> noisy_static_method(12, 200, 4000, trajectories=64)
    ('trajectories', 64)
    >>> noisy_static_method(8, 200, 4000)
    ('density_matrix', 0)
    >>> noisy_static_method(24, 200, 4000)
    ('depolarizing', 0)
    """
    ops = max(ops, 1.0)
    if n <= dm_max_qubits and ops * 4.0**n <= work_budget:
        return "density_matrix", 0
    k = min(trajectories, shots, int(work_budget // (ops * 2.0**n))) \
        if n <= TRAJECTORY_MAX_QUBITS else 0
    if k >= min(MIN_TRAJECTORIES, shots):
        return "trajectories", k
    return "depolarizing", 0


def _noiseless_plans(features: CircuitFeatures, shots: int, spec: SimSpec) -> list[SimPlan]:
    plans: list[SimPlan | None] = []
    if "statevector" in spec.methods:
        plans.append(statevector_plan(features, shots, s_per_amp_gate=spec.s_per_amp_gate))
    if "stabilizer" in spec.methods:
        plans.append(stabilizer_plan(features, shots))
    if "matrix_product_state" in spec.methods:
        plans.append(mps_plan(features, shots))
    return [p for p in plans if p is not None]


def _pick(plans: list[SimPlan], spec: SimSpec, width: int, *, prefer_exact: bool) -> SimPlan:
    def fits(p: SimPlan) -> bool:
        return p.memory_bytes <= spec.memory_bytes and \
            (spec.time_limit_s <= 0 or p.time_s <= spec.time_limit_s)

    ok = [p for p in plans if fits(p)]
    if not ok:
        limits = f"memory {_gb(spec.memory_bytes)}" + \
            (f", time {spec.time_limit_s:.0f} s" if spec.time_limit_s > 0 else "")
        tried = "; ".join(p.reason for p in plans) or f"no method of {spec.methods} applies"
        raise SimulationCostError(f"no simulation method fits {width} qubits within {limits}: "
                                  f"{tried}")
    exact = [p for p in ok if p.method == "statevector" and p.time_s <= EXACT_BELOW_S]
    if prefer_exact and exact and width <= EXACT_MAX_QUBITS:
        return exact[0]
    return min(ok, key=lambda p: p.time_s)


def choose_method(features: CircuitFeatures, shots: int, *, noisy: bool,
                  memory_bytes: float = DEFAULT_MEMORY_BYTES,
                  time_limit_s: float = 0.0, spec: SimSpec | None = None) -> SimPlan:
    """The method to simulate ``features`` with ``shots`` shots, and its predicted cost.

    Noiseless: a statevector of at most :data:`EXACT_MAX_QUBITS` qubits predicted under
    :data:`EXACT_BELOW_S` (exact distribution), else the fastest of statevector,
    stabilizer (Clifford circuits) and matrix product state that fits. Noisy (an
    emulated device): dynamic circuits run one noisy trajectory per shot, on a
    statevector up to :data:`TRAJECTORY_MAX_QUBITS` qubits and a matrix product state
    above; static ones follow :func:`noisy_static_method` (density matrix, then up to
    :data:`TRAJECTORIES` trajectories within :data:`NOISY_WORK_BUDGET`), and otherwise
    the depolarizing approximation, whose cost is that of its ideal samples (the
    noiseless choice above). Stabilizer is never a noisy method: the devices' noise
    (thermal relaxation) is not Pauli noise.

    Parameters
    ----------
    features, shots:
        The circuit and its shots.
    noisy:
        Whether a device noise model is attached.
    memory_bytes, time_limit_s:
        Limits (``time_limit_s`` 0: none); ignored when ``spec`` is given.
    spec:
        A backend's :class:`SimSpec` (methods, limits, statevector speed).

    Raises
    ------
    SimulationCostError
        If no method fits the memory (and time) limit; the message lists every estimate.

    Examples
    --------
    >>> wide = CircuitFeatures(30, 40, 300, 600, 30, 30)
    >>> choose_method(wide, 100, noisy=False, memory_bytes=4 * 2**30)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qstream.errors.SimulationCostError: no simulation method fits 30 qubits within memory 4.29 GB: ...
    >>> choose_method(wide, 100, noisy=False, memory_bytes=32 * 2**30).method
    'statevector'
    """
    if spec is None:
        spec = SimSpec(NOISY_METHODS + NOISELESS_METHODS if noisy else NOISELESS_METHODS,
                       noisy=noisy, memory_bytes=memory_bytes, time_limit_s=time_limit_s)
    elif spec.noisy != noisy:
        spec = replace(spec, noisy=noisy)
    what = features.num_qubits
    if not noisy:
        return _pick(_noiseless_plans(features, shots, spec), spec, what, prefer_exact=True)
    n, ops = features.num_qubits, _ops(features)
    if features.dynamic:  # one noisy trajectory per shot, as the emulated runner does
        if n <= TRAJECTORY_MAX_QUBITS:
            return _pick([trajectories_plan(n, ops, shots)], spec, what, prefer_exact=False)
        mps = replace(mps_plan(features, shots), trajectories=shots)
        return _pick([mps], spec, what, prefer_exact=False)
    method, k = noisy_static_method(n, ops, shots)
    if method == "density_matrix" and "density_matrix" in spec.methods:
        return _pick([density_matrix_plan(n, ops, shots)], spec, what, prefer_exact=False)
    if method == "trajectories" and "trajectories" in spec.methods:
        return _pick([trajectories_plan(n, ops, k)], spec, what, prefer_exact=False)
    ideal = _pick(_noiseless_plans(features, shots, spec), spec, what, prefer_exact=True)
    time_s = ideal.time_s + SAMPLE_S_PER_SHOT * shots
    return SimPlan("depolarizing", time_s, ideal.memory_bytes,
                   f"depolarizing approximation, ideal samples by {ideal.reason}", ideal=ideal.method)


def plan_or_reason(features: CircuitFeatures, shots: int, spec: SimSpec) -> SimPlan | str:
    """:func:`choose_method` under ``spec``, or the reason nothing fits (for capability checks).

    >>> plan_or_reason(CircuitFeatures(34, 5, 4, 40, 34, 34), 10,
    ...                SimSpec(("statevector",)))  # doctest: +ELLIPSIS
    'no simulation method fits 34 qubits within memory 4.29 GB, time 600 s: statevector: ...'
    """
    try:
        return choose_method(features, shots, noisy=spec.noisy, spec=spec)
    except SimulationCostError as exc:
        return str(exc)


def log2_amplitudes(nbytes: float) -> int:
    """Widest statevector (qubits) that fits ``nbytes``.

    >>> log2_amplitudes(4 * 2**30)
    28
    """
    return math.floor(math.log2(max(nbytes, AMPLITUDE_BYTES) / AMPLITUDE_BYTES))
