"""The trace modules of the pure core import no scikit-learn, broker client or backend SDK."""

from __future__ import annotations

import ast

from helpers.purity import loaded_after_import, walk_imports

MODULES = ["trace", "trace_eval", "trace_model", "interval", "repeat_memory", "running_median",
           "run_time_fit"]
# Not "sklearn" itself: river.stream imports sklearn.utils whenever scikit-learn is
# installed. The offline baseline's sklearn.ensemble (qstream.offline_model) must stay out.
FORBIDDEN = ["sklearn.ensemble", "qstream.offline_model", "faust", "aiokafka", "kafka", "qiskit",
             "qiskit_aer", "qiskit_ibm_runtime", "braket"]


def test_trace_modules_pull_in_no_sdk() -> None:
    loaded = loaded_after_import(MODULES, FORBIDDEN)
    assert loaded == "", f"imported: {loaded}"


def test_trace_modules_do_no_io_beyond_files_and_read_no_clock() -> None:
    # trace.py parses timestamps with datetime (fromisoformat / fromtimestamp) but never
    # reads the wall clock; the evaluation times itself with time.perf_counter only.
    banned = {"asyncio", "socket", "threading", "subprocess", "sklearn"}
    for m in MODULES:
        for node, names in walk_imports(m):
            assert not banned & set(names), (m, names)
            if m != "trace":
                assert "datetime" not in names, m
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"now", "utcnow", "today", "time", "monotonic"}, (m, node.attr)
