"""Remote backends in the fleet: names, mixing with emulated and local backends, topics."""

from __future__ import annotations

import re

import pytest

from qstream.backends.check import check_backend
from qstream.backends.fleet import build_fleet, fleet_specs
from qstream.backends.remote import forget_remote, remote_backend
from qstream.errors import ConfigError
from qstream.stream.topics import exec_topic


@pytest.fixture(autouse=True)
def _fresh() -> object:
    yield
    forget_remote()


def test_mixed_fleet_specs_and_build_share_one_backend() -> None:
    names = ["ibm:fake_manila", "braket:local", "ibm_perth_emu", "cpu_statevector"]
    specs = fleet_specs(names)
    assert [s.name for s in specs] == names
    assert specs[0].kind == "qpu" and specs[0].num_qubits == 5 and specs[0].calibration
    assert specs[1].kind == "simulator" and specs[1].num_qubits == 26
    fleet = build_fleet(names)
    assert list(fleet) == names
    assert fleet["ibm:fake_manila"] is remote_backend("ibm:fake_manila")  # built once
    assert fleet["ibm:fake_manila"].stoppable() and not fleet["braket:local"].stoppable()


def test_bad_remote_names() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'ibm:'"):
        fleet_specs(["ibm:"])
    check = check_backend("ibm:fake_nowhere")
    assert not check.ok and "cannot get the device" in check.detail
    assert check.credentials == "none needed (local mode)"


def test_exec_topics_are_legal_kafka_names() -> None:
    names = ["ibm:ibm_brisbane", "braket:arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1",
             "braket:arn:aws:braket:us-east-1::device/qpu/ionq/Forte_1", "ibm_perth_emu"]
    topics = [exec_topic(n) for n in names]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]{1,249}", t) for t in topics)
    assert len(set(topics)) == len(names)  # '/' vs '_' differ by the CRC suffix
    assert topics[-1] == "qstream.exec.ibm_perth_emu"  # local names unchanged
