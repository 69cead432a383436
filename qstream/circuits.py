"""Parse user circuits (OpenQASM 2 and 3) and extract their features.

User circuits are parsed, never executed. OpenQASM 2 goes through
:func:`qiskit.qasm2.loads` with qelib1's legacy gate set
(:data:`qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS`: ``u3``, ``cu1``, ``rc3x``,
``c3sqrtx``, ...), OpenQASM 3 through :func:`qiskit.qasm3.loads` (which needs the
``qiskit-qasm3-import`` package). The version comes from the ``OPENQASM`` header;
a source without one is tried as OpenQASM 2, then as OpenQASM 3.

Only the standard include files are accepted (``qelib1.inc`` for OpenQASM 2,
``stdgates.inc`` for OpenQASM 3): the parsers would otherwise open any path named
in an ``include`` statement on the machine that parses the circuit.

This module is an edge (it imports qiskit); the pure core only sees the
:class:`~qstream.core.features.CircuitFeatures` it returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import qiskit.qasm2
import qiskit.qasm3
from qiskit.circuit import ControlFlowOp, Gate, QuantumCircuit, Qubit
from qiskit.circuit.library import get_standard_gate_name_mapping

from qstream.core.features import CircuitFeatures
from qstream.errors import CircuitError

__all__ = [
    "CLIFFORD_GATES",
    "MAX_REGISTER_SIZE",
    "analyze_qasm",
    "circuit_features",
    "final_measurement_map",
    "inline_shadowing_gates",
    "parse_qasm",
]

MAX_REGISTER_SIZE = 1024
"""Largest quantum or classical register accepted, in bits.

The widest IBM device has 156 qubits (Heron r2, ``FakeFez``); the limit only stops
a declaration such as ``qreg q[100000000];`` from exhausting memory while parsing.
"""

_ALLOWED_INCLUDES = {2: frozenset({"qelib1.inc"}), 3: frozenset({"stdgates.inc"})}
_HEADER = re.compile(
    r"\A(?:\s+|//[^\n]*(?:\n|\Z)|/\*.*?\*/)*OPENQASM\s+(?P<major>\d+)(?:\.\d+)?\s*;", re.S)
_INCLUDE = re.compile(r"""\binclude\s*(["'])(?P<file>.*?)\1""")
_REGISTER = re.compile(
    r"\b(?:qreg|creg)\s+[A-Za-z_]\w*\s*\[\s*(?P<n2>\d+)\s*\]"
    r"|\b(?:qubit|bit)\s*\[\s*(?P<n3>\d+)\s*\]")
_QASM2_LOCATION = re.compile(r"\A[^:\n]*:(?P<line>\d+),(?P<col>\d+):\s*(?P<msg>.*)\Z", re.S)
_QASM3_LOCATION = re.compile(r"\A(?:L)?(?P<line>\d+)[,:]C?(?P<col>\d+):\s*(?P<msg>.*)\Z", re.S)


def parse_qasm(source: str, name: str = "circuit", *,
               require_measurements: bool = True) -> QuantumCircuit:
    """Parse an OpenQASM 2 or 3 program into a :class:`qiskit.QuantumCircuit`.

    Parameters
    ----------
    source:
        The program text. ``OPENQASM 2.x;`` selects OpenQASM 2 (qelib1 legacy gates
        allowed), ``OPENQASM 3.x;`` OpenQASM 3 (``stdgates.inc``); without a
        header OpenQASM 2 is tried first, then OpenQASM 3.
    name:
        Circuit name, used in error messages and set as the circuit's ``name``.
    require_measurements:
        Reject a circuit that measures no qubit (the default: its counts would be
        empty). False for a circuit with observables, which qstream measures itself.

    Returns
    -------
    QuantumCircuit
        The parsed circuit. Its clbits are in declaration order, so clbit 0 is the
        first bit of the first classical register (the rightmost character of a
        counts bitstring).

    Raises
    ------
    CircuitError
        If the program is empty, not valid OpenQASM (the message carries the
        parser's line number, e.g. ``"invalid OpenQASM 2 on line 3: ..."``),
        includes a file other than the standard one, declares a register wider
        than :data:`MAX_REGISTER_SIZE`, has unbound parameters (OpenQASM 3
        ``input``), or measures no qubit while ``require_measurements``.

    Examples
    --------
    >>> qc = parse_qasm('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2];'
    ...                 'h q[0]; cu1(0.5) q[0], q[1]; measure q -> c;', "bell")
    >>> qc.name, qc.num_qubits, qc.num_clbits
    ('bell', 2, 2)
    >>> parse_qasm('OPENQASM 2.0; include "qelib1.inc"; qreg q[1]; h q[0];', "x")
    Traceback (most recent call last):
    ...
    qstream.errors.CircuitError: circuit 'x' measures no qubits; add measure statements
    """
    if not isinstance(source, str) or not source.strip():
        raise CircuitError(f"circuit {name!r} is empty; expected an OpenQASM 2 or 3 program")
    header = _HEADER.match(source)
    version = int(header.group("major")) if header else None
    if version not in (None, 2, 3):
        raise CircuitError(
            f"circuit {name!r}: unsupported OpenQASM version {version}; use 2 or 3")
    _check_includes(source, name, version)
    _check_register_sizes(source, name)
    if version == 2:
        qc = _loads2(source, name)
    elif version == 3:
        qc = _loads3(source, name)
    else:
        try:
            qc = _loads2(source, name)
        except CircuitError as exc2:
            try:
                qc = _loads3(source, name)
            except CircuitError as exc3:
                raise CircuitError(
                    f"circuit {name!r} has no OPENQASM header and is neither valid "
                    f"OpenQASM 2 ({_strip_name(exc2, name)}) nor valid OpenQASM 3 "
                    f"({_strip_name(exc3, name)})") from exc3
    qc.name = name
    if qc.parameters:
        unbound = ", ".join(sorted(p.name for p in qc.parameters))
        raise CircuitError(f"circuit {name!r} has unbound parameters ({unbound}); bind them "
                           "to numbers before submitting")
    if require_measurements and not _measured_qubits(qc):
        raise CircuitError(f"circuit {name!r} measures no qubits; add measure statements")
    return qc


def circuit_features(qc: QuantumCircuit) -> CircuitFeatures:
    """Return the logical (pre-transpile) features of a parsed circuit.

    ``gates`` counts gate operations only (measure, reset, barrier and delay
    excluded), including gates inside control-flow blocks; ``two_qubit_gates``
    those acting on exactly two qubits. ``measured_qubits`` counts distinct
    measured qubits. ``dynamic`` is True for mid-circuit measurement (a measured
    qubit is later acted on, measured again included), reset, or classical control
    flow (``if``, ``while``, ``for``, ``switch``). ``clifford`` is True when every gate
    is in :data:`CLIFFORD_GATES` and there is no control flow; ``multi_qubit_gates``
    counts gates on three or more qubits.

    Examples
    --------
    >>> qc = parse_qasm('OPENQASM 2.0; include "qelib1.inc"; qreg q[3]; creg c[2];'
    ...                 'h q[0]; cx q[0], q[1]; ccx q[0], q[1], q[2];'
    ...                 'measure q[0] -> c[0]; measure q[2] -> c[1];')
    >>> f = circuit_features(qc)
    >>> (f.num_qubits, f.depth, f.two_qubit_gates, f.gates, f.measured_qubits, f.num_clbits)
    (3, 4, 1, 3, 2, 2)
    >>> f.dynamic, f.clifford, f.multi_qubit_gates  # ccx is not Clifford
    (False, False, 1)
    >>> circuit_features(parse_qasm('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2];'
    ...                             'h q[0]; cx q[0], q[1]; measure q -> c;')).clifford
    True
    """
    stats = _Walk()
    stats.walk(qc, list(qc.qubits))
    return CircuitFeatures(
        num_qubits=qc.num_qubits,
        depth=qc.depth(),
        two_qubit_gates=stats.two_qubit_gates,
        gates=stats.gates,
        measured_qubits=len(stats.measured),
        num_clbits=qc.num_clbits,
        dynamic=stats.dynamic,
        clifford=stats.clifford,
        multi_qubit_gates=stats.multi_qubit_gates,
    )


def analyze_qasm(source: str, name: str = "circuit", *,
                 require_measurements: bool = True) -> CircuitFeatures:
    """Parse ``source`` and return its features: ``circuit_features(parse_qasm(source, name))``.

    Raises
    ------
    CircuitError
        As :func:`parse_qasm`.

    Examples
    --------
    >>> analyze_qasm('OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; bit[2] c;'
    ...              'h q[0]; cx q[0], q[1]; c = measure q;', "bell").two_qubit_gates
    1
    """
    return circuit_features(parse_qasm(source, name, require_measurements=require_measurements))


def final_measurement_map(qc: QuantumCircuit) -> dict[int, int]:
    """Map clbit index -> qubit index for the top-level measurements of ``qc``.

    When several measurements write one clbit, the last one wins (as on hardware).
    Measurements inside control-flow blocks are not included.

    >>> qc = QuantumCircuit(3, 3)
    >>> _ = qc.measure(2, 0); _ = qc.measure(0, 2)
    >>> final_measurement_map(qc)
    {0: 2, 2: 0}
    """
    mapping: dict[int, int] = {}
    for inst in qc.data:
        if inst.operation.name == "measure":
            mapping[qc.find_bit(inst.clbits[0]).index] = qc.find_bit(inst.qubits[0]).index
    return mapping


def inline_shadowing_gates(qc: QuantumCircuit) -> QuantumCircuit:
    """Replace user-defined gates that carry a standard gate's name by their definition.

    An OpenQASM 2 file may define ``gate ecr a, b { ... }`` or ``gate csdg ...``
    (``qiskit.qasm2.dumps`` writes such definitions). qiskit parses them as custom
    gates that share the name of a standard gate; the transpiler then takes them
    for the device's native gate of that name (e.g. ``ecr`` on IBM Eagle devices)
    and fails ("ecr would be supported on [...] if the direction was swapped"), and
    a simulator would apply its own gate instead of the user's definition.
    Inlining the definitions removes the ambiguity; other instructions are kept.
    Returns ``qc`` itself when nothing needs inlining.

    >>> src = ('OPENQASM 2.0; include "qelib1.inc"; gate ecr a, b { cx a, b; }'
    ...        'qreg q[2]; creg c[2]; ecr q[0], q[1]; measure q -> c;')
    >>> [i.operation.name for i in inline_shadowing_gates(parse_qasm(src)).data]
    ['cx', 'measure', 'measure']
    """
    if not any(_shadows_standard(inst.operation) for inst in qc.data):
        return qc
    out = qc.copy_empty_like()
    for inst in qc.data:
        op = inst.operation
        if _shadows_standard(op):
            body = inline_shadowing_gates(op.definition)
            out.compose(body, qubits=list(inst.qubits), clbits=list(inst.clbits), inplace=True)
        else:
            out.append(inst)
    return out


def _shadows_standard(op: object) -> bool:
    return (isinstance(op, Gate) and getattr(op, "_standard_gate", None) is None
            and op.name in _STANDARD_GATES and op.definition is not None)


_STANDARD_GATES = frozenset(get_standard_gate_name_mapping())


# -- parsing helpers ------------------------------------------------------------------


def _loads2(source: str, name: str) -> QuantumCircuit:
    try:
        return qiskit.qasm2.loads(
            source,
            include_path=(),
            custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
        )
    except Exception as exc:  # the parser raises QASM2ParseError, and a few others
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise CircuitError(_located(name, 2, message, _QASM2_LOCATION)) from exc


def _loads3(source: str, name: str) -> QuantumCircuit:
    try:
        return qiskit.qasm3.loads(source)
    except Exception as exc:  # QASM3ParsingError, QASM3ImporterError, and a few others
        message = _qasm3_message(exc)
        raise CircuitError(_located(name, 3, message, _QASM3_LOCATION)) from exc


def _qasm3_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    if message:
        return str(message)
    # The ANTLR parser bails out with an empty QASM3ParsingError; the offending token
    # sits on the RecognitionException inside its cause.
    cause: BaseException | None = exc.__cause__
    while cause is not None:
        for arg in (cause, *getattr(cause, "args", ())):
            token = getattr(arg, "offendingToken", None)
            if token is not None and getattr(token, "line", None) is not None:
                return f"{token.line},{token.column}: unexpected {token.text!r}"
        cause = cause.__cause__
    return type(exc).__name__


def _located(name: str, version: int, message: str, pattern: re.Pattern[str]) -> str:
    message = message.strip()
    if len(message) >= 2 and message[0] == message[-1] == '"':
        message = message[1:-1]
    match = pattern.match(message)
    if match:
        return (f"circuit {name!r}: invalid OpenQASM {version} on line {match.group('line')}: "
                f"{match.group('msg').strip()}")
    return f"circuit {name!r}: invalid OpenQASM {version}: {message}"


def _strip_name(exc: CircuitError, name: str) -> str:
    return str(exc).removeprefix(f"circuit {name!r}: ")


def _check_includes(source: str, name: str, version: int | None) -> None:
    allowed = _ALLOWED_INCLUDES[version] if version else _ALLOWED_INCLUDES[2] | _ALLOWED_INCLUDES[3]
    for match in _INCLUDE.finditer(source):
        if match.group("file") not in allowed:
            line = source.count("\n", 0, match.start()) + 1
            raise CircuitError(
                f"circuit {name!r}: include {match.group('file')!r} on line {line} is not "
                f"allowed; only {', '.join(sorted(allowed))} can be included")


def _check_register_sizes(source: str, name: str) -> None:
    for match in _REGISTER.finditer(source):
        size = int(match.group("n2") or match.group("n3"))
        if size > MAX_REGISTER_SIZE:
            line = source.count("\n", 0, match.start()) + 1
            raise CircuitError(
                f"circuit {name!r}: register of {size} bits on line {line} exceeds the "
                f"limit of {MAX_REGISTER_SIZE}")


# -- features -------------------------------------------------------------------------


def _measured_qubits(qc: QuantumCircuit) -> set[Qubit]:
    stats = _Walk()
    stats.walk(qc, list(qc.qubits))
    return stats.measured


CLIFFORD_GATES = frozenset({"id", "x", "y", "z", "h", "s", "sdg", "sx", "sxdg", "cx", "cy",
                            "cz", "swap", "iswap", "dcx", "ecr"})
"""Gate names qstream treats as Clifford (qiskit standard gates; Aer's stabilizer method
runs them). Rotations are never counted as Clifford, whatever their angle."""


class _Walk:
    """One pass over a circuit (and its control-flow blocks) collecting features."""

    def __init__(self) -> None:
        self.gates = 0
        self.two_qubit_gates = 0
        self.multi_qubit_gates = 0
        self.clifford = True
        self.dynamic = False
        self.measured: set[Qubit] = set()

    def walk(self, qc: QuantumCircuit, outer: list[Qubit]) -> None:
        # ``outer[i]`` is the top-level qubit bound to ``qc.qubits[i]``.
        index = {q: i for i, q in enumerate(qc.qubits)}
        for inst in qc.data:
            op = inst.operation
            qubits = [outer[index[q]] for q in inst.qubits]
            if op.name in ("barrier", "delay"):
                continue
            if any(q in self.measured for q in qubits):
                self.dynamic = True  # a measured qubit is acted on again
            if isinstance(op, ControlFlowOp):
                self.dynamic = True
                self.clifford = False
                for block in op.blocks:
                    self.walk(block, _bind(block, qubits))
            elif op.name == "measure":
                self.measured.update(qubits)
            elif op.name == "reset":
                self.dynamic = True
            elif isinstance(op, Gate):
                self.gates += 1
                if len(qubits) == 2:
                    self.two_qubit_gates += 1
                elif len(qubits) > 2:
                    self.multi_qubit_gates += 1
                if op.name not in CLIFFORD_GATES:
                    self.clifford = False
            if getattr(op, "condition", None) is not None:  # c_if (qiskit < 2)
                self.dynamic = True


def _bind(block: QuantumCircuit, qubits: Iterable[Qubit]) -> list[Qubit]:
    bound = list(qubits)
    if len(bound) != block.num_qubits:  # defensive: blocks bind qargs positionally
        raise CircuitError("control-flow block does not match its qubits")
    return bound
