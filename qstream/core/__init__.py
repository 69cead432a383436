"""The pure core of qstream.

Nothing under ``qstream.core`` imports Kafka, Faust or a backend SDK (qiskit-aer,
qiskit-ibm-runtime, amazon-braket-sdk). The same code runs in the live pipeline
and in the discrete-event simulator.
"""
