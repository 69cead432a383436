"""Payloads, outcomes, failures and warm-ups cross the spawn process pool: they pickle."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle

import pytest

from qstream.backends.aer_devices import warm_device
from qstream.backends.payloads import (
    BraketOutcome,
    EmulatedOutcome,
    EmulatedPayload,
    RunFailure,
    RunPayload,
    StatevectorOutcome,
    WarmUp,
)
from qstream.backends.pool import make_pool, submit
from qstream.backends.statevector_runner import run_statevector
from qstream.errors import BackendError, CircuitError

SAMPLES = [
    RunPayload("OPENQASM 2.0;", shots=100, seed=7, name="c0", max_qubits=5),
    EmulatedPayload("FakePerth", "OPENQASM 2.0;", 100, 7, name="c0", seed_transpiler=1234),
    StatevectorOutcome({"01": 3}, 0.99, 0.1, 0.2, "statevector_sampled"),
    BraketOutcome({"1": 2}, None, 0.1, 0.2, "OPENQASM 3.0;\n", 0.05),
    EmulatedOutcome({"00": 5}, 0.9, 0.3, 0.4, esp=0.95, readout=((0.01, 0.02), (0.0, 0.0)),
                    physical_qubits=(3, 1), duration_s=1e-6, method="density_matrix",
                    active_qubits=2, two_qubit_gates=1, depth=4, size=6, transpile_s=0.1,
                    simulate_s=0.1, ideal_s=0.01),
    RunFailure("circuit", "circuit needs 8 qubits; the device has 7"),
    WarmUp("FakePerth", warm_device),
]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_round_trips_through_pickle(value: object) -> None:
    again = pickle.loads(pickle.dumps(value))
    assert again == value and type(again) is type(value)


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_is_frozen(value: object) -> None:
    field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)


def test_payload_defaults_are_the_documented_limits() -> None:
    p = EmulatedPayload("FakePerth", "", 1, 0)
    assert (p.name, p.optimization_level, p.seed_transpiler, p.trajectories,
            p.density_matrix_max_qubits) == ("circuit", 3, 0, 128, 9)
    assert RunPayload("", 1, 0).max_qubits == 20


def test_failure_messages() -> None:
    assert RunFailure.of("backend", ValueError("boom")) == RunFailure("backend", "ValueError: boom")
    assert RunFailure.of("circuit", CircuitError("bad qasm")).error == "bad qasm"


def test_a_failure_crosses_the_pool_and_becomes_a_backend_error() -> None:
    pool = make_pool(1)
    try:
        payload = RunPayload('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2]\n', 10, 1, name="x")
        with pytest.raises(BackendError, match=r"^cpu_statevector: circuit 'x': invalid OpenQASM 2"):
            asyncio.run(submit(pool, run_statevector, payload, "cpu_statevector"))
    finally:
        pool.shutdown(wait=True)
