"""Backends against real simulators: emulated IBM devices, Braket local, CPU statevector.

One process pool (2 spawn workers, warmed once) serves the whole module.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest

from qstream.backends.aer_devices import device, pass_manager
from qstream.backends.aer_runner import run_emulated, simulate_noisy
from qstream.backends.base import Backend, ExecutionRequest, ExecutionResult
from qstream.backends.catalog import available_backends
from qstream.backends.clock import EmulatedClock
from qstream.backends.fleet import DEFAULT_FLEET, build_fleet, fleet_specs, warm_fleet
from qstream.backends.ibm_emulated import (
    JOB_OVERHEAD_S,
    PRICE_PER_QPU_SECOND_USD,
    EmulatedIBMDevice,
)
from qstream.backends.noise import transpiled_esp
from qstream.backends.payloads import EmulatedOutcome, EmulatedPayload
from qstream.backends.pool import make_pool
from qstream.backends.sampling import hex_counts
from qstream.core.queue_model import QueueModel
from qstream.errors import BackendError, ConfigError

TIME_SCALE = 1e5  # emulated hours of IBM queue pass in a fraction of a wall second
HEAD2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
GHZ5 = HEAD2 + ("qreg q[5];\ncreg c[5];\nh q[0];\ncx q[0], q[1];\ncx q[1], q[2];\n"
                "cx q[2], q[3];\ncx q[3], q[4];\nmeasure q -> c;\n")
# X on qubit 0 only; three qubits measured into permuted clbits of two registers, one
# clbit (a[1]) never written. clbits: a[0]=0, a[1]=1, b[0]=2, b[1]=3.
ASYMMETRIC = HEAD2 + ("qreg q[3];\ncreg a[2];\ncreg b[2];\nx q[0];\n"
                      "measure q[0] -> b[1];\nmeasure q[1] -> a[0];\nmeasure q[2] -> b[0];\n")
ASYMMETRIC_KEY = "1000"
DYNAMIC = HEAD2 + ("qreg q[2];\ncreg c[2];\nx q[0];\nmeasure q[0] -> c[0];\n"
                   "if (c==1) x q[1];\nmeasure q[1] -> c[1];\n")
NOISELESS = ("braket_local", "cpu_statevector")


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = make_pool(2)
    warm_fleet(executor, DEFAULT_FLEET)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def fleet(pool: ProcessPoolExecutor) -> dict[str, Backend]:
    return build_fleet(time_scale=TIME_SCALE, seed=0, pool=pool)


def run(backend: Backend, qasm: str, shots: int = 2000, subtask_id: str = "t/c0/s0",
        attempt: int = 0) -> ExecutionResult:
    request = ExecutionRequest(subtask_id=subtask_id, task_id="t", attempt=attempt,
                               qasm=qasm, shots=shots, seed=7)
    return asyncio.run(backend.execute(request))


# -- fleet and specs (no simulator) ---------------------------------------------------


def test_fleet_specs_without_building_anything() -> None:
    specs = fleet_specs()
    assert [s.name for s in specs] == list(DEFAULT_FLEET)
    by_name = {s.name: s for s in specs}
    perth = by_name["ibm_perth_emu"]
    assert (perth.kind, perth.num_qubits, perth.capacity, perth.supports_dynamic) == \
        ("qpu", 7, 2, True)
    assert perth.calibration is not None and 0 < perth.calibration.t1_s < 1e-2
    assert perth.rep_delay_s == pytest.approx(250e-6)
    assert perth.queue_s_per_pending_job == QueueModel().mean_service_s == 10.0
    assert perth.pricing.per_second_usd == PRICE_PER_QPU_SECOND_USD
    assert by_name["ibm_sherbrooke_emu"].num_qubits == 127
    assert by_name["braket_local"].supports_dynamic is False
    assert by_name["cpu_statevector"].kind == "classical"
    assert fleet_specs(["ibm_kolkata_emu"])[0].supports_dynamic is False  # no if_else


def test_unknown_and_repeated_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown backend 'ibm_nowhere'; valid: .*ibm_perth_emu"):
        fleet_specs(["ibm_perth_emu", "ibm_nowhere"])
    with pytest.raises(ConfigError, match=r"repeat"):
        build_fleet(["braket_local", "braket_local"])
    with pytest.raises(ConfigError, match=r"empty"):
        fleet_specs([])
    assert set(DEFAULT_FLEET) <= set(available_backends())


def test_emulated_clock() -> None:
    clock = EmulatedClock(time_scale=1000.0, origin_s=time.time() - 2.0)
    assert 1990.0 < clock.now_s() < 2500.0
    started = time.perf_counter()
    asyncio.run(clock.sleep(50.0))  # 50 ms of wall time
    assert 0.04 < time.perf_counter() - started < 0.5
    with pytest.raises(ConfigError):
        EmulatedClock(time_scale=float("inf"))


# -- every backend ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", DEFAULT_FLEET)
def test_ghz5(fleet: dict[str, Backend], name: str) -> None:
    backend = fleet[name]
    result = run(backend, GHZ5, subtask_id=f"ghz/{name}")
    assert result.backend == name
    assert sum(result.counts.values()) == result.shots == 2000
    assert all(len(k) == 5 and set(k) <= {"0", "1"} for k in result.counts)
    ideal = (result.counts.get("00000", 0) + result.counts.get("11111", 0)) / result.shots
    assert 0.0 < result.esp <= 1.0
    assert result.quality is not None and 0.0 < result.quality <= 1.0 + 1e-9
    assert result.run_s > 0 and result.price_usd > 0 and result.wall_s > 0
    if name in NOISELESS:
        assert ideal == 1.0
        assert result.esp == 1.0 and result.readout is None and result.physical_qubits is None
        assert result.queue_s == 0.0 and result.pending_jobs == 0
    else:
        assert ideal > 0.8
        assert result.esp < 1.0
        assert result.readout is not None and len(result.readout) == 5
        assert all(0.0 <= a < 0.5 and 0.0 <= b < 0.5 for a, b in result.readout)
        assert result.physical_qubits is not None and len(set(result.physical_qubits)) == 5
        assert result.queue_s >= 0.0 and result.pending_jobs >= 0
        assert result.price_usd == pytest.approx(PRICE_PER_QPU_SECOND_USD * result.run_s)
        # IBM QPU-time model: overhead + shots * (rep_delay + circuit duration)
        spec = backend.spec
        assert result.run_s > JOB_OVERHEAD_S + 2000 * spec.rep_delay_s
        assert result.run_s < JOB_OVERHEAD_S + 2000 * (spec.rep_delay_s + 50e-6)
    assert ExecutionResult(**result.to_dict() | {"readout": result.readout}) == result


@pytest.mark.slow
@pytest.mark.parametrize("name", DEFAULT_FLEET)
def test_clbit_order_on_an_asymmetric_circuit(fleet: dict[str, Backend], name: str) -> None:
    result = run(fleet[name], ASYMMETRIC, subtask_id=f"asym/{name}")
    assert sum(result.counts.values()) == 2000
    assert all(len(k) == 4 for k in result.counts)
    top = max(result.counts, key=lambda k: result.counts[k])
    assert top == ASYMMETRIC_KEY
    # clbit 1 (a[1]) is never written, so it is 0 in every shot
    assert all(k[-2] == "0" for k in result.counts)
    if name in NOISELESS:
        assert result.counts == {ASYMMETRIC_KEY: 2000}
    else:
        assert result.counts[ASYMMETRIC_KEY] > 0.85 * 2000
        assert result.readout is not None and len(result.readout) == 4
        assert result.readout[1] == (0.0, 0.0)
        assert all(p > 0 for p in result.readout[0] + result.readout[2] + result.readout[3])


@pytest.mark.slow
def test_emulated_queue_wait_is_the_replayed_load(pool: ProcessPoolExecutor) -> None:
    clock = EmulatedClock(time_scale=TIME_SCALE)
    device = EmulatedIBMDevice("ibm_hanoi_emu", clock=clock, seed=3, pool=pool)
    now = device.series.pending_jobs("ibm_hanoi", clock.now_s(), offset_s=device.offset_s)
    assert device.pending_jobs() == now
    assert device.operational()
    result = run(device, GHZ5, subtask_id="queue/1")
    expected = device.queue_model.wait_s(result.pending_jobs, key="queue/1/0")
    assert result.queue_s == pytest.approx(expected)


@pytest.mark.slow
def test_own_jobs_run_one_at_a_time_on_a_device(pool: ProcessPoolExecutor) -> None:
    clock = EmulatedClock(time_scale=200.0)  # run_s ~3.5 emulated s -> ~18 ms wall
    device = EmulatedIBMDevice("ibm_perth_emu", clock=clock, pool=pool,
                               queue_model=QueueModel(median_s=1e-9, sigma=0.0))

    async def both() -> list[ExecutionResult]:
        return list(await asyncio.gather(*(
            device.execute(ExecutionRequest(f"lock/{i}", "t", 0, GHZ5, 1000, seed=i))
            for i in range(2))))

    first, second = sorted(asyncio.run(both()), key=lambda r: r.queue_s)
    assert first.queue_s < 0.5
    assert second.queue_s >= 0.9 * first.run_s  # waited for our other job


@pytest.mark.slow
def test_dynamic_circuits(fleet: dict[str, Backend]) -> None:
    for name in ("ibm_perth_emu", "cpu_statevector"):
        result = run(fleet[name], DYNAMIC, shots=1000, subtask_id=f"dyn/{name}")
        assert sum(result.counts.values()) == 1000
        assert result.quality is None  # no ideal distribution for dynamic circuits
        assert max(result.counts, key=lambda k: result.counts[k]) == "11"
    with pytest.raises(BackendError, match=r"braket_local: .*mid-circuit"):
        run(fleet["braket_local"], DYNAMIC)


@pytest.mark.slow
def test_refusals(fleet: dict[str, Backend]) -> None:
    wide = HEAD2 + "qreg q[8];\ncreg c[8];\nh q;\nmeasure q -> c;\n"
    with pytest.raises(BackendError, match="ibm_perth_emu: circuit needs 8 qubits; the device "
                                           "has 7"):
        run(fleet["ibm_perth_emu"], wide)
    with pytest.raises(BackendError, match=r"shots=0 is outside"):
        run(fleet["ibm_hanoi_emu"], GHZ5, shots=0)
    with pytest.raises(BackendError, match=r"shots=100001 is outside"):
        run(fleet["braket_local"], GHZ5, shots=100_001)
    with pytest.raises(BackendError, match=r"invalid OpenQASM 2 on line 3"):
        run(fleet["cpu_statevector"], HEAD2 + "qreg q[2]\n")


@pytest.mark.slow
def test_gate_conversion_to_braket_keeps_the_distribution(fleet: dict[str, Backend]) -> None:
    src = HEAD2 + ("qreg q[4];\ncreg c[4];\nu3(0.3, 0.2, 0.1) q[0];\nh q[1];\nsx q[2];\n"
                   "cu1(0.7) q[1], q[0];\ncry(0.4) q[0], q[2];\nrzz(0.9) q[2], q[3];\n"
                   "cswap q[1], q[2], q[3];\nccx q[0], q[3], q[1];\nrc3x q[0], q[1], q[2], q[3];\n"
                   "sdg q[3];\ntdg q[0];\nry(1.1) q[3];\ncz q[0], q[3];\nmeasure q -> c;\n")
    for name in NOISELESS:
        result = run(fleet[name], src, shots=8000, subtask_id=f"gates/{name}")
        assert result.quality is not None and result.quality > 0.98, name


@pytest.mark.slow
def test_execute_does_not_block_the_event_loop(fleet: dict[str, Backend]) -> None:
    from mqt.bench import BenchmarkLevel, get_benchmark
    from qiskit import qasm2

    qasm = qasm2.dumps(get_benchmark("qftentangled", BenchmarkLevel.INDEP, 10))
    backend = fleet["ibm_sherbrooke_emu"]

    async def go() -> tuple[list[float], ExecutionResult]:
        ticks: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        result = await backend.execute(ExecutionRequest("block/0", "t", 0, qasm, 2000, seed=1))
        done.set()
        await task
        return ticks, result

    ticks, result = asyncio.run(go())
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert result.wall_s > 0.5  # a 127-qubit level-3 transpile and a 10-qubit noisy simulation
    assert len(ticks) > 10
    assert max(gaps) < 0.15, f"event loop stalled {max(gaps):.3f} s"


# -- the restricted noise model equals AerSimulator.from_backend -------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fake_class", ["FakePerth", "FakeHanoiV2"])
def test_restricted_noise_model_gives_the_same_counts(fake_class: str) -> None:
    from qiskit_aer import AerSimulator

    from qstream.circuits import parse_qasm

    dev = device(fake_class)
    tqc = pass_manager(dev, 3, 1234).run(parse_qasm(GHZ5))
    reduced_counts, method, active = simulate_noisy(dev, tqc, 3000, 11, False, 128, 10)
    assert method == "density_matrix" and active == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = AerSimulator.from_backend(dev.backend, method="density_matrix")
    data = full.run(tqc, shots=3000, seed_simulator=11).result().data(0)
    assert reduced_counts == hex_counts(data["counts"], 5)


@pytest.mark.slow
def test_trajectory_path_for_wide_circuits() -> None:
    from qstream.circuits import parse_qasm

    dev = device("FakeHanoiV2")
    n = 12
    src = HEAD2 + f"qreg q[{n}];\ncreg c[{n}];\nh q[0];\n" + "".join(
        f"cx q[{i}], q[{i + 1}];\n" for i in range(n - 1)) + "measure q -> c;\n"
    tqc = pass_manager(dev, 3, 1234).run(parse_qasm(src))
    counts, method, active = simulate_noisy(dev, tqc, 4000, 5, False, 64, 10)
    assert method == "statevector_trajectories_64" and active == n
    assert sum(counts.values()) == 4000
    ghz = (counts.get("0" * n, 0) + counts.get("1" * n, 0)) / 4000
    esp = transpiled_esp(tqc, dev.target)
    assert 0.5 < ghz < 1.0
    assert abs(ghz - esp) < 0.15  # ESP tracks the observed success rate


@pytest.mark.slow
def test_depolarizing_approximation_for_wide_circuits() -> None:
    n = 24
    src = HEAD2 + f"qreg q[{n}];\ncreg c[{n}];\nh q[0];\n" + "".join(
        f"cx q[{i}], q[{i + 1}];\n" for i in range(n - 1)) + "measure q -> c;\n"
    out = run_emulated(EmulatedPayload(fake="FakeSherbrooke", name="ghz24", qasm=src, shots=3000,
                                       seed=2, optimization_level=3, seed_transpiler=1234))
    assert isinstance(out, EmulatedOutcome), out
    assert out.method == "depolarizing_esp+stabilizer" and out.active_qubits == n  # GHZ: Clifford
    assert out.quality is None  # wider than the ideal-distribution limit
    counts = out.counts
    assert sum(counts.values()) == 3000
    ghz = (counts.get("0" * n, 0) + counts.get("1" * n, 0)) / 3000
    # F * P_ideal(GHZ) = ESP of the gates; readout error takes a little more
    assert 0.3 < ghz < out.esp / 0.8 and abs(ghz - out.esp) < 0.12


@pytest.mark.slow
def test_user_gate_named_like_the_native_ecr(fleet: dict[str, Backend]) -> None:
    # qiskit.qasm2.dumps writes "gate ecr ..." and "gate csdg ..." definitions; parsed
    # back they are custom gates that only share the native gate's name.
    from qiskit import QuantumCircuit, qasm2

    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.ecr(0, 1)
    qc.csdg(1, 2)
    qc.ecr(2, 1)
    qc.measure(range(3), range(3))
    src = qasm2.dumps(qc)
    assert "gate ecr" in src
    for name in ("ibm_sherbrooke_emu", "cpu_statevector", "braket_local"):
        result = run(fleet[name], src, shots=4000, subtask_id=f"ecr/{name}")
        assert result.quality is not None and result.quality > 0.9, name
