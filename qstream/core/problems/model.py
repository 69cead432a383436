"""The problem kinds of a task's ``problem`` object, as frozen values.

Three kinds (issue 10's public contract):

- ``{"kind": "maxcut", "num_nodes": N, "edges": [[u, v, w], ...]}``: maximise the
  total weight of edges cut; ``w`` is optional (1.0); nodes are ``0..N-1``.
- ``{"kind": "qubo", "num_vars": N, "linear": [[i, c], ...], "quadratic": [[i, j, c], ...],
  "offset": c}``: minimise ``offset + sum_i c_i x_i + sum_(i,j) c_ij x_i x_j`` over
  ``x in {0, 1}^N``.
- ``{"kind": "ground_state", "num_qubits": N, "pauli_terms": [["ZZII", 0.5], ...]}``:
  minimise ``<H>`` for ``H = sum_k c_k P_k``; Pauli strings follow qiskit's
  ``SparsePauliOp.from_list`` convention (the rightmost character acts on qubit 0).

Assignments are tuples of 0/1 indexed by node or variable (``x[i]``). On the wire a
bitstring follows qiskit's counts convention, like the Pauli strings: its rightmost
character is variable 0 (:func:`bits_to_string`, :func:`bits_from_string`).

Examples
--------
>>> p = problem_from_dict({"kind": "maxcut", "num_nodes": 3, "edges": [[0, 1], [1, 2, 2.0]]})
>>> p.edges, p.cut_value((0, 1, 0)), p.size, round(p.density, 3)
(((0, 1, 1.0), (1, 2, 2.0)), 3.0, 3, 0.667)
>>> q = problem_from_dict({"kind": "qubo", "num_vars": 2, "linear": [[0, -1.0]],
...                        "quadratic": [[0, 1, 2.0]], "offset": 0.5})
>>> q.value((1, 0)), q.value((1, 1))
(-0.5, 1.5)
>>> h = problem_from_dict({"kind": "ground_state", "num_qubits": 2,
...                        "pauli_terms": [["ZZ", 1.0], ["XI", -0.5]]})
>>> h.pauli_terms, h.to_dict()["kind"]
((('ZZ', 1.0), ('XI', -0.5)), 'ground_state')
>>> problem_from_dict({"kind": "maxcut", "num_nodes": 2, "edges": [[0, 2]]})
Traceback (most recent call last):
...
qstream.errors.TaskContentError: maxcut edge 0 [0, 2]: node 2 is outside 0..1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qstream.errors import TaskContentError

PROBLEM_KINDS = ("maxcut", "qubo", "ground_state")
"""The ``kind`` values of a task's ``problem``."""

_PAULI = frozenset("IXYZ")


def _bad(message: str) -> TaskContentError:
    return TaskContentError(message, reason="invalid_problem")


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _index(value: Any, n: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{what} must be an integer index, got {value!r}")
    if not 0 <= value < n:
        raise _bad(f"{what} is outside 0..{n - 1}")
    return int(value)


def _count(value: Any, what: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise _bad(f"{what} must be an integer in 1..{limit}, got {value!r}")
    return int(value)


def bits_to_string(bits: Sequence[int]) -> str:
    """Assignment ``x`` as a bitstring in qiskit's convention (``x[0]`` rightmost).

    >>> bits_to_string((1, 0, 0))
    '001'
    """
    return "".join("1" if b else "0" for b in reversed(bits))


def bits_from_string(bitstring: str) -> tuple[int, ...]:
    """Inverse of :func:`bits_to_string`.

    Raises
    ------
    ValueError
        If ``bitstring`` holds anything but 0 and 1.

    >>> bits_from_string("001")
    (1, 0, 0)
    """
    if set(bitstring) - {"0", "1"}:
        raise ValueError(f"not a bitstring: {bitstring!r}")
    return tuple(int(c) for c in reversed(bitstring))


@dataclass(frozen=True, slots=True)
class MaxCut:
    """Weighted MaxCut on an undirected graph.

    Attributes
    ----------
    num_nodes:
        Nodes are ``0..num_nodes-1``.
    edges:
        ``(u, v, w)`` with ``u < v`` (normalised), no self-loops, no repeated pair.
    """

    num_nodes: int
    edges: tuple[tuple[int, int, float], ...]
    kind = "maxcut"

    @property
    def size(self) -> int:
        """Number of nodes (= qubits of a QAOA ansatz)."""
        return self.num_nodes

    @property
    def density(self) -> float:
        """Edges over the complete graph's ``N (N - 1) / 2``, in [0, 1]."""
        pairs = self.num_nodes * (self.num_nodes - 1) / 2
        return len(self.edges) / pairs if pairs else 0.0

    def cut_value(self, bits: Sequence[int]) -> float:
        """Total weight of the edges whose ends ``bits`` puts on different sides."""
        return sum(w for u, v, w in self.edges if bits[u] != bits[v])

    def to_dict(self) -> dict[str, Any]:
        """The ``problem`` object; :func:`problem_from_dict` inverts it."""
        return {"kind": "maxcut", "num_nodes": self.num_nodes,
                "edges": [[u, v, w] for u, v, w in self.edges]}


@dataclass(frozen=True, slots=True)
class Qubo:
    """Quadratic unconstrained binary optimisation (minimise).

    Attributes
    ----------
    num_vars:
        Variables ``x_0..x_{N-1}`` in {0, 1}.
    linear:
        ``(i, c)``, one per variable at most (repeats are summed).
    quadratic:
        ``(i, j, c)`` with ``i < j`` (normalised; ``i == j`` folds into ``linear``
        since ``x^2 = x``; repeats are summed).
    offset:
        Constant term.
    """

    num_vars: int
    linear: tuple[tuple[int, float], ...]
    quadratic: tuple[tuple[int, int, float], ...]
    offset: float = 0.0
    kind = "qubo"

    @property
    def size(self) -> int:
        """Number of variables."""
        return self.num_vars

    @property
    def density(self) -> float:
        """Quadratic terms over ``N (N - 1) / 2``, in [0, 1]."""
        pairs = self.num_vars * (self.num_vars - 1) / 2
        return len(self.quadratic) / pairs if pairs else 0.0

    def value(self, bits: Sequence[int]) -> float:
        """The objective at assignment ``bits``."""
        return (self.offset + sum(c for i, c in self.linear if bits[i])
                + sum(c for i, j, c in self.quadratic if bits[i] and bits[j]))

    def to_dict(self) -> dict[str, Any]:
        """The ``problem`` object; :func:`problem_from_dict` inverts it."""
        return {"kind": "qubo", "num_vars": self.num_vars,
                "linear": [[i, c] for i, c in self.linear],
                "quadratic": [[i, j, c] for i, j, c in self.quadratic], "offset": self.offset}


@dataclass(frozen=True, slots=True)
class GroundState:
    """Lowest eigenvalue of a qubit Hamiltonian given as a sum of Pauli terms.

    Attributes
    ----------
    num_qubits:
        Qubits ``0..N-1``.
    pauli_terms:
        ``(label, coefficient)``; ``label`` has ``num_qubits`` characters from
        ``IXYZ``, the rightmost acting on qubit 0 (qiskit's convention). Real
        coefficients only: ``H`` is Hermitian.
    """

    num_qubits: int
    pauli_terms: tuple[tuple[str, float], ...]
    kind = "ground_state"

    @property
    def size(self) -> int:
        """Number of qubits."""
        return self.num_qubits

    @property
    def density(self) -> float:
        """Share of non-identity positions over all terms, in [0, 1] (Pauli weight)."""
        if not self.pauli_terms:
            return 0.0
        return sum(sum(c != "I" for c in p) for p, _ in self.pauli_terms) / (
            len(self.pauli_terms) * self.num_qubits)

    def to_dict(self) -> dict[str, Any]:
        """The ``problem`` object; :func:`problem_from_dict` inverts it."""
        return {"kind": "ground_state", "num_qubits": self.num_qubits,
                "pauli_terms": [[p, c] for p, c in self.pauli_terms]}


Problem = MaxCut | Qubo | GroundState
"""Any problem kind."""

MAX_NODES = 100_000
"""Largest ``num_nodes`` / ``num_vars`` accepted (a parse-time guard, not a solver limit)."""
MAX_QUBITS = 64
"""Largest ``num_qubits`` of a ``ground_state`` problem accepted."""


def _maxcut(data: dict[str, Any]) -> MaxCut:
    n = _count(data.get("num_nodes"), "maxcut num_nodes", MAX_NODES)
    edges: dict[tuple[int, int], float] = {}
    for k, edge in enumerate(data.get("edges") or ()):
        if not isinstance(edge, list | tuple) or len(edge) not in (2, 3):
            raise _bad(f"maxcut edge {k} must be [u, v] or [u, v, w], got {edge!r}")
        u, v = (_index(x, n, f"maxcut edge {k} {list(edge)}: node {x}") for x in edge[:2])
        if u == v:
            raise _bad(f"maxcut edge {k} {list(edge)} is a self-loop")
        pair = (min(u, v), max(u, v))
        if pair in edges:
            raise _bad(f"maxcut edge {k} {list(edge)} repeats the pair {list(pair)}")
        edges[pair] = _finite(edge[2], f"maxcut edge {k} weight") if len(edge) == 3 else 1.0
    if not edges:
        raise _bad("maxcut needs at least one edge")
    return MaxCut(n, tuple((u, v, w) for (u, v), w in edges.items()))


def _qubo(data: dict[str, Any]) -> Qubo:
    n = _count(data.get("num_vars"), "qubo num_vars", MAX_NODES)
    linear: dict[int, float] = {}
    quadratic: dict[tuple[int, int], float] = {}
    for k, term in enumerate(data.get("linear") or ()):
        if not isinstance(term, list | tuple) or len(term) != 2:
            raise _bad(f"qubo linear term {k} must be [i, c], got {term!r}")
        i = _index(term[0], n, f"qubo linear term {k}: variable {term[0]}")
        linear[i] = linear.get(i, 0.0) + _finite(term[1], f"qubo linear term {k} coefficient")
    for k, term in enumerate(data.get("quadratic") or ()):
        if not isinstance(term, list | tuple) or len(term) != 3:
            raise _bad(f"qubo quadratic term {k} must be [i, j, c], got {term!r}")
        i, j = (_index(x, n, f"qubo quadratic term {k}: variable {x}") for x in term[:2])
        c = _finite(term[2], f"qubo quadratic term {k} coefficient")
        if i == j:
            linear[i] = linear.get(i, 0.0) + c  # x_i^2 = x_i on binaries
        else:
            pair = (min(i, j), max(i, j))
            quadratic[pair] = quadratic.get(pair, 0.0) + c
    offset = _finite(data.get("offset", 0.0), "qubo offset")
    return Qubo(n, tuple(sorted(linear.items())),
                tuple((i, j, c) for (i, j), c in sorted(quadratic.items())), offset)


def _ground_state(data: dict[str, Any]) -> GroundState:
    n = _count(data.get("num_qubits"), "ground_state num_qubits", MAX_QUBITS)
    terms: list[tuple[str, float]] = []
    for k, term in enumerate(data.get("pauli_terms") or ()):
        if not isinstance(term, list | tuple) or len(term) != 2 or not isinstance(term[0], str):
            raise _bad(f"ground_state term {k} must be [label, coefficient], got {term!r}")
        label = term[0].upper()
        if len(label) != n or set(label) - _PAULI:
            raise _bad(f"ground_state term {k} label {term[0]!r} must be {n} characters of IXYZ")
        terms.append((label, _finite(term[1], f"ground_state term {k} coefficient")))
    if not terms:
        raise _bad("ground_state needs at least one Pauli term")
    return GroundState(n, tuple(terms))


def problem_from_dict(data: dict[str, Any]) -> Problem:
    """Parse a task's ``problem`` object.

    Raises
    ------
    qstream.errors.TaskContentError
        ``reason="invalid_problem"``: an unknown ``kind``, a size out of range, an
        index outside the problem, a self-loop or repeated MaxCut edge, a Pauli label
        of the wrong length or alphabet, a non-finite coefficient, or no terms.
    """
    if not isinstance(data, dict):
        raise _bad(f"problem must be an object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind == "maxcut":
        return _maxcut(data)
    if kind == "qubo":
        return _qubo(data)
    if kind == "ground_state":
        return _ground_state(data)
    raise _bad(f"unknown problem kind {kind!r}; use one of {', '.join(PROBLEM_KINDS)}")
