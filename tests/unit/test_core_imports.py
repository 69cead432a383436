"""The pure core modules import no broker client, stream framework or backend SDK."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import qstream.core

MODULES = ["partition", "online_model", "predictor", "scheduler", "postprocess", "assembly",
           "circuit_breaker"]
FORBIDDEN = ["faust", "aiokafka", "kafka", "qiskit_aer", "qiskit_ibm_runtime", "braket",
             "tenacity"]
CORE = pathlib.Path(qstream.core.__file__).parent


def test_core_modules_pull_in_no_sdk() -> None:
    code = (
        "import sys\n"
        + "".join(f"import qstream.core.{m}\n" for m in MODULES)
        + f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"


def test_core_modules_do_no_io_or_asyncio() -> None:
    # asyncio itself may be loaded by river's dependency joblib; the core must not use it.
    banned = {"asyncio", "socket", "threading", "subprocess", "datetime"}
    for m in MODULES:
        tree = ast.parse((CORE / f"{m}.py").read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not banned & set(names), (m, names)
            if isinstance(node, ast.Attribute) and node.attr in {"time", "monotonic"}:
                # Only time.perf_counter (decision latency) is allowed from the clock.
                assert not (isinstance(node.value, ast.Name) and node.value.id == "time"), m
