"""What crosses the process-pool boundary: run payloads, run outcomes, failures, warm-ups.

Backends build a frozen payload, hand it with a runner function to
:func:`qstream.backends.pool.submit`, and get the runner's outcome back, or a
:class:`~qstream.errors.BackendError` when the runner returned a
:class:`RunFailure`. The pool uses the ``spawn`` start method, so every class here
pickles (plain fields; :class:`WarmUp` holds a module-level function, which
pickles by reference). This module imports no SDK: both sides import it cheaply.

>>> import pickle
>>> p = RunPayload("OPENQASM 2.0;", shots=10, seed=1)
>>> pickle.loads(pickle.dumps(p)) == p
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from qstream.backends.limits import DENSITY_MATRIX_MAX_QUBITS, QUALITY_MAX_QUBITS, TRAJECTORIES
from qstream.core.sim_cost import SimSpec

__all__ = [
    "BraketOutcome",
    "EmulatedOutcome",
    "EmulatedPayload",
    "FailureKind",
    "RunFailure",
    "RunOutcome",
    "RunPayload",
    "StatevectorOutcome",
    "WarmUp",
]

FailureKind = Literal["circuit", "backend"]
"""``"circuit"``: the circuit cannot run there (invalid, too wide, dynamic where
unsupported); ``"backend"``: the simulation itself failed."""


@dataclass(frozen=True, slots=True)
class RunPayload:
    """One circuit for a noiseless runner (CPU statevector, Braket local).

    Attributes
    ----------
    qasm:
        OpenQASM 2 or 3 source.
    shots:
        Shots to draw.
    seed:
        Seeds the sampler (statevector) or only the transpiler (Braket, whose
        local simulator draws shots from fresh OS entropy).
    name:
        Circuit name for error messages.
    max_qubits:
        Widest circuit accepted; wider ones fail with kind ``"circuit"``.
    simulation:
        The backend's simulation methods and limits; the runner simulates with the
        method :func:`qstream.core.sim_cost.choose_method` picks (None: a dense
        statevector only, within the default limits).
    """

    qasm: str
    shots: int
    seed: int
    name: str = "circuit"
    max_qubits: int = QUALITY_MAX_QUBITS
    simulation: SimSpec | None = None


@dataclass(frozen=True, slots=True)
class EmulatedPayload:
    """One circuit for an emulated IBM device (:func:`qstream.backends.aer_runner.run_emulated`).

    Attributes
    ----------
    fake:
        ``qiskit_ibm_runtime.fake_provider`` class name, e.g. ``"FakePerth"``.
    qasm, shots, seed, name:
        As :class:`RunPayload`; ``seed`` seeds the noisy simulation.
    optimization_level, seed_transpiler:
        Preset pass manager settings.
    trajectories:
        Most noisy statevector trajectories (see :mod:`qstream.backends.limits`).
    density_matrix_max_qubits:
        Widest active circuit simulated with a density matrix.
    scale:
        A drifting device's snapshot: factors on its 1q, 2q and readout errors, T1
        and T2 (:func:`qstream.backends.aer_devices.device`); None: the ``Fake*`` one.
    """

    fake: str
    qasm: str
    shots: int
    seed: int
    name: str = "circuit"
    optimization_level: int = 3
    seed_transpiler: int = 0
    trajectories: int = TRAJECTORIES
    density_matrix_max_qubits: int = DENSITY_MATRIX_MAX_QUBITS
    scale: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What every runner returns on success.

    Attributes
    ----------
    counts:
        Bitstring (clbit 0 rightmost, width ``num_clbits``) -> count; sums to the shots.
    quality:
        Hellinger fidelity of ``counts`` to the ideal distribution, or None where
        it is not computed (dynamic circuits, wider than ``QUALITY_MAX_QUBITS``).
    compute_s:
        Wall seconds of the work in the worker.
    cpu_s:
        CPU seconds of the worker process during the work (Aer threads included).
    """

    counts: dict[str, int]
    quality: float | None
    compute_s: float
    cpu_s: float


@dataclass(frozen=True, slots=True)
class StatevectorOutcome(RunOutcome):
    """:func:`~qstream.backends.statevector_runner.run_statevector`'s outcome.

    Attributes
    ----------
    method:
        ``"statevector_sampled"`` (static circuit, sampled from the exact
        distribution), ``"statevector_shots"`` (dynamic, one trajectory per shot),
        ``"statevector"`` (static, wider than ``QUALITY_MAX_QUBITS``: Aer samples the
        shots), ``"stabilizer"`` or ``"matrix_product_state"`` (Aer samples the shots).
    """

    method: str


@dataclass(frozen=True, slots=True)
class BraketOutcome(RunOutcome):
    """:func:`~qstream.backends.braket_runner.run_braket`'s outcome.

    Attributes
    ----------
    program:
        The OpenQASM 3 source sent to Braket.
    simulate_s:
        Wall seconds of Braket's ``run(...).result()``.
    """

    program: str
    simulate_s: float


@dataclass(frozen=True, slots=True)
class EmulatedOutcome(RunOutcome):
    """:func:`~qstream.backends.aer_runner.run_emulated`'s outcome.

    Attributes
    ----------
    esp:
        Calibration ESP of the transpiled circuit (gates and measurements).
    readout:
        Per clbit: ``(P(read 1 | prep 0), P(read 0 | prep 1))`` of the physical
        qubit it measures; ``(0.0, 0.0)`` for a clbit never measured.
    physical_qubits:
        Initial layout: physical qubit of each logical qubit.
    duration_s:
        Scheduled duration of one shot from the calibrated gate lengths, seconds.
    method:
        Simulation method (``"density_matrix"``, ``"statevector_trajectories_<k>"``,
        ``"depolarizing_esp"`` (ideal samples from the exact distribution),
        ``"depolarizing_esp+<method>"`` (ideal samples from Aer's ``<method>``,
        ``stabilizer``, ``statevector`` or ``matrix_product_state``), ``"statevector"``,
        ``"matrix_product_state"``).
    active_qubits:
        Physical qubits the transpiled circuit acts on.
    two_qubit_gates, depth, size:
        Of the transpiled circuit (``cx``, ``ecr`` and ``cz`` count as two-qubit).
    transpile_s, simulate_s, ideal_s:
        Wall seconds of transpilation, noisy simulation and the ideal distribution.
    """

    esp: float
    readout: tuple[tuple[float, float], ...]
    physical_qubits: tuple[int, ...]
    duration_s: float
    method: str
    active_qubits: int
    two_qubit_gates: int
    depth: int
    size: int
    transpile_s: float
    simulate_s: float
    ideal_s: float


@dataclass(frozen=True, slots=True)
class RunFailure:
    """A runner's failure, returned (not raised) across the pool.

    :func:`qstream.backends.pool.submit` turns it into
    ``BackendError(f"{backend}: {error}")``.

    Attributes
    ----------
    kind:
        See :data:`FailureKind`.
    error:
        Human-readable message.

    >>> RunFailure.of("backend", KeyError("x")).error
    "KeyError: 'x'"
    """

    kind: FailureKind
    error: str

    @classmethod
    def of(cls, kind: FailureKind, exc: BaseException | str) -> RunFailure:
        """A failure from a message, or an exception: a
        :class:`~qstream.errors.QStreamError`'s own message, else ``"Type: message"``."""
        if isinstance(exc, str):
            return cls(kind, exc)
        from qstream.errors import QStreamError

        message = str(exc) if isinstance(exc, QStreamError) else f"{type(exc).__name__}: {exc}"
        return cls(kind, message)


@dataclass(frozen=True, slots=True)
class WarmUp:
    """One per-process cache a backend wants built before it serves traffic.

    Attributes
    ----------
    key:
        Cache name, e.g. ``"FakePerth"``, ``"statevector"``, ``"braket"``; warm-ups
        with the same key are built once.
    build:
        Module-level function (it pickles by reference) that builds the cache
        named ``key`` in the calling worker and returns the seconds it took.
    """

    key: str
    build: Callable[[str], float]
