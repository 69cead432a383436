"""Circuits with Pauli observables, in process: partition into QWC groups, DLQ, estimates."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from helpers import BELL_QASM, HEA4_OBSERVABLES, HEA4_QASM, config, harness, run, task
from qiskit.quantum_info import SparsePauliOp, Statevector

from qstream.backends.classical import ClassicalStatevectorBackend
from qstream.backends.fleet import fleet_specs
from qstream.circuits import parse_qasm
from qstream.core.observables import group_qubit_wise_commuting
from qstream.stream import topics as T
from qstream.stream.testing import Harness


def observable_task(task_id: str = "obs-1", *, observables: Any = None, qasm: str = HEA4_QASM,
                    shots: int = 2000, **extra: Any) -> dict[str, Any]:
    circuit = {"name": "hea4", "qasm": qasm,
               "observables": copy.deepcopy(HEA4_OBSERVABLES if observables is None
                                            else observables)}
    return task(task_id=task_id, circuits=[circuit], shots=shots, **extra)


def distinct_labels() -> list[str]:
    return list(dict.fromkeys(label for terms in HEA4_OBSERVABLES for label, _ in terms))


def test_circuit_with_observables_is_partitioned_into_one_subtask_per_qwc_group() -> None:
    h, _ = harness(with_executor=False)
    run(h.deliver(h.produce(T.TASKS, observable_task(), key="obs-1")))
    assert h.sent(T.DLQ) == []
    [plan] = h.sent(T.SUBTASK_RESULTS)
    groups = group_qubit_wise_commuting(distinct_labels())
    assert len(groups) == 3
    assert [c["name"] for c in plan["circuits"]] == ["hea4"] * len(groups)
    assert all(c["shots"] == 2000 for c in plan["circuits"])
    bases = [c["basis"] for c in plan["circuits"]]
    assert len(set(bases)) == len(groups) and all(len(b) == 4 for b in bases)
    assert plan["observables"] == [{"name": "hea4", "observables": HEA4_OBSERVABLES}]
    subtasks = h.sent(T.SUBTASKS)
    assert len(subtasks) == plan["subtasks"] == len(groups)
    assert [s["circuit_index"] for s in subtasks] == list(range(len(groups)))
    assert {s["circuit_name"] for s in subtasks} == {"hea4"}
    assert all(s["shots"] == 2000 for s in subtasks)
    for s in subtasks:  # every group circuit measures all 4 qubits
        qc = parse_qasm(s["qasm"], "g")
        assert qc.num_clbits == 4 and s["features"]["measured_qubits"] == 4


def test_circuit_depending_on_an_observable_circuit_waits_for_every_group() -> None:
    h, _ = harness(with_executor=False)
    t = observable_task("obs-dep")
    t["circuits"].append({"name": "bell", "qasm": BELL_QASM, "depends_on": ["hea4"]})
    run(h.deliver(h.produce(T.TASKS, t, key="obs-dep")))
    subtasks = h.sent(T.SUBTASKS)
    [bell] = [s for s in subtasks if s["circuit_name"] == "bell"]
    groups = [s["subtask_id"] for s in subtasks if s["circuit_name"] == "hea4"]
    assert len(groups) == 3 and sorted(bell["depends_on"]) == sorted(groups)
    [plan] = h.sent(T.SUBTASK_RESULTS)
    assert plan["circuits"][-1] == {"name": "bell", "shots": 2000}


@pytest.mark.parametrize(("observables", "qasm", "shots", "reason", "says"), [
    ([[["ZZZ", 1.0]]], HEA4_QASM, 100, "invalid_observable", "has 3 characters"),
    ([[["ZZII", 1.0]]], HEA4_QASM.replace("qreg q[4];", "qreg q[4]; creg c[4];")
     + "measure q -> c;\n", 100, "invalid_observable", "remove its measure statements"),
    ([[["ZZII", 1.0]]], HEA4_QASM, 1, "invalid_observable", "shots >= 2"),
    ([[["ZZAI", 1.0]]], HEA4_QASM, 100, "schema", "does not match"),
    ([[["zzii", 1.0]]], HEA4_QASM, 100, "schema", "does not match"),
    ([[]], HEA4_QASM, 100, "schema", ""),
])
def test_bad_observables_go_to_the_dlq(observables: Any, qasm: str, shots: int, reason: str,
                                       says: str) -> None:
    h, _ = harness(with_executor=False)
    run(h.deliver(h.produce(T.TASKS, observable_task("bad", observables=observables, qasm=qasm,
                                                     shots=shots), key="bad")))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == reason and says in entry["error"]
    assert h.sent(T.SUBTASKS) == []
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "failed" and result["task_id"] == "bad"


def test_circuit_without_measurements_and_without_observables_is_still_rejected() -> None:
    h, _ = harness(with_executor=False)
    run(h.deliver(h.produce(T.TASKS, task(task_id="nom", circuits=[
        {"name": "hea4", "qasm": HEA4_QASM}]), key="nom")))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "invalid_qasm" and "measures no qubits" in entry["error"]


def test_result_has_one_entry_with_an_estimate_per_observable() -> None:
    # FakeBackend: half the shots read 0000, half 1111, whatever the basis; so a term
    # of even weight reads +1 every shot and a term of odd weight averages 0.
    h, backend = harness()
    backend.width = 4
    run(h.deliver(h.produce(T.TASKS, observable_task("obs-2", shots=1000), key="obs-2")))
    run(h.run())
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "completed" and h.sent(T.DLQ) == []
    [entry] = result["results"]
    assert entry["name"] == "hea4" and "counts" not in entry and entry["mitigated"] is None
    assert entry["shots"] == 3000 and entry["subtasks"] == 3 and len(entry["groups"]) == 3
    values = [(o["value"], o["std_error"], o["shots"]) for o in entry["observables"]]
    assert values[0] == (3.0, 0.0, 2000)  # ZZII + IIZZ from Z-group, XXII + IIXX from X-group
    assert values[1][0] == 0.0 and values[1][1] == pytest.approx(1 / np.sqrt(999))
    assert values[2] == (-0.25, 0.0, 2000)  # 0.25 * IYYI - 0.5 * IZZI


def test_statevector_estimates_are_within_three_standard_errors_of_exact() -> None:
    cfg = config()
    backend = ClassicalStatevectorBackend(seed=11, pool=ThreadPoolExecutor(1))
    h = Harness(cfg, fleet_specs(cfg.fleet), backends={backend.spec.name: backend})
    run(h.deliver(h.produce(T.TASKS, observable_task("obs-3", shots=4000), key="obs-3")))
    run(h.run())
    [result] = h.sent(T.RESULTS)
    assert result["status"] == "completed", result["error"]
    state = Statevector(parse_qasm(HEA4_QASM, "hea4", require_measurements=False))
    exact = [float(np.real(state.expectation_value(SparsePauliOp.from_list(o))))
             for o in HEA4_OBSERVABLES]
    for got, want in zip(result["results"][0]["observables"], exact, strict=True):
        assert got["std_error"] > 0
        assert abs(got["value"] - want) <= 3 * got["std_error"], (got, want)


def test_qasm3_circuit_with_unused_bits_and_two_registers_is_accepted() -> None:
    qasm = ('OPENQASM 3.0; include "stdgates.inc"; qubit[1] a; qubit[2] b; bit[3] c; '
            "h a[0]; cx a[0], b[1];")
    h, _ = harness(with_executor=False)
    run(h.deliver(h.produce(T.TASKS, observable_task(
        "q3", observables=[[["ZIZ", 1.0], ["XIX", 1.0]]], qasm=qasm), key="q3")))
    assert h.sent(T.DLQ) == []
    assert [c["basis"] for c in h.sent(T.SUBTASK_RESULTS)[0]["circuits"]] \
        == ["ZIZ", "XIX"]


def test_classical_control_on_a_circuit_with_observables_is_invalid_observable() -> None:
    qasm = ('OPENQASM 2.0; include "qelib1.inc"; qreg q[1]; creg c[1]; h q[0]; '
            "if (c == 1) x q[0];")
    h, _ = harness(with_executor=False)
    run(h.deliver(h.produce(T.TASKS, observable_task(
        "cc", observables=[[["Z", 1.0]]], qasm=qasm), key="cc")))
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "invalid_observable" and "classical bits" in entry["error"]


def test_measurement_groups_count_towards_the_circuit_limit() -> None:
    from qstream.config import Limits
    h, _ = harness(with_executor=False, limits=Limits(max_circuits=2))
    run(h.deliver(h.produce(T.TASKS, observable_task("many"), key="many")))  # 3 groups
    [entry] = h.sent(T.DLQ)
    assert entry["reason"] == "limit" and "runs 3 circuits" in entry["error"]
    assert h.sent(T.SUBTASKS) == []


def test_grouping_a_large_operator_partitions_it() -> None:
    # 2,000 distinct random 12-qubit labels: the vectorised conflict graph and largest_first
    # colouring (DSATUR is skipped above DSATUR_MAX_TERMS; it took about 490 s at this
    # size, 2.5 s now) must still give a partition into qubit-wise commuting groups.
    from qstream.core.observables import qubit_wise_commute
    rng = np.random.default_rng(7)
    labels = list(dict.fromkeys("".join(rng.choice(list("IXYZ"), 12)) for _ in range(2100)))
    groups = group_qubit_wise_commuting(labels)
    assert sorted(i for g in groups for i in g) == list(range(len(labels)))
    assert all(qubit_wise_commute(labels[a], labels[b]) for g in groups[:50]
               for a in g for b in g)
