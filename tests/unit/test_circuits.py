"""Parsing user circuits: OpenQASM 2 (qelib1 legacy gates) and 3, features, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit, qasm2
from qiskit.circuit import Gate
from qiskit.circuit.random import random_circuit

from qstream.circuits import (
    MAX_REGISTER_SIZE,
    analyze_qasm,
    circuit_features,
    final_measurement_map,
    inline_shadowing_gates,
    parse_qasm,
)
from qstream.core.features import CircuitFeatures
from qstream.errors import CircuitError

QASM = Path(__file__).resolve().parents[1] / "data" / "qasm"
HEAD2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
HEAD3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'


def test_legacy_qelib1_file() -> None:
    qc = parse_qasm((QASM / "legacy_qelib1.qasm").read_text(), "legacy")
    assert qc.name == "legacy"
    f = circuit_features(qc)
    assert (f.num_qubits, f.num_clbits, f.measured_qubits, f.dynamic) == (4, 4, 4, False)
    assert f.gates == 9
    assert f.two_qubit_gates == 4  # cu1, cu3, crz, rzz


def test_every_legacy_custom_instruction_parses() -> None:
    src = HEAD2 + """qreg q[5];
creg c[5];
u0(1) q[0]; u(0.1, 0.2, 0.3) q[0]; p(0.4) q[1]; sxdg q[2]; cu(0.1, 0.2, 0.3, 0.4) q[0], q[1];
csx q[0], q[1]; cp(0.2) q[1], q[2]; rxx(0.3) q[2], q[3]; rccx q[0], q[1], q[2];
rc3x q[0], q[1], q[2], q[3]; c3x q[0], q[1], q[2], q[3]; c3sqrtx q[0], q[1], q[2], q[3];
c4x q[0], q[1], q[2], q[3], q[4];
measure q -> c;
"""
    f = analyze_qasm(src, "all-legacy")
    assert f.gates == 13
    assert f.two_qubit_gates == 4  # cu, csx, cp, rxx
    assert f.measured_qubits == 5 and not f.dynamic


def test_several_registers_and_partial_measurement() -> None:
    qc = parse_qasm((QASM / "two_registers_partial.qasm").read_text(), "partial")
    f = circuit_features(qc)
    assert (f.num_qubits, f.num_clbits, f.measured_qubits) == (5, 3, 3)
    # clbits in declaration order: a[0], a[1], b[0]; qubits q[0..2], r[0..1]
    assert final_measurement_map(qc) == {0: 0, 1: 2, 2: 4}


def test_openqasm3_stdgates() -> None:
    f = analyze_qasm((QASM / "bell_qasm3.qasm").read_text(), "bell")
    assert f == CircuitFeatures(num_qubits=2, depth=3, two_qubit_gates=1, gates=2,
                                measured_qubits=2, num_clbits=2, dynamic=False,
                                clifford=True)


@pytest.mark.parametrize("src", [
    'include "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0], q[1];\nmeasure q -> c;\n',
    'include "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n',
    '// a comment first\n\nOPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n'
    'creg c[2];\nh q[0];\ncx q[0], q[1];\nmeasure q -> c;\n',
    '/* a block\n comment */ // and a line\nOPENQASM 3.0;\ninclude "stdgates.inc";\n'
    'qubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n',
])
def test_header_optional_and_comments_before_it(src: str) -> None:
    f = analyze_qasm(src, "noheader")
    assert (f.num_qubits, f.two_qubit_gates, f.measured_qubits) == (2, 1, 2)


def test_invalid_openqasm2_reports_the_line() -> None:
    with pytest.raises(CircuitError, match=r"^circuit 'bad': invalid OpenQASM 2 on line 5: "
                                           r"'hadamard' is not defined"):
        parse_qasm((QASM / "invalid.qasm").read_text(), "bad")


def test_invalid_openqasm2_syntax() -> None:
    with pytest.raises(CircuitError, match=r"invalid OpenQASM 2 on line 4: needed ';'"):
        parse_qasm(HEAD2 + "qreg q[2]\ncreg c[2];\n", "x")


@pytest.mark.parametrize(("body", "line", "text"), [
    ("qubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1]\nc = measure q;\n", 7, "unexpected 'c'"),
    ("qubit[2] q;\nbit[2] c;\nfoo q[0];\nc = measure q;\n", 5, "gate 'foo' is not defined"),
])
def test_invalid_openqasm3_reports_the_line(body: str, line: int, text: str) -> None:
    with pytest.raises(CircuitError, match=rf"invalid OpenQASM 3 on line {line}: {text}"):
        parse_qasm(HEAD3 + body, "bad3")


def test_invalid_without_header_reports_both_parsers() -> None:
    with pytest.raises(CircuitError, match=r"neither valid OpenQASM 2 .*line 2.* nor valid "
                                           r"OpenQASM 3"):
        parse_qasm("qreg q[1];\nfrobnicate q[0];\n", "mystery")


def test_no_measurement() -> None:
    with pytest.raises(CircuitError) as info:
        parse_qasm(HEAD2 + "qreg q[2];\ncreg c[2];\nh q[0];\n", "x")
    assert str(info.value) == "circuit 'x' measures no qubits; add measure statements"


@pytest.mark.parametrize("src", ["", "   \n", None])
def test_empty_source(src: str | None) -> None:
    with pytest.raises(CircuitError, match=r"is empty"):
        parse_qasm(src, "e")  # type: ignore[arg-type]


def test_unsupported_version() -> None:
    with pytest.raises(CircuitError, match=r"unsupported OpenQASM version 4"):
        parse_qasm("OPENQASM 4.0;\nqubit q;\n", "v4")


@pytest.mark.parametrize("include", ["/etc/passwd", "../secrets.inc", "other.inc"])
def test_only_standard_includes(include: str) -> None:
    # qiskit.qasm2 would open the file and echo its first token in the error
    with pytest.raises(CircuitError, match=f"include '{include}' on line 2 is not allowed"):
        parse_qasm(f'OPENQASM 2.0;\ninclude "{include}";\nqreg q[1];\n', "inc")
    with pytest.raises(CircuitError, match=r"is not allowed; only stdgates.inc"):
        parse_qasm(f"OPENQASM 3.0;\ninclude '{include}';\nqubit q;\n", "inc3")


def test_huge_register_is_refused_before_parsing() -> None:
    with pytest.raises(CircuitError, match=f"exceeds the limit of {MAX_REGISTER_SIZE}"):
        parse_qasm(HEAD2 + "qreg q[100000000];\n", "big")
    with pytest.raises(CircuitError, match=r"exceeds the limit"):
        parse_qasm(HEAD3 + "qubit[5000] q;\n", "big3")


def test_unbound_parameters() -> None:
    src = HEAD3 + "input float theta;\nqubit q;\nbit c;\nrx(theta) q;\nc = measure q;\n"
    with pytest.raises(CircuitError, match=r"unbound parameters \(theta\)"):
        parse_qasm(src, "param")


@pytest.mark.parametrize(("name", "src"), [
    ("mid-circuit", HEAD2 + "qreg q[2];\ncreg c[2];\nh q[0];\nmeasure q[0] -> c[0];\n"
                            "cx q[0], q[1];\nmeasure q[1] -> c[1];\n"),
    ("measured-twice", HEAD2 + "qreg q[1];\ncreg c[2];\nh q[0];\nmeasure q[0] -> c[0];\n"
                               "measure q[0] -> c[1];\n"),
    ("reset", HEAD2 + "qreg q[2];\ncreg c[2];\nreset q;\nh q[0];\nmeasure q -> c;\n"),
    ("if-qasm2", HEAD2 + "qreg q[2];\ncreg c[2];\nh q[0];\nmeasure q[0] -> c[0];\n"
                         "if (c==1) x q[1];\nmeasure q[1] -> c[1];\n"),
    ("if-qasm3", HEAD3 + "qubit[2] q;\nbit[2] c;\nh q[0];\nc[0] = measure q[0];\n"
                         "if (c[0]) x q[1];\nc[1] = measure q[1];\n"),
])
def test_dynamic_circuits(name: str, src: str) -> None:
    assert analyze_qasm(src, name).dynamic


def test_static_despite_barrier_after_measure() -> None:
    src = HEAD2 + "qreg q[2];\ncreg c[2];\nh q[0];\nmeasure q[0] -> c[0];\nbarrier q;\n" \
                  "x q[1];\nmeasure q[1] -> c[1];\n"
    assert not analyze_qasm(src, "static").dynamic


def test_measurement_inside_control_flow_counts() -> None:
    src = HEAD3 + "qubit[2] q;\nbit[2] c;\nh q[0];\nc[0] = measure q[0];\n" \
                  "if (c[0]) { x q[1]; c[1] = measure q[1]; }\n"
    f = analyze_qasm(src, "nested")
    assert f.dynamic and f.measured_qubits == 2 and f.gates == 2


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=1, max_value=8), depth=st.integers(min_value=1, max_value=6),
       seed=st.integers(min_value=0, max_value=10_000))
def test_features_agree_with_qiskit_on_random_circuits(n: int, depth: int, seed: int) -> None:
    qc = random_circuit(n, depth, max_operands=3, measure=True, seed=seed)
    f = analyze_qasm(qasm2.dumps(qc), "random")
    parsed = parse_qasm(qasm2.dumps(qc), "random")
    gates = [i for i in parsed.data if isinstance(i.operation, Gate)]
    assert f.num_qubits == n and f.num_clbits == n and f.measured_qubits == n
    assert f.gates == len(gates)
    assert f.two_qubit_gates == sum(1 for i in gates if len(i.qubits) == 2)
    assert f.depth == parsed.depth()
    assert not f.dynamic


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=2, max_value=12), data=st.data())
def test_partial_measurement_counts_distinct_qubits(n: int, data: st.DataObject) -> None:
    measured = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    qc = QuantumCircuit(n, len(measured))
    qc.h(0)
    for q in range(1, n):
        qc.cx(q - 1, q)
    for c, q in enumerate(measured):
        qc.measure(q, c)
    f = analyze_qasm(qasm2.dumps(qc), "ghz")
    assert f.measured_qubits == len(measured)
    assert f.two_qubit_gates == n - 1
    assert final_measurement_map(parse_qasm(qasm2.dumps(qc))) == dict(enumerate(measured))


def test_user_gates_named_like_standard_gates_are_inlined() -> None:
    src = HEAD2 + ("gate ecr a, b { cx a, b; x a; }\n"
                   "gate csdg a, b { p(-pi/4) a; cx a, b; p(pi/4) b; cx a, b; p(-pi/4) b; }\n"
                   "qreg q[2];\ncreg c[2];\necr q[0], q[1];\ncsdg q[1], q[0];\ncx q[0], q[1];\n"
                   "measure q -> c;\n")
    qc = parse_qasm(src, "shadow")
    assert [i.operation.name for i in qc.data][:2] == ["ecr", "csdg"]
    inlined = inline_shadowing_gates(qc)
    names = [i.operation.name for i in inlined.data]
    assert "ecr" not in names and "csdg" not in names
    assert names.count("cx") == 4 and names.count("x") == 1 and names.count("p") == 3
    # standard gates are kept as they are
    plain = parse_qasm(HEAD2 + "qreg q[2];\ncreg c[2];\ncx q[0], q[1];\nmeasure q -> c;\n")
    assert inline_shadowing_gates(plain) is plain
