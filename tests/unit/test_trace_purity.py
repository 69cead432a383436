"""The trace modules of the pure core import no scikit-learn, broker client or backend SDK."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import qstream.core

MODULES = ["trace", "trace_eval", "trace_model", "interval", "repeat_memory", "running_median",
           "run_time_fit"]
# Not "sklearn" itself: river.stream imports sklearn.utils whenever scikit-learn is
# installed. The offline baseline's sklearn.ensemble (qstream.offline_model) must stay out.
FORBIDDEN = ["sklearn.ensemble", "qstream.offline_model", "faust", "aiokafka", "kafka", "qiskit",
             "qiskit_aer", "qiskit_ibm_runtime", "braket"]
CORE = pathlib.Path(qstream.core.__file__).parent


def test_trace_modules_pull_in_no_sdk() -> None:
    code = (
        "import sys\n"
        + "".join(f"import qstream.core.{m}\n" for m in MODULES)
        + f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"


def test_trace_modules_do_no_io_beyond_files_and_read_no_clock() -> None:
    # trace.py parses timestamps with datetime (fromisoformat / fromtimestamp) but never
    # reads the wall clock; the evaluation times itself with time.perf_counter only.
    banned = {"asyncio", "socket", "threading", "subprocess", "sklearn"}
    for m in MODULES:
        tree = ast.parse((CORE / f"{m}.py").read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not banned & set(names), (m, names)
            if m != "trace":
                assert "datetime" not in names, m
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"now", "utcnow", "today", "time", "monotonic"}, (m, node.attr)
