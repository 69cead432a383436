"""Simulation limits of the pool workers: which noisy method runs, and how wide.

Emulated (noisy) simulation (:mod:`qstream.backends.aer_runner`) picks its method
by the work it would take, in amplitude-operations (instructions x amplitudes),
against :data:`WORK_BUDGET`; the noiseless runners refuse circuits wider than
their ``max_qubits`` and compute ``quality`` up to :data:`QUALITY_MAX_QUBITS`.
Every figure was measured on this kind of machine (2 cores). The method thresholds are
defined once in :mod:`qstream.core.sim_cost` (which the scheduler's capability check
uses too) and re-exported here.
"""

from __future__ import annotations

from qstream.core import sim_cost

__all__ = [
    "DENSITY_MATRIX_MAX_QUBITS",
    "MIN_TRAJECTORIES",
    "QUALITY_MAX_QUBITS",
    "STATEVECTOR_MAX_QUBITS",
    "TRAJECTORIES",
    "WORK_BUDGET",
]

DENSITY_MATRIX_MAX_QUBITS = sim_cost.DENSITY_MATRIX_MAX_QUBITS
"""Widest active circuit simulated exactly with a density matrix.

Measured on FakeHanoiV2, ``qftentangled`` at level 3, 2000 shots, 2 cores: 0.3-0.45 s
up to 9 qubits, 1.0 s at 10, 4.1 s at 11, 16 s at 12 (memory and time grow 4x per
qubit); 128 trajectories take the same 0.42 s at 9 qubits and 0.53 s at 10.
"""

STATEVECTOR_MAX_QUBITS = sim_cost.TRAJECTORY_MAX_QUBITS
"""Widest active circuit simulated with noisy statevector trajectories (16 MiB each)."""

TRAJECTORIES = sim_cost.TRAJECTORIES
"""Most noisy statevector trajectories averaged above :data:`DENSITY_MATRIX_MAX_QUBITS`.

Each trajectory samples one realisation of the gate noise; the shots are drawn
from the average of their output distributions. With 128 the Monte-Carlo error of
an outcome probability is below 9% of its spread between trajectories, and a
12-qubit ``qftentangled`` takes 2.5 s (FakeHanoiV2) on one core; FakeSherbrooke's
longer ECR routing (~1500 instructions) gets fewer trajectories within :data:`WORK_BUDGET`.
"""

MIN_TRAJECTORIES = sim_cost.MIN_TRAJECTORIES
"""Fewest trajectories worth simulating; below it the depolarizing approximation is used."""

WORK_BUDGET = sim_cost.NOISY_WORK_BUDGET
"""Most amplitude-operations one noisy simulation may take: instructions x 4**n for
a density matrix, trajectories x instructions x 2**n for statevector trajectories.
Measured at ~1.6e-9 s (density matrix) and ~7e-9 s (noisy trajectories) per
amplitude-operation on one core, so a simulation stays under ~1-4 s (e.g. MQT Bench
``randomcircuit`` at 12 qubits, 2468 instructions on FakeHanoiV2: 49 trajectories)."""

QUALITY_MAX_QUBITS = 20
"""Widest circuit whose ideal distribution is computed for ``quality`` (16 MiB statevector)."""
