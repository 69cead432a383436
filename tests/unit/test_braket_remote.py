"""The Amazon Braket adapter, on ``LocalSimulator`` and on an ``AwsDevice`` whose network
client is replayed.

``braket:local`` builds ``LocalSimulator("braket_sv")``; from there on it is the code
``AwsDevice`` runs (program, ``device.run``, state polls, ``task.result()``, counts).

The production line: ``AwsDevice(arn, aws_session=...)``. Here it runs unchanged on an
``AwsSession`` whose boto3 Braket client is real but stubbed with botocore's
``Stubber``: the ``GetDevice`` response in ``tests/data/remote/braket_sv1_get_device.json``
is in the API's shape, with SV1's capabilities built from the SDK's own
``LocalSimulator`` schema (34 qubits, USD 0.075 per minute); it is not a recording from
a live account (there is none here). ``CreateQuantumTask``, ``GetQuantumTask`` and
``CancelQuantumTask`` are replayed the same way to show that cancelling ``execute``
cancels the task at AWS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from qstream.backends.base import ExecutionRequest
from qstream.backends.braket_remote import BraketRemoteBackend, device_pricing, open_device
from qstream.errors import BackendError, ConfigError
from qstream.secrets import Credentials, Secret, find_leaks

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
BELL = ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg a[1];\ncreg c[2];\n'
        'h q[0];\ncx q[0],q[1];\nx q[2];\n'
        'measure q[0] -> a[0];\nmeasure q[1] -> c[0];\nmeasure q[2] -> c[1];\n')
GET_DEVICE = json.loads((Path(__file__).parents[1] / "data/remote/braket_sv1_get_device.json")
                        .read_text())


def test_local_simulator_counts() -> None:
    b = BraketRemoteBackend("braket:local", poll_s=0.01)
    try:
        r = asyncio.run(b.execute(ExecutionRequest("s", "t", 0, BELL, 400)))
    finally:
        b.close()
    assert sum(r.counts.values()) == 400
    assert set(r.counts) <= {"100", "111"} and len(r.counts) == 2  # noiseless, qiskit order
    assert r.pending_jobs == 0 and r.run_s > 0
    # Priced as SV1 (published table): USD 0.075/min on at least 3 s.
    assert r.price_usd == pytest.approx(0.075 / 60 * max(r.run_s, 3.0))
    assert b.spec.kind == "simulator" and b.spec.num_qubits == 26 and not b.stoppable()


def test_local_simulator_refuses_dynamic_and_bad_input() -> None:
    b = BraketRemoteBackend("braket:local", poll_s=0.01)
    dynamic = ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\n'
               'h q[0];\nc[0] = measure q[0];\nif (c[0]) x q[0];\nc[0] = measure q[0];\n')
    try:
        with pytest.raises(BackendError, match="mid-circuit"):
            asyncio.run(b.execute(ExecutionRequest("s", "t", 0, dynamic, 10)))
        with pytest.raises(BackendError):
            asyncio.run(b.execute(ExecutionRequest("s", "t", 0, "OPENQASM 2.0;\nbad;\n", 10)))
    finally:
        b.close()
    with pytest.raises(ConfigError):
        BraketRemoteBackend("braket_local")


def test_published_pricing() -> None:
    class NoCost:
        service = None
    qpu, source = device_pricing("arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1", NoCost())
    assert source == "published" and qpu.price_usd(1000, 0.0) == pytest.approx(0.30 + 80.0)
    with pytest.raises(ConfigError, match="no price"):
        device_pricing("arn:aws:braket:us-east-1::device/qpu/acme/Thing-1", NoCost())


# -- AwsDevice on a replayed network client ---------------------------------------------

def _stubbed_session() -> tuple[Any, Any]:
    import boto3
    from botocore.stub import Stubber
    from braket.aws import AwsSession

    boto = boto3.Session(aws_access_key_id="AKIAQSTREAMUNITTEST1",
                         aws_secret_access_key="unit/test+secret=1", region_name="us-east-1")
    client = boto.client("braket")
    stubber = Stubber(client)
    return AwsSession(boto_session=boto, braket_client=client), stubber


def test_aws_device_from_recorded_get_device() -> None:
    session, stubber = _stubbed_session()
    for _ in range(3):  # AwsDevice(), then the adapter's queue_depth() and refresh_metadata()
        stubber.add_response("get_device", GET_DEVICE, {"deviceArn": SV1})
    with stubber:
        device = open_device(SV1, session=session)  # the production line
        b = BraketRemoteBackend(f"braket:{SV1}", device=device, refresh_s=3600)
        stubber.assert_no_pending_responses()
    assert b.pending_jobs() == 7 and b.operational()  # Normal 5 + Priority 2
    assert b.spec.num_qubits == 34 and b.spec.kind == "simulator" and b.stoppable()
    assert b.price_source == "sdk"  # deviceCost in the capabilities: USD 0.075 per minute
    assert b.pricing.price_usd(100, 60.0) == pytest.approx(0.075)
    b.close()


def _replay(client: Any, responses: dict[str, Any]) -> list[str]:
    """Answer ``client``'s calls from ``responses`` (operation name -> response), as
    botocore's ``Stubber`` does, but without a fixed order: polls repeat. Returns the
    operation names called, in order."""
    from botocore.awsrequest import AWSResponse

    calls: list[str] = []

    def answer(model: Any, params: Any, **_: Any) -> Any:
        calls.append(model.name)
        return AWSResponse(None, 200, {}, None), responses[model.name]

    client.meta.events.register_first("before-call.*.*", answer)
    return calls


def test_cancelling_execute_cancels_the_aws_task() -> None:
    session, _ = _stubbed_session()
    task_arn = "arn:aws:braket:us-east-1:123456789012:quantum-task/0b1c2d3e-unit"
    queued = {"quantumTaskArn": task_arn, "status": "QUEUED", "deviceArn": SV1,
              "deviceParameters": "{}", "shots": 100, "outputS3Bucket": "amazon-braket-unit",
              "outputS3Directory": "qstream/x", "createdAt": dt.datetime(2026, 1, 1)}
    calls = _replay(session.braket_client, {
        "GetDevice": GET_DEVICE, "CreateQuantumTask": {"quantumTaskArn": task_arn},
        "GetQuantumTask": queued,
        "CancelQuantumTask": {"quantumTaskArn": task_arn, "cancellationStatus": "CANCELLING"}})
    b = BraketRemoteBackend(f"braket:{SV1}", device=open_device(SV1, session=session),
                            s3_folder=("amazon-braket-unit", "qstream"), poll_s=0.01,
                            refresh_s=3600)

    async def go() -> None:
        task = asyncio.ensure_future(b.execute(ExecutionRequest("s", "t", 0, BELL, 100)))
        while calls.count("GetQuantumTask") < 2 and not task.done():  # polled while QUEUED
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(go())
    finally:
        b.close()
    assert "CreateQuantumTask" in calls and calls[-1] == "CancelQuantumTask"
    assert b.cancelled == [task_arn]


def test_no_network_error_names_no_secret() -> None:
    secret = "qsAWS+unit/9f8e7d6c5b4a3=x"
    creds = Credentials(aws_access_key_id=Secret("AKIAQSTREAMUNITTEST2"),
                        aws_secret_access_key=Secret(secret))
    with pytest.raises(BackendError) as err:
        open_device(SV1, creds)
    text = str(err.value) + repr(err.value)
    assert "cannot open the device" in text
    assert find_leaks(text, {"key": Secret(secret), "id": Secret("AKIAQSTREAMUNITTEST2")}) == []
