"""Circuits with Pauli observables against a real broker and worker (issue 10)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from typing import Any

import numpy as np
from helpers import HEA4_OBSERVABLES, HEA4_QASM
from qiskit.quantum_info import SparsePauliOp, Statevector

from qstream.circuits import parse_qasm
from qstream.client import Client
from qstream.stream import topics as T


def observable_task(observables: Any, shots: int = 4000) -> dict[str, Any]:
    return {"schema": "qstream.task.v1", "task_id": f"it-obs-{uuid.uuid4()}",
            "circuits": [{"name": "hea4", "qasm": HEA4_QASM,
                          "observables": copy.deepcopy(observables)}],
            "shots": shots, "backends": ["cpu_statevector"]}


def submit_and_wait(url: str, t: dict[str, Any], timeout_s: float = 180.0) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with Client(url) as client:
            await client.submit(t)
            return (await client.wait_results([t["task_id"]], timeout_s))[t["task_id"]]
    return asyncio.run(go())


def dlq_entry(url: str, task_id: str, timeout_s: float = 30.0) -> dict[str, Any] | None:
    async def go() -> dict[str, Any] | None:
        async with Client(url) as client:
            async def find() -> dict[str, Any]:
                async for _, msg in client.stream(T.DLQ):
                    if msg.get("task_id") == task_id:
                        return msg
                raise AssertionError("DLQ stream ended")
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(find(), timeout_s)
        return None
    return asyncio.run(go())


def test_ansatz_without_measurements_estimates_observables_within_three_sigma(worker) -> None:
    t = observable_task(HEA4_OBSERVABLES)
    result = submit_and_wait(worker.broker_url, t)
    assert result["status"] == "completed", result["error"]
    [entry] = result["results"]
    assert entry["name"] == "hea4" and entry["backends"] == ["cpu_statevector"]
    assert len(entry["groups"]) == 3 and entry["shots"] == 3 * 4000
    state = Statevector(parse_qasm(HEA4_QASM, "hea4", require_measurements=False))
    exact = [float(np.real(state.expectation_value(SparsePauliOp.from_list(o))))
             for o in HEA4_OBSERVABLES]
    assert len(entry["observables"]) == len(exact)
    for got, want in zip(entry["observables"], exact, strict=True):
        assert got["shots"] >= 4000 and 0 < got["std_error"] < 0.1
        assert abs(got["value"] - want) <= 3 * got["std_error"], (got, want)


def test_observable_of_the_wrong_width_is_rejected_with_invalid_observable(worker) -> None:
    t = observable_task([[["ZZZ", 1.0]]], shots=100)
    result = submit_and_wait(worker.broker_url, t, timeout_s=60)
    assert result["status"] == "failed" and "4 qubits" in result["error"]
    entry = dlq_entry(worker.broker_url, t["task_id"])
    assert entry is not None and entry["reason"] == "invalid_observable"
