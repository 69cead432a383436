"""Circuit features: the shape of a circuit as the predictors and the scheduler see it.

The edge (``qstream.circuits``) parses OpenQASM with qiskit and fills a
:class:`CircuitFeatures`; the core never parses circuits itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CircuitFeatures:
    """Logical (pre-transpile) shape of one circuit.

    Attributes
    ----------
    num_qubits:
        Qubits the circuit declares (its width).
    depth:
        Circuit depth, counted on the logical circuit (qiskit ``QuantumCircuit.depth``).
    two_qubit_gates:
        Gates acting on exactly two qubits (cx, cz, ecr, swap, rzz, ...).
    gates:
        All gate operations, measurements and barriers excluded.
    measured_qubits:
        Qubits that are measured at least once. A circuit measuring none has no output.
    num_clbits:
        Classical bits; the width of every counts bitstring.
    dynamic:
        True when the circuit has mid-circuit measurement, reset or classical
        control flow; some backends (Braket local, classical statevector) refuse it.
    clifford:
        True when every gate is a Clifford gate (h, s, sdg, x, y, z, sx, sxdg, cx, cy,
        cz, swap, ...) and there is no control flow, so a stabilizer simulator runs it
        in polynomial time (:mod:`qstream.core.sim_cost`). False when unknown.
    multi_qubit_gates:
        Gates acting on three or more qubits (ccx, cswap, mcx, ...); they bound the
        entanglement a matrix product state must hold. 0 when unknown (messages
        written before the field existed).

    Examples
    --------
    >>> f = CircuitFeatures(num_qubits=5, depth=6, two_qubit_gates=4, gates=5,
    ...                     measured_qubits=5, num_clbits=5)
    >>> CircuitFeatures.from_dict(f.to_dict()) == f
    True
    """

    num_qubits: int
    depth: int
    two_qubit_gates: int
    gates: int
    measured_qubits: int
    num_clbits: int
    dynamic: bool = False
    clifford: bool = False
    multi_qubit_gates: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the ``features`` object of ``qstream.subtask.v1``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CircuitFeatures:
        """Build from :meth:`to_dict` output; unknown keys are ignored, and the optional
        ``dynamic``, ``clifford`` and ``multi_qubit_gates`` default to False, False and 0
        (messages written before they existed)."""
        return cls(
            num_qubits=int(data["num_qubits"]),
            depth=int(data["depth"]),
            two_qubit_gates=int(data["two_qubit_gates"]),
            gates=int(data["gates"]),
            measured_qubits=int(data["measured_qubits"]),
            num_clbits=int(data["num_clbits"]),
            dynamic=bool(data.get("dynamic", False)),
            clifford=bool(data.get("clifford", False)),
            multi_qubit_gates=int(data.get("multi_qubit_gates", 0)),
        )


def model_features(features: CircuitFeatures, shots: int) -> dict[str, float]:
    """Return the log-space feature vector the online predictors learn on.

    ``log1p`` keeps features spanning orders of magnitude (shots 1..1e5, depth
    1..1e4) on one scale; heavy-tailed run times are roughly linear in log space.

    Examples
    --------
    >>> f = CircuitFeatures(5, 6, 4, 5, 5, 5)
    >>> v = model_features(f, 1000)
    >>> sorted(v)
    ['log_depth', 'log_gates', 'log_qubits', 'log_shots', 'log_two_qubit_gates']
    >>> round(v["log_shots"], 3)
    6.909
    """
    return {
        "log_qubits": math.log1p(features.num_qubits),
        "log_depth": math.log1p(features.depth),
        "log_two_qubit_gates": math.log1p(features.two_qubit_gates),
        "log_gates": math.log1p(features.gates),
        "log_shots": math.log1p(shots),
    }
