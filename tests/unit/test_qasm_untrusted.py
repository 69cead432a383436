"""User QASM is parsed, never executed, and never makes the parser read other files."""

from __future__ import annotations

from pathlib import Path

import pytest

import qstream.circuits as circuits
from qstream.circuits import analyze_qasm, parse_qasm
from qstream.errors import CircuitError

MEASURE2 = "qreg q[1];\ncreg c[1];\nevil q[0];\nmeasure q -> c;\n"
MEASURE3 = "qubit[1] q;\nbit[1] c;\nevil q[0];\nc = measure q;\n"


def _payloads(marker: Path) -> list[str]:
    py = f"__import__('os').system('touch {marker}')"
    return [
        py,
        f"OPENQASM 2.0;\n{py};\n",
        f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nh q[0];\n{py};\n',
        f"OPENQASM 3.0;\ndef f() {{ {py}; }}\nqubit[1] q;\n",
        f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\n'
        f'extern system(string) -> int;\nsystem("touch {marker}");\nc = measure q;\n',
        f'OPENQASM 2.0;\ninclude "qelib1.inc";\nopaque exec("{marker}") q;\n',
        f'OPENQASM 2.0;\ninclude "qelib1.inc";\ninclude "/etc/passwd";\n{MEASURE2}',
        f'OPENQASM 3.0;\ninclude "stdgates.inc";\ninclude "../../etc/passwd";\n{MEASURE3}',
    ]


def test_python_looking_payloads_are_invalid_qasm_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for source in _payloads(marker):
        with pytest.raises(CircuitError, match=r"^circuit 'user'[: ]"):
            analyze_qasm(source, "user")
    assert not marker.exists()


@pytest.mark.parametrize("version, body", [(2, MEASURE2), (3, MEASURE3)])
def test_parsers_do_not_read_an_include_from_disk(tmp_path: Path, version: int, body: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The include check is one guard; the parsers themselves are the second.

    ``evil.inc`` defines the gate the circuit uses: had any parser read it, the circuit
    would parse. With the include check switched off it must still be rejected.
    """
    evil = tmp_path / "evil.inc"
    evil.write_text("gate evil a { x a; }\n")
    std = "qelib1.inc" if version == 2 else "stdgates.inc"
    source = f'OPENQASM {version}.0;\ninclude "{std}";\ninclude "{evil}";\n{body}'
    with pytest.raises(CircuitError, match="is not allowed"):
        parse_qasm(source, "inc")
    monkeypatch.setattr(circuits, "_check_includes", lambda *args: None)
    monkeypatch.chdir(tmp_path)  # a relative include would resolve here
    for include in (str(evil), "evil.inc"):
        with pytest.raises(CircuitError, match=f"^circuit 'inc': invalid OpenQASM {version}"):
            parse_qasm(source.replace(str(evil), include), "inc")
