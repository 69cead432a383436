"""The pure core modules import no broker client, stream framework or backend SDK."""

from __future__ import annotations

import ast

from helpers.purity import loaded_after_import, walk_imports

MODULES = ["partition", "online_model", "predictor", "scheduler", "postprocess", "assembly",
           "circuit_breaker", "distribution", "metric_catalog", "sli", "task", "problems",
           "observables", "optimizers"]
FORBIDDEN = ["faust", "aiokafka", "kafka", "qiskit", "qiskit_aer", "qiskit_ibm_runtime",
             "braket", "tenacity", "dimod", "dwave", "cvxpy"]


def test_core_modules_pull_in_no_sdk() -> None:
    loaded = loaded_after_import(MODULES, FORBIDDEN)
    assert loaded == "", f"imported: {loaded}"


def test_core_modules_do_no_io_or_asyncio() -> None:
    # asyncio itself may be loaded by river's dependency joblib; the core must not use it.
    banned = {"asyncio", "socket", "threading", "subprocess", "datetime"}
    for m in MODULES:
        for node, names in walk_imports(m):
            assert not banned & set(names), (m, names)
            if isinstance(node, ast.Attribute) and node.attr in {"time", "monotonic"}:
                # Only time.perf_counter (decision latency) is allowed from the clock.
                assert not (isinstance(node.value, ast.Name) and node.value.id == "time"), m
