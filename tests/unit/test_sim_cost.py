"""Classical simulation cost (qstream.core.sim_cost) and its use by specs, partition and runners."""

from __future__ import annotations

import time

import pytest
from helpers.core import subtask
from hypothesis import given
from hypothesis import strategies as st

from qstream.backends.classical import classical_spec
from qstream.backends.ibm_emulated import EMULATION
from qstream.backends.payloads import RunPayload, StatevectorOutcome
from qstream.backends.statevector_runner import run_statevector
from qstream.circuits import analyze_qasm
from qstream.core.backend_spec import BackendSpec
from qstream.core.features import CircuitFeatures
from qstream.core.partition import CircuitInput, partition_task
from qstream.core.scheduler.fleet import Fleet
from qstream.core.sim_cost import (
    SimPlan,
    SimSpec,
    choose_method,
    density_matrix_plan,
    statevector_plan,
)
from qstream.errors import CapacityError, SimulationCostError

GIB = 2**30
HEAD = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'


def ghz_qasm(n: int) -> str:
    return (HEAD + f"qreg q[{n}];\ncreg c[{n}];\nh q[0];\n"
            + "".join(f"cx q[{i}], q[{i + 1}];\n" for i in range(n - 1)) + "measure q -> c;\n")


def layered_qasm(n: int, layers: int) -> str:
    body = "".join("".join(f"ry({0.1 + 0.37 * (q + layer)}) q[{q}];\n" for q in range(n))
                   + "".join(f"cx q[{q}], q[{q + 1}];\n" for q in range(n - 1))
                   for layer in range(layers))
    return HEAD + f"qreg q[{n}];\ncreg c[{n}];\n" + body + "measure q -> c;\n"


# A QASMBench-size 26-qubit circuit (the case: predicted 0.31 s, still running at
# 143 s): 26 qubits, ~1300 gates, ~600 two-qubit gates.
QASMBENCH_26 = CircuitFeatures(num_qubits=26, depth=400, two_qubit_gates=600, gates=1300,
                               measured_qubits=26, num_clbits=26)


def test_26_qubit_circuit_on_cpu_statevector_is_minutes_not_a_third_of_a_second() -> None:
    spec = classical_spec()
    run_s = spec.prior_run_s(QASMBENCH_26, 1000)
    assert run_s > 100.0  # 2**26 amplitudes x 1300 gates x 2e-9 s: ~175 s, not 0.31 s
    plan = spec.sim_plan(QASMBENCH_26, 1000)
    assert isinstance(plan, SimPlan) and plan.method == "statevector"
    assert plan.memory_bytes == 16 * 2**26
    # A deeper one takes hours: refused, with the estimate in the reason.
    deep = CircuitFeatures(27, 4000, 8000, 20_000, 27, 27)
    assert spec.prior_run_s(deep, 1000) > 3600.0
    reason = spec.can_run(deep, 1000)
    assert reason is not None and "time 600 s" in reason and "statevector" in reason


def test_30_qubit_circuit_is_not_placed_on_cpu_statevector() -> None:
    wide = CircuitFeatures(30, 60, 300, 600, 30, 30)
    spec = classical_spec()
    reason = spec.can_run(wide)
    assert reason is not None and reason.startswith("cpu_statevector: no simulation method fits")
    assert "17.2 GB" in reason  # 16 B x 2**30
    fleet = Fleet([spec])
    up, down, why = fleet.candidates(subtask("t/c0/s0", features=wide))
    assert up == [] and down == [] and why[0].startswith("cpu_statevector: cpu_statevector: no")
    with pytest.raises(CapacityError, match="fits no backend: cpu_statevector: no simulation"):
        partition_task("t", [CircuitInput("wide", "", wide)], 100, [spec])


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=10_000))
def test_memory_doubles_per_qubit_and_quadruples_for_a_density_matrix(n: int, gates: int) -> None:
    f = CircuitFeatures(n, gates, 0, gates, n, n)
    g = CircuitFeatures(n + 1, gates, 0, gates, n + 1, n + 1)
    assert statevector_plan(g, 100).memory_bytes == 2 * statevector_plan(f, 100).memory_bytes
    assert statevector_plan(g, 100).time_s > statevector_plan(f, 100).time_s
    assert density_matrix_plan(n + 1, 50, 10).memory_bytes == \
        4 * density_matrix_plan(n, 50, 10).memory_bytes


def test_clifford_ghz_40_gets_the_stabilizer_method_at_a_small_cost() -> None:
    f = analyze_qasm(ghz_qasm(40))
    assert f.clifford and f.num_qubits == 40
    plan = choose_method(f, 4000, noisy=False, memory_bytes=4 * GIB)
    assert plan.method == "stabilizer" and plan.time_s < 0.5 and plan.memory_bytes < 1e4
    spec = classical_spec()
    assert spec.can_run(f, 4000) is None
    assert spec.prior_run_s(f, 4000) < 1.0
    # Without the Clifford flag the conservative MPS bound (2 ebits per two-qubit gate)
    # reaches 2**20: nothing fits; with 3 two-qubit gates (chi <= 64) the MPS does.
    with pytest.raises(SimulationCostError, match=r"matrix_product_state: bond dimension <= 1\.05e\+06"):
        choose_method(CircuitFeatures(40, 41, 39, 40, 40, 40), 100, noisy=False)
    weak = CircuitFeatures(40, 5, 3, 40, 40, 40)
    assert choose_method(weak, 100, noisy=False).method == "matrix_product_state"


def test_method_choice_under_a_memory_limit() -> None:
    # 24 qubits, 4 two-qubit gates: a statevector needs 268 MB (~2 s), an MPS (chi <= 256)
    # 50 MB (~5 s with its per-shot sampling): the faster fits 4 GiB, the smaller 128 MiB.
    f = CircuitFeatures(24, 10, 4, 60, 24, 24)
    assert choose_method(f, 100, noisy=False, memory_bytes=4 * GIB).method == "statevector"
    small = choose_method(f, 100, noisy=False, memory_bytes=128 * 2**20)
    assert small.method == "matrix_product_state" and small.memory_bytes < 128 * 2**20
    exact = CircuitFeatures(16, 10, 4, 60, 16, 16)  # small: the exact statevector is preferred
    assert choose_method(exact, 100, noisy=False, memory_bytes=4 * GIB).method == "statevector"
    dense = CircuitFeatures(24, 100, 200, 400, 24, 24)  # MPS at full bond dimension is hopeless
    assert choose_method(dense, 100, noisy=False, memory_bytes=4 * GIB).method == "statevector"
    with pytest.raises(SimulationCostError, match=r"24 qubits within memory 0.134 GB.*statevector"):
        choose_method(dense, 100, noisy=False, memory_bytes=128 * 2**20)
    # A statevector-only simulator (braket_sv) has no way out.
    with pytest.raises(SimulationCostError):
        choose_method(f, 100, noisy=False, spec=SimSpec(("statevector",), memory_bytes=2**27))


def test_noisy_emulation_methods_and_limits() -> None:
    small = CircuitFeatures(6, 10, 5, 20, 6, 6)
    assert choose_method(small, 1000, noisy=True, spec=EMULATION).method == "density_matrix"
    mid = CircuitFeatures(12, 20, 11, 30, 12, 12)
    plan = choose_method(mid, 4000, noisy=True, spec=EMULATION)
    assert plan.method == "trajectories" and plan.trajectories == 128
    wide = analyze_qasm(ghz_qasm(24))
    plan = choose_method(wide, 4000, noisy=True, spec=EMULATION)
    assert (plan.method, plan.ideal) == ("depolarizing", "stabilizer")
    # A dynamic 20-qubit circuit runs one noisy trajectory per shot: hours, refused.
    dynamic = CircuitFeatures(20, 300, 200, 1000, 20, 20, dynamic=True)
    spec = BackendSpec("emu", "qpu", 27, 100_000, simulation=EMULATION)
    assert spec.can_run(dynamic, 10) is None
    reason = spec.can_run(dynamic, 4000)
    assert reason is not None and "trajectories: 4000 x 20-qubit" in reason
    # The QPU-time prior of an emulated device is unchanged (its reported run_s).
    assert spec.prior_run_s(dynamic, 4000) == BackendSpec("emu", "qpu", 27, 100_000).prior_run_s(
        dynamic, 4000)


def test_features_from_old_messages_default_to_unknown() -> None:
    old = {"num_qubits": 3, "depth": 4, "two_qubit_gates": 1, "gates": 3,
           "measured_qubits": 2, "num_clbits": 2}
    f = CircuitFeatures.from_dict(old)
    assert (f.clifford, f.multi_qubit_gates) == (False, 0)
    g = CircuitFeatures(3, 4, 1, 3, 2, 2, clifford=True, multi_qubit_gates=1)
    assert CircuitFeatures.from_dict(g.to_dict()) == g


def test_cpu_statevector_runner_uses_the_chosen_method() -> None:
    spec = classical_spec()
    out = run_statevector(RunPayload(ghz_qasm(40), shots=500, seed=3, max_qubits=spec.num_qubits,
                                     simulation=spec.simulation))
    assert isinstance(out, StatevectorOutcome), out
    assert out.method == "stabilizer" and out.quality is None
    assert set(out.counts) <= {"0" * 40, "1" * 40} and sum(out.counts.values()) == 500
    again = run_statevector(RunPayload(ghz_qasm(40), shots=500, seed=3, max_qubits=64,
                                       simulation=spec.simulation))
    assert isinstance(again, StatevectorOutcome) and again.counts == out.counts  # seeded
    small = run_statevector(RunPayload(ghz_qasm(5), shots=100, seed=3, max_qubits=64,
                                       simulation=spec.simulation))
    assert isinstance(small, StatevectorOutcome) and small.method == "statevector_sampled"


def test_statevector_prediction_is_within_5x_of_aer_at_18_qubits() -> None:
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    from qstream.circuits import parse_qasm

    src = layered_qasm(18, 6)
    features = analyze_qasm(src)
    sim = AerSimulator(method="statevector", max_parallel_threads=1)
    tqc = transpile(parse_qasm(src), sim, optimization_level=0)
    sim.run(tqc, shots=10).result()  # warm
    t0 = time.perf_counter()
    sim.run(tqc, shots=1000, seed_simulator=1).result()
    measured_s = time.perf_counter() - t0
    predicted_s = statevector_plan(features, 1000).time_s
    assert predicted_s / 5 < measured_s < predicted_s * 5, (predicted_s, measured_s)


def test_the_result_says_which_simulation_method_ran() -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from helpers import config

    from qstream.backends.classical import ClassicalStatevectorBackend
    from qstream.backends.fleet import fleet_specs
    from qstream.stream import topics as T
    from qstream.stream.testing import Harness

    n = 30  # 16 GiB as a state vector: only the stabilizer method fits
    qasm = ("OPENQASM 2.0;\ninclude \"qelib1.inc\";\n" f"qreg q[{n}];\ncreg c[{n}];\nh q[0];\n"
            + "".join(f"cx q[{i}],q[{i + 1}];\n" for i in range(n - 1)) + "measure q -> c;\n")
    cfg = config()
    backend = ClassicalStatevectorBackend(seed=3, pool=ThreadPoolExecutor(1))
    h = Harness(cfg, fleet_specs(cfg.fleet), backends={backend.spec.name: backend})
    h.produce(T.TASKS, {"schema": "qstream.task.v1", "task_id": "ghz30", "shots": 200,
                        "circuits": [{"name": "ghz30", "qasm": qasm}]}, key="ghz30")
    asyncio.run(h.run())
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "completed", result["error"]
    [entry] = result["results"]
    assert entry["sim_methods"] == ["stabilizer"]
    assert set(entry["counts"]) <= {"0" * n, "1" * n} and sum(entry["counts"].values()) == 200
