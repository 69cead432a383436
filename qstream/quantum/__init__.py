"""Variational quantum solvers' circuits (issue 10): an edge, it imports qiskit.

:mod:`~qstream.quantum.ansatz` builds QAOA and hardware-efficient VQE ansätze,
their initial points and bound OpenQASM 2 measurement circuits;
:mod:`~qstream.quantum.estimate` turns (ansatz, parameters, Pauli terms) into one
measurement circuit per qubit-wise commuting group and their counts back into an
expectation value, with the pure maths of :mod:`qstream.core.observables`.
"""
