"""The IBM Quantum adapter, in qiskit-ibm-runtime's local testing mode and on a recorded
``IBMBackend``.

Local testing mode: ``ibm:fake_*`` names open ``QiskitRuntimeService(channel="local")``;
from there on it is the production code (``service.backend``, transpile against the
target, ``SamplerV2`` in job or batch mode, status polls, metrics, result, cancel).

The production line: ``service.backend(name)`` returns an ``IBMBackend``. It is built
here as ``QiskitRuntimeService.backend`` builds it, from ``ibm_brisbane``'s configuration
and properties JSON (as IBM's API returned them; qiskit-ibm-runtime ships them under
``fake_provider/backends/brisbane``) and a status document in the API's shape
(``tests/data/remote/ibm_brisbane_status.json``, hand-written: no account here), served
by a stub of only the API client (``backend_configuration``, ``backend_properties``,
``backend_status``).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from qstream.backends.base import ExecutionRequest
from qstream.backends.ibm_emulated import calibration_summary
from qstream.backends.ibm_runtime import IBMRuntimeBackend, open_service
from qstream.core.features import CircuitFeatures
from qstream.errors import BackendError, ConfigError
from qstream.secrets import Credentials, Secret, find_leaks

BELL = ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg a[1];\ncreg c[2];\n'
        'h q[0];\ncx q[0],q[1];\nx q[2];\n'
        'measure q[0] -> a[0];\nmeasure q[1] -> c[0];\nmeasure q[2] -> c[1];\n')


def _run(backend: IBMRuntimeBackend, qasm: str, shots: int, sid: str = "s0") -> Any:
    return asyncio.run(backend.execute(ExecutionRequest(sid, "t", 0, qasm, shots)))


@pytest.mark.parametrize("mode", ["job", "batch"])
def test_sampler_counts_in_local_testing_mode(mode: str) -> None:
    b = IBMRuntimeBackend("ibm:fake_manila", mode=mode, poll_s=0.01)  # type: ignore[arg-type]
    try:
        r = _run(b, BELL, 700)
        r2 = _run(b, BELL, 300, "s1")
    finally:
        b.close()
    assert sum(r.counts.values()) == 700 and sum(r2.counts.values()) == 300
    # Clbit order: register a (q0) rightmost, then c = (q1, q2); q2 is always 1 and
    # q0 == q1, so the two ideal outcomes are '100' and '111'; noise adds a few others.
    assert r.counts.get("100", 0) + r.counts.get("111", 0) > 0.85 * 700
    assert all(len(k) == 3 for k in r.counts)
    assert 0.0 < r.esp < 1.0  # transpiled circuit on FakeManila's calibrated target
    assert r.readout is not None and len(r.readout) == 3 and all(0 < p < 0.2 for p in r.readout[0])
    assert r.physical_qubits is not None and len(r.physical_qubits) == 3
    assert r.queue_s >= 0 and r.run_s >= 0 and r.pending_jobs == 0
    assert len(b.submitted) == 2 and not b.cancelled


def test_batch_mode_opens_one_batch() -> None:
    b = IBMRuntimeBackend("ibm:fake_manila", mode="batch", poll_s=0.01)
    try:
        _run(b, BELL, 50)
        first = b._batch
        _run(b, BELL, 50, "s1")
        assert first is not None and b._batch is first
    finally:
        b.close()


def test_estimator_expectation_values() -> None:
    from qiskit.quantum_info import SparsePauliOp

    b = IBMRuntimeBackend("ibm:fake_manila", poll_s=0.01)
    try:
        zz, z2 = asyncio.run(b.estimate(BELL, [SparsePauliOp("IZZ"), SparsePauliOp("ZII")]))
    finally:
        b.close()
    assert 0.7 < zz <= 1.0  # <Z0 Z1> = +1 for the Bell pair, less noise
    assert -1.0 <= z2 < -0.7  # <Z2> = -1 after X


def test_cancel_cancels_the_job() -> None:
    # A 5-qubit GHZ state with FakeManila's noise and 100k shots runs ~1 s locally: the
    # job is running when execute is cancelled, right after submission.
    lines = ['OPENQASM 2.0;', 'include "qelib1.inc";', 'qreg q[5];', 'creg c[5];']
    for _ in range(3):
        lines += ["h q[0];", *(f"cx q[{i}],q[{i + 1}];" for i in range(4))]
    lines.append("measure q -> c;")
    b = IBMRuntimeBackend("ibm:fake_manila", poll_s=0.01)

    async def go() -> None:
        task = asyncio.ensure_future(b.execute(ExecutionRequest("s", "t", 0, "\n".join(lines),
                                                                100_000)))
        while not b.submitted:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(go())
    finally:
        b.close()
    assert len(b.submitted) == 1 and b.cancelled == b.submitted  # that job was cancelled


def test_bad_input_and_names() -> None:
    with pytest.raises(ConfigError):
        IBMRuntimeBackend("ibm_brisbane")
    with pytest.raises(ConfigError):
        IBMRuntimeBackend("ibm:fake_manila", mode="session")  # type: ignore[arg-type]
    with pytest.raises(BackendError, match="cannot get the device"):
        IBMRuntimeBackend("ibm:fake_nowhere")
    b = IBMRuntimeBackend("ibm:fake_manila", poll_s=0.01)
    try:
        with pytest.raises(BackendError):
            _run(b, "OPENQASM 2.0;\nnot qasm;\n", 10)
        with pytest.raises(BackendError, match="outside"):
            _run(b, BELL, 10**7)
    finally:
        b.close()


def test_no_network_error_names_no_token() -> None:
    token = "qsIBM-unit/5e6f+7a8b=9c0d"
    with pytest.raises(BackendError) as err:
        open_service("ibm_brisbane", Credentials(ibm_token=Secret(token)))
    text = str(err.value) + repr(err.value)
    assert "cannot open the IBM Quantum service" in text
    assert find_leaks(text, {"token": Secret(token)}) == []


# -- the production IBMBackend, on recorded JSON ---------------------------------------

_BRISBANE = Path(__import__("qiskit_ibm_runtime").__file__).parent / \
    "fake_provider/backends/brisbane"


class _RecordedClient:
    """Only the network client: serves recorded JSON; counts the calls."""

    def __init__(self) -> None:
        self.config = json.loads((_BRISBANE / "conf_brisbane.json").read_text())
        self.props = json.loads((_BRISBANE / "props_brisbane.json").read_text())
        self.status = json.loads((Path(__file__).parents[1] / "data/remote/"
                                  "ibm_brisbane_status.json").read_text())
        self.calls: list[str] = []

    def backend_configuration(self, name: str, refresh: bool = False,
                              calibration_id: str | None = None) -> dict[str, Any]:
        self.calls.append("configuration")
        return copy.deepcopy(self.config)

    def backend_properties(self, name: str, datetime: Any = None,
                           calibration_id: str | None = None) -> dict[str, Any]:
        self.calls.append("properties")
        return copy.deepcopy(self.props)

    def backend_status(self, name: str) -> dict[str, Any]:
        self.calls.append("status")
        return copy.deepcopy(self.status)


class _Service:
    """What ``QiskitRuntimeService.backend(name)`` does, on the recorded client."""

    def __init__(self, client: _RecordedClient) -> None:
        self.client = client

    def _get_api_client(self, instance: str | None = None) -> _RecordedClient:
        return self.client

    def backend(self, name: str) -> Any:
        from qiskit_ibm_runtime.ibm_backend import IBMBackend
        from qiskit_ibm_runtime.utils.backend_decoder import configuration_from_server_data

        config = configuration_from_server_data(self.client.backend_configuration(name))
        return IBMBackend(configuration=config, service=self, api_client=self.client)  # type: ignore[arg-type]


def test_recorded_ibm_backend_feeds_queue_and_calibration() -> None:
    from qiskit_ibm_runtime.fake_provider import FakeBrisbane

    client = _RecordedClient()
    b = IBMRuntimeBackend("ibm:ibm_brisbane", service=_Service(client), refresh_s=3600)
    try:
        assert b.pending_jobs() == 57 and b.operational()
        assert b.spec.num_qubits == 127 and b.spec.kind == "qpu"
        # The calibration medians are the recorded properties' (same data as FakeBrisbane).
        # Not updated_at_s: the file's dates carry -05:00 offsets, which the SDK's server
        # decoder (utc_to_local_all) takes for UTC, as the API sends; FakeBrisbane keeps them.
        fake = calibration_summary(FakeBrisbane())
        assert b.spec.calibration == dataclasses.replace(
            fake, updated_at_s=b.spec.calibration.updated_at_s)  # type: ignore[union-attr]
        assert abs(b.spec.calibration.updated_at_s - fake.updated_at_s) <= 14 * 3600  # type: ignore[union-attr]
        features = CircuitFeatures(5, 6, 4, 5, 5, 5)
        esp_before = b.spec.prior_esp(features)

        # Live: the queue grows, the device recalibrates worse, goes down.
        client.status = {**client.status, "pending_jobs": 240, "operational": False}
        for gate in client.props["gates"]:
            if len(gate["qubits"]) == 2:
                for p in gate["parameters"]:
                    if p["name"] == "gate_error":
                        p["value"] = min(1.0, 3 * p["value"])
        b.refresh()
        assert b.pending_jobs() == 240 and not b.operational()
        cal = b.spec.calibration
        assert cal is not None and b.spec.calibration is not None
        assert cal.two_qubit_error == pytest.approx(
            3 * calibration_summary(FakeBrisbane()).two_qubit_error, rel=0.05)
        assert b.spec.prior_esp(features) < esp_before
        assert {"configuration", "properties", "status"} <= set(client.calls)
    finally:
        b.close()
