"""What the core knows about a backend: capabilities, calibration summary, time and price model.

A :class:`BackendSpec` is plain data. The edge builds one per backend (from a
qiskit ``Fake*`` calibration, a Braket device, or the local CPU) and the core
uses it for capability checks, cold-start priors and the cost function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from qstream.core.features import CircuitFeatures
from qstream.core.sim_cost import SimPlan, SimSpec, plan_or_reason, statevector_plan

BackendKind = Literal["qpu", "simulator", "classical"]


@dataclass(frozen=True, slots=True)
class CalibrationSummary:
    """Medians of one calibration snapshot (IBM ``BackendProperties`` fields).

    Attributes
    ----------
    one_qubit_error, two_qubit_error, readout_error:
        Median error probabilities in [0, 1].
    t1_s, t2_s:
        Median T1 and T2 in seconds.
    two_qubit_gate_s:
        Median two-qubit gate length in seconds.
    updated_at_s:
        When the snapshot was taken, seconds since the epoch (0 if unknown).
    """

    one_qubit_error: float
    two_qubit_error: float
    readout_error: float
    t1_s: float
    t2_s: float
    two_qubit_gate_s: float
    updated_at_s: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "one_qubit_error": self.one_qubit_error,
            "two_qubit_error": self.two_qubit_error,
            "readout_error": self.readout_error,
            "t1_s": self.t1_s,
            "t2_s": self.t2_s,
            "two_qubit_gate_s": self.two_qubit_gate_s,
            "updated_at_s": self.updated_at_s,
        }


@dataclass(frozen=True, slots=True)
class Pricing:
    """A linear price model: ``per_task + per_shot * shots + per_second * run_s`` (USD)."""

    per_task_usd: float = 0.0
    per_shot_usd: float = 0.0
    per_second_usd: float = 0.0

    def price_usd(self, shots: int, run_s: float) -> float:
        """Return the price of one sub-task in USD.

        >>> Pricing(per_task_usd=0.3, per_shot_usd=0.001).price_usd(1000, 2.0)
        1.3
        """
        return self.per_task_usd + self.per_shot_usd * shots + self.per_second_usd * run_s


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """Static description of one backend.

    Attributes
    ----------
    name:
        Unique backend name, e.g. ``"ibm_perth_emu"``.
    kind:
        ``"qpu"`` (a quantum device, real or emulated), ``"simulator"`` (a
        noiseless quantum simulator service) or ``"classical"`` (local CPU).
    num_qubits:
        Widest circuit it accepts.
    max_shots:
        Most shots one job may request; the partitioner splits above it.
    capacity:
        Sub-tasks released to it at once (credits). Work beyond it stays pending
        in qstream, where it can still be reallocated.
    supports_dynamic:
        Whether it runs mid-circuit measurement, reset and classical control.
    calibration:
        Calibration medians for ESP priors; None for noiseless backends.
    pricing:
        Price model.
    job_overhead_s, rep_delay_s:
        Execution-time model terms (see :meth:`prior_run_s`).
    queue_s_per_pending_job:
        Mean device time per external pending job; the queue-wait prior is
        ``pending_jobs * queue_s_per_pending_job`` (Qonductor, SC'25).
    statevector_s_per_amp_gate:
        Classical cost per amplitude per gate (classical and simulator kinds).
    simulation:
        How this backend simulates circuits on the local CPU (methods, noisy or not,
        memory and time limits; :mod:`qstream.core.sim_cost`), or None when it does
        not (a remote device) or is not modelled. A local simulator's run-time prior is
        the chosen method's cost; an emulated QPU keeps IBM's QPU-time prior, and both
        refuse circuits whose simulation does not fit (:meth:`can_run`).
    """

    name: str
    kind: BackendKind
    num_qubits: int
    max_shots: int
    capacity: int = 1
    supports_dynamic: bool = True
    calibration: CalibrationSummary | None = None
    pricing: Pricing = field(default_factory=Pricing)
    job_overhead_s: float = 0.0
    rep_delay_s: float = 0.0
    queue_s_per_pending_job: float = 0.0
    statevector_s_per_amp_gate: float = 0.0
    description: str = ""
    simulation: SimSpec | None = None

    def can_run(self, features: CircuitFeatures, shots: int | None = None) -> str | None:
        """Return None if this backend can run the circuit, else the reason it cannot.

        Besides width and dynamic support, a backend with :attr:`simulation` refuses a
        circuit whose simulation fits no method within its memory and time limits
        (:func:`~qstream.core.sim_cost.choose_method`), for ``shots`` shots (None: one
        shot, the shots-independent part of the cost).

        >>> spec = BackendSpec(name="b", kind="qpu", num_qubits=7, max_shots=10_000)
        >>> spec.can_run(CircuitFeatures(12, 1, 0, 1, 12, 12))
        'circuit needs 12 qubits; b has 7'
        >>> cpu = BackendSpec("cpu", "classical", 64, 10**6, simulation=SimSpec())
        >>> cpu.can_run(CircuitFeatures(30, 40, 300, 600, 30, 30))  # doctest: +ELLIPSIS
        'cpu: no simulation method fits 30 qubits within memory 4.29 GB, time 600 s: ...'
        """
        if features.num_qubits > self.num_qubits:
            return f"circuit needs {features.num_qubits} qubits; {self.name} has {self.num_qubits}"
        if features.dynamic and not self.supports_dynamic:
            return f"{self.name} does not run mid-circuit measurement or classical control"
        if self.simulation is not None:
            plan = plan_or_reason(features, 1 if shots is None else shots, self.simulation)
            if isinstance(plan, str):
                return f"{self.name}: {plan}"
        return None

    def sim_plan(self, features: CircuitFeatures, shots: int) -> SimPlan | str | None:
        """How this backend would simulate the circuit and at what wall cost: a
        :class:`~qstream.core.sim_cost.SimPlan`, the reason nothing fits, or None for a
        backend without :attr:`simulation`."""
        if self.simulation is None:
            return None
        return plan_or_reason(features, shots, self.simulation)

    def prior_esp(self, features: CircuitFeatures) -> float:
        """Estimated success probability (ESP) before transpilation, in [0, 1].

        ESP = (1-e1)^n1 * (1-e2)^n2 * (1-e_ro)^m * exp(-T_circ / T2), the product of
        gate and readout success probabilities (Nishio et al., "Extracting success
        from IBM's 20-qubit machines using error-aware compilation", ACM JETC
        2020) with a decoherence factor over the circuit duration. Routing on
        sparse coupling maps inserts SWAPs (3 two-qubit gates each); we assume
        one SWAP per two-qubit gate on average on heavy-hex lattices, so ``n2``
        is doubled. Noiseless backends return 1.0.

        >>> cal = CalibrationSummary(3e-4, 8e-3, 2e-2, 2e-4, 1.5e-4, 5e-7)
        >>> spec = BackendSpec("b", "qpu", 7, 100_000, calibration=cal)
        >>> round(spec.prior_esp(CircuitFeatures(5, 6, 4, 5, 5, 5)), 3)
        0.831
        """
        cal = self.calibration
        if cal is None:
            return 1.0
        one_q = max(features.gates - features.two_qubit_gates, 0)
        two_q = 2 * features.two_qubit_gates
        duration_s = features.depth * cal.two_qubit_gate_s
        esp = (
            (1.0 - cal.one_qubit_error) ** one_q
            * (1.0 - cal.two_qubit_error) ** two_q
            * (1.0 - cal.readout_error) ** features.measured_qubits
            * math.exp(-duration_s / cal.t2_s if cal.t2_s > 0 else 0.0)
        )
        return min(max(esp, 0.0), 1.0)

    def prior_run_s(self, features: CircuitFeatures, shots: int) -> float:
        """Execution-time prior in seconds.

        - qpu: ``job_overhead_s + shots * (rep_delay_s + depth * two_qubit_gate_s)``,
          IBM's QPU-time model (per-shot repetition delay plus circuit duration,
          plus a fixed per-job overhead).
        - simulator / classical: ``job_overhead_s`` plus the predicted wall time of
          the simulation (:mod:`qstream.core.sim_cost`): of the method
          :attr:`simulation` chooses, or of a dense statevector at
          ``statevector_s_per_amp_gate`` (``2**n * gates`` amplitude-gates, once per
          shot for a dynamic circuit, plus per-shot sampling) without one or when
          nothing fits.

        An emulated QPU's own wall cost is :meth:`sim_plan`, not this prior: its
        reported ``run_s`` is emulated QPU time.

        >>> BackendSpec("c", "classical", 20, 10**6, statevector_s_per_amp_gate=1e-8,
        ...             job_overhead_s=0.01).prior_run_s(
        ...     CircuitFeatures(10, 5, 2, 10, 10, 10), 1000)
        0.0113024
        """
        if self.kind == "qpu":
            gate_s = self.calibration.two_qubit_gate_s if self.calibration else 0.0
            return self.job_overhead_s + shots * (self.rep_delay_s + features.depth * gate_s)
        plan = self.sim_plan(features, shots)
        if not isinstance(plan, SimPlan):
            plan = statevector_plan(features, shots, s_per_amp_gate=self.statevector_s_per_amp_gate)
        return self.job_overhead_s + plan.time_s

    def prior_price_usd(self, shots: int, run_s: float) -> float:
        """Price prior in USD from :attr:`pricing`."""
        return self.pricing.price_usd(shots, run_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, as published on ``qstream.telemetry`` fleet events."""
        return {
            "name": self.name,
            "kind": self.kind,
            "num_qubits": self.num_qubits,
            "max_shots": self.max_shots,
            "capacity": self.capacity,
            "supports_dynamic": self.supports_dynamic,
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "description": self.description,
        }
